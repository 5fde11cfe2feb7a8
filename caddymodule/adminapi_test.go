package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/triggergate/caddy-trigger-gateway/tokenstore"
)

// projectTable is the table a handler compiles for aliases (folded alias
// -> project ID): one projectRules per project, found by each alias.
func projectTable(aliases map[string]string) map[string]*projectRules {
	table := make(map[string]*projectRules, len(aliases))
	projects := make(map[string]*projectRules)
	for alias, id := range aliases {
		if projects[id] == nil {
			projects[id] = &projectRules{id: id}
		}
		table[alias] = projects[id]
	}
	return table
}

// testGateway registers a gateway with a real store on a fresh FileStorage
// under "test:"+t.Name(), removed (and its store closed) when t ends.
func testGateway(t *testing.T, aliases map[string]string) (g *gateway, storagePath string) {
	t.Helper()
	return testGatewayWithKey(t, "test:"+t.Name(), aliases)
}

// testGatewayWithKey is testGateway under the storage key given.
func testGatewayWithKey(t *testing.T, key string, aliases map[string]string) (g *gateway, storagePath string) {
	t.Helper()
	storagePath = t.TempDir()
	st, err := tokenstore.New(tokenstore.Config{
		Storage:    &certmagic.FileStorage{Path: storagePath},
		InstanceID: "admin-test",
	})
	if err != nil {
		t.Fatalf("tokenstore.New: %v", err)
	}
	g = &gateway{key: key, store: st}
	g.setAliases(projectTable(aliases))
	if _, loaded := gateways.LoadOrStore(key, g); loaded {
		t.Fatalf("gateway %q already registered", key)
	}
	t.Cleanup(func() {
		if _, err := gateways.Delete(key); err != nil {
			t.Errorf("closing the gateway's store: %v", err)
		}
	})
	return g, storagePath
}

// adminClient drives adminAPI.handleAPI directly. Every request names its
// gateway with ?storage=, so tests of other files registering gateways at
// the same time cannot make findGateway ambiguous.
type adminClient struct {
	t    *testing.T
	a    *adminAPI
	g    *gateway
	logs *observer.ObservedLogs
}

func newAdminClient(t *testing.T, aliases map[string]string) (*adminClient, string) {
	t.Helper()
	g, path := testGateway(t, aliases)
	core, logs := observer.New(zap.InfoLevel)
	return &adminClient{t: t, a: &adminAPI{log: zap.New(core)}, g: g, logs: logs}, path
}

// do sends one request and renders a returned error the way Caddy's admin
// server does (status from caddy.APIError, body {"error": message}).
func (c *adminClient) do(method, target, body string) *httptest.ResponseRecorder {
	c.t.Helper()
	return c.doWithHeader(method, target, body, nil)
}

// doWithHeader is do with request headers.
func (c *adminClient) doWithHeader(method, target, body string, header http.Header) *httptest.ResponseRecorder {
	c.t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		c.t.Fatal(err)
	}
	q := u.Query()
	q.Set("storage", c.g.key)
	u.RawQuery = q.Encode()
	req := httptest.NewRequest(method, u.String(), strings.NewReader(body))
	for name, values := range header {
		req.Header[name] = values
	}
	rec := httptest.NewRecorder()
	renderAdminResult(c.t, rec, c.a.handleAPI(rec, req))
	return rec
}

// renderAdminResult fails the test for an error that is not a caddy.APIError
// with a status (Caddy would answer a bare 500) and renders the others.
func renderAdminResult(t *testing.T, w http.ResponseWriter, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var apiErr caddy.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatus == 0 {
		t.Errorf("handler returned %T %v, want caddy.APIError with a status", err, err)
		apiErr = caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
	}
	apiErr.Message = apiErr.Err.Error()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(apiErr.HTTPStatus)
	_ = json.NewEncoder(w).Encode(apiErr)
}

