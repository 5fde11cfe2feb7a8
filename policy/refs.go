package policy

import (
	"errors"
	"fmt"
)

// RefRules is the ref policy of one level: global, a project or a trigger
// token. A request must pass every level that applies to it.
type RefRules struct {
	// Allow are the globs of the refs that may be triggered, in the Glob
	// syntax, matched against the short branch or tag name ("main",
	// "v1.2", "release/1.x", never "refs/heads/main"). A glob cannot tell
	// a branch from a tag of the same name. Empty means any ref.
	Allow []string `json:"allow,omitempty"`
}

// RefPolicy is a compiled ref policy. It is immutable and safe for
// concurrent use; a nil *RefPolicy allows every ref.
type RefPolicy struct {
	allow []Glob
}

// CompileRefs compiles the allowed ref globs. An empty list allows every
// ref. It fails on an invalid glob, or on one with a space or control
// character, which git never allows in a ref.
func CompileRefs(allow []string) (*RefPolicy, error) {
	p := &RefPolicy{}
	seen := make(map[string]bool, len(allow))
	for _, pattern := range allow {
		if seen[pattern] {
			continue
		}
		seen[pattern] = true
		g, err := compileRefGlob(pattern)
		if err != nil {
			return nil, fmt.Errorf("ref policy: allow %s: %w", quoteInput(pattern), err)
		}
		p.allow = append(p.allow, g)
	}
	return p, nil
}

func compileRefGlob(pattern string) (Glob, error) {
	for i := 0; i < len(pattern); i++ {
		if c := pattern[i]; c <= ' ' || c == 0x7f {
			return Glob{}, errors.New("a ref has no space or control character, so this pattern can never match")
		}
	}
	return CompileGlob(pattern)
}

// Check returns nil if the ref may be triggered, or a Violation with rule
// RuleRefNotAllowed naming the ref and the allowed globs. ref is the
// normalized short name.
func (p *RefPolicy) Check(ref string) *Violation {
	if p == nil || len(p.allow) == 0 || anyMatch(p.allow, ref) {
		return nil
	}
	return &Violation{Rule: RuleRefNotAllowed,
		Message: fmt.Sprintf("ref %s is not allowed: allowed refs are %s", quoteInput(ref), globList(p.allow))}
}
