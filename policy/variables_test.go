package policy_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/triggergate/caddy-trigger-gateway/policy"
)

// secret is a value distinctive enough that finding it in a message can
// only mean the value leaked.
const secret = "s3cr3t-VALUE-9f8e7d"

func defaults() *policy.Variables {
	return &policy.Variables{
		MaxCount:      policy.DefaultMaxVariables,
		MaxValueBytes: policy.DefaultMaxVariableBytes,
		Protected:     policy.DefaultProtected,
	}
}

func manyVars(n int) map[string]string {
	vars := make(map[string]string, n)
	for i := range n {
		vars[fmt.Sprintf("VAR_%03d", i)] = secret
	}
	return vars
}

func TestVariablesCheck(t *testing.T) {
	tests := []struct {
		name     string
		policy   *policy.Variables
		vars     map[string]string
		rule     string // "" when accepted
		contains []string
	}{
		{name: "none", policy: defaults(), vars: nil},
		{name: "empty", policy: defaults(), vars: map[string]string{}},
		{name: "plain", policy: defaults(), vars: map[string]string{"DEPLOY_ENV": secret, "a": "", "_x1": secret}},
		{name: "at count limit", policy: defaults(), vars: manyVars(policy.DefaultMaxVariables)},
		{name: "over count limit", policy: defaults(), vars: manyVars(policy.DefaultMaxVariables + 1),
			rule: "too_many_variables", contains: []string{"101 given", "at most 100"}},
		{name: "no count limit", policy: &policy.Variables{}, vars: manyVars(1000)},
		{name: "at size limit", policy: defaults(),
			vars: map[string]string{"BIG": strings.Repeat("x", policy.DefaultMaxVariableBytes)}},
		{name: "over size limit", policy: defaults(),
			vars: map[string]string{"BIG": secret + strings.Repeat("x", policy.DefaultMaxVariableBytes)},
			rule: "variable_too_large", contains: []string{"BIG", "10240 bytes"}},
		{name: "size counts bytes", policy: &policy.Variables{MaxValueBytes: 3},
			vars: map[string]string{"U": "éé"}, rule: "variable_too_large"},
		{name: "no size limit", policy: &policy.Variables{},
			vars: map[string]string{"BIG": strings.Repeat("x", 1<<20)}},
		{name: "protected CI_", policy: defaults(), vars: map[string]string{"CI_JOB_TOKEN": secret},
			rule: "protected_variable", contains: []string{"CI_JOB_TOKEN", "CI_*"}},
		{name: "protected GITLAB_", policy: defaults(), vars: map[string]string{"GITLAB_USER_ID": secret},
			rule: "protected_variable", contains: []string{"GITLAB_USER_ID", "GITLAB_*"}},
		{name: "protected bare prefix", policy: defaults(), vars: map[string]string{"CI_": secret},
			rule: "protected_variable"},
		{name: "globs are case sensitive", policy: defaults(), vars: map[string]string{"ci_debug": secret, "CIX": secret}},
		{name: "no protected names", policy: &policy.Variables{}, vars: map[string]string{"CI_DEBUG_TRACE": "true"}},
		{name: "custom glob", policy: &policy.Variables{Protected: []string{"DEPLOY_?", "SECRET_[A-C]*"}},
			vars: map[string]string{"SECRET_B1": secret}, rule: "protected_variable", contains: []string{"SECRET_B1", "SECRET_[A-C]*"}},
		{name: "custom glob single char", policy: &policy.Variables{Protected: []string{"DEPLOY_?"}},
			vars: map[string]string{"DEPLOY_1": secret, "DEPLOY_10": secret}, rule: "protected_variable",
			contains: []string{"DEPLOY_1 "}},
		{name: "empty name", policy: defaults(), vars: map[string]string{"": secret},
			rule: "invalid_variable_name", contains: []string{`""`}},
		{name: "name with dash", policy: defaults(), vars: map[string]string{"MY-VAR": secret},
			rule: "invalid_variable_name", contains: []string{`"MY-VAR"`}},
		{name: "name with space", policy: defaults(), vars: map[string]string{"A B": secret},
			rule: "invalid_variable_name"},
		{name: "name with dot", policy: defaults(), vars: map[string]string{"a.b": secret},
			rule: "invalid_variable_name"},
		{name: "non-ASCII name", policy: defaults(), vars: map[string]string{"VÄR": secret},
			rule: "invalid_variable_name"},
		{name: "name with newline", policy: defaults(), vars: map[string]string{"A\nB": secret},
			rule: "invalid_variable_name", contains: []string{`"A\nB"`}},
		{name: "name at length limit", policy: defaults(),
			vars: map[string]string{strings.Repeat("N", policy.MaxKeyLength): secret}},
		{name: "name over length limit", policy: defaults(),
			vars: map[string]string{strings.Repeat("N", policy.MaxKeyLength+1): secret}, rule: "invalid_variable_name"},
		// The count is checked before any name.
		{name: "count before names", policy: &policy.Variables{MaxCount: 1, Protected: policy.DefaultProtected},
			vars: map[string]string{"CI_A": secret, "bad-name": secret}, rule: "too_many_variables"},
		// Per name: validity, then size, then protection.
		{name: "invalid before size", policy: &policy.Variables{MaxValueBytes: 1},
			vars: map[string]string{"bad-name": secret}, rule: "invalid_variable_name"},
		{name: "size before protection", policy: &policy.Variables{MaxValueBytes: 1, Protected: policy.DefaultProtected},
			vars: map[string]string{"CI_A": secret}, rule: "variable_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.policy.Check(tt.vars)
			if tt.rule == "" {
				if v != nil {
					t.Fatalf("Check() = %q (%s), want accepted", v.Message, v.Rule)
				}
				return
			}
			if v == nil {
				t.Fatalf("Check() accepted, want %s", tt.rule)
			}
			if v.Rule != tt.rule {
				t.Errorf("Rule = %q, want %q (message %q)", v.Rule, tt.rule, v.Message)
			}
			if v.Error() != v.Message {
				t.Errorf("Error() = %q, want the message %q", v.Error(), v.Message)
			}
			if strings.Contains(v.Message, secret) {
				t.Errorf("message holds the value: %q", v.Message)
			}
			for _, s := range tt.contains {
				if !strings.Contains(v.Message, s) {
					t.Errorf("message %q does not contain %q", v.Message, s)
				}
			}
		})
	}
}