// adminTestServer serves the admin API's routes over HTTP for CLI tests.
func adminTestServer(t *testing.T, a *adminAPI) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	for _, route := range a.Routes() {
		h := route.Handler
		mux.HandleFunc(route.Pattern, func(w http.ResponseWriter, r *http.Request) {
			renderAdminResult(t, w, h.ServeHTTP(w, r))
		})
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// decodeTrigger decodes an object both into adminTrigger and into a map, to
// check which keys are present.
func decodeTrigger(t *testing.T, raw []byte) (adminTrigger, map[string]any) {
	t.Helper()
	var tr adminTrigger
	var m map[string]any
	if err := json.Unmarshal(raw, &tr); err != nil {
		t.Fatalf("decoding %s: %v", raw, err)
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("decoding %s: %v", raw, err)
	}
	return tr, m
}

func errorMessage(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
		t.Fatalf("error body %q is not {\"error\": ...}", rec.Body.String())
	}
	return e.Error
}

// assertNoSecret fails when s holds any of the tokens.
func assertNoSecret(t *testing.T, what, s string, tokens ...string) {
	t.Helper()
	for _, tok := range tokens {
		if tok != "" && strings.Contains(s, tok) {
			t.Errorf("%s contains a token: %s", what, s)
		}
	}
}

// assertLogsClean fails when a log entry holds any of the tokens.
func (c *adminClient) assertLogsClean(tokens ...string) {
	c.t.Helper()
	for _, e := range c.logs.All() {
		assertNoSecret(c.t, "log entry", fmt.Sprint(e.Message, e.ContextMap()), tokens...)
	}
}

func mustCreate(t *testing.T, c *adminClient, body string) (adminTrigger, string) {
	t.Helper()
	rec := c.do(http.MethodPost, "/trigger_gateway/triggers", body)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create %s: %d %s", body, rec.Code, rec.Body)
	}
	tr, _ := decodeTrigger(t, rec.Body.Bytes())
	return tr, tr.Token
}

var generatedToken = regexp.MustCompile(`^glptt-[0-9a-f]{40}$`)

