package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/triggergate/caddy-trigger-gateway/tokenstore"
)

func TestServeHTTPAccepts(t *testing.T) {
	h := provisionHandler(t, &Handler{
		Projects: map[string]*Project{
			"9":  {Aliases: []string{"group/project"}},
			"12": {UpstreamToken: new("upstream-12")},
		},
	}, "")
	trigger9, token9 := createToken(t, h, "9", "alice")
	trigger12, token12 := createToken(t, h, "12", "bob")
	_, tokenPath := createToken(t, h, "other/path", "carol")

	tests := []struct {
		name        string
		method      string
		target      string
		contentType string
		body        string
		header      map[string]string
		wantPath    string
		wantRawPath string
		wantToken   string
		wantRef     string
		wantVars    map[string]any
		wantExtra   map[string]any
		wantID      int64
	}{
		{
			name:        "form fields",
			target:      "/api/v4/projects/9/trigger/pipeline",
			contentType: "application/x-www-form-urlencoded",
			body:        form(map[string]string{"token": token9, "ref": "master", "variables[UPLOAD_TO_S3]": "true"}),
			wantPath:    "/api/v4/projects/9/trigger/pipeline",
			wantToken:   token9, wantRef: "master", wantVars: map[string]any{"UPLOAD_TO_S3": "true"}, wantID: trigger9.ID,
		},
		{
			name:      "query string",
			target:    "/api/v4/projects/9/trigger/pipeline?token=" + token9 + "&ref=main",
			wantPath:  "/api/v4/projects/9/trigger/pipeline",
			wantToken: token9, wantRef: "main", wantVars: map[string]any{}, wantID: trigger9.ID,
		},
		{
			name:        "json body with refs/tags ref",
			target:      "/api/v4/projects/9/trigger/pipeline",
			contentType: "application/json",
			body:        `{"token":"` + token9 + `","ref":"refs/tags/v1.2","variables":{"A":"1"}}`,
			wantPath:    "/api/v4/projects/9/trigger/pipeline",
			wantToken:   token9, wantRef: "v1.2", wantVars: map[string]any{"A": "1"}, wantID: trigger9.ID,
		},
		{
			name:        "webhook: URL ref wins, alias resolves, payload passes",
			target:      "/api/v4/projects/group%2Fproject/ref/feature%2Fx/trigger/pipeline?token=" + token9,
			contentType: "application/json",
			body:        `{"object_kind":"push","ref":"refs/heads/main","commits":[{"id":"abc"}]}`,
			wantPath:    "/api/v4/projects/9/trigger/pipeline",
			wantToken:   token9, wantRef: "feature/x", wantVars: map[string]any{}, wantID: trigger9.ID,
			wantExtra: map[string]any{"object_kind": "push", "commits": []any{map[string]any{"id": "abc"}}},
		},
		{
			name:      "per-project upstream token replaces the caller's",
			target:    "/api/v4/projects/12/trigger/pipeline?token=" + token12 + "&ref=main",
			wantPath:  "/api/v4/projects/12/trigger/pipeline",
			wantToken: "upstream-12", wantRef: "main", wantVars: map[string]any{}, wantID: trigger12.ID,
		},
		{
			name:        "unaliased project path is forwarded encoded",
			target:      "/api/v4/projects/other%2Fpath/trigger/pipeline?token=" + tokenPath + "&ref=main",
			wantPath:    "/api/v4/projects/other/path/trigger/pipeline",
			wantRawPath: "/api/v4/projects/other%2Fpath/trigger/pipeline",
			wantToken:   tokenPath, wantRef: "main", wantVars: map[string]any{},
		},
		{
			name:     "caller's X-Trigger headers are replaced",
			target:   "/api/v4/projects/9/trigger/pipeline?token=" + token9 + "&ref=main",
			header:   map[string]string{"X-Trigger-Source": "pipeline", "X-Trigger-Job": "spoofed"},
			wantPath: "/api/v4/projects/9/trigger/pipeline", wantToken: token9, wantRef: "main",
			wantVars: map[string]any{}, wantID: trigger9.ID,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, tt.target, strings.NewReader(tt.body))
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			next := new(recorder)
			w, repl, err := serve(h, r, next)
			if err != nil {
				t.Fatalf("ServeHTTP: %v", err)
			}
			if w.Code != http.StatusCreated || next.calls != 1 {
				t.Fatalf("got status %d and %d upstream calls, body %s", w.Code, next.calls, w.Body)
			}
			if next.method != http.MethodPost || next.path != tt.wantPath || next.query != "" {
				t.Errorf("upstream got %s %s?%s, want POST %s", next.method, next.path, next.query, tt.wantPath)
			}
			if tt.wantRawPath != "" && next.raw != tt.wantRawPath {
				t.Errorf("upstream escaped path %s, want %s", next.raw, tt.wantRawPath)
			}
			if got := next.header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type %q", got)
			}
			if next.body["token"] != tt.wantToken || next.body["ref"] != tt.wantRef {
				t.Errorf("body token/ref = %v/%v, want %v/%v", next.body["token"], next.body["ref"], tt.wantToken, tt.wantRef)
			}
			if got := mustJSON(t, next.body["variables"]); got != mustJSON(t, tt.wantVars) {
				t.Errorf("variables %s, want %s", got, mustJSON(t, tt.wantVars))
			}
			for k, v := range tt.wantExtra {
				if mustJSON(t, next.body[k]) != mustJSON(t, v) {
					t.Errorf("payload field %s = %v, want %v", k, next.body[k], v)
				}
			}
			if got := next.header.Get("X-Trigger-Source"); got != "trigger" {
				t.Errorf("X-Trigger-Source %q", got)
			}
			if _, spoofed := next.header["X-Trigger-Job"]; spoofed {
				t.Errorf("caller's X-Trigger-Job reached the upstream")
			}
			if tt.wantID != 0 {
				if got := next.header.Get("X-Trigger-Id"); got != mustJSON(t, tt.wantID) {
					t.Errorf("X-Trigger-Id %q, want %d", got, tt.wantID)
				}
				if got, _ := repl.GetString("http.trigger.id"); got != mustJSON(t, tt.wantID) {
					t.Errorf("{http.trigger.id} = %q", got)
				}
			}
			if got := next.header.Get("X-Trigger-Token-Prefix"); len(got) != 10 || !strings.HasPrefix(got, "glptt-") {
				t.Errorf("X-Trigger-Token-Prefix %q, want glptt- and 4 hex digits", got)
			}
			if got, _ := repl.GetString("http.trigger.ref"); got != tt.wantRef {
				t.Errorf("{http.trigger.ref} = %q, want %q", got, tt.wantRef)
			}
			if got, _ := repl.GetString("http.trigger.outcome"); got != "accepted" {
				t.Errorf("{http.trigger.outcome} = %q", got)
			}
		})
	}
}

