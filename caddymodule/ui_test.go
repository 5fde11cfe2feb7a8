package caddymodule

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/triggergate/caddy-trigger-gateway/tokenstore"
)

func TestUIRelativePath(t *testing.T) {
	for path, want := range map[string]string{
		"/":                                 "",
		"/triggers/":                        "",
		"/triggers/app.js":                  "app.js",
		"/style.css":                        "style.css",
		"/triggers/api/session":             "api/session",
		"/api/triggers":                     "api/triggers",
		"/ci/api/v4/ui/api/triggers/12":     "api/triggers/12",
		"/triggers/api/triggers/12/history": "api/triggers/12/history",
		"/triggers":                         "triggers",
	} {
		if got := uiRelativePath(path); got != want {
			t.Errorf("uiRelativePath(%q) = %q, want %q", path, got, want)
		}
	}
}

// uiSession is the page's api/session answer.
type uiSession struct {
	User      string `json:"user"`
	CanManage bool   `json:"can_manage"`
	CSRFToken string `json:"csrf_token"`
	// cookie is the session cookie the answer set, as the browser sends it back.
	cookie string
}

// uiClient drives a mount of the page with the headers the page's script
// sends, against a real store.
type uiClient struct {
	t     *testing.T
	g     *gateway
	serve func(w http.ResponseWriter, r *http.Request, user string)
	// noStorage leaves out the ?storage= naming g that requests carry otherwise.
	noStorage bool
}

func (c *uiClient) do(method, rel, user, body string, header map[string]string) *httptest.ResponseRecorder {
	c.t.Helper()
	target := "http://gateway.test" + rel
	if !c.noStorage {
		sep := "?"
		if strings.Contains(rel, "?") {
			sep = "&"
		}
		target += sep + "storage=" + c.g.key
	}
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	c.serve(w, r, user)
	return w
}

// change sends a state change the way the page does: same origin, the
// session's CSRF token.
func (c *uiClient) change(method, rel, user, body string) *httptest.ResponseRecorder {
	c.t.Helper()
	s := c.session(rel[:strings.Index(rel, "api/")], user)
	return c.do(method, rel, user, body, map[string]string{
		"Origin": "http://gateway.test", "Content-Type": "application/json", "X-CSRF-Token": s.CSRFToken,
		"Cookie": s.cookie,
	})
}

func (c *uiClient) session(base, user string) uiSession {
	c.t.Helper()
	w := c.do(http.MethodGet, base+"api/session", user, "", nil)
	var s uiSession
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &s) != nil {
		c.t.Fatalf("session: %d %s", w.Code, w.Body)
	}
	for _, cookie := range w.Result().Cookies() {
		s.cookie = cookie.Name + "=" + cookie.Value
	}
	return s
}

func siteUIClient(t *testing.T, h *UIHandler, logs *zap.Logger) *uiClient {
	t.Helper()
	g, _ := testGateway(t, map[string]string{"group/app": "9"})
	return siteUIClientOf(t, h, logs, g)
}

// siteUIClientOf provisions h and drives it; its requests name g with
// ?storage= unless noStorage is set.
func siteUIClientOf(t *testing.T, h *UIHandler, logs *zap.Logger, g *gateway) *uiClient {
	t.Helper()
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	h.maintainers = map[string]bool{}
	for _, u := range h.Maintainers {
		h.maintainers[u] = true
	}
	h.page = nil
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := h.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	backend := h.page.Backend.(pageBackend) // its binding, as provisioned
	backend.log = logs
	h.page.Backend = backend
	h.page.Logger = logs
	return &uiClient{t: t, g: g, serve: func(w http.ResponseWriter, r *http.Request, user string) {
		repl := caddy.NewReplacer()
		if user != "" {
			repl.Set("http.auth.user.id", user)
		}
		r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
		if err := h.ServeHTTP(w, r, nil); err != nil {
			t.Errorf("ServeHTTP: %v", err)
		}
	}}
}