func TestAdminCreate(t *testing.T) {
	c, storagePath := newAdminClient(t, map[string]string{"group/project": "9"})
	future := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	const imported = "import-me-0123456789"
	const importedGlptt = "glptt-0123456789abcdef0123456789abcdef01234567"
	const malformed = "tooshort-x"
	before := time.Now().Add(-time.Second)

	tests := []struct {
		name    string
		body    string
		status  int
		errHas  string   // part of the error message
		secrets []string // must appear in no answer
		check   func(t *testing.T, tr adminTrigger, m map[string]any)
	}{
		{
			name:   "generated token",
			body:   `{"project":"9","description":"nightly deploy","owner":"alice"}`,
			status: http.StatusCreated,
			check: func(t *testing.T, tr adminTrigger, m map[string]any) {
				if !generatedToken.MatchString(tr.Token) {
					t.Errorf("token %q is not glptt- and 40 hex", tr.Token)
				}
				if tr.TokenPrefix != tr.Token[:10] {
					t.Errorf("token_prefix %q, want %q", tr.TokenPrefix, tr.Token[:10])
				}
				if tr.ID <= 0 || tr.Project != "9" || tr.Description != "nightly deploy" || tr.Owner != "alice" || tr.Legacy {
					t.Errorf("unexpected trigger %+v", tr)
				}
				if tr.CreatedAt.Before(before) || tr.CreatedAt.After(time.Now()) {
					t.Errorf("created_at %v not around now", tr.CreatedAt)
				}
				for _, name := range []string{"expires_at", "last_used", "last_pipeline"} {
					if v, ok := m[name]; !ok || v != nil {
						t.Errorf("%s = %v (present %v), want null", name, v, ok)
					}
				}
				if v, ok := m["use_count"]; !ok || v != float64(0) {
					t.Errorf("use_count = %v, want 0", v)
				}
				if _, ok := m["token_hash"]; ok {
					t.Errorf("token_hash leaked: %v", m)
				}
				// Durable: a store started afresh on the same storage knows it.
				other, err := tokenstore.New(tokenstore.Config{
					Storage:    &certmagic.FileStorage{Path: storagePath},
					InstanceID: "other",
				})
				if err != nil {
					t.Fatal(err)
				}
				defer other.Close()
				cred, err := other.Authenticate(context.Background(), tr.Token)
				if err != nil || cred.Trigger.ID != tr.ID {
					t.Errorf("fresh store Authenticate = %v, %v", cred, err)
				}
			},
		},
		{
			name:   "legacy trigger without owner",
			body:   `{"project":"9","description":"old"}`,
			status: http.StatusCreated,
			check: func(t *testing.T, tr adminTrigger, m map[string]any) {
				if !tr.Legacy || tr.Owner != "" {
					t.Errorf("legacy=%v owner=%q, want legacy and no owner", tr.Legacy, tr.Owner)
				}
				if v, ok := m["owner"]; !ok || v != "" {
					t.Errorf("owner = %v (present %v), want \"\"", v, ok)
				}
			},
		},
		{
			name:   "with an expiry date",
			body:   `{"project":"9","description":"temp","owner":"bob","expires_at":"2999-01-31"}`,
			status: http.StatusCreated,
			check: func(t *testing.T, tr adminTrigger, _ map[string]any) {
				if want := time.Date(2999, 1, 31, 0, 0, 0, 0, time.UTC); tr.ExpiresAt == nil || !tr.ExpiresAt.Equal(want) {
					t.Errorf("expires_at = %v, want %v", tr.ExpiresAt, want)
				}
			},
		},
		{
			name:   "with expiry",
			body:   `{"project":"9","description":"temp","owner":"bob","expires_at":"` + future.Format(time.RFC3339) + `"}`,
			status: http.StatusCreated,
			check: func(t *testing.T, tr adminTrigger, _ map[string]any) {
				if tr.ExpiresAt == nil || !tr.ExpiresAt.Equal(future) {
					t.Errorf("expires_at = %v, want %v", tr.ExpiresAt, future)
				}
			},
		},
		{
			name:   "alias gives the canonical project",
			body:   `{"project":"group/project","description":"via alias","owner":"carol"}`,
			status: http.StatusCreated,
			check: func(t *testing.T, tr adminTrigger, _ map[string]any) {
				if tr.Project != "9" {
					t.Errorf("project %q, want 9", tr.Project)
				}
			},
		},
		{
			name:   "imported token",
			body:   `{"project":"10","description":"from gitlab","owner":"dave","token":"` + imported + `"}`,
			status: http.StatusCreated,
			check: func(t *testing.T, tr adminTrigger, _ map[string]any) {
				if tr.Token != imported || tr.TokenPrefix != "impo" {
					t.Errorf("token %q prefix %q, want the imported one and impo", tr.Token, tr.TokenPrefix)
				}
			},
		},
		{
			name:   "imported glptt token",
			body:   `{"project":"10","description":"from gitlab","owner":"dave","token":"` + importedGlptt + `"}`,
			status: http.StatusCreated,
			check: func(t *testing.T, tr adminTrigger, _ map[string]any) {
				if tr.Token != importedGlptt || tr.TokenPrefix != "glptt-0123" {
					t.Errorf("token %q prefix %q", tr.Token, tr.TokenPrefix)
				}
			},
		},
		{name: "import of an existing token", body: `{"project":"11","description":"again","token":"` + imported + `"}`,
			status: http.StatusConflict, errHas: "already", secrets: []string{imported}},
		{name: "missing project", body: `{"description":"x"}`, status: http.StatusBadRequest, errHas: "project"},
		{name: "missing description", body: `{"project":"9"}`, status: http.StatusBadRequest, errHas: "description"},
		{name: "malformed expires_at", body: `{"project":"9","description":"x","expires_at":"tomorrow"}`,
			status: http.StatusBadRequest, errHas: "a date like 2027-01-31"},
		{name: "expires_at in the past", body: `{"project":"9","description":"x","expires_at":"2001-01-01T00:00:00Z"}`,
			status: http.StatusBadRequest, errHas: "invalid trigger"},
		{name: "import token too short", body: `{"project":"9","description":"x","token":"` + malformed + `"}`,
			status: http.StatusBadRequest, errHas: "invalid trigger", secrets: []string{malformed}},
		{name: "import token with a space", body: `{"project":"9","description":"x","token":"has space 0123456789"}`,
			status: http.StatusBadRequest, errHas: "invalid trigger", secrets: []string{"has space 0123456789"}},
		{name: "unknown field", body: `{"project":"9","description":"x","tokn":"abc"}`,
			status: http.StatusBadRequest, errHas: "unknown field"},
		{name: "not JSON", body: `project=9`, status: http.StatusBadRequest, errHas: "decoding"},
		{name: "empty body", body: ``, status: http.StatusBadRequest, errHas: "empty"},
		{name: "array", body: `[]`, status: http.StatusBadRequest, errHas: "decoding"},
		{name: "two objects", body: `{"project":"9","description":"x"}{}`, status: http.StatusBadRequest, errHas: "single JSON object"},
		{name: "wrong type", body: `{"project":9,"description":"x"}`, status: http.StatusBadRequest, errHas: "decoding"},
		{name: "too large", body: `{"project":"9","description":"` + strings.Repeat("x", adminMaxBody) + `"}`,
			status: http.StatusRequestEntityTooLarge, errHas: "larger"},
	}
	var tokens []string
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := c.do(http.MethodPost, "/trigger_gateway/triggers", tc.body)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			assertNoSecret(t, "answer", rec.Body.String(), tc.secrets...)
			if tc.status != http.StatusCreated {
				if msg := errorMessage(t, rec); !strings.Contains(msg, tc.errHas) {
					t.Errorf("error %q does not mention %q", msg, tc.errHas)
				}
				return
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			tr, m := decodeTrigger(t, rec.Body.Bytes())
			if loc := rec.Header().Get("Location"); loc != "/trigger_gateway/triggers/"+strconv.FormatInt(tr.ID, 10) {
				t.Errorf("Location %q for ID %d", loc, tr.ID)
			}
			tokens = append(tokens, tr.Token)
			tc.check(t, tr, m)
		})
	}

	// The log has one line per creation, with the token's prefix only.
	created := c.logs.FilterMessage("trigger created").All()
	if len(created) != len(tokens) {
		t.Errorf("%d creation log lines, want %d", len(created), len(tokens))
	}
	for _, e := range created {
		fields := e.ContextMap()
		for _, k := range []string{"id", "project", "token_prefix", "owner"} {
			if _, ok := fields[k]; !ok {
				t.Errorf("creation log line lacks %q: %v", k, fields)
			}
		}
	}
	c.assertLogsClean(append(tokens, malformed)...)
}