func TestServeHTTPRefuses(t *testing.T) {
	h := provisionHandler(t, &Handler{LegacyTriggers: "deny", MaxBody: 512, DisableFailedAuthLimit: true}, "")
	_, token9 := createToken(t, h, "9", "alice")
	_, legacy := createToken(t, h, "9", "")
	revokedTrigger, revoked := createToken(t, h, "9", "alice")
	if err := h.gateway.store.Revoke(context.Background(), revokedTrigger.ID, revokedByAdminAPI); err != nil {
		t.Fatal(err)
	}
	notFound := `{"message":"404 Not Found"}`

	tests := []struct {
		name        string
		method      string
		target      string
		contentType string
		body        string
		header      map[string]string
		wantStatus  int
		wantBody    string
		wantOutcome string
	}{
		{"missing token", "POST", "/api/v4/projects/9/trigger/pipeline?ref=main", "", "", nil,
			400, `{"error":"token is missing"}`, "missing_token"},
		{"missing ref", "POST", "/api/v4/projects/9/trigger/pipeline?token=" + token9, "", "", nil,
			400, `{"error":"ref is missing"}`, "missing_ref"},
		{"unknown token", "POST", "/api/v4/projects/9/trigger/pipeline?ref=main&token=glptt-0000000000000000000000000000000000000000", "", "", nil,
			404, notFound, "unknown_token"},
		{"another project's token", "POST", "/api/v4/projects/10/trigger/pipeline?ref=main&token=" + token9, "", "", nil,
			404, notFound, "wrong_project"},
		{"revoked token", "POST", "/api/v4/projects/9/trigger/pipeline?ref=main&token=" + revoked, "", "", nil,
			404, notFound, "revoked_token"},
		{"legacy trigger denied", "POST", "/api/v4/projects/9/trigger/pipeline?ref=main&token=" + legacy, "", "", nil,
			404, notFound, "legacy_denied"},
		{"full commit SHA", "POST", "/api/v4/projects/9/trigger/pipeline?ref=0123456789abcdef0123456789abcdef01234567&token=" + token9, "", "", nil,
			400, "", "commit_sha_ref"},
		{"short commit SHA", "POST", "/api/v4/projects/9/trigger/pipeline?ref=0123abcd&token=" + token9, "", "", nil,
			400, "", "commit_sha_ref"},
		{"invalid ref", "POST", "/api/v4/projects/9/trigger/pipeline?ref=a..b&token=" + token9, "", "", nil,
			400, "", "invalid_ref"},
		{"variables not strings", "POST", "/api/v4/projects/9/trigger/pipeline", "application/json",
			`{"token":"` + token9 + `","ref":"main","variables":{"A":1}}`, nil,
			400, `{"message":"variables needs to be a map of key-valued strings"}`, "invalid_variables"},
		{"protected variable", "POST", "/api/v4/projects/9/trigger/pipeline", "application/x-www-form-urlencoded",
			form(map[string]string{"token": token9, "ref": "main", "variables[CI_JOB_TOKEN]": "secret-value-77"}), nil,
			400, "", "protected_variable"},
		{"pipeline hook", "POST", "/api/v4/projects/9/trigger/pipeline?ref=main&token=" + token9, "", "",
			map[string]string{"X-Gitlab-Event": "Pipeline Hook"}, 403, `{"message":"403 Forbidden"}`, "pipeline_hook"},
		{"body too large", "POST", "/api/v4/projects/9/trigger/pipeline", "application/x-www-form-urlencoded",
			"token=" + token9 + "&ref=main&variables[A]=" + strings.Repeat("x", 600), nil,
			413, `{"message":"413 Request Entity Too Large"}`, "body_too_large"},
		{"wrong method", "GET", "/api/v4/projects/9/trigger/pipeline?ref=main&token=" + token9, "", "", nil,
			405, `{"message":"405 Method Not Allowed"}`, "method_not_allowed"},
		{"artifacts without job tokens", "GET", "/api/v4/projects/9/jobs/artifacts/main/download?job=build&job_token=x", "", "", nil,
			404, notFound, "job_tokens_disabled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, usageBefore, err := h.gateway.store.Get(context.Background(), 1)
			if err != nil {
				t.Fatal(err)
			}

			r := httptest.NewRequest(tt.method, tt.target, strings.NewReader(tt.body))
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			next := new(recorder)
			w, repl, err := serve(h, r, next)
			if err != nil {
				t.Fatalf("ServeHTTP: %v", err)
			}
			if next.calls != 0 {
				t.Fatalf("a refused request reached the upstream")
			}
			if w.Code != tt.wantStatus {
				t.Errorf("status %d, want %d (body %s)", w.Code, tt.wantStatus, w.Body)
			}
			if tt.wantBody != "" && w.Body.String() != tt.wantBody {
				t.Errorf("body %s, want %s", w.Body, tt.wantBody)
			}
			if !json.Valid(w.Body.Bytes()) || w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("answer is not JSON: %q", w.Body)
			}
			if strings.Contains(w.Body.String(), "secret-value-77") || strings.Contains(w.Body.String(), token9) {
				t.Errorf("answer echoes a secret: %s", w.Body)
			}
			if got, _ := repl.GetString("http.trigger.outcome"); got != tt.wantOutcome {
				t.Errorf("outcome %q, want %q", got, tt.wantOutcome)
			}
			if tt.wantOutcome == "revoked_token" {
				// The logs name the revoked trigger; the caller learns nothing.
				if got, _ := repl.GetString("http.trigger.id"); got != strconv.FormatInt(revokedTrigger.ID, 10) {
					t.Errorf("{http.trigger.id} = %q, want %d", got, revokedTrigger.ID)
				}
			}
			if _, usageAfter, _ := h.gateway.store.Get(context.Background(), 1); usageAfter.UseCount != usageBefore.UseCount {
				t.Errorf("a refused request counted as a use")
			}
		})
	}
}

