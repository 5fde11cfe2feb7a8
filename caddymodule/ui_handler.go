package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/triggergate/caddy-trigger-gateway/triggerui"
)

func init() {
	caddy.RegisterModule(UIHandler{})
}

// UIHandler serves the Triggers page on a site: the gateway's trigger
// tokens per project, with Add and Revoke for maintainers. It is meant to
// sit behind basic_auth or forward_auth: it serves only requests with an
// authenticated user ({http.auth.user.id}) unless AllowAnonymous is set.
// It answers every request it gets (page, script, stylesheet, and the
// page's API under api/), whatever path it is mounted on, so give it a
// route or a path matcher of its own.
type UIHandler struct {
	// Maintainers are the users (as {http.auth.user.id} names them) who
	// may add and revoke triggers; everyone else only looks. Default:
	// none, the page is read only.
	Maintainers []string `json:"maintainers,omitempty"`

	// AllowAnonymous serves requests without an authenticated user too,
	// read only. Default: false, such requests get 401.
	AllowAnonymous bool `json:"allow_anonymous,omitempty"`

	// GatewayURL is the gateway's address the page's ready-to-paste
	// snippets use, such as https://ci.example.com. Default: the page's
	// own origin.
	GatewayURL string `json:"gateway_url,omitempty"`

	// StorageRaw binds the page to the trigger_gateway that keeps its
	// triggers in this storage, as that handler's own storage setting
	// names it (Caddy's configured storage if it has none). Default: the
	// page serves the only storage in use, and none while several are.
	// Never a storage its viewers name: ?storage= chooses only on the
	// admin endpoint's page.
	StorageRaw json.RawMessage `json:"storage,omitempty" caddy:"namespace=caddy.storage inline_key=module"`

	maintainers map[string]bool
	page        *triggerui.Page
}

// CaddyModule returns the Caddy module information.
func (UIHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.trigger_gateway_ui",
		New: func() caddy.Module { return new(UIHandler) },
	}
}

// Provision sets up the page.
func (h *UIHandler) Provision(ctx caddy.Context) error {
	log := ctx.Logger(h)
	h.maintainers = make(map[string]bool, len(h.Maintainers))
	for _, user := range h.Maintainers {
		h.maintainers[user] = true
	}
	site := new(sitePage)
	if h.StorageRaw != nil {
		// Loaded only for its identity, then released: a storage module
		// may hold connections (caddy.storage.redis pings its server).
		loading, release := caddy.NewContext(ctx)
		storage, err := loadStorage(loading, h, h.StorageRaw)
		if err == nil {
			site.storage = storageIdentity(storage)
		}
		release()
		if err != nil {
			return err
		}
	}
	h.page = &triggerui.Page{
		Backend:    pageBackend{log: log, site: site},
		Mount:      "site",
		GatewayURL: strings.TrimRight(h.GatewayURL, "/"),
		Logger:     log,
	}
	return nil
}

// Validate checks the configuration.
func (h *UIHandler) Validate() error {
	for _, user := range h.Maintainers {
		if user == "" || strings.ContainsFunc(user, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
			return fmt.Errorf("maintainers: %q is not a user name", user)
		}
	}
	if h.GatewayURL != "" {
		u, err := url.Parse(h.GatewayURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return fmt.Errorf("gateway_url must be an http or https address such as https://ci.example.com: %q", h.GatewayURL)
		}
	}
	return nil
}

// ServeHTTP serves the page to an authenticated user (or anyone, with
// allow_anonymous); it never calls next.
func (h *UIHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	user := ""
	if repl != nil {
		user, _ = repl.GetString("http.auth.user.id")
	}
	if user == "" && !h.AllowAnonymous {
		triggerui.WriteUnauthorized(w)
		return nil
	}
	viewer := triggerui.Viewer{User: user, CanManage: user != "" && h.maintainers[user]}
	h.page.Serve(w, asBrowserAddressed(r), uiRelativePath(r.URL.Path), viewer)
	return nil
}

// asBrowserAddressed returns r with the path the browser asked for when
// handle_path (or uri strip_prefix) shortened it: the page scopes its
// session cookie to its own path as the browser addresses it, which a
// stripped path would widen to the whole site, the trigger API and the
// proxied CI server included. A path rewritten otherwise is left as is.
func asBrowserAddressed(r *http.Request) *http.Request {
	orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request)
	if !ok || orig.URL == nil || orig.URL.Path == r.URL.Path || !strings.HasSuffix(orig.URL.Path, r.URL.Path) {
		return r
	}
	addressed := *r.URL
	addressed.Path, addressed.RawPath = orig.URL.Path, orig.URL.RawPath
	shallow := r.WithContext(r.Context())
	shallow.URL = &addressed
	return shallow
}

// uiRelativePath is the path of a request relative to where the page is
// mounted, which the handler does not know: the page's own links are
// relative, so its API is whatever follows the last /api/, and its files
// are the last segment ("" for the page itself, at the mount's trailing
// slash). handle_path and handle route to it alike.
func uiRelativePath(path string) string {
	if i := strings.LastIndex(path, "/api/"); i >= 0 {
		return path[i+1:]
	}
	return path[strings.LastIndex(path, "/")+1:]
}

// Interface guards
var (
	_ caddy.Provisioner           = (*UIHandler)(nil)
	_ caddy.Validator             = (*UIHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*UIHandler)(nil)
)
