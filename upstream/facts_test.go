package upstream

import (
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// A module's facts are one setting given by a block: a second facts line
// is refused, as Caddy's reverse_proxy refuses a second transport, rather
// than silently replacing the first. One facts line still parses, in
// every module.
func TestFactsRepeatedInAModuleBlock(t *testing.T) {
	modules := []struct {
		name  string
		new   func() caddyfile.Unmarshaler
		facts func(caddyfile.Unmarshaler) *Facts
	}{
		{"jenkins", func() caddyfile.Unmarshaler { return new(Jenkins) }, func(m caddyfile.Unmarshaler) *Facts { return m.(*Jenkins).Facts }},
		{"buildbot", func() caddyfile.Unmarshaler { return new(Buildbot) }, func(m caddyfile.Unmarshaler) *Facts { return m.(*Buildbot).Facts }},
		{"buildkite", func() caddyfile.Unmarshaler { return new(Buildkite) }, func(m caddyfile.Unmarshaler) *Facts { return m.(*Buildkite).Facts }},
		{"github_actions", func() caddyfile.Unmarshaler { return new(GitHubActions) }, func(m caddyfile.Unmarshaler) *Facts { return m.(*GitHubActions).Facts }},
		{"woodpecker", func() caddyfile.Unmarshaler { return new(Woodpecker) }, func(m caddyfile.Unmarshaler) *Facts { return m.(*Woodpecker).Facts }},
	}
	renamed := DefaultFacts
	renamed.Source = "BUILD_SOURCE"
	blocks := []struct {
		name, facts string
		want        *Facts // nil: refused
	}{
		{"one block", "facts {\n source BUILD_SOURCE\n }", &renamed},
		{"one off", "facts off", &Facts{}},
		{"one bare", "facts", &DefaultFacts},
		{"two blocks", "facts {\n source A\n }\n facts {\n trigger_id B\n }", nil},
		{"off then block", "facts off\n facts {\n source A\n }", nil},
		{"block then off", "facts {\n source A\n }\n facts off", nil},
		{"bare twice", "facts\n facts", nil},
	}
	for _, m := range modules {
		for _, b := range blocks {
			t.Run(m.name+"/"+b.name, func(t *testing.T) {
				got := m.new()
				err := unmarshal(t, got, m.name+" {\n "+b.facts+"\n}")
				switch {
				case b.want == nil && (err == nil || !strings.Contains(err.Error(), "facts already specified")):
					t.Errorf("want the second facts refused, got %v (facts %+v)", err, m.facts(got))
				case b.want != nil && err != nil:
					t.Errorf("refused: %v", err)
				case b.want != nil && !reflect.DeepEqual(m.facts(got), b.want):
					t.Errorf("facts %+v, want %+v", m.facts(got), b.want)
				}
			})
		}
	}
}
