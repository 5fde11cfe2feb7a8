package policy

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestGlobMatch(t *testing.T) {
	long := strings.Repeat("a", 200)
	tests := []struct {
		glob string
		yes  []string
		no   []string
	}{
		{"main", []string{"main"}, []string{"", "mai", "main2", "Main", "xmain", "main/x"}},
		{"v*", []string{"v", "v1", "v1.2", "v1.2.3-rc.1"}, []string{"", "x1", "V1", "v1/x", "/v1"}},
		{"release/**", []string{"release/", "release/1", "release/1/2", "release/a/b/c/"}, []string{"release", "releases/1", "x/release/1"}},
		{"**", []string{"", "a", "a/b/c", "/", "//"}, nil},
		{"*", []string{"", "a", "abc"}, []string{"/", "a/b"}},
		{"***", []string{"", "a/b"}, nil},
		{"?", []string{"a", "é", "?"}, []string{"", "ab", "/"}},
		{"v?.*", []string{"v1.2", "v9."}, []string{"v12.3", "v/.1", "v1.2/3"}},
		{"CI_*", []string{"CI_", "CI_JOB_TOKEN"}, []string{"CI", "ci_x", "XCI_"}},
		{"*_TOKEN", []string{"_TOKEN", "CI_JOB_TOKEN"}, []string{"TOKEN", "CI_TOKEN_X"}},
		{"*_*", []string{"A_B", "_", "A_B_C"}, []string{"AB", ""}},
		{"a*b*c", []string{"abc", "aXbYc", "abbbc", "acbc"}, []string{"ab", "acb", "a/bc", "ab/c"}},
		{"a**b*c", []string{"a/x/bYc", "abc", "a/b/bc"}, []string{"a/x/b/c", "a/x/bc/d"}},
		{"**/*.lock", []string{"a/b.lock", "/.lock", "x/y/z.lock"}, []string{"b.lock", "a/b/c.locks"}},
		{"feature/*/**", []string{"feature/x/", "feature/x/y/z"}, []string{"feature/x", "feature//"[:8]}},
		{"[ab]", []string{"[ab]"}, []string{"a", "b"}},
		{`a\*`, []string{`a\`, `a\xyz`}, []string{"a*x/y"}},
		{"*a*a*a*a*a*a*a*b", []string{"aaaaaaab"}, []string{long}},
		{"**a**a**a**a**b", []string{"a/a/a/a/b"}, []string{long + "/" + long}},
		{"ab*ba", []string{"abba", "abXba"}, []string{"aba", "ab", "ba", "ab/ba"}},
		{"a**a", []string{"aa", "a/a", "aXa"}, []string{"a", "ab"}},
		{"**/x", []string{"/x", "a/b/x"}, []string{"x", "a/xx"}},
		{"é*ü", []string{"éü", "é-ü"}, []string{"e-u"}},
		{"?*?", []string{"ab", "abc"}, []string{"a", "a/"}},
		// More than 64 tokens: the automaton spans several words.
		{strings.Repeat("a?", 40) + "*" + strings.Repeat("b", 30), []string{strings.Repeat("ax", 40) + "yy" + strings.Repeat("b", 30),
			strings.Repeat("ax", 40) + strings.Repeat("b", 30)}, []string{strings.Repeat("ax", 40) + strings.Repeat("b", 29)}},
		// A star at the last bit of a word, skipped to the next word.
		{"?" + strings.Repeat("a", 62) + "*b", []string{"x" + strings.Repeat("a", 62) + "b", "x" + strings.Repeat("a", 62) + "zzb"},
			[]string{"x" + strings.Repeat("a", 62) + "z/b"}},
		{"x*" + strings.Repeat("?", 70) + "y", []string{"x" + strings.Repeat("z", 70) + "y", "xq" + strings.Repeat("z", 70) + "y"},
			[]string{"x" + strings.Repeat("z", 69) + "y"}},
	}
	for _, tt := range tests {
		g, err := CompileGlob(tt.glob)
		if err != nil {
			t.Fatalf("CompileGlob(%q): %v", tt.glob, err)
		}
		if g.String() != tt.glob {
			t.Errorf("String() = %q, want %q", g.String(), tt.glob)
		}
		ref := referenceGlob(tt.glob)
		for _, s := range tt.yes {
			if !g.Match(s) {
				t.Errorf("%q does not match %q, want a match", tt.glob, s)
			}
			if !ref.MatchString(s) {
				t.Errorf("reference: %q does not match %q: the table is wrong", tt.glob, s)
			}
		}
		for _, s := range tt.no {
			if g.Match(s) {
				t.Errorf("%q matches %q, want no match", tt.glob, s)
			}
			if ref.MatchString(s) {
				t.Errorf("reference: %q matches %q: the table is wrong", tt.glob, s)
			}
		}
	}
}

// TestGlobInvalidUTF8 checks that a byte that is not UTF-8 counts as one
// character for the wildcards but never equals a literal, on every path.
func TestGlobInvalidUTF8(t *testing.T) {
	tests := []struct {
		glob, s string
		want    bool
	}{
		{"\uFFFD", "\xff", false},
		{"\uFFFD", "\uFFFD", true},
		{"\uFFFD*", "\xff", false},
		{"*\uFFFD", "\xff", false},
		{"?\uFFFD?", "a\xffb", false},
		{"?\uFFFD?", "a\uFFFDb", true},
		{"?", "\xff", true},
		{"??", "\xff\xfe", true},
		{"a*b", "a\xff\xfeb", true},
		{"v*", "v\xff", true},
	}
	for _, tt := range tests {
		if got := MustCompileGlob(tt.glob).Match(tt.s); got != tt.want {
			t.Errorf("%q.Match(%q) = %v, want %v", tt.glob, tt.s, got, tt.want)
		}
	}
}

func TestCompileGlobErrors(t *testing.T) {
	tests := []struct {
		glob string
		want string
	}{
		{"", "empty"},
		{strings.Repeat("a", MaxGlobLength+1), "longer than"},
		{"v\xff*", "UTF-8"},
	}
	for _, tt := range tests {
		if _, err := CompileGlob(tt.glob); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("CompileGlob(%.20q) = %v, want an error with %q", tt.glob, err, tt.want)
		}
	}
	if _, err := CompileGlob(strings.Repeat("?", MaxGlobLength)); err != nil {
		t.Errorf("CompileGlob of the longest glob: %v", err)
	}
	if (Glob{}).Match("") || (Glob{}).Match("x") {
		t.Error("the zero Glob matches")
	}
}

func TestMustCompileGlob(t *testing.T) {
	if !MustCompileGlob("v*").Match("v1") {
		t.Error(`MustCompileGlob("v*") does not match v1`)
	}
	defer func() {
		if recover() == nil {
			t.Error("MustCompileGlob(\"\") did not panic")
		}
	}()
	MustCompileGlob("")
}

// referenceGlob is the Glob syntax written as a regular expression: the
// slow, obviously right matcher the fast one is checked against.
func referenceGlob(glob string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`\A`)
	for i := 0; i < len(glob); {
		r, w := utf8.DecodeRuneInString(glob[i:])
		switch r {
		case '*':
			n := len(glob[i:]) - len(strings.TrimLeft(glob[i:], "*"))
			if n > 1 {
				b.WriteString(`(?s:.*)`)
			} else {
				b.WriteString(`[^/]*`)
			}
			i += n
			continue
		case '?':
			b.WriteString(`[^/]`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
		i += w
	}
	b.WriteString(`\z`)
	return regexp.MustCompile(b.String())
}

func FuzzGlob(f *testing.F) {
	seeds := [][2]string{
		{"main", "main"}, {"v*", "v1.2"}, {"v*", "v1/x"}, {"release/**", "release/1/2"},
		{"a*b?c**d", "aXXb/c/d"}, {"*?*", "/"}, {"**?", "/"}, {"?", "\xff"}, {"\uFFFD", "\xff"},
		{"*a*a*a*b", "aaaaaaaaaaaaaaaaaaaa"}, {"x**y*z", "x/y/yz"}, {strings.Repeat("a?", 40) + "*", strings.Repeat("ab", 45)},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, glob, s string) {
		g, err := CompileGlob(glob)
		if err != nil {
			return
		}
		if strings.ContainsRune(glob, utf8.RuneError) && !utf8.ValidString(s) {
			// regexp takes a byte that is not UTF-8 for U+FFFD; Glob is
			// byte-exact (TestGlobInvalidUTF8).
			return
		}
		if got, want := g.Match(s), referenceGlob(glob).MatchString(s); got != want {
			t.Fatalf("%q.Match(%q) = %v, the reference says %v", glob, s, got, want)
		}
	})
}

func BenchmarkGlobMatch(b *testing.B) {
	for _, bc := range []struct{ glob, s string }{
		{"CI_*", "DEPLOY_ENVIRONMENT"},
		{"release/**", "release/2024/10"},
		{"v*.*.*", "v1.22.333"},
		{"*_TOKEN", "SOME_LONG_VARIABLE_NAME_TOKEN"},
	} {
		g := MustCompileGlob(bc.glob)
		b.Run(bc.glob, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				g.Match(bc.s)
			}
		})
	}
}