func TestAdminListAndShow(t *testing.T) {
	c, _ := newAdminClient(t, map[string]string{"group/project": "9"})
	a, tokA := mustCreate(t, c, `{"project":"9","description":"a","owner":"alice"}`)
	b, tokB := mustCreate(t, c, `{"project":"10","description":"b","owner":"bob"}`)
	l, tokL := mustCreate(t, c, `{"project":"group/project","description":"legacy"}`)
	tokens := []string{tokA, tokB, tokL}

	// One use of a, not yet flushed: listings include this instance's pending usage.
	cred, err := c.g.store.Authenticate(context.Background(), tokA)
	if err != nil {
		t.Fatal(err)
	}
	usedAt := time.Now().UTC().Truncate(time.Second)
	cred.RecordUse(usedAt)
	cred.RecordPipeline(usedAt, 4242, "https://ci.example.com/p/-/pipelines/4242")

	list := []struct {
		name   string
		target string
		want   []int64
	}{
		{"all", "/trigger_gateway/triggers", []int64{a.ID, b.ID, l.ID}},
		{"by project", "/trigger_gateway/triggers?project=9", []int64{a.ID, l.ID}},
		{"by alias", "/trigger_gateway/triggers?project=group%2Fproject", []int64{a.ID, l.ID}},
		{"other project", "/trigger_gateway/triggers?project=10", []int64{b.ID}},
		{"unknown project", "/trigger_gateway/triggers?project=404", []int64{}},
	}
	for _, tc := range list {
		t.Run("list "+tc.name, func(t *testing.T) {
			rec := c.do(http.MethodGet, tc.target, "")
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			assertNoSecret(t, "list", rec.Body.String(), tokens...)
			var objs []map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &objs); err != nil || objs == nil {
				t.Fatalf("body %q is not a JSON array: %v", rec.Body, err)
			}
			var got []adminTrigger
			_ = json.Unmarshal(rec.Body.Bytes(), &got)
			ids := []int64{}
			for i, o := range objs {
				for _, k := range []string{"token", "token_hash"} {
					if _, ok := o[k]; ok {
						t.Errorf("list entry has %q: %v", k, o)
					}
				}
				ids = append(ids, got[i].ID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(tc.want) {
				t.Errorf("IDs %v, want %v", ids, tc.want)
			}
		})
	}

	show := []struct {
		name   string
		target string
		status int
		check  func(t *testing.T, tr adminTrigger, m map[string]any)
	}{
		{"used trigger", "/trigger_gateway/triggers/" + strconv.FormatInt(a.ID, 10), http.StatusOK,
			func(t *testing.T, tr adminTrigger, _ map[string]any) {
				if tr.ID != a.ID || tr.TokenPrefix != a.TokenPrefix || tr.Description != "a" || tr.Owner != "alice" ||
					!tr.CreatedAt.Equal(a.CreatedAt) {
					t.Errorf("got %+v, want %+v", tr, a)
				}
				if tr.UseCount != 1 || tr.LastUsed == nil || !tr.LastUsed.Equal(usedAt) {
					t.Errorf("use_count %d last_used %v, want 1 and %v", tr.UseCount, tr.LastUsed, usedAt)
				}
				if p := tr.LastPipeline; p == nil || p.ID != 4242 || p.WebURL != "https://ci.example.com/p/-/pipelines/4242" ||
					!p.TriggeredAt.Equal(usedAt) {
					t.Errorf("last_pipeline %+v, want 4242 triggered at %v", p, usedAt)
				}
			}},
		{"legacy trigger", "/trigger_gateway/triggers/" + strconv.FormatInt(l.ID, 10), http.StatusOK,
			func(t *testing.T, tr adminTrigger, m map[string]any) {
				if v, ok := m["last_pipeline"]; !tr.Legacy || tr.Project != "9" || m["last_used"] != nil || !ok || v != nil {
					t.Errorf("got %v", m)
				}
			}},
		{"unknown ID", "/trigger_gateway/triggers/999", http.StatusNotFound, nil},
		{"letters", "/trigger_gateway/triggers/abc", http.StatusBadRequest, nil},
		{"zero", "/trigger_gateway/triggers/0", http.StatusBadRequest, nil},
		{"negative", "/trigger_gateway/triggers/-3", http.StatusBadRequest, nil},
		{"empty", "/trigger_gateway/triggers/", http.StatusBadRequest, nil},
		{"token instead of ID", "/trigger_gateway/triggers/" + tokA, http.StatusBadRequest, nil},
	}
	for _, tc := range show {
		t.Run("show "+tc.name, func(t *testing.T) {
			rec := c.do(http.MethodGet, tc.target, "")
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			assertNoSecret(t, "show", rec.Body.String(), tokens...)
			if tc.check == nil {
				errorMessage(t, rec)
				return
			}
			tr, m := decodeTrigger(t, rec.Body.Bytes())
			for _, k := range []string{"token", "token_hash"} {
				if _, ok := m[k]; ok {
					t.Errorf("show has %q: %v", k, m)
				}
			}
			tc.check(t, tr, m)
		})
	}
	c.assertLogsClean(tokens...)
}

func TestAdminRevoke(t *testing.T) {
	c, _ := newAdminClient(t, nil)
	const imported = "imported-token-0123456789"
	gen, tokGen := mustCreate(t, c, `{"project":"9","description":"generated","owner":"alice"}`)
	imp, _ := mustCreate(t, c, `{"project":"9","description":"imported","owner":"bob","token":"`+imported+`"}`)
	keep, tokKeep := mustCreate(t, c, `{"project":"9","description":"kept","owner":"carol"}`)
	ctx := context.Background()

	// Cache the token first, so the test also shows revocation evicting it.
	if _, err := c.g.store.Authenticate(ctx, tokGen); err != nil {
		t.Fatal(err)
	}

	genPath := "/trigger_gateway/triggers/" + strconv.FormatInt(gen.ID, 10)
	for _, bad := range []string{"carol\x1b[31m", strings.Repeat("u", 129)} {
		rec := c.doWithHeader(http.MethodDelete, genPath, "", http.Header{adminUserHeader: {bad}})
		if rec.Code != http.StatusBadRequest || !strings.Contains(errorMessage(t, rec), adminUserHeader) {
			t.Fatalf("revoke with %s %.20q: %d %s, want 400 naming the header", adminUserHeader, bad, rec.Code, rec.Body)
		}
	}
	if _, err := c.g.store.Authenticate(ctx, tokGen); err != nil {
		t.Fatalf("a refused revocation revoked: %v", err)
	}
	// The CLI names the user running it; another caller may not.
	revocations := []struct {
		tr     adminTrigger
		header http.Header
		by     string
	}{
		{gen, http.Header{adminUserHeader: {"alice"}}, "admin API, user alice"},
		{imp, nil, "admin API"},
	}
	for _, rv := range revocations {
		path := "/trigger_gateway/triggers/" + strconv.FormatInt(rv.tr.ID, 10)
		if rec := c.doWithHeader(http.MethodDelete, path, "", rv.header); rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
			t.Fatalf("revoke %d: %d %q", rv.tr.ID, rec.Code, rec.Body)
		}
	}
	// Shown and listed with when and by whom.
	for _, rv := range revocations {
		rec := c.do(http.MethodGet, "/trigger_gateway/triggers/"+strconv.FormatInt(rv.tr.ID, 10), "")
		if rec.Code != http.StatusOK {
			t.Fatalf("show revoked %d: %d %s", rv.tr.ID, rec.Code, rec.Body)
		}
		got, m := decodeTrigger(t, rec.Body.Bytes())
		if got.RevokedAt == nil || got.RevokedAt.Before(gen.CreatedAt) || got.RevokedBy != rv.by || got.Description != rv.tr.Description {
			t.Errorf("show revoked %d = %s, want revoked_at and revoked_by %q", rv.tr.ID, rec.Body, rv.by)
		}
		if _, ok := m["token"]; ok {
			t.Errorf("show revoked has a token: %v", m)
		}
	}
	rec := c.do(http.MethodGet, "/trigger_gateway/triggers?revoked=true&project=9", "")
	var revokedList []adminTrigger
	if err := json.Unmarshal(rec.Body.Bytes(), &revokedList); err != nil || len(revokedList) != 2 ||
		revokedList[0].ID != gen.ID || revokedList[1].ID != imp.ID || revokedList[0].RevokedBy != "admin API, user alice" {
		t.Errorf("list ?revoked=true = %s (%v), want %d and %d", rec.Body, err, gen.ID, imp.ID)
	}
	if rec := c.do(http.MethodGet, "/trigger_gateway/triggers?revoked=maybe", ""); rec.Code != http.StatusBadRequest {
		t.Errorf("list ?revoked=maybe: %d %s, want 400", rec.Code, rec.Body)
	}

	steps := []struct {
		name   string
		method string
		target string
		body   string
		status int
		errHas string // in the error's message
	}{
		// Not "not found": 'caddy trigger show' finds it.
		{"revoke again", http.MethodDelete, "/trigger_gateway/triggers/" + strconv.FormatInt(gen.ID, 10), "", http.StatusNotFound,
			fmt.Sprintf("trigger %d is already revoked (since %s, by admin API, user alice)", gen.ID, revokedList[0].RevokedAt.Format(time.RFC3339))},
		{"revoke unknown", http.MethodDelete, "/trigger_gateway/triggers/999", "", http.StatusNotFound, "trigger 999 not found"},
		// A wait run again (after a 504): the revocation is announced again
		// and waited for; no other instance here, so at once.
		{"revoke again with a wait", http.MethodDelete, "/trigger_gateway/triggers/" + strconv.FormatInt(gen.ID, 10) + "?wait=2s", "", http.StatusNoContent, ""},
		{"revoke unknown with a wait", http.MethodDelete, "/trigger_gateway/triggers/999?wait=true", "", http.StatusNotFound, "trigger 999 not found"},
		{"revoke bad ID", http.MethodDelete, "/trigger_gateway/triggers/x1", "", http.StatusBadRequest, "invalid trigger ID"},
		{"re-import revoked token", http.MethodPost, "/trigger_gateway/triggers",
			`{"project":"9","description":"again","owner":"bob","token":"` + imported + `"}`, http.StatusConflict, "already registered or was revoked"},
		{"other trigger kept", http.MethodGet, "/trigger_gateway/triggers/" + strconv.FormatInt(keep.ID, 10), "", http.StatusOK, ""},
	}
	for _, tc := range steps {
		t.Run(tc.name, func(t *testing.T) {
			rec := c.do(tc.method, tc.target, tc.body)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.errHas != "" && !strings.Contains(errorMessage(t, rec), tc.errHas) {
				t.Errorf("error %q, want one saying %q", errorMessage(t, rec), tc.errHas)
			}
			assertNoSecret(t, "answer", rec.Body.String(), tokGen, imported, tokKeep)
		})
	}

	auth := []struct {
		token string
		want  error
	}{
		{tokGen, tokenstore.ErrNotFound},
		{imported, tokenstore.ErrNotFound},
		{tokKeep, nil},
	}
	for _, tc := range auth {
		if _, err := c.g.store.Authenticate(ctx, tc.token); !errors.Is(err, tc.want) {
			t.Errorf("Authenticate(%s…) = %v, want %v", tokenstore.TokenPrefix(tc.token), err, tc.want)
		}
	}

	rec = c.do(http.MethodGet, "/trigger_gateway/triggers", "")
	var list []adminTrigger
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || len(list) != 1 || list[0].ID != keep.ID {
		t.Errorf("list after revocations = %s (%v), want only %d", rec.Body, err, keep.ID)
	}

	revoked := c.logs.FilterMessage("trigger revoked").All()
	if len(revoked) != 2 {
		t.Fatalf("%d revocation log lines, want 2", len(revoked))
	}
	if f := revoked[0].ContextMap(); f["id"] != gen.ID || f["token_prefix"] != gen.TokenPrefix ||
		f["project"] != "9" || f["owner"] != "alice" || f["revoked_by"] != "admin API, user alice" {
		t.Errorf("revocation log fields %v", f)
	}
	c.assertLogsClean(tokGen, imported, tokKeep)
}

