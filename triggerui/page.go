// Package triggerui is the Triggers page: GitLab's Settings > CI/CD >
// Pipeline trigger tokens for the gateway's tokens, as one HTML page with
// its script and stylesheet embedded in the binary, and the small JSON API
// under the page's own mount that the script calls. It knows nothing of
// Caddy: the caddymodule package mounts it (on the admin endpoint and as
// the trigger_gateway_ui site handler), says who the viewer is, and gives
// it the token store as a Backend.
package triggerui

import (
	"net/http"
	"strings"

	"go.uber.org/zap"
)

// Viewer is who a request comes from, as the mount established it.
type Viewer struct {
	// User is the authenticated user; empty on the admin endpoint, whose
	// callers are trusted as its own, and for an anonymous viewer.
	User string
	// CanManage allows adding and revoking triggers.
	CanManage bool
}

// Page serves the Triggers page and its API for one mount.
type Page struct {
	// Backend is the token store.
	Backend Backend
	// Mount names the mount ("admin", or the site handler's); it is part
	// of every CSRF token, so a token from one mount is useless on another.
	Mount string
	// GatewayURL is the gateway's address for the page's snippets (e.g.
	// https://ci.example.com); empty means the page's own origin. A value
	// starting with $ is a variable the page asks its user to set.
	GatewayURL string
	// Logger receives refused state changes; never a token.
	Logger *zap.Logger
}

// Serve answers a request for path rel, relative to the page's mount
// ("" is the page itself), from viewer v.
func (p *Page) Serve(w http.ResponseWriter, r *http.Request, rel string, v Viewer) {
	setSecurityHeaders(w.Header())
	if api, ok := strings.CutPrefix(rel, "api/"); ok {
		p.serveAPI(w, r, api, v)
		return
	}
	serveAsset(w, r, rel)
}

func (p *Page) logger() *zap.Logger {
	if p.Logger == nil {
		return zap.NewNop()
	}
	return p.Logger
}
