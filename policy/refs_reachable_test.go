package policy_test

import (
	"strings"
	"testing"

	"github.com/triggergate/caddy-trigger-gateway/gitref"
	"github.com/triggergate/caddy-trigger-gateway/policy"
)

func TestRefGlobError(t *testing.T) {
	tests := []struct {
		glob   string
		errHas string // "" when some ref may match
	}{
		{"main", ""},
		{"v*", ""},
		{"release/**", ""},
		{"feature/?-*", ""},
		{"*", ""},
		{"20240101", ""}, // a date tag, not a SHA
		{"main..x", "not a valid branch or tag name"},
		{"refs/heads/main", "short name"},
		{"refs/tags/*", "short name"},
		{"deadbeef", "commit SHA"},
		{"0123456789abcdef0123456789abcdef01234567", "commit SHA"},
		{"HEAD", "not a valid"},
		{"-x*", `never starts with "-"`},
		{"/x*", `never starts with "/"`},
		{".x*", `never starts with "."`},
		{"v*/", `never ends with "/"`},
		{"v*.", `never ends with "."`},
		{"v*.lock", `never ends with ".lock"`},
		{"v*..*", `never contains ".."`},
		{"a//*", `never contains "//"`},
		{"*@{x", `never contains "@{"`},
		{"x/.*", `never contains "/."`},
		{"x[1]*", `never contains "["`},
		{"*~1", `never contains "~"`},
		{"*^*", `never contains "^"`},
		{"a:*", `never contains ":"`},
		{`a\*`, `never contains "\\"`},
		{"*.lock/*", `never contains ".lock/"`},
	}
	for _, tt := range tests {
		err := policy.RefGlobError(tt.glob)
		switch {
		case tt.errHas == "" && err != nil:
			t.Errorf("RefGlobError(%q) = %v, want nil", tt.glob, err)
		case tt.errHas != "" && (err == nil || !strings.Contains(err.Error(), tt.errHas)):
			t.Errorf("RefGlobError(%q) = %v, want an error mentioning %q", tt.glob, err, tt.errHas)
		}
	}
}

// RefGlobError never refuses a glob that some valid ref matches: each ref
// below is a valid one, and every glob refused must match none of them.
func TestRefGlobErrorRefusesOnlyUnmatchable(t *testing.T) {
	refs := []string{"main", "v1.2", "release/1.x", "feature/a-b", "a.b/c", "x@y", "v1..", "under_score", "v1.lock.x"}
	globs := []string{"*", "**", "v*", "*.*", "?*", "release/**", "*/*", "x@*", "*lock*", "**.x", "a.*/c", "*-*"}
	for _, ref := range refs {
		if gitref.Check(ref) != nil {
			continue // "v1.." is not valid: no glob needs to match it
		}
		for _, glob := range globs {
			g := policy.MustCompileGlob(glob)
			if g.Match(ref) && policy.RefGlobError(glob) != nil {
				t.Errorf("RefGlobError(%q) refuses a glob that matches the valid ref %q", glob, ref)
			}
		}
	}
}

func TestMayAllowGlob(t *testing.T) {
	tests := []struct {
		allow []string
		glob  string
		want  bool
	}{
		{nil, "anything", true},
		{[]string{}, "main", true},
		{[]string{"release/*"}, "main", false},
		{[]string{"release/*"}, "release/1.0", true},
		{[]string{"release/*"}, "release/1/0", false}, // exact: '*' never matches '/'
		{[]string{"release/*"}, "release/**", true},
		{[]string{"release/*"}, "v*", false},
		{[]string{"release/*", "main"}, "main", true},
		{[]string{"v*"}, "v1.*", true},
		{[]string{"v*"}, "*", true},
		{[]string{"*-stable"}, "*-beta", false}, // suffixes differ
		{[]string{"*-stable"}, "1.*-stable", true},
		{[]string{"main"}, "ma*", true},
		{[]string{"main"}, "mi*", false},
		{[]string{"feature/x/**"}, "feature/*", true}, // disjoint, but not provably by the literal text
	}
	for _, tt := range tests {
		p, err := policy.CompileRefs(tt.allow)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.MayAllowGlob(tt.glob); got != tt.want {
			t.Errorf("CompileRefs(%q).MayAllowGlob(%q) = %v, want %v", tt.allow, tt.glob, got, tt.want)
		}
	}
	var none *policy.RefPolicy
	if !none.MayAllowGlob("main") {
		t.Error("a nil policy allows nothing")
	}
}
