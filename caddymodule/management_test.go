package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/triggergate/caddy-trigger-gateway/tokenstore"
)

// The management tokens of the tests: every project, and team-a's (limited
// to project 9, through its alias, and project 12).
const (
	mgmtAll   = "mgmt-terraform-8b1f0e2d7c6a5b49"
	mgmtTeamA = "mgmt-team-a-3c9d2e7f1a0b4c5d"
	mgmtWrong = "mgmt-wrong-00000000000000000000"
)

// newManagementHandler provisions a handler with both management tokens,
// read through {env.*} and {file.*} placeholders as in the contract.
func newManagementHandler(t *testing.T, edit func(*Handler)) *Handler {
	t.Helper()
	t.Setenv("TEST_GATEWAY_ADMIN_TOKEN", mgmtAll)
	file := filepath.Join(t.TempDir(), "team-a.token")
	if err := os.WriteFile(file, []byte(mgmtTeamA+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := &Handler{
		Projects: map[string]*Project{"9": {Aliases: []string{"group/project"}}, "12": {}},
		ManagementTokens: []*ManagementToken{
			{Name: "terraform", Token: "{env.TEST_GATEWAY_ADMIN_TOKEN}"},
			{Name: "team-a", Token: "{file." + file + "}", Projects: []string{"group/project", "12"}},
		},
	}
	if edit != nil {
		edit(h)
	}
	return provisionHandler(t, h, "")
}

// mgmtRequest is a management API request; auth is "private" (the
// PRIVATE-TOKEN header), "bearer" (Authorization: Bearer) or "" (none).
type mgmtRequest struct {
	method, target    string
	auth, token       string
	contentType, body string
	ip                string
}

func (m mgmtRequest) build() *http.Request {
	var r *http.Request
	if m.body != "" {
		r = httptest.NewRequest(m.method, m.target, strings.NewReader(m.body))
	} else {
		r = httptest.NewRequest(m.method, m.target, nil)
	}
	if m.contentType != "" {
		r.Header.Set("Content-Type", m.contentType)
	}
	switch m.auth {
	case "private":
		r.Header.Set("PRIVATE-TOKEN", m.token)
	case "bearer":
		r.Header.Set("Authorization", "Bearer "+m.token)
	}
	ip := m.ip
	if ip == "" {
		ip = "192.0.2.10"
	}
	ctx := context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: ip})
	return r.WithContext(ctx)
}

// manage sends a management request through h; the next handler must
// never be reached.
func manage(t *testing.T, h *Handler, m mgmtRequest) *httptest.ResponseRecorder {
	t.Helper()
	next := new(recorder)
	w, _, err := serve(h, m.build(), next)
	if err != nil {
		t.Fatalf("%s %s: handler error %v", m.method, m.target, err)
	}
	if next.calls != 0 {
		t.Fatalf("%s %s reached the next handler", m.method, m.target)
	}
	return w
}

// gitlabTrigger is GitLab's Trigger entity as the tests read it.
type gitlabTrigger struct {
	ID          int64   `json:"id"`
	Token       string  `json:"token"`
	TokenPrefix string  `json:"token_prefix"`
	Description string  `json:"description"`
	CreatedAt   string  `json:"created_at"`
	UpdatedAt   string  `json:"updated_at"`
	LastUsed    *string `json:"last_used"`
	ExpiresAt   *string `json:"expires_at"`
	Owner       *struct {
		Username string `json:"username"`
	} `json:"owner"`
}

func decodeTriggerJSON[T any](t *testing.T, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("answer is not the expected JSON: %v: %s", err, w.Body)
	}
	return v
}

// triggerWith sends a trigger request with token and returns the status.
func triggerWith(t *testing.T, h *Handler, project, token string) (int, string) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/api/v4/projects/"+project+"/trigger/pipeline",
		strings.NewReader(form(map[string]string{"token": token, "ref": "main"})))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w, _, err := serve(h, r, new(recorder))
	if err != nil {
		t.Fatal(err)
	}
	return w.Code, w.Body.String()
}