func TestServeHTTPNotTriggerAPI(t *testing.T) {
	h := provisionHandler(t, &Handler{}, "")
	for _, target := range []string{"/", "/api/v4/projects/9", "/api/v3/projects/9/trigger/pipeline", "/api/v4/projects/9/trigger/pipeline/x"} {
		r := httptest.NewRequest(http.MethodPost, target, nil)
		next := new(recorder)
		_, _, err := serve(h, r, next)
		var herr caddyhttp.HandlerError
		if !errors.As(err, &herr) || herr.StatusCode != http.StatusNotFound || next.calls != 0 {
			t.Errorf("%s: got %v, want a 404 handler error", target, err)
		}
	}
}

func TestServeHTTPCountsUsage(t *testing.T) {
	h := provisionHandler(t, &Handler{}, "")
	trigger, token := createToken(t, h, "9", "alice")
	for range 3 {
		r := httptest.NewRequest(http.MethodPost, "/api/v4/projects/9/trigger/pipeline?ref=main&token="+token, nil)
		if _, _, err := serve(h, r, new(recorder)); err != nil {
			t.Fatal(err)
		}
	}
	_, usage, err := h.gateway.store.Get(context.Background(), trigger.ID)
	if err != nil {
		t.Fatal(err)
	}
	if usage.UseCount != 3 || usage.LastUsed == nil || time.Since(*usage.LastUsed) > time.Minute {
		t.Errorf("usage = %+v, want 3 uses just now", usage)
	}
}