func TestUIHandlerServesAuthenticatedUsersOnly(t *testing.T) {
	c := siteUIClient(t, &UIHandler{Maintainers: []string{"alice"}}, zap.NewNop())
	for _, rel := range []string{"/triggers/", "/triggers/app.js", "/triggers/api/session", "/triggers/api/triggers"} {
		w := c.do(http.MethodGet, rel, "", "", nil)
		if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), `"401 Unauthorized"`) {
			t.Errorf("anonymous GET %s: %d %s", rel, w.Code, w.Body)
		}
		if w.Header().Get("Content-Security-Policy") == "" {
			t.Errorf("anonymous GET %s: no Content-Security-Policy", rel)
		}
		if w := c.do(http.MethodGet, rel, "bob", "", nil); w.Code != http.StatusOK {
			t.Errorf("bob GET %s: %d %s", rel, w.Code, w.Body)
		}
	}
	w := c.do(http.MethodPost, "/triggers/api/triggers", "", `{"project":"9","description":"d"}`,
		map[string]string{"Origin": "http://gateway.test", "Content-Type": "application/json"})
	if w.Code != http.StatusUnauthorized {
		t.Errorf("anonymous POST: %d %s", w.Code, w.Body)
	}

	t.Run("allow_anonymous", func(t *testing.T) {
		anon := siteUIClient(t, &UIHandler{Maintainers: []string{"alice"}, AllowAnonymous: true}, zap.NewNop())
		if s := anon.session("/triggers/", ""); s.User != "" || s.CanManage {
			t.Errorf("anonymous session: %+v", s)
		}
		if w := anon.change(http.MethodPost, "/triggers/api/triggers", "", `{"project":"9","description":"d"}`); w.Code != http.StatusForbidden {
			t.Errorf("anonymous POST with allow_anonymous: %d %s", w.Code, w.Body)
		}
	})
}

