package policy

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
)

// VariableRules is one level of the variable policy: the global one, or
// one project's. CompileVariables merges the levels into a VariablePolicy.
//
// Allow, Deny, Protected and Pattern are about the names the caller sends;
// Set and Default about the names forwarded to the CI server, after Rename.
// Name globs use the Glob syntax with only letters, digits, '_', '*' and
// '?' (a name has no other character, so '*' and '**' are the same there).
type VariableRules struct {
	// Allow are the name globs callers may set. Empty means any name that
	// is neither protected nor denied. When several levels set Allow, the
	// most specific one (the project's) replaces the others: a project can
	// widen a global list with Allow: ["*"]. Default: none, any name.
	Allow []string `json:"allow,omitempty"`
	// Deny are name globs callers may not set. The lists of all levels add
	// up. Default: none.
	Deny []string `json:"deny,omitempty"`
	// Protected are name globs callers may never set, in addition to
	// DefaultProtected (CI_*, GITLAB_*) and to the lists of other levels.
	// The gateway itself may still Set or Default them. Default: none
	// beyond DefaultProtected.
	Protected []string `json:"protected,omitempty"`
	// Set maps a forwarded name to the value the gateway always forwards
	// for it, replacing the caller's value if there is one. Set wins over
	// Default for the same name, whatever the levels. Default: none.
	Set map[string]string `json:"set,omitempty"`
	// Default maps a forwarded name to the value the gateway forwards when
	// the request (after Rename) has no variable of that name. Default:
	// none.
	Default map[string]string `json:"default,omitempty"`
	// Rename maps a name the caller sends to the name forwarded instead.
	// Renaming is a single pass (A->B and B->C forward A's value as B and
	// B's as C). A target may not be protected or denied, and two names
	// may not be renamed to the same target. Default: none.
	Rename map[string]string `json:"rename,omitempty"`
	// Pattern maps a name the caller sends to a regular expression (Go's
	// RE2 syntax) its value must match as a whole, not just in part. It
	// applies to the caller's values only, under the caller's name.
	// Default: none, any value.
	Pattern map[string]string `json:"pattern,omitempty"`
	// MaxCount is the most variables a caller may send in one request.
	// 0 leaves it to a less specific level, or DefaultMaxVariables
	// (100; the handler's max_variables). Default: 0.
	MaxCount int `json:"max_count,omitempty"`
	// MaxValueBytes is the longest value, in bytes, a caller may send for
	// a variable. 0 leaves it to a less specific level, or
	// DefaultMaxVariableBytes (10 KiB; the handler's max_variable_size).
	// Default: 0.
	MaxValueBytes int `json:"max_value_bytes,omitempty"`
}

// VariablePolicy is a compiled, merged variable policy. It is immutable and
// safe for concurrent use. A nil *VariablePolicy applies the safe defaults,
// as CompileVariables() does.
type VariablePolicy struct {
	maxCount      int
	maxValueBytes int
	protected     []Glob
	deny          []Glob
	allow         []Glob
	patterns      map[string]*regexp.Regexp
	// sources holds each pattern as configured, for messages.
	sources map[string]string
	// renameTo is Rename; renames is the same, in the order of the caller's
	// names, for deterministic results.
	renameTo map[string]string
	renames  []rename
	defaults []provided
	sets     []provided
}

type rename struct {
	from, to string
	note     string // the rule as Apply reports it
}

// provided is a value the gateway sets or defaults.
type provided struct {
	name, value string
	note        string // the rule as Apply reports it
	replaced    string // the note when it replaced the caller's value
}

