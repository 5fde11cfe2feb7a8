package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"
)

// Header names of the two schemes, in canonical form.
const (
	HeaderGitLabToken       = "X-Gitlab-Token"
	HeaderGitHubSignature   = "X-Hub-Signature-256"
	gitHubSignaturePrefix   = "sha256="
	gitHubSignatureHexBytes = sha256.Size * 2
)

// Verifier checks webhook deliveries of one project. Configure either
// secret or both; the values are the resolved secrets, not placeholders.
// A Verifier is never modified by Check and is safe for concurrent use.
type Verifier struct {
	// GitLabToken is the "Secret token" of a GitLab webhook, compared with
	// the X-Gitlab-Token header. Empty disables the scheme.
	GitLabToken string
	// GitHubSecret is the "Secret" of a GitHub webhook, the HMAC key of the
	// X-Hub-Signature-256 header. Empty disables the scheme.
	GitHubSecret string
}

// Check verifies a webhook request from its headers and raw body. A request
// passing the check of any configured scheme is accepted; headers of a
// scheme that is not configured are ignored.
//
// On refusal it returns an *Error: missing_signature when the request
// carries no (non-empty) header of a configured scheme; otherwise
// bad_signature when a GitHub signature was presented and failed, else
// bad_token. A header given more than once is refused as bad: the forges
// send it once, and accepting any of several values would let a proxy in
// between choose. A Verifier with no secret (or a nil one) refuses every
// request with not_configured.
func (v *Verifier) Check(header http.Header, body []byte) error {
	if v == nil || (v.GitLabToken == "" && v.GitHubSecret == "") {
		return refuse(ReasonNotConfigured)
	}
	var presented, badSignature bool
	if v.GitHubSecret != "" {
		if values := header.Values(HeaderGitHubSignature); hasValue(values) {
			presented = true
			if len(values) == 1 && validSignature(v.GitHubSecret, values[0], body) {
				return nil
			}
			badSignature = true
		}
	}
	if v.GitLabToken != "" {
		if values := header.Values(HeaderGitLabToken); hasValue(values) {
			presented = true
			if len(values) == 1 && equalSecret(v.GitLabToken, values[0]) {
				return nil
			}
		}
	}
	switch {
	case !presented:
		return refuse(ReasonMissingSignature)
	case badSignature:
		return refuse(ReasonBadSignature)
	default:
		return refuse(ReasonBadToken)
	}
}

// hasValue reports whether a header is present with a non-empty value: an
// empty header is what a forge without a configured secret would send.
func hasValue(values []string) bool {
	for _, v := range values {
		if v != "" {
			return true
		}
	}
	return false
}

// equalSecret compares in constant time. Comparing digests rather than the
// strings keeps the time independent of the lengths too, which
// subtle.ConstantTimeCompare alone does not.
func equalSecret(secret, given string) bool {
	a := sha256.Sum256([]byte(secret))
	b := sha256.Sum256([]byte(given))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// validSignature checks "sha256=<hex HMAC-SHA256(secret, body)>". The
// prefix must be exactly GitHub's lower-case one; the hex digits may be of
// either case.
func validSignature(secret, signature string, body []byte) bool {
	hexSum, ok := strings.CutPrefix(signature, gitHubSignaturePrefix)
	if !ok || len(hexSum) != gitHubSignatureHexBytes {
		return false
	}
	var given [sha256.Size]byte
	if _, err := hex.Decode(given[:], []byte(hexSum)); err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	var want [sha256.Size]byte
	return hmac.Equal(mac.Sum(want[:0]), given[:])
}
