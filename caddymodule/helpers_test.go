package caddymodule

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	_ "github.com/caddyserver/caddy/v2/modules/filestorage"

	"github.com/triggergate/caddy-trigger-gateway/tokenstore"
)

// The helpers the package's tests share.

// provisionHandler provisions h on a fresh file storage (or the one given)
// the way Caddy would, and cleans it up with the test.
func provisionHandler(t testing.TB, h *Handler, storageDir string) *Handler {
	t.Helper()
	if storageDir == "" {
		storageDir = t.TempDir()
	}
	h.StorageRaw = json.RawMessage(`{"module":"file_system","root":` + mustJSON(t, storageDir) + `}`)
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := h.Provision(ctx); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	t.Cleanup(func() { _ = h.Cleanup() })
	if err := h.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return h
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func createToken(t testing.TB, h *Handler, project, owner string) (*tokenstore.Trigger, string) {
	t.Helper()
	trigger, token, err := h.gateway.store.Create(context.Background(), tokenstore.CreateRequest{
		Project: project, Description: "test", Owner: owner,
	})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return trigger, token
}

// recorder is the next handler: it records what it is handed.
type recorder struct {
	calls  int
	method string
	path   string
	raw    string
	query  string
	header http.Header
	body   map[string]any
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	rec.calls++
	rec.method, rec.path, rec.raw, rec.query = r.Method, r.URL.Path, r.URL.EscapedPath(), r.URL.RawQuery
	rec.header = r.Header.Clone()
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, &rec.body); err != nil {
		return err
	}
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write([]byte(`{"id":1}`))
	return nil
}

// serve sends r through h with a Caddy replacer in its context.
func serve(h *Handler, r *http.Request, next caddyhttp.Handler) (*httptest.ResponseRecorder, *caddy.Replacer, error) {
	repl := caddy.NewReplacer()
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
	w := httptest.NewRecorder()
	err := h.ServeHTTP(w, r, next)
	return w, repl, err
}

func form(values map[string]string) string {
	v := url.Values{}
	for k, val := range values {
		v.Set(k, val)
	}
	return v.Encode()
}
