package triggerapi_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// FuzzWithoutQueryCredentials checks that a scrubbed query holds no
// credential parameter as a URL parser reads it, and keeps every other
// parameter as it was, in order.
func FuzzWithoutQueryCredentials(f *testing.F) {
	for _, seed := range []string{
		"token=glptt-x&ref=main",
		"TOKEN=a&Job_Token=b&PRIVATE_TOKEN=c&access_token=d&ref=main",
		"job%5Ftoken=a&%74oken=b&ref=main",
		"a=%zz&token=b&&x",
		"ref=main&variables[A]=1",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, changed := triggerapi.WithoutQueryCredentials(raw)
		if !changed && got != raw {
			t.Fatalf("unchanged, but %q became %q", raw, got)
		}
		var kept []string
		for _, pair := range strings.Split(raw, "&") {
			key, _, _ := strings.Cut(pair, "=")
			if unescaped, err := url.QueryUnescape(key); err == nil {
				key = unescaped
			}
			if !triggerapi.IsQueryCredential(key) && pair != "" {
				kept = append(kept, pair)
			}
		}
		gotPairs := nonEmptyPairs(got)
		if strings.Join(gotPairs, "&") != strings.Join(kept, "&") {
			t.Fatalf("%q scrubbed to %q, want the pairs %q", raw, got, kept)
		}
		query, _ := url.ParseQuery(got)
		for name := range query {
			if triggerapi.IsQueryCredential(name) {
				t.Fatalf("%q scrubbed to %q still holds %q", raw, got, name)
			}
		}
	})
}

// FuzzWithoutQuerySecrets checks that a scrubbed query, as a URL parser
// reads it, holds no credential parameter and no variable's or input's
// value but RedactedValue, and keeps every other pair as it was, in order.
func FuzzWithoutQuerySecrets(f *testing.F) {
	for _, seed := range []string{
		"token=glptt-x&ref=main&variables[A]=1",
		"VARIABLES[A]=1&Inputs[b]=2&%76ariables[B]=3",
		"variables%5BA%5D=1&a=%zz&&x",
		"variables[A]&variables[B]=&inputs=y",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, changed := triggerapi.WithoutQuerySecrets(raw)
		if !changed && got != raw {
			t.Fatalf("unchanged, but %q became %q", raw, got)
		}
		isValueKey := func(key string) bool {
			lower := strings.ToLower(key)
			return strings.HasPrefix(lower, "variables[") || strings.HasPrefix(lower, "inputs[")
		}
		var want []string
		for _, pair := range strings.Split(raw, "&") {
			key, value, _ := strings.Cut(pair, "=")
			if unescaped, err := url.QueryUnescape(key); err == nil {
				key = unescaped
			}
			switch {
			case pair == "" || triggerapi.IsQueryCredential(key):
			case isValueKey(key) && value != "":
				k, _, _ := strings.Cut(pair, "=")
				want = append(want, k+"="+triggerapi.RedactedValue)
			default:
				want = append(want, pair)
			}
		}
		gotPairs := nonEmptyPairs(got)
		if strings.Join(gotPairs, "&") != strings.Join(want, "&") {
			t.Fatalf("%q scrubbed to %q, want the pairs %q", raw, got, want)
		}
		query, _ := url.ParseQuery(got)
		for name, values := range query {
			if triggerapi.IsQueryCredential(name) {
				t.Fatalf("%q scrubbed to %q still holds %q", raw, got, name)
			}
			for _, v := range values {
				if isValueKey(name) && v != "" && v != triggerapi.RedactedValue {
					t.Fatalf("%q scrubbed to %q still holds the value of %q", raw, got, name)
				}
			}
		}
	})
}

// nonEmptyPairs are the key=value pairs of a raw query, in order, without
// the empty ones that "&&" leaves.
func nonEmptyPairs(raw string) []string {
	var pairs []string
	for _, pair := range strings.Split(raw, "&") {
		if pair != "" {
			pairs = append(pairs, pair)
		}
	}
	return pairs
}
