package tokenstore

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

const (
	// NewTokenPrefix starts every token the store generates, so that secret
	// scanners recognise a leaked one as a GitLab pipeline trigger token.
	NewTokenPrefix = "glptt-"

	// newTokenBytes is the entropy of a generated token (40 hex characters).
	newTokenBytes = 20

	// MinImportTokenLen and MaxImportTokenLen bound the length of an imported
	// token. No token outside these bounds (and outside a generated token's
	// length, which lies within them) can ever be registered.
	MinImportTokenLen = 16
	MaxImportTokenLen = 255

	// Display prefix lengths: generated-style tokens show "glptt-" plus four
	// characters, other imported tokens only their first four characters.
	glpttDisplayLen = len(NewTokenPrefix) + 4
	otherDisplayLen = 4
)

// NewToken returns a fresh trigger token: "glptt-" followed by 40 lowercase
// hex characters from crypto/rand.
func NewToken() (string, error) {
	var b [newTokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generating token: %w", err)
	}
	return NewTokenPrefix + hex.EncodeToString(b[:]), nil
}

// HashToken returns the SHA-256 of token, the only form in which a token is
// stored. It does not allocate for tokens of a valid length.
func HashToken(token string) [32]byte {
	if len(token) > MaxImportTokenLen {
		return sha256.Sum256([]byte(token))
	}
	// Copying into a stack buffer avoids the heap allocation that the
	// string-to-slice conversion costs for strings over 32 bytes.
	var buf [MaxImportTokenLen]byte
	n := copy(buf[:], token)
	return sha256.Sum256(buf[:n])
}

// TokenPrefix returns the part of token that may be shown in logs, listings
// and headers: the first 10 characters of a "glptt-" token ("glptt-1a2b"),
// the first 4 of any other.
func TokenPrefix(token string) string {
	n := otherDisplayLen
	if strings.HasPrefix(token, NewTokenPrefix) {
		n = glpttDisplayLen
	}
	return token[:min(n, len(token))]
}

// ValidImportToken reports whether token may be imported: 16 to 255
// characters of visible ASCII, no spaces. The error wraps ErrInvalid and
// never contains the token.
func ValidImportToken(token string) error {
	if len(token) < MinImportTokenLen || len(token) > MaxImportTokenLen {
		return fmt.Errorf("%w: an imported token must have %d to %d characters",
			ErrInvalid, MinImportTokenLen, MaxImportTokenLen)
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c < '!' || c > '~' {
			return fmt.Errorf("%w: an imported token must consist of visible ASCII characters without spaces",
				ErrInvalid)
		}
	}
	return nil
}

// possibleToken reports whether token has a length any registered token can
// have; others are refused without hashing or storage I/O.
func possibleToken(token string) bool {
	return len(token) >= MinImportTokenLen && len(token) <= MaxImportTokenLen
}