func TestAdminRouting(t *testing.T) {
	c, _ := newAdminClient(t, nil)
	tests := []struct {
		method string
		target string
		status int
		allow  string
	}{
		{http.MethodPut, "/trigger_gateway/triggers", http.StatusMethodNotAllowed, "GET, POST"},
		{http.MethodDelete, "/trigger_gateway/triggers", http.StatusMethodNotAllowed, "GET, POST"},
		{http.MethodPost, "/trigger_gateway/triggers/1", http.StatusMethodNotAllowed, "GET, DELETE"},
		{http.MethodPatch, "/trigger_gateway/triggers/1", http.StatusMethodNotAllowed, "GET, DELETE"},
		{http.MethodGet, "/trigger_gateway/explain", http.StatusMethodNotAllowed, "POST"},
		{http.MethodPost, "/trigger_gateway/explain", http.StatusBadRequest, ""},
		{http.MethodGet, "/trigger_gateway/", http.StatusNotFound, ""},
		{http.MethodGet, "/trigger_gateway/trigger", http.StatusNotFound, ""},
		{http.MethodGet, "/trigger_gateway/triggers/1/usage", http.StatusNotFound, ""},
		{http.MethodPost, "/trigger_gateway/triggers/1/deliveries", http.StatusMethodNotAllowed, "GET"},
		{http.MethodDelete, "/trigger_gateway/triggers/1/deliveries", http.StatusMethodNotAllowed, "GET"},
		{http.MethodGet, "/trigger_gateway/triggers/1/deliveries/1", http.StatusNotFound, ""},
		{http.MethodGet, "/trigger_gateway/triggers/x/deliveries", http.StatusBadRequest, ""},
		{http.MethodGet, "/trigger_gateway/triggers/1/deliveries", http.StatusNotFound, ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			rec := c.do(tc.method, tc.target, "")
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if got := rec.Header().Get("Allow"); got != tc.allow {
				t.Errorf("Allow %q, want %q", got, tc.allow)
			}
			errorMessage(t, rec)
		})
	}
}

