package tokenstore

import (
	"crypto/sha256"
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestNewToken(t *testing.T) {
	format := regexp.MustCompile(`^glptt-[0-9a-f]{40}$`)
	seen := map[string]bool{}
	for range 100 {
		tok, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if !format.MatchString(tok) {
			t.Fatalf("token %q does not match %s", tok, format)
		}
		if seen[tok] {
			t.Fatalf("token generated twice")
		}
		seen[tok] = true
		if err := ValidImportToken(tok); err != nil {
			t.Fatalf("a generated token must be importable: %v", err)
		}
	}
}

func TestHashToken(t *testing.T) {
	for _, tok := range []string{
		"",
		"short",
		"glptt-0123456789abcdef0123456789abcdef01234567",
		strings.Repeat("x", MaxImportTokenLen),
		strings.Repeat("y", MaxImportTokenLen+1),
		strings.Repeat("z", 4096),
	} {
		if got, want := HashToken(tok), sha256.Sum256([]byte(tok)); got != want {
			t.Errorf("HashToken(len %d) = %x, want %x", len(tok), got, want)
		}
	}
}

func TestTokenPrefix(t *testing.T) {
	tests := []struct{ token, want string }{
		{"glptt-1a2b3c4d5e6f", "glptt-1a2b"},
		{"glptt-0123456789abcdef0123456789abcdef01234567", "glptt-0123"},
		{"abcdefghijklmnopqrstuvwxyz", "abcd"},
		{"glpt-abcdefghijklmnop", "glpt"},
		{"GLPTT-abcdefghijklmnop", "GLPT"},
		{"glptt-", "glptt-"},
		{"ab", "ab"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := TokenPrefix(tt.token); got != tt.want {
			t.Errorf("TokenPrefix(%q) = %q, want %q", tt.token, got, tt.want)
		}
	}
}

func TestValidImportToken(t *testing.T) {
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"gitlab token", "glptt-0123456789abcdef0123456789abcdef01234567", true},
		{"old style 20 chars", "a1b2c3d4e5f6a7b8c9d0", true},
		{"minimum length", strings.Repeat("a", MinImportTokenLen), true},
		{"maximum length", strings.Repeat("a", MaxImportTokenLen), true},
		{"all visible ascii", "!\"#$%&'()*+,-./0123456789:;<=>?@AZ[\\]^_`az{|}~", true},
		{"too short", strings.Repeat("a", MinImportTokenLen-1), false},
		{"too long", strings.Repeat("a", MaxImportTokenLen+1), false},
		{"empty", "", false},
		{"space", "abcdefgh ijklmnop", false},
		{"tab", "abcdefgh\tijklmnop", false},
		{"newline", "abcdefghijklmnop\n", false},
		{"delete char", "abcdefghijklmnop\x7f", false},
		{"non ascii", "abcdefghijklmnopé", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidImportToken(tt.token)
			if tt.ok {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			if len(tt.token) >= 4 && strings.Contains(err.Error(), tt.token) {
				t.Fatalf("error message contains the token: %v", err)
			}
		})
	}
}