func TestUIHandlerMaintainersManageViewersLook(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	c := siteUIClient(t, &UIHandler{Maintainers: []string{"alice"}}, zap.New(core))
	if s := c.session("/triggers/", "alice"); !s.CanManage || s.User != "alice" {
		t.Errorf("alice's session: %+v", s)
	}
	if s := c.session("/triggers/", "bob"); s.CanManage {
		t.Errorf("bob's session: %+v", s)
	}

	// bob, a viewer, is refused with GitLab's 403 and changes nothing.
	w := c.change(http.MethodPost, "/triggers/api/triggers", "bob", `{"project":"9","description":"bob's"}`)
	if w.Code != http.StatusForbidden || strings.TrimSpace(w.Body.String()) != `{"message":"403 Forbidden"}` {
		t.Fatalf("bob's POST: %d %s", w.Code, w.Body)
	}
	if list, _ := c.g.store.List(context.Background(), ""); len(list) != 0 {
		t.Fatalf("bob created %d triggers", len(list))
	}

	// alice adds one, by the project's alias: the token comes back once.
	w = c.change(http.MethodPost, "/triggers/api/triggers", "alice",
		`{"project":"GROUP/app","description":"deploy","owner":"alice","expires_at":"2099-01-31"}`)
	if w.Code != http.StatusCreated || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("alice's POST: %d %s", w.Code, w.Body)
	}
	var created struct {
		ID      int64  `json:"id"`
		Token   string `json:"token"`
		Project string `json:"project"`
		Expires string `json:"expires_at"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &created); err != nil || !generatedToken.MatchString(created.Token) ||
		created.Project != "9" || created.Expires != "2099-01-31T00:00:00Z" {
		t.Fatalf("created: %s", w.Body)
	}
	cred, err := c.g.store.Authenticate(context.Background(), created.Token)
	if err != nil || cred.Trigger.ID != created.ID {
		t.Fatalf("the new token does not authenticate: %v", err)
	}

	// Everyone sees it, without its token.
	w = c.do(http.MethodGet, "/triggers/api/triggers?project=group/app", "bob", "", nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"total":1`) || strings.Contains(w.Body.String(), created.Token) {
		t.Fatalf("bob's list: %d %s", w.Code, w.Body)
	}

	// The store's own checks answer 400 with their words.
	for body, want := range map[string]string{
		`{"project":"9","description":" "}`:                           "description is required",
		`{"project":"9","description":"d","expires_at":"tomorrow"}`:   "expires_at must be",
		`{"project":"9","description":"d","expires_at":"2001-01-01"}`: "expires_at must be in the future",
	} {
		w := c.change(http.MethodPost, "/triggers/api/triggers", "alice", body)
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), want) {
			t.Errorf("POST %s: %d %s, want 400 with %q", body, w.Code, w.Body, want)
		}
	}

	// Everyone sees its recent deliveries; an unknown trigger has none.
	pipeline := int64(4001)
	c.g.store.RecordDelivery(created.ID, tokenstore.Delivery{Source: "trigger", Ref: "main", Variables: []string{"DEPLOY"},
		Outcome: "accepted", Status: 201, PipelineID: &pipeline, WebURL: "https://ci.example/p/4001"})
	w = c.do(http.MethodGet, "/triggers/api/triggers/"+jsonInt(created.ID)+"/deliveries", "bob", "", nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"variables":["DEPLOY"],"outcome":"accepted","status":201,"pipeline_id":4001`) {
		t.Errorf("deliveries: %d %s", w.Code, w.Body)
	}
	if w := c.do(http.MethodGet, "/triggers/api/triggers/999/deliveries", "bob", "", nil); w.Code != http.StatusNotFound {
		t.Errorf("deliveries of an unknown trigger: %d %s", w.Code, w.Body)
	}

	// bob cannot revoke; alice can, once; the record says she did.
	id := "/triggers/api/triggers/" + jsonInt(created.ID)
	if w := c.change(http.MethodDelete, id, "bob", ""); w.Code != http.StatusForbidden {
		t.Errorf("bob's DELETE: %d %s", w.Code, w.Body)
	}
	if w := c.change(http.MethodDelete, id, "alice", ""); w.Code != http.StatusNoContent {
		t.Fatalf("alice's DELETE: %d %s", w.Code, w.Body)
	}
	if _, err := c.g.store.Authenticate(context.Background(), created.Token); err == nil {
		t.Error("the revoked token still authenticates")
	}
	tr, _, err := c.g.store.GetIncludingRevoked(context.Background(), created.ID)
	if err != nil || tr.RevokedBy != "Triggers page, user alice" {
		t.Errorf("revoked_by %q (%v)", tr.RevokedBy, err)
	}
	if w := c.change(http.MethodDelete, id, "alice", ""); w.Code != http.StatusNotFound {
		t.Errorf("second DELETE: %d %s", w.Code, w.Body)
	}
	w = c.do(http.MethodGet, "/triggers/api/triggers?revoked=true", "bob", "", nil)
	if !strings.Contains(w.Body.String(), `"revoked_by":"Triggers page, user alice"`) {
		t.Errorf("revoked list: %s", w.Body)
	}

	for _, e := range logs.All() {
		assertNoSecret(t, "log entry", e.Message+" "+mustJSON(t, e.ContextMap()), created.Token)
	}
	if logs.FilterMessage("trigger created").Len() != 1 || logs.FilterMessage("trigger revoked").Len() != 1 {
		t.Errorf("want one creation and one revocation logged: %v", logs.All())
	}
	if logs.FilterMessage("refused a state change on the Triggers page").Len() != 0 {
		t.Errorf("a viewer's refusal is not a cross-origin attempt: %v", logs.All())
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

// The admin endpoint's mount is routed by the admin module and trusted as
// the admin API is: its caller may add and revoke, from the page only.
func TestAdminUIMount(t *testing.T) {
	g, _ := testGateway(t, nil)
	core, logs := observer.New(zap.InfoLevel)
	a := &adminAPI{log: zap.New(core)}
	var handler caddy.AdminHandler
	for _, route := range a.Routes() {
		if route.Pattern == "/trigger_gateway/ui/" {
			handler = route.Handler
		}
	}
	if handler == nil {
		t.Fatalf("no admin route for the page: %+v", a.Routes())
	}
	c := &uiClient{t: t, g: g, serve: func(w http.ResponseWriter, r *http.Request, _ string) {
		if err := handler.ServeHTTP(w, r); err != nil {
			t.Errorf("admin route: %v", err)
		}
	}}
	if w := c.do(http.MethodGet, "/trigger_gateway/ui/", "", "", nil); w.Code != http.StatusOK ||
		!strings.Contains(w.Body.String(), "Pipeline trigger tokens") || w.Header().Get("X-Frame-Options") != "DENY" {
		t.Fatalf("page: %d %s", w.Code, w.Header())
	}
	if s := c.session("/trigger_gateway/ui/", ""); !s.CanManage {
		t.Errorf("admin session: %+v", s)
	}
	w := c.change(http.MethodPost, "/trigger_gateway/ui/api/triggers", "", `{"project":"12","description":"from the admin page","owner":"ops"}`)
	if w.Code != http.StatusCreated {
		t.Fatalf("POST: %d %s", w.Code, w.Body)
	}
	var created struct {
		ID    int64  `json:"id"`
		Token string `json:"token"`
	}
	_ = json.Unmarshal(w.Body.Bytes(), &created)

	// A request from another origin, or without the CSRF token, changes nothing.
	for name, header := range map[string]map[string]string{
		"cross-origin": {"Origin": "http://evil.test", "X-CSRF-Token": c.session("/trigger_gateway/ui/", "").CSRFToken},
		"no token":     {"Origin": "http://gateway.test"},
	} {
		w := c.do(http.MethodDelete, "/trigger_gateway/ui/api/triggers/"+jsonInt(created.ID), "", "", header)
		if w.Code != http.StatusForbidden {
			t.Errorf("%s DELETE: %d %s", name, w.Code, w.Body)
		}
	}
	if _, err := g.store.Authenticate(context.Background(), created.Token); err != nil {
		t.Fatalf("a refused revocation revoked: %v", err)
	}
	if logs.FilterMessage("refused a state change on the Triggers page").Len() != 2 {
		t.Errorf("refusals not logged: %v", logs.All())
	}
	if w := c.change(http.MethodDelete, "/trigger_gateway/ui/api/triggers/"+jsonInt(created.ID), "", ""); w.Code != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", w.Code, w.Body)
	}
	tr, _, _ := g.store.GetIncludingRevoked(context.Background(), created.ID)
	if tr == nil || tr.RevokedBy != "Triggers page" {
		t.Errorf("revoked_by: %+v", tr)
	}
	for _, e := range logs.All() {
		assertNoSecret(t, "log entry", e.Message+" "+mustJSON(t, e.ContextMap()), created.Token)
	}
}

// A storage failure reaches the page as its status only.
func TestPageErrorHidesStorageErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{adminError(http.StatusServiceUnavailable, tokenstore.ErrUnavailable), "503 Service Unavailable"},
		{adminError(http.StatusNotFound, storeLookupError(7, tokenstore.ErrNotFound)), "404 Not Found - "},
		{storeLookupError(7, tokenstore.ErrNotFound), "404 Not Found - trigger 7 not found"},
		{context.Canceled, "500 Internal Server Error"},
	} {
		if got := pageError(tc.err).Message; !strings.HasPrefix(got, tc.want) {
			t.Errorf("pageError(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// With several storages in use, a site's page that is not bound to one
// serves none, whatever storage a request names: its viewers are not
// operators, and ?storage= would let a maintainer of this site's page
// manage another site's triggers. It refuses without naming a storage,
// for a key can name a Redis host or a path and the page may face
// anonymous viewers: the keys go to the log, once, for the operator. The
// admin endpoint's page, which only operators reach, lists them as the
// admin API does.
func TestSitePageHidesStorageKeysWhenSeveralStoragesAreInUse(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	c := siteUIClient(t, &UIHandler{Maintainers: []string{"alice"}, AllowAnonymous: true}, zap.New(core))
	const secondKey = "redis:cache.internal.example:6379/3"
	second, _ := testGatewayWithKey(t, secondKey, nil)
	keys := []string{c.g.key, secondKey, "cache.internal.example", "test:"}

	for _, tc := range []struct {
		name, method, rel, user string
		naming                  *gateway // the storage the request names with ?storage=, if any
	}{
		{"list, anonymous", http.MethodGet, "/triggers/api/triggers", "", nil},
		{"list revoked", http.MethodGet, "/triggers/api/triggers?revoked=true", "bob", nil},
		{"add", http.MethodPost, "/triggers/api/triggers", "alice", nil},
		{"revoke", http.MethodDelete, "/triggers/api/triggers/1", "alice", nil},
		{"deliveries", http.MethodGet, "/triggers/api/triggers/1/deliveries", "bob", nil},
		{"list, naming a storage", http.MethodGet, "/triggers/api/triggers", "bob", c.g},
		{"add, naming the other storage", http.MethodPost, "/triggers/api/triggers", "alice", second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := *c
			client.noStorage = tc.naming == nil
			if tc.naming != nil {
				client.g = tc.naming
			}
			var w *httptest.ResponseRecorder
			if tc.method == http.MethodGet {
				w = client.do(tc.method, tc.rel, tc.user, "", nil)
			} else {
				w = client.change(tc.method, tc.rel, tc.user, `{"project":"9","description":"d"}`)
			}
			if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "several trigger_gateway storages are in use") {
				t.Errorf("%d %s", w.Code, w.Body)
			}
			answer := w.Body.String() + " " + mustJSON(t, w.Header())
			for _, key := range keys {
				if strings.Contains(answer, key) {
					t.Errorf("the answer names the storage %q: %s", key, answer)
				}
			}
		})
	}
	for _, g := range []*gateway{c.g, second} {
		if list, err := g.store.List(context.Background(), "9"); err != nil || len(list) != 0 {
			t.Errorf("storage %s holds %d triggers (%v), want none", g.key, len(list), err)
		}
	}
	warnings := logs.FilterMessage("several trigger_gateway storages are in use; the Triggers page on this site serves none of them until it is bound to one").All()
	if len(warnings) != 1 || warnings[0].Level != zap.WarnLevel {
		t.Fatalf("want one warning naming the storages, got %v", logs.All())
	}
	if got := mustJSON(t, warnings[0].ContextMap()["storages"]); got != mustJSON(t, []string{secondKey, c.g.key}) {
		t.Errorf("logged storages: %s", got)
	}

	// The admin endpoint's page lists the keys for the operator.
	admin := &adminAPI{log: zap.NewNop()}
	ac := &uiClient{t: t, g: c.g, noStorage: true, serve: func(w http.ResponseWriter, r *http.Request, _ string) {
		if err := admin.handleUI(w, r); err != nil {
			t.Errorf("admin page: %v", err)
		}
	}}
	if w := ac.do(http.MethodGet, "/trigger_gateway/ui/api/triggers", "", "", nil); w.Code != http.StatusBadRequest ||
		!strings.Contains(w.Body.String(), secondKey) || !strings.Contains(w.Body.String(), c.g.key) {
		t.Errorf("admin page: %d %s", w.Code, w.Body)
	}
}

// A site's page bound to a storage serves the trigger_gateway that keeps
// its triggers there, as that handler's own storage setting names it,
// whatever other storages are in use and whatever storage a request
// names. Bound to a storage no trigger_gateway uses, it serves none and
// tells the operator once.
func TestSitePageBoundToItsStorage(t *testing.T) {
	ctx := context.Background()
	first := provisionHandler(t, &Handler{PathPrefix: "/first/api/v4"}, "")
	secondDir := t.TempDir()
	second := provisionHandler(t, &Handler{PathPrefix: "/second/api/v4"}, secondDir)
	if _, _, err := first.gateway.store.Create(ctx, tokenstore.CreateRequest{Project: "9", Description: "on the first"}); err != nil {
		t.Fatal(err)
	}
	bound := func(dir string) *UIHandler {
		return &UIHandler{Maintainers: []string{"alice"},
			StorageRaw: json.RawMessage(`{"module":"file_system","root":` + mustJSON(t, dir) + `}`)}
	}

	c := siteUIClientOf(t, bound(secondDir), zap.NewNop(), first.gateway) // every request names the first
	if session := c.do(http.MethodGet, "/triggers/api/session", "alice", "", nil); !strings.Contains(session.Body.String(), `"/second/api/v4"`) {
		t.Errorf("the session's path prefix is not the second gateway's: %s", session.Body)
	}
	if w := c.change(http.MethodPost, "/triggers/api/triggers", "alice", `{"project":"9","description":"on the second"}`); w.Code != http.StatusCreated {
		t.Fatalf("add: %d %s", w.Code, w.Body)
	}
	w := c.do(http.MethodGet, "/triggers/api/triggers", "bob", "", nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "on the second") || strings.Contains(w.Body.String(), "on the first") {
		t.Errorf("list: %d %s", w.Code, w.Body)
	}
	for _, tc := range []struct {
		h    *Handler
		want string
	}{{first, "on the first"}, {second, "on the second"}} {
		list, err := tc.h.gateway.store.List(ctx, "9")
		if err != nil || len(list) != 1 || list[0].Trigger.Description != tc.want {
			t.Errorf("storage %s: %+v, %v; want only %q", tc.h.gateway.key, list, err, tc.want)
		}
	}

	core, logs := observer.New(zap.InfoLevel)
	unused := bound(t.TempDir())
	c = siteUIClientOf(t, unused, zap.New(core), second.gateway)
	for range 2 {
		w := c.do(http.MethodGet, "/triggers/api/triggers", "bob", "", nil)
		if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "no trigger_gateway uses the storage this page is bound to") ||
			strings.Contains(w.Body.String(), "FileStorage") {
			t.Errorf("bound to an unused storage: %d %s", w.Code, w.Body)
		}
	}
	warnings := logs.FilterMessage("no trigger_gateway uses the storage the Triggers page on this site is bound to").All()
	if len(warnings) != 1 || warnings[0].ContextMap()["storage"] != unused.page.Backend.(pageBackend).site.storage {
		t.Errorf("want one warning naming the page's storage, got %v", logs.All())
	}
}
