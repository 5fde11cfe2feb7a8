package gitref_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/triggergate/caddy-trigger-gateway/gitref"
)

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"refs/heads/main", "main"},
		{"refs/heads/feature/x", "feature/x"},
		{"refs/tags/v1", "v1"},
		{"refs/tags/release/2024.1", "release/2024.1"},
		{"main", "main"},
		{"feature/x", "feature/x"},
		{"refs/merge-requests/1/head", "refs/merge-requests/1/head"},
		{"refs/pipelines/42", "refs/pipelines/42"},
		{"refs/heads/", ""},
		{"refs/heads", "refs/heads"},
		{"refs/Heads/x", "refs/Heads/x"},
		{"heads/x", "heads/x"},
		// Only one level is removed: what remains is checked as a name.
		{"refs/heads/refs/tags/x", "refs/tags/x"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := gitref.Normalize(tt.in); got != tt.want {
			t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestIsCommitSHA(t *testing.T) {
	tests := []struct {
		ref  string
		want bool
	}{
		{"da1560886d4f094c3e6c9ef40349f7d38b5d27d7", true}, // full SHA-1
		{"DA1560886D4F094C3E6C9EF40349F7D38B5D27D7", true}, // upper case
		{"Da1560886d4F094c3e6c9ef40349f7d38b5d27d7", true}, // mixed case
		{"da15608", true},  // 7: git's shortest abbreviation
		{"da156088", true}, // 8: GitLab's short_id
		{"1234567", false}, // an all-digit abbreviation is taken for a name (date and version tags)
		{"20240101", false},
		{"1234567890123456789012345678901234567890", true}, // a full SHA whatever its digits
		{"da1560", false}, // 6: too short to be an abbreviation
		{"cafe", false},
		{"", false},
		{"da1560886d4f094c3e6c9ef40349f7d38b5d27d7a", false},                         // 41
		{"da1560886d4f094c3e6c9ef40349f7d38b5d27d7da1560886d4f094c3e6c9e0", false},   // 63
		{"da1560886d4f094c3e6c9ef40349f7d38b5d27d7da1560886d4f094c3e6c9ef4", true},   // 64: SHA-256
		{"da1560886d4f094c3e6c9ef40349f7d38b5d27d7da1560886d4f094c3e6c9ef40", false}, // 65
		{"da15608g", false}, // non-hex letter
		{"feature", false},
		{"deadbeefx", false},
		{"da15608/", false},
		{"v1.2.3.4", false},
		{"dа15608", false}, // Cyrillic а
	}
	for _, tt := range tests {
		if got := gitref.IsCommitSHA(tt.ref); got != tt.want {
			t.Errorf("IsCommitSHA(%q) = %v, want %v", tt.ref, got, tt.want)
		}
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		ref  string
		want error
	}{
		// Valid branch and tag names.
		{"main", nil},
		{"feature/x", nil},
		{"feature/JIRA-123_fix", nil},
		{"v1.2.3", nil},
		{"release-2024", nil},
		{"release/2024.01", nil},
		{"a./b", nil}, // only the whole name may not end with '.'
		{"a.b.lock.c", nil},
		{"x.lockx", nil},
		{"@x", nil},
		{"a@b", nil},
		{"a{b}", nil},
		{"HEAD2", nil},
		{"héllo/wörld", nil},
		{"cafe", nil},   // hex, but too short for a SHA
		{"da1560", nil}, // 6 hex digits
		{"refsx/y", nil},
		{"#123", nil},
		{"a!b", nil},
		{strings.Repeat("a", gitref.MaxLength), nil},

		// Commit SHAs.
		{"da1560886d4f094c3e6c9ef40349f7d38b5d27d7", gitref.ErrCommitSHA},
		{"da15608", gitref.ErrCommitSHA},
		{"DA156088", gitref.ErrCommitSHA},
		{strings.Repeat("ab", 32), gitref.ErrCommitSHA},

		// git check-ref-format's rules.
		{"", gitref.ErrInvalid},
		{"a..b", gitref.ErrInvalid},
		{"..", gitref.ErrInvalid},
		{"a@{b", gitref.ErrInvalid},
		{"@{-1}", gitref.ErrInvalid},
		{"@", gitref.ErrInvalid},
		{"HEAD", gitref.ErrInvalid},
		{"a.lock", gitref.ErrInvalid},
		{"a.lock/b", gitref.ErrInvalid},
		{"a/b.lock", gitref.ErrInvalid},
		{"-x", gitref.ErrInvalid},
		{"-", gitref.ErrInvalid},
		{"a\x00b", gitref.ErrInvalid},
		{"a\tb", gitref.ErrInvalid},
		{"a\nb", gitref.ErrInvalid},
		{"a\x1fb", gitref.ErrInvalid},
		{"a\x7fb", gitref.ErrInvalid},
		{"a b", gitref.ErrInvalid},
		{" a", gitref.ErrInvalid},
		{"a~1", gitref.ErrInvalid},
		{"a^", gitref.ErrInvalid},
		{"a:b", gitref.ErrInvalid},
		{"a?", gitref.ErrInvalid},
		{"a*", gitref.ErrInvalid},
		{"a[b", gitref.ErrInvalid},
		{`a\b`, gitref.ErrInvalid},
		{"a//b", gitref.ErrInvalid},
		{"a/", gitref.ErrInvalid},
		{"/a", gitref.ErrInvalid},
		{"/", gitref.ErrInvalid},
		{".a", gitref.ErrInvalid},
		{"a/.b", gitref.ErrInvalid},
		{"a.", gitref.ErrInvalid},
		{"a/b.", gitref.ErrInvalid},
		{".", gitref.ErrInvalid},
		{"refs/heads/x", gitref.ErrInvalid}, // still qualified: Check expects a normalized ref
		{"refs/merge-requests/1/head", gitref.ErrInvalid},
		{strings.Repeat("a", gitref.MaxLength+1), gitref.ErrInvalid},
	}
	for _, tt := range tests {
		if got := gitref.Check(tt.ref); !errors.Is(got, tt.want) || (got == nil) != (tt.want == nil) {
			t.Errorf("Check(%q) = %v, want %v", tt.ref, got, tt.want)
		}
	}
}

// TestResolve follows a ref through both steps: a name the caller
// qualified with refs/heads/ or refs/tags/ is a branch or a tag, even
// written like an abbreviated SHA.
func TestResolve(t *testing.T) {
	tests := []struct {
		ref, name string
		want      error
	}{
		{"main", "main", nil},
		{"refs/heads/main", "main", nil},
		{"refs/tags/v1.0.0", "v1.0.0", nil},
		{"refs/heads/feature/x", "feature/x", nil},
		{"refs/tags/deadbeefcafe", "deadbeefcafe", nil},
		{"refs/heads/da15608", "da15608", nil},
		{"refs/tags/DA156088", "DA156088", nil},
		{"deadbeefcafe", "deadbeefcafe", gitref.ErrCommitSHA},
		{"da15608", "da15608", gitref.ErrCommitSHA},
		// git reads a full-length SHA as an object before any ref.
		{"refs/tags/da1560886d4f094c3e6c9ef40349f7d38b5d27d7", "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", gitref.ErrCommitSHA},
		{"refs/heads/" + strings.Repeat("ab", 32), strings.Repeat("ab", 32), gitref.ErrCommitSHA},
		{"refs/tags/da1560886d4f094c3e6c9ef40349f7d38b5d27d7a", "da1560886d4f094c3e6c9ef40349f7d38b5d27d7a", nil}, // 41: a name
		{"refs/merge-requests/1/head", "refs/merge-requests/1/head", gitref.ErrInvalid},
		{"refs/heads/", "", gitref.ErrInvalid},
		{"refs/heads/refs/heads/x", "refs/heads/x", gitref.ErrInvalid},
		{"refs/tags/a..b", "a..b", gitref.ErrInvalid},
		{"refs/tags/-x", "-x", gitref.ErrInvalid},
	}
	for _, tt := range tests {
		name, err := gitref.Resolve(tt.ref)
		if name != tt.name || !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
			t.Errorf("Resolve(%q) = %q, %v; want %q, %v", tt.ref, name, err, tt.name, tt.want)
		}
	}
}

// gitCheckRefFormat is an independent reading of git's refs.c
// (check_refname_component and check_or_sanitize_refname, no flags), plus
// what git branch and git tag refuse on top: a leading '-' and "HEAD".
func gitCheckRefFormat(ref string) bool {
	if ref == "" || ref == "@" || ref == "HEAD" || ref[0] == '-' {
		return false
	}
	for _, component := range strings.Split(ref, "/") {
		if component == "" || component[0] == '.' || strings.HasSuffix(component, ".lock") {
			return false
		}
		var last byte
		for i := 0; i < len(component); i++ {
			c := component[i]
			switch {
			case c < 0x20 || c == 0x7f || strings.IndexByte(" ~^:?*[\\", c) >= 0:
				return false
			case c == '.' && last == '.', c == '{' && last == '@':
				return false
			}
			last = c
		}
	}
	return ref[len(ref)-1] != '.'
}

func FuzzNormalizeCheck(f *testing.F) {
	for _, seed := range []string{
		"main", "refs/heads/feature/x", "refs/tags/v1.2.3", "refs/merge-requests/1/head",
		"da1560886d4f094c3e6c9ef40349f7d38b5d27d7", "refs/tags/deadbeefcafe", "refs/heads/da15608",
		"refs/tags/da1560886d4f094c3e6c9ef40349f7d38b5d27d7", "a..b", "a@{1}", "x.lock/y", "-x", "a//b", "héllo",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		ref := gitref.Normalize(in)
		err := gitref.Check(ref)
		want := gitCheckRefFormat(ref) && !strings.HasPrefix(ref, "refs/") && len(ref) <= gitref.MaxLength
		switch {
		case gitref.IsCommitSHA(ref):
			if !errors.Is(err, gitref.ErrCommitSHA) {
				t.Fatalf("Check(%q) = %v, want ErrCommitSHA", ref, err)
			}
		case want && err != nil:
			t.Fatalf("Check(%q) = %v; git accepts it", ref, err)
		case !want && !errors.Is(err, gitref.ErrInvalid):
			t.Fatalf("Check(%q) = %v; want ErrInvalid", ref, err)
		}
		if err == nil && gitref.Normalize(ref) != ref {
			t.Fatalf("accepted ref %q normalizes further to %q", ref, gitref.Normalize(ref))
		}

		// Resolve differs from Check only for a qualified name written
		// like an abbreviated SHA: a branch or tag when git accepts it.
		name, resolveErr := gitref.Resolve(in)
		qualifiedShort := ref != in && gitref.IsCommitSHA(ref) && len(ref) != 40 && len(ref) != 64
		switch {
		case name != ref:
			t.Fatalf("Resolve(%q) = %q, want the name %q", in, name, ref)
		case qualifiedShort && (resolveErr == nil) != want:
			t.Fatalf("Resolve(%q) = %v; git accepts it: %v", in, resolveErr, want)
		case qualifiedShort && resolveErr != nil && !errors.Is(resolveErr, gitref.ErrInvalid):
			t.Fatalf("Resolve(%q) = %v; want ErrInvalid", in, resolveErr)
		case !qualifiedShort && (!errors.Is(resolveErr, err) || (resolveErr == nil) != (err == nil)):
			t.Fatalf("Resolve(%q) = %v; Check(Normalize) = %v", in, resolveErr, err)
		}
	})
}