// TestVariablesCheckDeterministic checks that the same request always
// reports the same violation, the first name in sorted order, whatever
// the map's iteration order.
func TestVariablesCheckDeterministic(t *testing.T) {
	p := defaults()
	vars := map[string]string{
		"GITLAB_Z": secret, "CI_B": secret, "CI_A": secret, "OK_1": secret, "OK_2": secret,
		"GITLAB_A": secret, "CI_C": secret,
	}
	for range 100 {
		v := p.Check(vars)
		if v == nil || v.Rule != "protected_variable" || !strings.Contains(v.Message, "CI_A ") {
			t.Fatalf("Check() = %+v, want CI_A reported", v)
		}
	}
	mixed := map[string]string{"Z-bad": secret, "A_BIG": secret + secret, "M_CI": secret}
	small := &policy.Variables{MaxValueBytes: 4}
	for range 100 {
		v := small.Check(mixed)
		if v == nil || v.Rule != "variable_too_large" || !strings.Contains(v.Message, "A_BIG") {
			t.Fatalf("Check() = %+v, want A_BIG too large", v)
		}
	}
}

func TestVariablesValidate(t *testing.T) {
	tests := []struct {
		name      string
		protected []string
		wantErr   bool
	}{
		{"defaults", policy.DefaultProtected, false},
		{"none", nil, false},
		{"classes and escapes", []string{"A_[0-9]*", `X\*`, "?Y", "[^A]B"}, false},
		{"unclosed class", []string{"CI_*", "CI_["}, true},
		{"bad range", []string{"[z-"}, true},
		{"trailing escape", []string{`CI_\`}, true},
		{"bad glob after a match would stop", []string{"*["}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &policy.Variables{Protected: tt.protected}
			err := p.Validate()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Validate() = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "protected variable pattern") {
				t.Errorf("Validate() = %q, want it to name the pattern", err)
			}
		})
	}
}

func BenchmarkVariablesCheck(b *testing.B) {
	p := defaults()
	vars := map[string]string{"DEPLOY_ENV": "production", "VERSION": "1.2.3", "NOTIFY": "true",
		"REGION": "eu-west-1", "MESSAGE": "hello world"}
	b.ReportAllocs()
	for b.Loop() {
		if v := p.Check(vars); v != nil {
			b.Fatal(v)
		}
	}
}
