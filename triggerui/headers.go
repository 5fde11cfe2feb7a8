package triggerui

import "net/http"

// contentSecurityPolicy allows the page's own script, stylesheet and API
// and nothing else: no inline script or style, no other host, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// setSecurityHeaders sets the headers every answer of the page carries.
// Nothing is cached: the API's answers hold a new token (once), who may
// manage, and the CSRF token. The referrer is kept within the origin:
// Caddy's admin endpoint checks a browser's requests against it.
func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}
