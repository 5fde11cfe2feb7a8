package triggerui

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// csrfHeader carries the CSRF token on every state-changing request. A
// page of another origin can neither read the token (the API answers no
// CORS headers) nor send a custom header without a preflight that fails.
const csrfHeader = "X-CSRF-Token"

// csrfKey is the per-process secret the CSRF tokens are derived from: a
// restart makes the open pages fetch a new token (the script does so when
// a change is refused).
var csrfKey = sync.OnceValue(func() []byte {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // never fails (crypto/rand panics instead)
	return key
})

// csrfToken is the CSRF token of user on mount: an HMAC, so the server
// keeps no session state, and a token is worth nothing to another user or
// on another mount.
func csrfToken(mount, user string) string {
	mac := hmac.New(sha256.New, csrfKey())
	mac.Write([]byte(mount))
	mac.Write([]byte{0})
	mac.Write([]byte(user))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// Why a state-changing request was refused, for the log line.
const (
	refusedNoOrigin    = "no Origin header"
	refusedCrossOrigin = "Origin is another host"
	refusedCrossSite   = "Sec-Fetch-Site is not same-origin"
	refusedCSRFToken   = "missing or wrong " + csrfHeader
)

// checkStateChange refuses a state-changing request that does not come
// from the page itself: its Origin must name the request's own host
// (browsers send Origin on every POST and DELETE), Sec-Fetch-Site, when
// the browser sends it, must say same-origin, and the CSRF token of this
// user and mount must be in csrfHeader. It returns why it refused, or "".
func checkStateChange(r *http.Request, mount, user string) string {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return refusedNoOrigin
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
		return refusedCrossOrigin
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return refusedCrossSite
	}
	got := r.Header.Get(csrfHeader)
	if got == "" || !hmac.Equal([]byte(got), []byte(csrfToken(mount, user))) {
		return refusedCSRFToken
	}
	return ""
}