func TestAdminModule(t *testing.T) {
	info := adminAPI{}.CaddyModule()
	if info.ID != "admin.api.trigger_gateway" {
		t.Errorf("module ID %q", info.ID)
	}
	if _, ok := info.New().(*adminAPI); !ok {
		t.Errorf("New() gives %T", info.New())
	}
	routes := new(adminAPI).Routes()
	if len(routes) != 2 || routes[0].Pattern != "/trigger_gateway/" || routes[1].Pattern != "/trigger_gateway/ui/" {
		t.Errorf("routes %+v", routes)
	}
}

// Triggers stored under an alias of the project (created before the alias
// was configured) are the project's too: the admin API lists them with
// the project's, by ID, by alias or by alias in another case, as GitLab's
// management API does.
func TestAdminListIncludesAliases(t *testing.T) {
	c, _ := newAdminClient(t, map[string]string{"group/project": "9"})
	byAlias, _, err := c.g.store.Create(context.Background(), tokenstore.CreateRequest{
		Project: "group/project", Description: "before the alias", Owner: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	byID, _ := mustCreate(t, c, `{"project":"9","description":"by ID","owner":"alice"}`)
	other, _ := mustCreate(t, c, `{"project":"12","description":"other","owner":"alice"}`)

	for _, tc := range []struct {
		target string
		want   []int64
	}{
		{"/trigger_gateway/triggers?project=9", []int64{byAlias.ID, byID.ID}},
		{"/trigger_gateway/triggers?project=group%2Fproject", []int64{byAlias.ID, byID.ID}},
		{"/trigger_gateway/triggers?project=GROUP%2FProject", []int64{byAlias.ID, byID.ID}},
		{"/trigger_gateway/triggers", []int64{byAlias.ID, byID.ID, other.ID}},
	} {
		rec := c.do(http.MethodGet, tc.target, "")
		var got []adminTrigger
		if err := json.Unmarshal(rec.Body.Bytes(), &got); rec.Code != http.StatusOK || err != nil {
			t.Fatalf("%s: %d %s", tc.target, rec.Code, rec.Body)
		}
		ids := []int64{}
		for _, tr := range got {
			ids = append(ids, tr.ID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(tc.want) {
			t.Errorf("%s: IDs %v, want %v", tc.target, ids, tc.want)
		}
	}
}
