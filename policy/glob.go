package policy

import (
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"unicode/utf8"
)

// MaxGlobLength bounds a glob, in bytes. It is git's practical limit on a
// ref, so every ref the gateway accepts can be written as a literal glob.
const MaxGlobLength = 1024

// Glob is a compiled pattern for variable names and refs. The syntax is
// deliberately small, with no character classes or escapes:
//
//   - '*' matches any run of characters, possibly empty, except '/';
//   - '**' matches any run of characters, possibly empty, '/' included
//     (three or more '*' in a row mean the same as '**');
//   - '?' matches exactly one character except '/'.
//
// Every other character, '[' and '\' included, stands for itself, and the
// glob must match the whole string. Characters are UTF-8 code points (a
// byte that is not UTF-8 counts as one character, equal to no literal). So
// "v*" matches "v1.2" but not "v1/x", "release/**" matches "release/1/2"
// (and "release/", but not "release"), "**/x" needs a '/' before the x,
// and "main" matches only "main".
// Matching is case-sensitive and runs in time linear in the length of the
// string for a given glob, whatever the glob.
//
// The zero Glob matches nothing; use CompileGlob.
type Glob struct {
	pattern string
	// prefix and suffix are the literal text before the first wildcard and
	// after the last: most globs ("CI_*", "*_TOKEN", "release/**", "main")
	// are decided by them alone, and they reject most strings cheaply.
	prefix, suffix string
	kind           globKind
	nfa            *automaton // globGeneral: the part between them
}

type globKind uint8

const (
	globNone    globKind = iota // the zero Glob
	globExact                   // no wildcard
	globStar                    // prefix, one '*', suffix
	globTree                    // prefix, one '**', suffix
	globGeneral                 // anything else
)

// automaton matches the part of a glob between its literal prefix and
// suffix: one state per token, and a final state. Bit i of a mask is
// token i.
type automaton struct {
	lits  []rune   // the literal of token i (0 for wildcards)
	lit   []uint64 // tokens that are a literal
	one   []uint64 // '?' tokens
	star  []uint64 // '*' tokens
	stars []uint64 // '**' tokens
	final int      // the accepting state: the number of tokens
}

// maxWords is the size of the automaton's state set, in 64-bit words.
const maxWords = (MaxGlobLength + 1 + 63) / 64

// errEmptyGlob is returned for an empty pattern, always a configuration
// mistake: it could only match the empty string.
var errEmptyGlob = errors.New("empty pattern")

// CompileGlob parses a glob (see Glob for the syntax). It fails on an
// empty pattern, one longer than MaxGlobLength or one that is not UTF-8.
func CompileGlob(pattern string) (Glob, error) {
	switch {
	case pattern == "":
		return Glob{}, errEmptyGlob
	case len(pattern) > MaxGlobLength:
		return Glob{}, fmt.Errorf("pattern longer than %d bytes", MaxGlobLength)
	case !utf8.ValidString(pattern):
		return Glob{}, errors.New("pattern is not valid UTF-8")
	}
	g := Glob{pattern: pattern}
	first := strings.IndexAny(pattern, "*?")
	if first < 0 {
		g.prefix, g.kind = pattern, globExact
		return g, nil
	}
	last := strings.LastIndexAny(pattern, "*?")
	g.prefix, g.suffix = pattern[:first], pattern[last+1:]
	switch middle := pattern[first : last+1]; {
	case middle == "*":
		g.kind = globStar
	case strings.Trim(middle, "*") == "": // "**", "***", ...
		g.kind = globTree
	default:
		g.kind = globGeneral
		g.nfa = compileAutomaton(middle)
	}
	return g, nil
}

// MustCompileGlob is CompileGlob for patterns known to be valid; it
// panics on an error.
func MustCompileGlob(pattern string) Glob {
	g, err := CompileGlob(pattern)
	if err != nil {
		panic(fmt.Sprintf("policy: glob %q: %v", pattern, err))
	}
	return g
}

// compileAutomaton builds the automaton for a pattern.
func compileAutomaton(pattern string) *automaton {
	type token struct {
		r    rune
		kind byte // 'l'iteral, '?', '*', and 'S' for '**'
	}
	var toks []token
	for i := 0; i < len(pattern); {
		r, w := utf8.DecodeRuneInString(pattern[i:])
		switch r {
		case '*':
			n := len(pattern[i:]) - len(strings.TrimLeft(pattern[i:], "*"))
			kind := byte('*')
			if n > 1 {
				kind = 'S'
			}
			toks = append(toks, token{kind: kind})
			i += n
			continue
		case '?':
			toks = append(toks, token{kind: '?'})
		default:
			toks = append(toks, token{r: r, kind: 'l'})
		}
		i += w
	}
	words := len(toks)/64 + 1
	a := &automaton{
		final: len(toks),
		lits:  make([]rune, len(toks)),
		lit:   make([]uint64, words),
		one:   make([]uint64, words),
		star:  make([]uint64, words),
		stars: make([]uint64, words),
	}
	for i, t := range toks {
		bit := uint64(1) << (i % 64)
		switch t.kind {
		case 'l':
			a.lits[i] = t.r
			a.lit[i/64] |= bit
		case '?':
			a.one[i/64] |= bit
		case '*':
			a.star[i/64] |= bit
		case 'S':
			a.stars[i/64] |= bit
		}
	}
	return a
}