func TestManagementAuthentication(t *testing.T) {
	h := newManagementHandler(t, nil)
	const list = "/api/v4/projects/9/triggers"
	tests := []struct {
		name   string
		req    mgmtRequest
		status int
	}{
		{"PRIVATE-TOKEN", mgmtRequest{method: "GET", target: list, auth: "private", token: mgmtAll}, 200},
		{"Authorization: Bearer", mgmtRequest{method: "GET", target: list, auth: "bearer", token: mgmtAll}, 200},
		{"the limited token on its project", mgmtRequest{method: "GET", target: list, auth: "private", token: mgmtTeamA}, 200},
		{"no token", mgmtRequest{method: "GET", target: list}, 401},
		{"unknown token", mgmtRequest{method: "GET", target: list, auth: "private", token: mgmtWrong}, 401},
		{"a prefix of a token", mgmtRequest{method: "GET", target: list, auth: "private", token: mgmtAll[:len(mgmtAll)-1]}, 401},
		{"a token with more", mgmtRequest{method: "GET", target: list, auth: "bearer", token: mgmtAll + "x"}, 401},
		{"query private_token is not accepted", mgmtRequest{method: "GET", target: list + "?private_token=" + mgmtAll}, 401},
		{"a trigger token is not a management token", mgmtRequest{method: "GET", target: list, auth: "private",
			token: "glptt-0123456789abcdef0123456789abcdef01234567"}, 401},
		{"unauthenticated create", mgmtRequest{method: "POST", target: list, contentType: "application/x-www-form-urlencoded",
			body: "description=x"}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := manage(t, h, tt.req)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if tt.status == 401 && w.Body.String() != `{"message":"401 Unauthorized"}` {
				t.Errorf("body %s", w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}

	t.Run("Basic and other schemes are not accepted", func(t *testing.T) {
		r := mgmtRequest{method: "GET", target: list}.build()
		r.Header.Set("Authorization", "Basic "+mgmtAll)
		w, _, _ := serve(h, r, new(recorder))
		if w.Code != 401 {
			t.Errorf("status %d, want 401", w.Code)
		}
	})
	t.Run("bearer is case-insensitive", func(t *testing.T) {
		r := mgmtRequest{method: "GET", target: list}.build()
		r.Header.Set("Authorization", "bearer "+mgmtAll)
		w, _, _ := serve(h, r, new(recorder))
		if w.Code != 200 {
			t.Errorf("status %d, want 200", w.Code)
		}
	})
	// Two management credentials that differ: answering for either would
	// let the other pass unseen.
	t.Run("PRIVATE-TOKEN and a different bearer token are refused", func(t *testing.T) {
		r := mgmtRequest{method: "GET", target: list, auth: "private", token: mgmtWrong}.build()
		r.Header.Set("Authorization", "Bearer "+mgmtAll)
		w, _, _ := serve(h, r, new(recorder))
		if w.Code != 400 {
			t.Errorf("status %d, want 400", w.Code)
		}
	})
	t.Run("PRIVATE-TOKEN and the same bearer token are one credential", func(t *testing.T) {
		r := mgmtRequest{method: "GET", target: list, auth: "private", token: mgmtAll}.build()
		r.Header.Set("Authorization", "Bearer "+mgmtAll)
		w, _, _ := serve(h, r, new(recorder))
		if w.Code != 200 {
			t.Errorf("status %d, want 200", w.Code)
		}
	})
	t.Run("PRIVATE-TOKEN and another scheme's Authorization", func(t *testing.T) {
		r := mgmtRequest{method: "GET", target: list, auth: "private", token: mgmtAll}.build()
		r.Header.Set("Authorization", "Basic dXNlcjpwYXNz")
		w, _, _ := serve(h, r, new(recorder))
		if w.Code != 200 {
			t.Errorf("status %d, want 200", w.Code)
		}
	})
}

func TestManagementProjectScope(t *testing.T) {
	h := newManagementHandler(t, nil)
	tr10, _ := createToken(t, h, "10", "bob")
	tests := []struct {
		name   string
		token  string
		method string
		target string
		body   string
		status int
		body1  string // the exact answer, when set
	}{
		{"listed project", mgmtTeamA, "GET", "/api/v4/projects/12/triggers", "", 200, ""},
		{"project through its alias", mgmtTeamA, "GET", "/api/v4/projects/group%2Fproject/triggers", "", 200, ""},
		{"project listed by its alias, named by ID", mgmtTeamA, "GET", "/api/v4/projects/9/triggers", "", 200, ""},
		{"other project: list", mgmtTeamA, "GET", "/api/v4/projects/10/triggers", "", 404, `{"message":"404 Project Not Found"}`},
		{"other project: show", mgmtTeamA, "GET", "/api/v4/projects/10/triggers/" + strconv.FormatInt(tr10.ID, 10), "", 404, `{"message":"404 Project Not Found"}`},
		{"other project: create", mgmtTeamA, "POST", "/api/v4/projects/10/triggers", "description=sneaky", 404, `{"message":"404 Project Not Found"}`},
		{"other project: revoke", mgmtTeamA, "DELETE", "/api/v4/projects/10/triggers/" + strconv.FormatInt(tr10.ID, 10), "", 404, `{"message":"404 Project Not Found"}`},
		{"other project, unlisted method: still hidden", mgmtTeamA, "PATCH", "/api/v4/projects/10/triggers", "", 404, `{"message":"404 Project Not Found"}`},
		{"unlimited token: any project", mgmtAll, "GET", "/api/v4/projects/10/triggers", "", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := mgmtRequest{method: tt.method, target: tt.target, auth: "private", token: tt.token, body: tt.body}
			if tt.body != "" {
				req.contentType = "application/x-www-form-urlencoded"
			}
			w := manage(t, h, req)
			if w.Code != tt.status || (tt.body1 != "" && w.Body.String() != tt.body1) {
				t.Fatalf("%d %s, want %d %s", w.Code, w.Body, tt.status, tt.body1)
			}
		})
	}
	// Nothing was created or revoked in project 10.
	list, err := h.gateway.store.List(context.Background(), "10")
	if err != nil || len(list) != 1 || list[0].Trigger.ID != tr10.ID {
		t.Fatalf("project 10 triggers = %+v, %v; want only %d", list, err, tr10.ID)
	}
}

// The lifecycle Terraform's gitlab_pipeline_trigger goes through: create,
// read, update, destroy; and the created token triggers in between.
func TestManagementLifecycle(t *testing.T) {
	h := newManagementHandler(t, nil)
	ctx := context.Background()
	auth := func(m mgmtRequest) mgmtRequest { m.auth, m.token = "private", mgmtAll; return m }

	before := time.Now().Add(-time.Second)
	w := manage(t, h, auth(mgmtRequest{method: "POST", target: "/api/v4/projects/9/triggers",
		contentType: "application/x-www-form-urlencoded", body: "description=deploy+from+terraform"}))
	if w.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("create answer Cache-Control %q, want no-store", cc)
	}
	created := decodeTriggerJSON[gitlabTrigger](t, w)
	if !strings.HasPrefix(created.Token, "glptt-") || len(created.Token) != 46 || created.TokenPrefix != created.Token[:10] {
		t.Errorf("created token %q / prefix %q", created.Token[:10], created.TokenPrefix)
	}
	if created.ID == 0 || created.Description != "deploy from terraform" || created.Owner == nil || created.Owner.Username != "terraform" {
		t.Errorf("created = %+v", created)
	}
	if created.LastUsed != nil || created.ExpiresAt != nil || created.CreatedAt != created.UpdatedAt {
		t.Errorf("created last_used/expires_at/updated_at = %v/%v/%s", created.LastUsed, created.ExpiresAt, created.UpdatedAt)
	}
	createdAt, err := time.Parse(time.RFC3339, created.CreatedAt)
	if err != nil || createdAt.Before(before) || !strings.HasSuffix(created.CreatedAt, "Z") || len(created.CreatedAt) != len("2016-01-07T09:53:58.235Z") {
		t.Errorf("created_at %q (%v): want GitLab's format, now", created.CreatedAt, err)
	}
	// Durable and owned, through the same store the admin API uses.
	stored, _, err := h.gateway.store.Get(ctx, created.ID)
	if err != nil || stored.Owner != "terraform" || stored.Legacy() || stored.Project != "9" {
		t.Fatalf("stored trigger = %+v, %v", stored, err)
	}

	if status, body := triggerWith(t, h, "9", created.Token); status != http.StatusCreated {
		t.Fatalf("trigger with the created token: %d %s", status, body)
	}

	itemPath := "/api/v4/projects/9/triggers/" + strconv.FormatInt(created.ID, 10)
	w = manage(t, h, auth(mgmtRequest{method: "GET", target: "/api/v4/projects/group%2Fproject/triggers"}))
	list := decodeTriggerJSON[[]gitlabTrigger](t, w)
	if w.Code != 200 || len(list) != 1 || list[0].ID != created.ID {
		t.Fatalf("list: %d %s", w.Code, w.Body)
	}
	if list[0].Token != created.TokenPrefix || strings.Contains(w.Body.String(), created.Token) {
		t.Errorf("the list shows more of the token than its prefix: %q", list[0].Token)
	}
	if list[0].LastUsed == nil {
		t.Errorf("list: last_used is null after a use")
	}

	for _, page := range []string{"?page=1&per_page=20", "?page=0"} {
		w = manage(t, h, auth(mgmtRequest{method: "GET", target: "/api/v4/projects/9/triggers" + page}))
		if got := decodeTriggerJSON[[]gitlabTrigger](t, w); len(got) != 1 {
			t.Errorf("list %s: %s, want the trigger", page, w.Body)
		}
	}
	w = manage(t, h, auth(mgmtRequest{method: "GET", target: "/api/v4/projects/9/triggers?page=2"}))
	if w.Code != 200 || w.Body.String() != "[]" {
		t.Errorf("list page 2: %d %s, want an empty page", w.Code, w.Body)
	}

	w = manage(t, h, auth(mgmtRequest{method: "GET", target: itemPath}))
	shown := decodeTriggerJSON[gitlabTrigger](t, w)
	if w.Code != 200 || shown.ID != created.ID || shown.Token != created.TokenPrefix || shown.Description != created.Description {
		t.Fatalf("show: %d %s", w.Code, w.Body)
	}
	w = manage(t, h, auth(mgmtRequest{method: "HEAD", target: itemPath}))
	if w.Code != 200 {
		t.Errorf("HEAD: %d", w.Code)
	}

	w = manage(t, h, auth(mgmtRequest{method: "PUT", target: itemPath, contentType: "application/json",
		body: `{"description":"renamed"}`}))
	updated := decodeTriggerJSON[gitlabTrigger](t, w)
	if w.Code != 200 || updated.Description != "renamed" || updated.ID != created.ID || updated.Token != created.TokenPrefix {
		t.Fatalf("update: %d %s", w.Code, w.Body)
	}
	if updated.UpdatedAt < updated.CreatedAt {
		t.Errorf("updated_at %s before created_at %s", updated.UpdatedAt, updated.CreatedAt)
	}
	w = manage(t, h, auth(mgmtRequest{method: "PUT", target: itemPath + "?description=from+the+query"}))
	if got := decodeTriggerJSON[gitlabTrigger](t, w); w.Code != 200 || got.Description != "from the query" {
		t.Fatalf("update from the query: %d %s", w.Code, w.Body)
	}
	w = manage(t, h, auth(mgmtRequest{method: "PUT", target: itemPath}))
	if got := decodeTriggerJSON[gitlabTrigger](t, w); w.Code != 200 || got.Description != "from the query" {
		t.Fatalf("update without a description changes nothing: %d %s", w.Code, w.Body)
	}
	if stored, _, err := h.gateway.store.Get(ctx, created.ID); err != nil || stored.Description != "from the query" {
		t.Fatalf("stored after update = %+v, %v", stored, err)
	}

	w = manage(t, h, auth(mgmtRequest{method: "DELETE", target: itemPath}))
	if w.Code != http.StatusNoContent || w.Body.Len() != 0 {
		t.Fatalf("delete: %d %s", w.Code, w.Body)
	}
	for _, method := range []string{"GET", "PUT", "DELETE"} {
		w = manage(t, h, auth(mgmtRequest{method: method, target: itemPath}))
		if w.Code != 404 || w.Body.String() != `{"message":"404 Not found"}` {
			t.Errorf("%s after delete: %d %s", method, w.Code, w.Body)
		}
	}
	if status, body := triggerWith(t, h, "9", created.Token); status != http.StatusNotFound || body != `{"message":"404 Not Found"}` {
		t.Fatalf("trigger with the revoked token: %d %s", status, body)
	}
	w = manage(t, h, auth(mgmtRequest{method: "GET", target: "/api/v4/projects/9/triggers"}))
	if w.Code != 200 || w.Body.String() != "[]" {
		t.Errorf("list after delete: %d %s", w.Code, w.Body)
	}
	// GitLab's API shows revoked triggers no more; the admin API does, with
	// the management token's name as who revoked it.
	revoked, _, err := h.gateway.store.GetIncludingRevoked(ctx, created.ID)
	if err != nil || !revoked.Revoked() || revoked.RevokedBy != "management token terraform" {
		t.Errorf("revoked trigger = %+v, %v; want revoked_by \"management token terraform\"", revoked, err)
	}
}

func TestManagementRefusals(t *testing.T) {
	h := newManagementHandler(t, nil)
	other, otherToken := createToken(t, h, "12", "bob")
	otherItem := "/api/v4/projects/9/triggers/" + strconv.FormatInt(other.ID, 10)
	const (
		list   = "/api/v4/projects/9/triggers"
		formCT = "application/x-www-form-urlencoded"
	)
	tests := []struct {
		name        string
		method      string
		target      string
		contentType string
		body        string
		status      int
		want        string // exact body, or a substring with a leading '~'
		allow       string
	}{
		{name: "create without description", method: "POST", target: list, status: 400, want: `{"error":"description is missing"}`},
		{name: "create with a blank description", method: "POST", target: list, contentType: formCT, body: "description=%20", status: 400, want: `{"error":"description is empty"}`},
		{name: "create with a description that is not a string", method: "POST", target: list, contentType: "application/json", body: `{"description":1}`, status: 400, want: `{"error":"description is invalid"}`},
		{name: "create with a malformed expiry", method: "POST", target: list, contentType: formCT, body: "description=d&expires_at=tomorrow", status: 400, want: `{"error":"expires_at is invalid"}`},
		{name: "create with a past expiry", method: "POST", target: list, contentType: formCT, body: "description=d&expires_at=2001-01-01", status: 400, want: "~expires_at must be in the future"},
		{name: "create with an oversized body", method: "POST", target: list, contentType: formCT, body: "description=" + strings.Repeat("a", managementMaxBody), status: 413, want: `{"message":"413 Request Entity Too Large"}`},
		{name: "create with an unsupported media type", method: "POST", target: list, contentType: "text/plain", body: "description", status: 415, want: `{"message":"415 Unsupported Media Type"}`},
		{name: "create with a malformed JSON body", method: "POST", target: list, contentType: "application/json", body: `{"description":`, status: 400, want: "~400 Bad request"},
		{name: "method on the collection", method: "PATCH", target: list, status: 405, want: `{"message":"405 Method Not Allowed"}`, allow: "GET, HEAD, POST"},
		{name: "method on an item", method: "POST", target: list + "/1", status: 405, want: `{"message":"405 Method Not Allowed"}`, allow: "GET, HEAD, PUT, DELETE"},
		{name: "trigger ID not an integer", method: "GET", target: list + "/abc", status: 400, want: `{"error":"trigger_id is invalid"}`},
		{name: "trigger ID zero", method: "DELETE", target: list + "/0", status: 400, want: `{"error":"trigger_id is invalid"}`},
		{name: "a trigger token as trigger ID is not echoed", method: "GET", target: list + "/" + otherToken, status: 400, want: `{"error":"trigger_id is invalid"}`},
		{name: "unknown trigger", method: "GET", target: list + "/999", status: 404, want: `{"message":"404 Not found"}`},
		{name: "another project's trigger: show", method: "GET", target: otherItem, status: 404, want: `{"message":"404 Not found"}`},
		{name: "another project's trigger: update", method: "PUT", target: otherItem, contentType: formCT, body: "description=hijacked", status: 404, want: `{"message":"404 Not found"}`},
		{name: "another project's trigger: revoke", method: "DELETE", target: otherItem, status: 404, want: `{"message":"404 Not found"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := manage(t, h, mgmtRequest{method: tt.method, target: tt.target, auth: "private", token: mgmtAll,
				contentType: tt.contentType, body: tt.body})
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if sub, ok := strings.CutPrefix(tt.want, "~"); ok {
				if !strings.Contains(w.Body.String(), sub) {
					t.Errorf("body %s, want one containing %q", w.Body, sub)
				}
			} else if w.Body.String() != tt.want {
				t.Errorf("body %s, want %s", w.Body, tt.want)
			}
			if got := w.Header().Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
			if strings.Contains(w.Body.String(), otherToken) || strings.Contains(w.Body.String(), mgmtAll) {
				t.Errorf("a token is echoed: %s", w.Body)
			}
		})
	}
	// Project 12's trigger is untouched and works.
	if stored, _, err := h.gateway.store.Get(context.Background(), other.ID); err != nil || stored.Description != "test" {
		t.Fatalf("project 12's trigger = %+v, %v", stored, err)
	}
	if status, body := triggerWith(t, h, "12", otherToken); status != http.StatusCreated {
		t.Fatalf("project 12's token: %d %s", status, body)
	}
	// Nothing was created by the refused creations.
	if list, err := h.gateway.store.List(context.Background(), "9"); err != nil || len(list) != 0 {
		t.Fatalf("project 9 triggers after refusals = %d, %v", len(list), err)
	}
}

func TestManagementCreateForms(t *testing.T) {
	h := newManagementHandler(t, nil)
	tests := []struct {
		name        string
		target      string
		contentType string
		body        string
		wantDesc    string
		wantExpiry  string
	}{
		{"form", "/api/v4/projects/9/triggers", "application/x-www-form-urlencoded", "description=form", "form", ""},
		{"query", "/api/v4/projects/9/triggers?description=query", "", "", "query", ""},
		{"JSON", "/api/v4/projects/9/triggers", "application/json", `{"description":"json"}`, "json", ""},
		{"expiry as a date", "/api/v4/projects/9/triggers", "application/json",
			`{"description":"d","expires_at":"2099-01-02"}`, "d", "2099-01-02T00:00:00.000Z"},
		{"expiry as a time", "/api/v4/projects/group%2Fproject/triggers", "application/x-www-form-urlencoded",
			"description=d&expires_at=2099-01-02T03%3A04%3A05%2B02%3A00", "d", "2099-01-02T01:04:05.000Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := manage(t, h, mgmtRequest{method: "POST", target: tt.target, auth: "bearer", token: mgmtAll,
				contentType: tt.contentType, body: tt.body})
			if w.Code != http.StatusCreated {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			got := decodeTriggerJSON[gitlabTrigger](t, w)
			if got.Description != tt.wantDesc {
				t.Errorf("description %q, want %q", got.Description, tt.wantDesc)
			}
			expiry := ""
			if got.ExpiresAt != nil {
				expiry = *got.ExpiresAt
			}
			if expiry != tt.wantExpiry {
				t.Errorf("expires_at %q, want %q", expiry, tt.wantExpiry)
			}
			stored, _, err := h.gateway.store.Get(context.Background(), got.ID)
			if err != nil || stored.Project != "9" {
				t.Errorf("stored under project %q (%v), want the canonical 9", stored.Project, err)
			}
		})
	}
}

// Triggers stored under an alias of the project (created before the alias
// was configured) are the project's too, whether the project is named by
// its ID, its alias or its alias in another case.
func TestManagementListIncludesAliases(t *testing.T) {
	h := newManagementHandler(t, nil)
	byAlias, _ := createToken(t, h, "group/project", "alice")
	byID, _ := createToken(t, h, "9", "alice")
	_, _ = createToken(t, h, "12", "alice")
	for _, project := range []string{"9", "group%2Fproject", "GROUP%2FProject"} {
		w := manage(t, h, mgmtRequest{method: "GET", target: "/api/v4/projects/" + project + "/triggers", auth: "private", token: mgmtTeamA})
		list := decodeTriggerJSON[[]gitlabTrigger](t, w)
		if len(list) != 2 || list[0].ID != byAlias.ID || list[1].ID != byID.ID {
			t.Fatalf("list of project %s = %s, want triggers %d and %d", project, w.Body, byAlias.ID, byID.ID)
		}
	}
	w := manage(t, h, mgmtRequest{method: "GET", target: "/api/v4/projects/9/triggers/" + strconv.FormatInt(byAlias.ID, 10),
		auth: "private", token: mgmtTeamA})
	if w.Code != 200 {
		t.Fatalf("show the alias's trigger: %d %s", w.Code, w.Body)
	}
}

func TestManagementLegacyOwner(t *testing.T) {
	h := newManagementHandler(t, nil)
	legacy, _ := createToken(t, h, "9", "")
	w := manage(t, h, mgmtRequest{method: "GET", target: "/api/v4/projects/9/triggers/" + strconv.FormatInt(legacy.ID, 10),
		auth: "private", token: mgmtAll})
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"owner":null`) {
		t.Fatalf("legacy trigger: %d %s, want owner null", w.Code, w.Body)
	}
}

// Without management tokens, the routes are what they were: not trigger
// API requests, for Caddy's error handling.
func TestManagementDisabled(t *testing.T) {
	h := provisionHandler(t, &Handler{}, "")
	for _, method := range []string{"GET", "POST"} {
		r := mgmtRequest{method: method, target: "/api/v4/projects/9/triggers", auth: "private", token: mgmtAll}.build()
		_, _, err := serve(h, r, new(recorder))
		var herr caddyhttp.HandlerError
		if !errors.As(err, &herr) || herr.StatusCode != http.StatusNotFound || !errors.Is(err, errNotTriggerAPI) {
			t.Fatalf("%s without management tokens: %v, want the handler's 404", method, err)
		}
	}
	// With them, paths outside path_prefix still get the handler's 404
	// (paths under it: TestManagementUnservedPath).
	h = newManagementHandler(t, nil)
	for _, target := range []string{"/health", "/api/v45/projects/9/triggers", "/user"} {
		r := mgmtRequest{method: "GET", target: target, auth: "private", token: mgmtAll}.build()
		if _, _, err := serve(h, r, new(recorder)); !errors.Is(err, errNotTriggerAPI) {
			t.Errorf("GET %s: %v, want the handler's 404", target, err)
		}
	}
}

func TestManagementFailedAuthLimit(t *testing.T) {
	h := newManagementHandler(t, func(h *Handler) {
		h.FailedAuthLimit = 2
		h.FailedAuthWindow = caddy.Duration(time.Hour)
	})
	const list = "/api/v4/projects/9/triggers"
	steps := []struct {
		name   string
		req    mgmtRequest
		status int
	}{
		{"a missing token does not count", mgmtRequest{method: "GET", target: list}, 401},
		{"another missing token", mgmtRequest{method: "GET", target: list}, 401},
		{"a project outside the token's list does not count", mgmtRequest{method: "GET", target: "/api/v4/projects/10/triggers", auth: "private", token: mgmtTeamA}, 404},
		{"first wrong token", mgmtRequest{method: "GET", target: list, auth: "private", token: mgmtWrong}, 401},
		{"the right token still works", mgmtRequest{method: "GET", target: list, auth: "private", token: mgmtAll}, 200},
		{"second wrong token reaches the limit", mgmtRequest{method: "GET", target: list, auth: "bearer", token: mgmtWrong}, 401},
		{"over the limit, even with the right token", mgmtRequest{method: "GET", target: list, auth: "private", token: mgmtAll}, 429},
		{"another client is not affected", mgmtRequest{method: "GET", target: list, auth: "private", token: mgmtAll, ip: "192.0.2.99"}, 200},
	}
	limited := gatewayMetrics.failedAuthLimited.WithLabelValues("management")
	before := counterValue(t, limited)
	for _, s := range steps {
		w := manage(t, h, s.req)
		if w.Code != s.status {
			t.Fatalf("%s: %d %s, want %d", s.name, w.Code, w.Body, s.status)
		}
		if s.status == 429 && (w.Header().Get("Retry-After") == "" || w.Body.String() != `{"message":"429 Too Many Requests"}`) {
			t.Errorf("%s: Retry-After %q, body %s", s.name, w.Header().Get("Retry-After"), w.Body)
		}
	}
	if got := counterValue(t, limited) - before; got != 1 {
		t.Errorf("failed_auth_limited_total{route=management} grew by %v, want 1", got)
	}
	// Bad management tokens and bad trigger tokens share the client's count.
	w, _, err := serve(h, requestFrom("192.0.2.10", "glptt-0000000000000000000000000000000000000000"), new(recorder))
	if err != nil || w.Code != http.StatusTooManyRequests {
		t.Errorf("a trigger request from the limited client: %d %v, want 429", w.Code, err)
	}
}

func TestManagementLogsAndMetrics(t *testing.T) {
	h := newManagementHandler(t, nil)
	logs := watchLogs(h)
	accepted := gatewayMetrics.requests.WithLabelValues("management", "management", "accepted")
	unknown := gatewayMetrics.requests.WithLabelValues("management", "none", "unknown_management_token")
	notAllowed := gatewayMetrics.requests.WithLabelValues("management", "management", "project_not_allowed")
	acceptedBefore, unknownBefore, notAllowedBefore := counterValue(t, accepted), counterValue(t, unknown), counterValue(t, notAllowed)

	w := manage(t, h, mgmtRequest{method: "POST", target: "/api/v4/projects/group%2Fproject/triggers", auth: "private",
		token: mgmtTeamA, contentType: "application/x-www-form-urlencoded", body: "description=d"})
	created := decodeTriggerJSON[gitlabTrigger](t, w)
	manage(t, h, mgmtRequest{method: "GET", target: "/api/v4/projects/9/triggers", auth: "private", token: mgmtWrong})
	manage(t, h, mgmtRequest{method: "GET", target: "/api/v4/projects/10/triggers", auth: "bearer", token: mgmtTeamA})

	entries := logs.All()
	if len(entries) != 3 {
		t.Fatalf("%d log lines, want one per request:\n%s", len(entries), logText(entries))
	}
	want := []map[string]any{
		{"management_token": "team-a", "project": "9", "action": "create", "outcome": "accepted", "status": int64(201),
			"trigger_id": created.ID, "token_prefix": created.TokenPrefix},
		{"management_token": "", "project": "9", "action": "list", "outcome": "unknown_management_token", "status": int64(401)},
		{"management_token": "team-a", "project": "10", "action": "list", "outcome": "project_not_allowed", "status": int64(404)},
	}
	for i, e := range entries {
		fields := e.ContextMap()
		for k, v := range want[i] {
			if fields[k] != v {
				t.Errorf("line %d (%s): %s = %v (%T), want %v (%T)", i, e.Message, k, fields[k], fields[k], v, v)
			}
		}
	}
	text := logText(entries)
	for _, secret := range []string{mgmtAll, mgmtTeamA, mgmtWrong, created.Token[10:]} {
		if strings.Contains(text, secret) {
			t.Errorf("a token is in the logs:\n%s", text)
		}
	}

	if got := counterValue(t, accepted) - acceptedBefore; got != 1 {
		t.Errorf("accepted management requests counted %v, want 1", got)
	}
	if got := counterValue(t, unknown) - unknownBefore; got != 1 {
		t.Errorf("unknown management tokens counted %v, want 1", got)
	}
	if got := counterValue(t, notAllowed) - notAllowedBefore; got != 1 {
		t.Errorf("projects not allowed counted %v, want 1", got)
	}
}

func TestManagementCaddyfile(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    string
		wantErr string
	}{
		{
			name: "the contract's lines",
			input: `trigger_gateway {
				management_token terraform {env.GATEWAY_ADMIN_TOKEN}
				management_token team-a {file./etc/caddy/team-a.token} 9 12
			}`,
			want: `{"management_tokens":[{"name":"terraform","token":"{env.GATEWAY_ADMIN_TOKEN}"},` +
				`{"name":"team-a","token":"{file./etc/caddy/team-a.token}","projects":["9","12"]}]}`,
		},
		{
			name:  "projects by path",
			input: "trigger_gateway {\n\tmanagement_token ops {env.T} group/project 12\n}",
			want:  `{"management_tokens":[{"name":"ops","token":"{env.T}","projects":["group/project","12"]}]}`,
		},
		{name: "no token", input: "trigger_gateway {\n\tmanagement_token terraform\n}", wantErr: "wrong argument count"},
		{name: "no arguments", input: "trigger_gateway {\n\tmanagement_token\n}", wantErr: "wrong argument count"},
		{name: "a block", input: "trigger_gateway {\n\tmanagement_token a b {\n\t\tproject 9\n\t}\n}", wantErr: "takes no block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkUnmarshal(t, tt.input, tt.want, tt.wantErr) })
	}
}

func TestManagementValidate(t *testing.T) {
	tok := func(name, token string, projects ...string) *ManagementToken {
		return &ManagementToken{Name: name, Token: token, Projects: projects}
	}
	tests := []struct {
		name    string
		tokens  []*ManagementToken
		wantErr string
	}{
		{"valid", []*ManagementToken{tok("terraform", "{env.A}"), tok("team-a", "{env.B}", "9", "12")}, ""},
		{"duplicate names", []*ManagementToken{tok("terraform", "{env.A}"), tok("terraform", "{env.B}")}, `management_token "terraform" is configured twice`},
		{"no name", []*ManagementToken{tok("", "{env.A}")}, "needs a name"},
		{"nil entry", []*ManagementToken{nil}, "needs a name"},
		{"name with a space", []*ManagementToken{tok("team a", "{env.A}")}, "must not contain spaces"},
		{"no token", []*ManagementToken{tok("terraform", "")}, "management_token terraform: the value is empty"},
		{"empty project", []*ManagementToken{tok("terraform", "x", "")}, "empty project"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := Handler{PathPrefix: "/api/v4", ManagementTokens: tt.tokens}
			err := h.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// Provision resolves the placeholders and refuses what cannot work; its
// errors name the management token, never its value.
func TestManagementProvisionErrors(t *testing.T) {
	t.Setenv("TEST_MGMT_SAME_1", mgmtAll)
	t.Setenv("TEST_MGMT_SAME_2", mgmtAll)
	t.Setenv("TEST_MGMT_EMPTY", "")
	tests := []struct {
		name    string
		tokens  []*ManagementToken
		wantErr string
	}{
		{"unset variable", []*ManagementToken{{Name: "terraform", Token: "{env.TEST_MGMT_UNSET_VARIABLE}"}},
			"management_token terraform: {env.TEST_MGMT_UNSET_VARIABLE} resolved to an empty value"},
		{"empty variable", []*ManagementToken{{Name: "terraform", Token: "{env.TEST_MGMT_EMPTY}"}},
			"management_token terraform: {env.TEST_MGMT_EMPTY} resolved to an empty value"},
		{"missing file", []*ManagementToken{{Name: "team-a", Token: "{file./nonexistent/team-a.token}"}},
			"management_token team-a: {file./nonexistent/team-a.token} resolved to an empty value"},
		{"same token twice", []*ManagementToken{{Name: "a", Token: "{env.TEST_MGMT_SAME_1}"}, {Name: "b", Token: "{env.TEST_MGMT_SAME_2}"}},
			"management_token a and b have the same token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &Handler{ManagementTokens: tt.tokens,
				StorageRaw: json.RawMessage(`{"module":"file_system","root":` + mustJSON(t, t.TempDir()) + `}`)}
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			err := h.Provision(ctx)
			if err == nil {
				_ = h.Cleanup()
				t.Fatal("Provision succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), mgmtAll) {
				t.Fatalf("error %v, want one containing %q and no token", err, tt.wantErr)
			}
		})
	}
}

// The created token is a plain trigger token of the store: the admin API
// sees it, owned by the management token's name.
func TestManagementCreatedTriggerInAdminView(t *testing.T) {
	h := newManagementHandler(t, nil)
	w := manage(t, h, mgmtRequest{method: "POST", target: "/api/v4/projects/12/triggers", auth: "private",
		token: mgmtTeamA, contentType: "application/json", body: `{"description":"team-a's"}`})
	created := decodeTriggerJSON[gitlabTrigger](t, w)
	list, err := h.gateway.store.List(context.Background(), "12")
	if err != nil || len(list) != 1 {
		t.Fatalf("list = %+v, %v", list, err)
	}
	got := newAdminTrigger(list[0].Trigger, tokenstore.Usage{})
	if got.ID != created.ID || got.Owner != "team-a" || got.Legacy || got.Description != "team-a's" || got.TokenPrefix != created.TokenPrefix {
		t.Fatalf("admin view = %+v", got)
	}
}

// Credentials meant for the gateway or for GitLab never reach the CI
// server: a caller's PRIVATE-TOKEN, and a bearer token that is one of the
// gateway's management tokens. Another Authorization passes on.
func TestForwardDropsCallerCredentials(t *testing.T) {
	h := newManagementHandler(t, nil)
	_, token := createToken(t, h, "9", "alice")
	tests := []struct {
		name, header, value string
		forwarded           bool
	}{
		{"a GitLab access token", "Private-Token", "glpat-caller-access-token", false},
		{"a management token as bearer", "Authorization", "Bearer " + mgmtAll, false},
		{"another bearer token", "Authorization", "Bearer something-for-the-ci-server", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/api/v4/projects/9/trigger/pipeline",
				strings.NewReader(form(map[string]string{"token": token, "ref": "main"})))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set(tt.header, tt.value)
			next := new(recorder)
			w, _, err := serve(h, r, next)
			if err != nil || w.Code != http.StatusCreated || next.calls != 1 {
				t.Fatalf("got %d %v with %d forwards, want 201 forwarded once", w.Code, err, next.calls)
			}
			if got := next.header.Get(tt.header); (got == tt.value) != tt.forwarded {
				t.Errorf("%s forwarded as %q, want forwarded: %v", tt.header, got, tt.forwarded)
			}
		})
	}
}