func TestServeHTTPExpiredToken(t *testing.T) {
	h := provisionHandler(t, &Handler{}, "")
	expires := time.Now().Add(300 * time.Millisecond)
	_, token, err := h.gateway.store.Create(context.Background(), tokenstore.CreateRequest{
		Project: "9", Description: "short-lived", Owner: "alice", ExpiresAt: &expires,
	})
	if err != nil {
		t.Fatal(err)
	}
	target := "/api/v4/projects/9/trigger/pipeline?ref=main&token=" + token
	if w, _, _ := serve(h, httptest.NewRequest(http.MethodPost, target, nil), new(recorder)); w.Code != http.StatusCreated {
		t.Fatalf("before expiry: status %d", w.Code)
	}
	time.Sleep(time.Until(expires) + 50*time.Millisecond)
	next := new(recorder)
	w, repl, _ := serve(h, httptest.NewRequest(http.MethodPost, target, nil), next)
	if outcome, _ := repl.GetString("http.trigger.outcome"); w.Code != http.StatusNotFound || next.calls != 0 || outcome != "expired_token" {
		t.Errorf("after expiry: status %d, outcome %q, %d upstream calls", w.Code, outcome, next.calls)
	}
}

// A reload provisions the new handler before cleaning up the old one: the
// store, its cache and its unflushed usage must carry over.
func TestReloadKeepsStoreAndUsage(t *testing.T) {
	dir := t.TempDir()
	old := provisionHandler(t, &Handler{UsageFlushInterval: caddy.Duration(time.Hour)}, dir)
	trigger, token := createToken(t, old, "9", "alice")
	r := httptest.NewRequest(http.MethodPost, "/api/v4/projects/9/trigger/pipeline?ref=main&token="+token, nil)
	if _, _, err := serve(old, r, new(recorder)); err != nil {
		t.Fatal(err)
	}

	reloaded := provisionHandler(t, &Handler{UsageFlushInterval: caddy.Duration(time.Hour)}, dir)
	if reloaded.gateway != old.gateway {
		t.Fatalf("the reloaded handler got a new store")
	}
	if err := old.Cleanup(); err != nil {
		t.Fatal(err)
	}
	_, usage, err := reloaded.gateway.store.Get(context.Background(), trigger.ID)
	if err != nil || usage.UseCount != 1 {
		t.Fatalf("after reload: usage %+v, err %v", usage, err)
	}

	// The last cleanup flushes: a new store on the same storage sees the use.
	if err := reloaded.Cleanup(); err != nil {
		t.Fatal(err)
	}
	restarted := provisionHandler(t, &Handler{}, dir)
	if restarted.gateway == old.gateway {
		t.Fatalf("the store survived its last reference")
	}
	if _, usage, err := restarted.gateway.store.Get(context.Background(), trigger.ID); err != nil || usage.UseCount != 1 {
		t.Fatalf("after restart: usage %+v, err %v", usage, err)
	}
}
