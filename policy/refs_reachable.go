package policy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/triggergate/caddy-trigger-gateway/gitref"
)

// A trigger token's ref globs are checked when the token is created: a
// glob that no ref a trigger may run can match, or that no ref the
// gateway's or the project's rules allow can match, is a mistake that
// would otherwise show only as refused triggers.
//
// Deciding in general whether two globs share a string is deciding the
// intersection of two regular languages; the checks below are simpler and
// err on one side only: a glob without wildcards is checked exactly, and
// a glob with wildcards is refused only when its literal text proves that
// nothing can match. A glob they let through may still never match (such
// as "feature/*" under a rule "feature/x/**": '*' never matches '/').

// RefGlobError says why no ref a trigger may run (a branch or tag name
// git accepts, and not a commit SHA: gitref.Check) can ever match the
// glob, or returns nil when one may. The glob must compile (CompileRefs).
func RefGlobError(pattern string) error {
	if strings.HasPrefix(pattern, "refs/") {
		return errors.New("globs match the short name of a branch or tag (main, v1.2), never refs/heads/ or refs/tags/")
	}
	if !strings.ContainsAny(pattern, "*?") {
		switch err := gitref.Check(pattern); {
		case errors.Is(err, gitref.ErrCommitSHA):
			return errors.New("it is written like a commit SHA, and a trigger runs only branches and tags")
		case err != nil:
			return errors.New("it is not a valid branch or tag name")
		}
		return nil
	}
	first, last := strings.IndexAny(pattern, "*?"), strings.LastIndexAny(pattern, "*?")
	prefix, suffix := pattern[:first], pattern[last+1:]
	if prefix != "" && strings.ContainsAny(prefix[:1], "-/.") {
		return fmt.Errorf("a branch or tag name never starts with %q", prefix[:1])
	}
	for _, end := range []string{"/", ".", ".lock"} {
		if suffix != "" && strings.HasSuffix(suffix, end) {
			return fmt.Errorf("a branch or tag name never ends with %q", end)
		}
	}
	// Every literal run of the glob is in every ref it matches.
	for _, run := range strings.FieldsFunc(pattern, func(r rune) bool { return r == '*' || r == '?' }) {
		for _, never := range []string{"..", "//", "@{", "/.", ".lock/", "~", "^", ":", "[", "\\"} {
			if strings.Contains(run, never) {
				return fmt.Errorf("a branch or tag name never contains %q", never)
			}
		}
	}
	return nil
}

// MayAllowGlob reports whether some ref matching the glob may pass the
// policy; false only when none can, as far as the literal text of the
// globs proves it. A nil or empty policy allows every ref. The glob must
// compile (CompileRefs).
func (p *RefPolicy) MayAllowGlob(pattern string) bool {
	if p == nil || len(p.allow) == 0 {
		return true
	}
	g, err := compileRefGlob(pattern)
	if err != nil {
		return false
	}
	for i := range p.allow {
		if mayShareString(&g, &p.allow[i]) {
			return true
		}
	}
	return false
}

// Allowed lists the policy's globs, quoted, for messages: "main", "v*".
func (p *RefPolicy) Allowed() string {
	if p == nil {
		return ""
	}
	return globList(p.allow)
}

// mayShareString reports whether a string may match both globs: exactly
// when one has no wildcard; otherwise false only when their literal
// prefixes or suffixes differ (neither is a prefix, or a suffix, of the
// other), which no string matching both can satisfy.
func mayShareString(a, b *Glob) bool {
	switch {
	case a.kind == globExact:
		return b.match(a.prefix)
	case b.kind == globExact:
		return a.match(b.prefix)
	}
	return (strings.HasPrefix(a.prefix, b.prefix) || strings.HasPrefix(b.prefix, a.prefix)) &&
		(strings.HasSuffix(a.suffix, b.suffix) || strings.HasSuffix(b.suffix, a.suffix))
}
