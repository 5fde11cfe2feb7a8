package triggerapi

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Parameter names are case-sensitive here, as they are in Rails, but not
// everywhere further on: Go's encoding/json matches a struct field by any
// case (and by Unicode simple folding, so "toKen" with a Kelvin sign is
// token), and a CI server built on it, or one whose environment variable
// names are case-insensitive, would read a payload field "Ref" as the ref,
// "Variables" as the variables, or the variables "a" and "A" as one. The
// rules are checked on token, ref, variables and inputs only, so a field
// another parser could take for one of them, or names it could merge, is
// refused rather than passed on.

// parameterNames are the request's own top-level parameters.
var parameterNames = [...]string{"token", "ref", "variables", "inputs"}

// caseVariantOf returns the parameter name that name differs from only in
// case, or "" when it is none (or is the parameter itself).
func caseVariantOf(name string) string {
	// A variant has as many runes as the parameter, each of 1 to 4 bytes:
	// most names are ruled out by their length alone.
	if len(name) < len("ref") || len(name) > utf8.UTFMax*len("variables") {
		return ""
	}
	for _, parameter := range parameterNames {
		if name != parameter && strings.EqualFold(name, parameter) {
			return parameter
		}
	}
	return ""
}

// pairwiseLimit is the most names caseCollision compares pair by pair,
// without an allocation; more are compared through a map of folded names.
const pairwiseLimit = 16

// caseCollision finds two names of m that differ only in case: of all
// such pairs, the one whose larger name comes first in byte order, with
// the smallest name it collides with, so that the same request always
// gets the same answer. The common cases (few names, or names all in one
// case) allocate nothing.
func caseCollision[V any](m map[string]V) (first, second string, found bool) {
	if len(m) < 2 {
		return "", "", false
	}
	var cases nameCases
	for name := range m {
		cases.note(name)
	}
	if !cases.mayMerge() {
		return "", "", false
	}
	var buffer [pairwiseLimit]string
	return sortedCollision(sortedKeys(buffer[:0], m))
}

// caseCollision is caseCollision for variables (sorted by name).
func (vs Variables) caseCollision() (first, second string, found bool) {
	if len(vs) < 2 {
		return "", "", false
	}
	var cases nameCases
	for _, v := range vs {
		cases.note(v.Name)
	}
	if !cases.mayMerge() {
		return "", "", false
	}
	var buffer [pairwiseLimit]string
	return sortedCollision(vs.Names(buffer[:0]))
}

// sortedCollision is caseCollision for names sorted in byte order.
func sortedCollision(names []string) (first, second string, found bool) {
	if len(names) <= pairwiseLimit && !anyPairFoldEqual(names) {
		return "", "", false
	}
	seen := make(map[string]string, len(names)) // folded name: the first with it
	for _, name := range names {
		folded := foldName(name)
		if prev, ok := seen[folded]; ok {
			return prev, name, true
		}
		seen[folded] = name
	}
	return "", "", false
}

// nameCases tells whether folding could make two names one: it cannot
// when all are ASCII and none has a lower-case letter, or none an
// upper-case one (CI variables are usually all upper case).
type nameCases struct{ upper, lower, other bool }

// note takes one name into account.
func (c *nameCases) note(name string) {
	for i := 0; i < len(name); i++ {
		switch b := name[i]; {
		case b >= utf8.RuneSelf:
			c.other = true
		case 'A' <= b && b <= 'Z':
			c.upper = true
		case 'a' <= b && b <= 'z':
			c.lower = true
		}
	}
}

func (c *nameCases) mayMerge() bool { return c.other || c.upper && c.lower }

// anyPairFoldEqual compares every pair of names (at most pairwiseLimit).
func anyPairFoldEqual(names []string) bool {
	for i := 1; i < len(names); i++ {
		for _, earlier := range names[:i] {
			if strings.EqualFold(names[i], earlier) {
				return true
			}
		}
	}
	return false
}

// foldName maps name to one representative of the names strings.EqualFold
// holds equal to it, as encoding/json folds field names: each rune becomes
// the smallest of its simple case-folding orbit, and a byte that is not
// UTF-8 becomes U+FFFD (EqualFold and JSON encoding see it so).
func foldName(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	for _, r := range name { // an invalid byte ranges as utf8.RuneError
		if r < utf8.RuneSelf {
			if 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
			b.WriteByte(byte(r))
			continue
		}
		b.WriteRune(smallestFold(r))
	}
	return b.String()
}

// smallestFold returns the smallest rune of r's simple case-folding orbit.
func smallestFold(r rune) rune {
	for {
		next := unicode.SimpleFold(r)
		if next <= r {
			return next
		}
		r = next
	}
}
