package policy_test

import (
	"strings"
	"testing"

	"github.com/triggergate/caddy-trigger-gateway/policy"
)

func TestRefPolicyCheck(t *testing.T) {
	tests := []struct {
		name     string
		allow    []string
		ref      string
		refused  bool
		contains []string
	}{
		{name: "nil allows all", allow: nil, ref: "anything/at/all"},
		{name: "empty allows all", allow: []string{}, ref: "feature/x"},
		{name: "exact", allow: []string{"main"}, ref: "main"},
		{name: "exact only", allow: []string{"main"}, ref: "main2", refused: true,
			contains: []string{`ref "main2" is not allowed`, `allowed refs are "main"`}},
		{name: "tag glob", allow: []string{"main", "v*"}, ref: "v1.2.3"},
		{name: "tag glob stops at slash", allow: []string{"main", "v*"}, ref: "v1/x", refused: true,
			contains: []string{`"v1/x"`, `"main", "v*"`}},
		{name: "tree", allow: []string{"release/**"}, ref: "release/1/2"},
		{name: "tree needs the slash", allow: []string{"release/**"}, ref: "release", refused: true},
		{name: "case sensitive", allow: []string{"main"}, ref: "Main", refused: true},
		{name: "second glob", allow: []string{"a", "b", "feature/*"}, ref: "feature/login"},
		{name: "brackets are literal", allow: []string{"fix[1]"}, ref: "fix[1]"},
		{name: "ref quoted and cut in the message", allow: []string{"main"}, ref: strings.Repeat("x", 100) + "\n",
			refused: true, contains: []string{"(101 bytes)"}},
		{name: "repeated globs listed once", allow: []string{"main", "main"}, ref: "dev", refused: true,
			contains: []string{`allowed refs are "main"` + "\x00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := policy.CompileRefs(tt.allow)
			if err != nil {
				t.Fatalf("CompileRefs: %v", err)
			}
			v := p.Check(tt.ref)
			if !tt.refused {
				if v != nil {
					t.Fatalf("Check(%q) = %q, want allowed", tt.ref, v.Message)
				}
				return
			}
			if v == nil {
				t.Fatalf("Check(%q) allowed, want refused", tt.ref)
			}
			if v.Rule != policy.RuleRefNotAllowed {
				t.Errorf("Rule = %q", v.Rule)
			}
			if strings.Contains(v.Message, "\n") {
				t.Errorf("message %q holds a raw newline", v.Message)
			}
			for _, s := range tt.contains {
				// "\x00" marks the end of the message.
				if !strings.Contains(v.Message+"\x00", s) {
					t.Errorf("message %q does not contain %q", v.Message, s)
				}
			}
		})
	}
}

func TestNilRefPolicy(t *testing.T) {
	var p *policy.RefPolicy
	if v := p.Check("anything"); v != nil {
		t.Errorf("nil policy refused: %v", v)
	}
}

// TestRefPolicyLevels is how the handler combines the global, project and
// token levels: every one must allow the ref.
func TestRefPolicyLevels(t *testing.T) {
	levels := []*policy.RefPolicy{mustRefs(t, nil), mustRefs(t, []string{"main", "v*", "release/**"}), mustRefs(t, []string{"v*"})}
	check := func(ref string) *policy.Violation {
		for _, p := range levels {
			if v := p.Check(ref); v != nil {
				return v
			}
		}
		return nil
	}
	for ref, allowed := range map[string]bool{"v2": true, "main": false, "release/1": false, "dev": false} {
		if got := check(ref) == nil; got != allowed {
			t.Errorf("%s: allowed %v, want %v", ref, got, allowed)
		}
	}
}

func mustRefs(t *testing.T, allow []string) *policy.RefPolicy {
	t.Helper()
	p, err := policy.CompileRefs(allow)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCompileRefsErrors(t *testing.T) {
	tests := []struct {
		allow []string
		want  string
	}{
		{[]string{"main", ""}, `allow "": empty pattern`},
		{[]string{"main "}, "no space or control character"},
		{[]string{"ma\tin"}, "no space or control character"},
		{[]string{"x\x7f"}, "no space or control character"},
		{[]string{"v\xff*"}, "not valid UTF-8"},
		{[]string{strings.Repeat("a", policy.MaxGlobLength+1)}, "longer than"},
	}
	for _, tt := range tests {
		p, err := policy.CompileRefs(tt.allow)
		if err == nil || p != nil {
			t.Errorf("CompileRefs(%.30q) = %v, %v, want an error", tt.allow, p, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "ref policy: allow ") {
			t.Errorf("CompileRefs(%.30q) = %q, want %q", tt.allow, err, tt.want)
		}
	}
}

func BenchmarkRefCheck(b *testing.B) {
	p, err := policy.CompileRefs([]string{"main", "v*", "release/**"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if p.Check("release/2024/10") != nil {
			b.Fatal("refused")
		}
	}
}