// CompileVariables merges the levels, least specific (global) first, into a
// ready policy, and checks it. The merge:
//   - Deny and Protected: the union of all levels, plus DefaultProtected;
//   - Allow: the last level with a non-empty Allow wins;
//   - Set, Default, Rename, Pattern: merged key by key, a later level
//     replacing an earlier one's entry for the same key;
//   - MaxCount, MaxValueBytes: the last non-zero value, else
//     DefaultMaxVariables and DefaultMaxVariableBytes.
//
// It fails on an invalid glob or glob that can never match a variable
// name, an invalid variable name, a regular expression that does not
// compile, a negative limit, a rename of a name to itself, onto a
// protected or denied name, or of two names onto one. Errors never
// contain a value of Set or Default: those may be secrets.
func CompileVariables(levels ...VariableRules) (*VariablePolicy, error) {
	merged := mergeLevels(levels)
	p := &VariablePolicy{
		maxCount:      DefaultMaxVariables,
		maxValueBytes: DefaultMaxVariableBytes,
	}
	for _, l := range levels {
		if l.MaxCount < 0 || l.MaxValueBytes < 0 {
			return nil, errors.New("variable policy: max_count and max_value_bytes cannot be negative")
		}
		if l.MaxCount > 0 {
			p.maxCount = l.MaxCount
		}
		if l.MaxValueBytes > 0 {
			p.maxValueBytes = l.MaxValueBytes
		}
	}
	var err error
	if p.protected, err = compileNameGlobs("protected", merged.Protected); err != nil {
		return nil, err
	}
	if p.deny, err = compileNameGlobs("deny", merged.Deny); err != nil {
		return nil, err
	}
	if p.allow, err = compileNameGlobs("allow", merged.Allow); err != nil {
		return nil, err
	}
	if err := p.compilePatterns(merged.Pattern); err != nil {
		return nil, err
	}
	if err := p.compileRenames(merged.Rename); err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(merged.Set)) {
		if !validKey(name) {
			return nil, fmt.Errorf("variable policy: set: %s is not a valid variable name", quoteInput(name))
		}
		p.sets = append(p.sets, provided{name: name, value: merged.Set[name],
			note: "set " + name, replaced: "set " + name + " (replacing the caller's value)"})
	}
	for _, name := range slices.Sorted(maps.Keys(merged.Default)) {
		if !validKey(name) {
			return nil, fmt.Errorf("variable policy: default: %s is not a valid variable name", quoteInput(name))
		}
		if _, set := merged.Set[name]; set {
			continue // Set wins: the default could never apply
		}
		p.defaults = append(p.defaults, provided{name: name, value: merged.Default[name], note: "default " + name})
	}
	return p, nil
}

// mergeLevels applies the merge rules of CompileVariables to the lists and
// maps; limits are merged by the caller.
func mergeLevels(levels []VariableRules) VariableRules {
	m := VariableRules{
		Protected: slices.Clone(DefaultProtected),
		Set:       map[string]string{},
		Default:   map[string]string{},
		Rename:    map[string]string{},
		Pattern:   map[string]string{},
	}
	for _, l := range levels {
		if len(l.Allow) > 0 {
			m.Allow = l.Allow
		}
		m.Deny = append(m.Deny, l.Deny...)
		m.Protected = append(m.Protected, l.Protected...)
		maps.Copy(m.Set, l.Set)
		maps.Copy(m.Default, l.Default)
		maps.Copy(m.Rename, l.Rename)
		maps.Copy(m.Pattern, l.Pattern)
	}
	return m
}

// compileNameGlobs compiles a list of name globs, dropping repeats so
// messages list each once.
func compileNameGlobs(field string, patterns []string) ([]Glob, error) {
	var globs []Glob
	seen := make(map[string]bool, len(patterns))
	for _, pattern := range patterns {
		if seen[pattern] {
			continue
		}
		seen[pattern] = true
		g, err := compileNameGlob(pattern)
		if err != nil {
			return nil, fmt.Errorf("variable policy: %s %s: %w", field, quoteInput(pattern), err)
		}
		globs = append(globs, g)
	}
	return globs, nil
}

