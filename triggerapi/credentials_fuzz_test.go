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
		var gotPairs []string
		for _, pair := range strings.Split(got, "&") {
			if pair != "" {
				gotPairs = append(gotPairs, pair)
			}
		}
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
