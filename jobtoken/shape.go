package jobtoken

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
)

// LooksLikeJWT reports whether token has the shape of a JWT: three
// base64url segments separated by dots (header and payload non-empty; the
// signature may be empty, so that unsigned tokens are recognised and
// refused as such), whose header decodes to a JSON object with a string
// "alg". It verifies nothing. Tokens longer than [MaxTokenLength] are not
// considered JWTs. A gateway uses it to route a credential to the job-token
// verifier rather than the trigger-token store: trigger tokens contain no
// dots.
func LooksLikeJWT(token string) bool {
	if len(token) > MaxTokenLength {
		return false
	}
	header, rest, ok := strings.Cut(token, ".")
	if !ok || header == "" {
		return false
	}
	payload, sig, ok := strings.Cut(rest, ".")
	if !ok || payload == "" || !isB64URL(header) || !isB64URL(payload) || !isB64URL(sig) {
		return false
	}
	// Usual headers decode on the stack; this runs on every job-token request.
	var src [512]byte
	var dst [384]byte
	var h []byte
	if len(header) <= len(src) {
		n := copy(src[:], header)
		m, err := base64.RawURLEncoding.Decode(dst[:], src[:n])
		if err != nil {
			return false
		}
		h = dst[:m]
	} else {
		var err error
		if h, err = base64.RawURLEncoding.DecodeString(header); err != nil {
			return false
		}
	}
	return headerHasAlg(h)
}

// headerHasAlg reports whether h is a JSON object whose "alg" member (the
// last one, as encoding/json and so the jwt library see it) is a non-empty
// string. It scans rather than decodes, to allocate nothing.
func headerHasAlg(h []byte) bool {
	if !json.Valid(h) {
		return false
	}
	i := skipSpace(h, 0)
	if h[i] != '{' {
		return false
	}
	found := false
	for i = skipSpace(h, i+1); h[i] == '"'; {
		end := skipString(h, i)
		isAlg := isKey(h[i:end], "alg")
		i = skipSpace(h, skipSpace(h, end)+1) // past ':'
		if isAlg {
			found = h[i] == '"' && h[i+1] != '"'
		}
		i = skipSpace(h, skipValue(h, i))
		if h[i] != ',' {
			break
		}
		i = skipSpace(h, i+1)
	}
	return found
}

// isKey compares a quoted JSON string to name, unescaping only if needed.
func isKey(quoted []byte, name string) bool {
	raw := quoted[1 : len(quoted)-1]
	if !bytes.ContainsRune(raw, '\\') {
		return string(raw) == name
	}
	// The clone keeps quoted (and the caller's stack buffer) from escaping.
	var s string
	return json.Unmarshal(bytes.Clone(quoted), &s) == nil && s == name
}

// The helpers below walk JSON already checked by json.Valid.

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at b[i].
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// skipValue returns the index just past the value starting at b[i].
func skipValue(b []byte, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			i = skipString(b, i) - 1
			if depth == 0 {
				return i + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i // a literal ended at its container's end
			}
			if depth--; depth == 0 {
				return i + 1
			}
		case ',':
			if depth == 0 {
				return i
			}
		}
	}
	return i
}

// isB64URL reports whether s uses only the unpadded base64url alphabet
// (which also excludes further dots).
func isB64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !('A' <= b && b <= 'Z' || 'a' <= b && b <= 'z' || '0' <= b && b <= '9' || b == '-' || b == '_') {
			return false
		}
	}
	return true
}