// compileNameGlob compiles a glob for variable names. Any character but a
// wildcard or one of a name's is refused: it could never match.
func compileNameGlob(pattern string) (Glob, error) {
	for i := 0; i < len(pattern); i++ {
		if c := pattern[i]; !nameChar(c) && c != '*' && c != '?' {
			return Glob{}, errors.New("a variable name has only letters, digits and '_', so this pattern can never match")
		}
	}
	return CompileGlob(pattern)
}

// compilePatterns compiles the value patterns, anchored at both ends.
func (p *VariablePolicy) compilePatterns(patterns map[string]string) error {
	if len(patterns) == 0 {
		return nil
	}
	p.patterns = make(map[string]*regexp.Regexp, len(patterns))
	p.sources = make(map[string]string, len(patterns))
	for _, name := range slices.Sorted(maps.Keys(patterns)) {
		expr := patterns[name]
		if !validKey(name) {
			return fmt.Errorf("variable policy: pattern: %s is not a valid variable name", quoteInput(name))
		}
		// Compiled alone first: it proves the expression balanced, so the
		// anchors around it cannot be escaped with "a)|(b".
		if _, err := regexp.Compile(expr); err != nil {
			return fmt.Errorf("variable policy: pattern for %s: %w", name, err)
		}
		re, err := regexp.Compile(`\A(?:` + expr + `)\z`)
		if err != nil {
			return fmt.Errorf("variable policy: pattern for %s: %w", name, err)
		}
		p.patterns[name] = re
		p.sources[name] = expr
	}
	return nil
}

// compileRenames checks the renames against each other and against the
// protected and denied names: a rename must not let a caller's value reach
// a name the caller could not set.
func (p *VariablePolicy) compileRenames(renames map[string]string) error {
	if len(renames) == 0 {
		return nil
	}
	p.renameTo = make(map[string]string, len(renames))
	onto := make(map[string]string, len(renames))
	for _, from := range slices.Sorted(maps.Keys(renames)) {
		to := renames[from]
		switch {
		case !validKey(from):
			return fmt.Errorf("variable policy: rename: %s is not a valid variable name", quoteInput(from))
		case !validKey(to):
			return fmt.Errorf("variable policy: rename %s: %s is not a valid variable name", from, quoteInput(to))
		case from == to:
			return fmt.Errorf("variable policy: rename %s to itself", from)
		}
		if g, ok := firstMatch(p.protected, to); ok {
			return fmt.Errorf("variable policy: rename %s to %s: %s is protected (%s)", from, to, to, g)
		}
		if g, ok := firstMatch(p.deny, to); ok {
			return fmt.Errorf("variable policy: rename %s to %s: %s is denied (%s)", from, to, to, g)
		}
		if other, dup := onto[to]; dup {
			return fmt.Errorf("variable policy: rename: %s and %s are both renamed to %s", other, from, to)
		}
		onto[to] = from
		p.renameTo[from] = to
		p.renames = append(p.renames, rename{from: from, to: to, note: "renamed " + from + " to " + to})
	}
	return nil
}

// firstMatch returns the first glob that matches name.
func firstMatch(globs []Glob, name string) (string, bool) {
	for i := range globs {
		if globs[i].match(name) {
			return globs[i].String(), true
		}
	}
	return "", false
}

// MaxCount is the most variables a caller may send in one request.
func (p *VariablePolicy) MaxCount() int { return p.orDefault().maxCount }

// MaxValueBytes is the longest value a caller may send for a variable.
func (p *VariablePolicy) MaxValueBytes() int { return p.orDefault().maxValueBytes }

// defaultVariables is the policy a nil *VariablePolicy stands for.
var defaultVariables = func() *VariablePolicy {
	p, err := CompileVariables()
	if err != nil {
		panic("policy: the default variable policy does not compile: " + err.Error())
	}
	return p
}()

func (p *VariablePolicy) orDefault() *VariablePolicy {
	if p == nil {
		return defaultVariables
	}
	return p
}
