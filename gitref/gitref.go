// Package gitref holds the rules for the refs a trigger may run: branches
// and tags only, never a commit SHA, and only names git itself accepts.
package gitref

import (
	"errors"
	"strings"
)

// Errors Check returns.
var (
	// ErrCommitSHA means the ref looks like a full or abbreviated commit SHA.
	ErrCommitSHA = errors.New("a commit SHA is not a branch or tag")
	// ErrInvalid means git would not accept the ref as a branch or tag name.
	ErrInvalid = errors.New("not a valid branch or tag name")
)

// MaxLength bounds a ref; git's own limit is the file system's, GitLab's
// branch names stay far below this.
const MaxLength = 1024

// Normalize turns a fully qualified branch or tag ref into its short name,
// as GitLab does with the ref of a push event: refs/heads/x becomes x and
// refs/tags/y becomes y. Other refs are returned unchanged.
func Normalize(ref string) string {
	if short, ok := strings.CutPrefix(ref, "refs/heads/"); ok {
		return short
	}
	if short, ok := strings.CutPrefix(ref, "refs/tags/"); ok {
		return short
	}
	return ref
}

// Resolve normalizes ref and checks the name that remains, as Normalize
// and Check do, except for a name the caller qualified: refs/heads/x and
// refs/tags/x name a branch or a tag explicitly (GitLab reads them so:
// its pipeline Command's branch_ref? and tag_ref?), so x is not taken for
// an abbreviated commit SHA even when it is written like one. A
// full-length SHA stays refused, qualified or not: the short name is what
// is forwarded, and git reads 40 (or 64) hex digits as an object name
// before any ref of that name.
func Resolve(ref string) (string, error) {
	name := Normalize(ref)
	if name == ref || isFullLengthSHA(name) {
		return name, Check(name)
	}
	if !validName(name) {
		return name, ErrInvalid
	}
	return name, nil
}

// isFullLengthSHA reports whether ref is a full SHA-1 or SHA-256 in hex.
func isFullLengthSHA(ref string) bool {
	return (len(ref) == 40 || len(ref) == 64) && IsCommitSHA(ref)
}

// Check reports whether a normalized ref may be triggered: a valid branch
// or tag name that is not a commit SHA.
func Check(ref string) error {
	if IsCommitSHA(ref) {
		return ErrCommitSHA
	}
	if !validName(ref) {
		return ErrInvalid
	}
	return nil
}

// IsCommitSHA reports whether ref is written like a commit SHA: 7 to 40
// lowercase or uppercase hex digits (an abbreviated or full SHA-1), or 64
// (SHA-256). git abbreviates to 7 digits at the least, so shorter hex names
// remain usable as branch names. An abbreviation made only of decimal
// digits is taken for a name: date and version tags such as 20240101 are
// common, while a full SHA is refused whatever its digits.
func IsCommitSHA(ref string) bool {
	n := len(ref)
	if (n < 7 || n > 40) && n != 64 {
		return false
	}
	letters := false
	for i := 0; i < n; i++ {
		c := ref[i]
		switch {
		case '0' <= c && c <= '9':
		case 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F':
			letters = true
		default:
			return false
		}
	}
	return letters || n == 40 || n == 64
}

// validName applies git check-ref-format's rules to a branch or tag name.
func validName(ref string) bool {
	if ref == "" || len(ref) > MaxLength || ref == "@" || ref == "HEAD" {
		return false
	}
	if ref[0] == '-' || ref[0] == '/' || ref[len(ref)-1] == '/' || ref[len(ref)-1] == '.' {
		return false
	}
	if strings.HasPrefix(ref, "refs/") || strings.HasSuffix(ref, ".lock") ||
		strings.Contains(ref, "..") || strings.Contains(ref, "//") || strings.Contains(ref, "@{") ||
		strings.Contains(ref, "/.") || strings.Contains(ref, ".lock/") || ref[0] == '.' {
		return false
	}
	for i := 0; i < len(ref); i++ {
		c := ref[i]
		if c < 0x20 || c == 0x7f {
			return false
		}
		switch c {
		case ' ', '~', '^', ':', '?', '*', '[', '\\':
			return false
		}
	}
	return true
}
