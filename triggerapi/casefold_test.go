package triggerapi

import (
	"fmt"
	"strings"
	"testing"
)

func TestCaseVariantOf(t *testing.T) {
	tests := []struct{ name, want string }{
		{"token", ""}, {"ref", ""}, {"variables", ""}, {"inputs", ""},
		{"Token", "token"}, {"TOKEN", "token"}, {"to\u212aen", "token"},
		{"Ref", "ref"}, {"rEF", "ref"},
		{"Variables", "variables"}, {"VARIABLES", "variables"}, {"variable\u017f", "variables"}, {"\u212a", ""},
		{"Inputs", "inputs"}, {"input\u017f", "inputs"},
		{"Refs", ""}, {"re", ""}, {"ref_protected", ""}, {"", ""}, {"object_kind", ""}, {"r\u00e9f", ""},
	}
	for _, tt := range tests {
		if got := caseVariantOf(tt.name); got != tt.want {
			t.Errorf("caseVariantOf(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestCaseCollision(t *testing.T) {
	many := func(extra ...string) map[string]string {
		m := map[string]string{}
		for i := range pairwiseLimit + 4 { // past the pairwise comparison
			m[fmt.Sprintf("Name_%02d", i)] = ""
		}
		for _, name := range extra {
			m[name] = ""
		}
		return m
	}
	tests := []struct {
		name          string
		names         map[string]string
		first, second string
	}{
		{"none", nil, "", ""},
		{"one", map[string]string{"a": ""}, "", ""},
		{"upper case only", map[string]string{"A": "", "B_1": "", "C": ""}, "", ""},
		{"lower case only", map[string]string{"a": "", "b": ""}, "", ""},
		{"mixed, distinct", map[string]string{"Deploy": "", "deploy_x": ""}, "", ""},
		{"a and A", map[string]string{"a": "", "A": "", "b": ""}, "A", "a"},
		{"first pair in byte order", map[string]string{"b": "", "B": "", "a": "", "A": ""}, "A", "a"},
		{"three of a kind", map[string]string{"ab": "", "Ab": "", "AB": ""}, "AB", "Ab"},
		{"Kelvin sign", map[string]string{"k": "", "\u212a": ""}, "k", "\u212a"},
		{"long s", map[string]string{"S": "", "\u017f": ""}, "S", "\u017f"},
		{"invalid UTF-8 is U+FFFD", map[string]string{"a\xff": "", "a\xfe": ""}, "a\xfe", "a\xff"},
		{"non-ASCII, distinct", map[string]string{"é": "", "e": ""}, "", ""},
		{"many, distinct", many(), "", ""},
		{"many, colliding", many("name_03", "NAME_10"), "NAME_10", "Name_10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first, second, found := caseCollision(tt.names)
			if found != (tt.first != "") || first != tt.first || second != tt.second {
				t.Errorf("caseCollision = %q, %q, %v; want %q, %q", first, second, found, tt.first, tt.second)
			}
			first, second, found = VariablesOf(tt.names).caseCollision()
			if found != (tt.first != "") || first != tt.first || second != tt.second {
				t.Errorf("Variables.caseCollision = %q, %q, %v; want %q, %q", first, second, found, tt.first, tt.second)
			}
		})
	}
}

// Detecting a collision costs no allocation in the common cases.
func TestCaseCollisionAllocations(t *testing.T) {
	for _, names := range []map[string]string{
		{"DEPLOY_ENV": "", "VERSION": "", "NOTIFY": "", "REGION": "", "MESSAGE": ""},
		{"Deploy": "", "version": "", "notify": "", "region": "", "message": ""},
		{"é": "", "e": ""},
	} {
		if n := testing.AllocsPerRun(100, func() { caseCollision(names) }); n != 0 {
			t.Errorf("caseCollision(%q) allocates %v times", names, n)
		}
		vs := VariablesOf(names)
		if n := testing.AllocsPerRun(100, func() { vs.caseCollision() }); n != 0 {
			t.Errorf("Variables.caseCollision(%q) allocates %v times", names, n)
		}
	}
}

// foldName agrees with strings.EqualFold: two names fold to the same
// string exactly when EqualFold holds them equal.
func FuzzFoldName(f *testing.F) {
	for _, seed := range [][2]string{
		{"token", "TOKEN"}, {"to\u212aen", "token"}, {"variable\u017f", "VARIABLES"}, {"a\xff", "a\xfe"},
		{"\ufffd", "\xff"}, {"ǅ", "ǆ"}, {"Σ", "ς"}, {"ß", "ẞ"}, {"İ", "i"}, {"", ""}, {"a", "ab"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if equal, folded := strings.EqualFold(a, b), foldName(a) == foldName(b); equal != folded {
			t.Fatalf("EqualFold(%q, %q) = %v, but folded %q and %q", a, b, equal, foldName(a), foldName(b))
		}
		names := map[string]bool{a: true, b: true}
		if _, _, found := caseCollision(names); found != (a != b && strings.EqualFold(a, b)) {
			t.Fatalf("caseCollision(%q, %q) = %v", a, b, found)
		}
	})
}