// String returns the glob's pattern.
func (g Glob) String() string { return g.pattern }

// Match reports whether the whole of s matches the glob.
func (g Glob) Match(s string) bool { return g.match(s) }

// match is Match without copying the Glob, for loops over many.
func (g *Glob) match(s string) bool {
	if g.kind == globExact {
		return s == g.prefix
	}
	if g.kind == globNone || len(s) < len(g.prefix)+len(g.suffix) ||
		!strings.HasPrefix(s, g.prefix) || !strings.HasSuffix(s, g.suffix) {
		return false
	}
	middle := s[len(g.prefix) : len(s)-len(g.suffix)]
	switch g.kind {
	case globStar:
		return !strings.Contains(middle, "/")
	case globTree:
		return true
	}
	if len(g.nfa.lit) == 1 {
		return g.nfa.run1(middle)
	}
	return g.nfa.run(middle)
}

// next decodes the character at the start of s. A byte that is not UTF-8
// is one character, but never equal to a literal (-1): matching is
// byte-exact, as on the prefix and suffix.
func next(s string) (rune, int) {
	if c := rune(s[0]); c < utf8.RuneSelf {
		return c, 1
	}
	c, w := utf8.DecodeRuneInString(s)
	if w == 1 {
		return -1, 1
	}
	return c, w
}

// run1 is run for an automaton of one word, the common case: up to 63
// tokens between the glob's prefix and suffix.
func (a *automaton) run1(s string) bool {
	lit, one, star, stars := a.lit[0], a.one[0], a.star[0], a.stars[0]
	skip := star | stars
	cur := uint64(1)
	cur |= (cur & skip) << 1
	for i := 0; i < len(s); {
		c, w := next(s[i:])
		i += w
		nxt := cur & stars
		var advance uint64
		if c != '/' {
			nxt |= cur & star
			advance = cur & one
		}
		for l := cur & lit; l != 0; l &= l - 1 {
			b := bits.TrailingZeros64(l)
			if a.lits[b] == c {
				advance |= 1 << b
			}
		}
		nxt |= advance << 1
		nxt |= (nxt & skip) << 1
		if nxt == 0 {
			return false
		}
		cur = nxt
	}
	return cur&(1<<a.final) != 0
}

// run simulates the automaton on s, keeping the set of states it can be in
// as a bit set: time is linear in len(s), with no backtracking. Since runs
// of '*' are one token, no two star tokens are adjacent, so the states a
// star lets the automaton skip to are found with one shift.
func (a *automaton) run(s string) bool {
	words := len(a.lit)
	var cur [maxWords]uint64
	cur[0] = 1
	a.skipStars(&cur, words)
	for i := 0; i < len(s); {
		c, w := next(s[i:])
		i += w
		slash := c == '/'
		var nxt [maxWords]uint64
		alive := uint64(0)
		for k := range words {
			x := cur[k]
			if x == 0 {
				continue
			}
			// Stars stay where they are, consuming c.
			nxt[k] |= x & a.stars[k]
			var advance uint64
			if !slash {
				nxt[k] |= x & a.star[k]
				advance = x & a.one[k]
			}
			for l := x & a.lit[k]; l != 0; l &= l - 1 {
				b := bits.TrailingZeros64(l)
				if a.lits[k*64+b] == c {
					advance |= 1 << b
				}
			}
			nxt[k] |= advance << 1
			if k+1 < words {
				nxt[k+1] |= advance >> 63
			}
		}
		a.skipStars(&nxt, words)
		for k := range words {
			alive |= nxt[k]
		}
		if alive == 0 {
			return false
		}
		cur = nxt
	}
	return cur[a.final/64]&(1<<(a.final%64)) != 0
}

// skipStars adds, for every star state in set, the state after it: a star
// may match the empty string.
func (a *automaton) skipStars(set *[maxWords]uint64, words int) {
	for k := range words {
		s := set[k] & (a.star[k] | a.stars[k])
		set[k] |= s << 1
		if k+1 < words {
			set[k+1] |= s >> 63
		}
	}
}
