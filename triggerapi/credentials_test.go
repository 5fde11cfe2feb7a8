package triggerapi

import (
	"net/url"
	"reflect"
	"testing"
)

func TestWithoutQueryCredentials(t *testing.T) {
	tests := []struct {
		raw, want string
		changed   bool
	}{
		{"", "", false},
		{"ref=main&variables[A]=1", "ref=main&variables[A]=1", false},
		{"tokens=1&my_token=2&token_x=3", "tokens=1&my_token=2&token_x=3", false},
		{"token=glptt-x&ref=main", "ref=main", true},
		{"ref=main&token=a&job=build&token=b", "ref=main&job=build", true},
		{"TOKEN=a&Job_Token=b&PRIVATE_TOKEN=c&access_token=d&ref=main", "ref=main", true},
		{"job%5Ftoken=a&%74oken=b&ref=main", "ref=main", true},
		{"token&ref=main", "ref=main", true},
		{"ref=main&token=", "ref=main", true},
		{"token=a", "", true},
		{"a=%zz&token=b", "a=%zz", true},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, changed := WithoutQueryCredentials(tt.raw)
			if got != tt.want || changed != tt.changed {
				t.Errorf("WithoutQueryCredentials(%q) = %q, %t; want %q, %t", tt.raw, got, changed, tt.want, tt.changed)
			}
		})
	}
}

func TestIsQueryCredential(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"token", true},
		{"TOKEN", true},
		{"Job_Token", true},
		{"private_token", true},
		{"ACCESS_token", true},
		{"tokens", false},
		{"my_token", false},
		{"job", false},
		{"", false},
		{"job%5Ftoken", false}, // names are unescaped before: see WithoutQueryCredentials
	}
	for _, tt := range tests {
		if got := IsQueryCredential(tt.name); got != tt.want {
			t.Errorf("IsQueryCredential(%q) = %t, want %t", tt.name, got, tt.want)
		}
	}
}

func TestDeleteQueryCredentials(t *testing.T) {
	tests := []struct {
		raw  string
		want url.Values
	}{
		{"", url.Values{}},
		{"job=build&ref=main", url.Values{"job": {"build"}, "ref": {"main"}}},
		{"job=build&job_token=a&JOB_TOKEN=b&token=c&Private_Token=d&access_token=e", url.Values{"job": {"build"}}},
		{"job%5Ftoken=a&tokens=b", url.Values{"tokens": {"b"}}},
	}
	for _, tt := range tests {
		query, err := url.ParseQuery(tt.raw)
		if err != nil {
			t.Fatal(err)
		}
		DeleteQueryCredentials(query)
		if !reflect.DeepEqual(query, tt.want) {
			t.Errorf("DeleteQueryCredentials(%q) = %v, want %v", tt.raw, query, tt.want)
		}
	}
}

func TestWithoutQuerySecrets(t *testing.T) {
	tests := []struct {
		raw, want string
		changed   bool
	}{
		{"", "", false},
		{"ref=main&job=build", "ref=main&job=build", false},
		{"ref=main&variables[A]=secret", "ref=main&variables[A]=REDACTED", true},
		{"token=glptt-x&ref=main&inputs[env]=prod", "ref=main&inputs[env]=REDACTED", true},
		{"VARIABLES[A]=1&Inputs[b]=2", "VARIABLES[A]=REDACTED&Inputs[b]=REDACTED", true}, // case variants, refused but still in the URI
		{"variables%5BA%5D=1&%76ariables[B]=2", "variables%5BA%5D=REDACTED&%76ariables[B]=REDACTED", true},
		{"variables[A]&variables[B]=&ref=main", "variables[A]&variables[B]=&ref=main", false}, // no value to hide
		{"variables[A]=REDACTED", "variables[A]=REDACTED", false},
		{"variables=x&inputs=y&variablesA=z", "variables=x&inputs=y&variablesA=z", false}, // not a variable's value
		{"a=1&&variables[A]=2", "a=1&&variables[A]=REDACTED", true},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, changed := WithoutQuerySecrets(tt.raw)
			if got != tt.want || changed != tt.changed {
				t.Errorf("WithoutQuerySecrets(%q) = %q, %t; want %q, %t", tt.raw, got, changed, tt.want, tt.changed)
			}
		})
	}
	if allocs := testing.AllocsPerRun(10, func() { WithoutQuerySecrets("ref=main&job=build") }); allocs != 0 {
		t.Errorf("nothing to change: %v allocations, want none", allocs)
	}
}
