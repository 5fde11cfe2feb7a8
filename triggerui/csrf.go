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

// sessionCookie names the cookie that holds a page's session: a random
// identifier the CSRF token is bound to, issued with the session
// (api/session) to the page's own path only, HttpOnly and SameSite=Strict.
// It holds no credential of any kind.
const sessionCookie = "trigger_gateway_session"

// newSession is a fresh session identifier.
func newSession() string {
	id := make([]byte, 18)
	_, _ = rand.Read(id) // never fails (crypto/rand panics instead)
	return base64.RawURLEncoding.EncodeToString(id)
}

// validSession reports whether s has the shape newSession gives.
func validSession(s string) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == 18
}

// csrfToken is the CSRF token of user's session on mount: an HMAC, so the
// server keeps no session state, and a token is worth nothing in another
// session, to another user or on another mount.
func csrfToken(mount, user, session string) string {
	mac := hmac.New(sha256.New, csrfKey())
	for _, part := range []string{mount, user, session} {
		mac.Write([]byte(part))
		mac.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// startSession returns the CSRF token of the browser's session, starting
// one when the request carries none: a new identifier in the session
// cookie, scoped to the page's path (the request's, less api/session).
// Every tab of one browser shares the session, so that opening the page
// again does not void the token of a tab already open. An identifier the
// browser sends but the server never issued is harmless: its token is
// still an HMAC under the server's key, which only api/session hands out,
// and only to the page's own origin.
func startSession(w http.ResponseWriter, r *http.Request, mount, user string) string {
	if c, err := r.Cookie(sessionCookie); err == nil && validSession(c.Value) {
		return csrfToken(mount, user, c.Value)
	}
	session := newSession()
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    session,
		Path:     strings.TrimSuffix(r.URL.Path, "api/session"),
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
	return csrfToken(mount, user, session)
}

// Why a state-changing request was refused, for the log line.
const (
	refusedNoOrigin    = "no Origin header"
	refusedCrossOrigin = "Origin is another host"
	refusedCrossSite   = "Sec-Fetch-Site is not same-origin"
	refusedCSRFToken   = "missing or wrong " + csrfHeader
	refusedNoSession   = "no session cookie"
)

// checkStateChange refuses a state-changing request that does not come
// from the page itself: its Origin must name the request's own host
// (browsers send Origin on every POST and DELETE), Sec-Fetch-Site, when
// the browser sends it, must say same-origin, and the CSRF token of this
// user's session (its cookie) on this mount must be in csrfHeader. It returns why it refused, or "".
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
	session, err := r.Cookie(sessionCookie)
	if err != nil || session.Value == "" {
		return refusedNoSession
	}
	got := r.Header.Get(csrfHeader)
	if got == "" || !hmac.Equal([]byte(got), []byte(csrfToken(mount, user, session.Value))) {
		return refusedCSRFToken
	}
	return ""
}
