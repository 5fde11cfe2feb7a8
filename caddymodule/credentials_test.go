package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/triggergate/caddy-trigger-gateway/jobtoken"
)

// headersOf builds a header as Go's servers store one: canonical names,
// repeated names kept in order.
func headersOf(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestConflictingCredential(t *testing.T) {
	tests := []struct {
		name   string
		header http.Header
		want   string
	}{
		{"none", headersOf("Content-Type", "application/json"), ""},
		{"one of each", headersOf("Authorization", "Bearer a", "Private-Token", "b", "Job-Token", "c", "X-Gitlab-Token", "d", "X-Hub-Signature-256", "e"), ""},
		{"the same value twice", headersOf("Authorization", "Bearer a", "authorization", "Bearer a"), ""},
		{"two Authorization values", headersOf("Authorization", "Bearer x", "Authorization", "Bearer y"), "Authorization"},
		{"the second of three differs", headersOf("Private-Token", "a", "Private-Token", "a", "PRIVATE-TOKEN", "b"), "Private-Token"},
		{"two job tokens", headersOf("Job-Token", "a", "job-token", "b"), "Job-Token"},
		{"two webhook tokens", headersOf("X-Gitlab-Token", "a", "X-Gitlab-Token", "b"), "X-Gitlab-Token"},
		{"two signatures", headersOf("X-Hub-Signature-256", "sha256=00", "X-Hub-Signature-256", "sha256=01"), "X-Hub-Signature-256"},
		{"an empty second value", headersOf("Authorization", "Bearer a", "Authorization", ""), "Authorization"},
		{"other headers may repeat", headersOf("Accept", "a", "Accept", "b", "Via", "1", "Via", "2"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := conflictingCredential(tt.header); got != tt.want {
				t.Errorf("conflictingCredential() = %q, want %q", got, tt.want)
			}
		})
	}
}

// Every value of every credential header is dropped before forwarding,
// whatever its position: an Authorization header goes when any of its
// values is one of the gateway's bearer tokens, and stays (the CI server's
// own) when none is.
func TestDropCallerCredentials(t *testing.T) {
	h := newManagementHandler(t, nil)
	jwt := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
	if !jobtoken.LooksLikeJWT(jwt) {
		t.Fatal("test JWT does not look like one")
	}
	tests := []struct {
		name     string
		header   http.Header
		keepAuth bool
	}{
		{"gateway headers, every value", headersOf("Job-Token", "a", "Job-Token", "b", "Private-Token", "c",
			"X-Gitlab-Token", "d", "X-Hub-Signature-256", "e"), false},
		{"management token second", headersOf("Authorization", "Bearer x", "Authorization", "Bearer "+mgmtAll), false},
		{"management token first", headersOf("Authorization", "Bearer "+mgmtAll, "Authorization", "Bearer x"), false},
		{"trigger token as bearer", headersOf("Authorization", "bearer glptt-0123456789abcdef0123456789abcdef01234567"), false},
		{"a JWT without job tokens configured is the CI's", headersOf("Authorization", "Bearer "+jwt), true},
		{"the CI server's bearer", headersOf("Authorization", "Bearer for-the-ci"), true},
		{"basic auth", headersOf("Authorization", "Basic dXNlcjpwYXNz"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			auth := tt.header[headerAuthorization]
			h.dropCallerCredentials(tt.header)
			for _, name := range gatewayCredentialHeaders {
				if v, ok := tt.header[name]; ok {
					t.Errorf("%s kept: %q", name, v)
				}
			}
			if got := tt.header[headerAuthorization]; (got != nil) != tt.keepAuth || (tt.keepAuth && strings.Join(got, ",") != strings.Join(auth, ",")) {
				t.Errorf("Authorization = %q, want kept: %t", got, tt.keepAuth)
			}
		})
	}
}

// Two different credentials of one kind are refused with 400 on every
// route, before anything is looked up, and nothing is forwarded.
func TestServeHTTPRefusesConflictingCredentials(t *testing.T) {
	h := newManagementHandler(t, nil)
	_, token := createToken(t, h, "9", "alice")
	trigger := func(kv ...string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/api/v4/projects/9/trigger/pipeline",
			strings.NewReader(form(map[string]string{"token": token, "ref": "main"})))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for i := 0; i+1 < len(kv); i += 2 {
			r.Header.Add(kv[i], kv[i+1])
		}
		return r
	}
	management := func(kv ...string) *http.Request {
		r := mgmtRequest{method: http.MethodGet, target: "/api/v4/projects/9/triggers"}.build()
		for i := 0; i+1 < len(kv); i += 2 {
			r.Header.Add(kv[i], kv[i+1])
		}
		return r
	}
	tests := []struct {
		name string
		r    *http.Request
	}{
		{"trigger: two Authorization values", trigger("Authorization", "Bearer x", "Authorization", "Bearer "+mgmtAll)},
		{"trigger: two Private-Token values", trigger("Private-Token", "a", "Private-Token", "b")},
		{"trigger: two webhook tokens", trigger("X-Gitlab-Token", "a", "X-Gitlab-Token", "b")},
		{"webhook route: two job tokens", func() *http.Request {
			r := trigger("Job-Token", "a", "Job-Token", "b")
			r.URL.Path = "/api/v4/projects/9/ref/main/trigger/pipeline"
			return r
		}()},
		{"artifacts: two Job-Token values", func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/api/v4/projects/9/jobs/artifacts/main/download?job=build", nil)
			r.Header.Add("Job-Token", "a")
			r.Header.Add("Job-Token", "b")
			return r
		}()},
		{"management: two Authorization values", management("Authorization", "Bearer x", "Authorization", "Bearer "+mgmtAll)},
		{"management: two Private-Token values", management("Private-Token", mgmtAll, "Private-Token", mgmtTeamA)},
		{"management: Private-Token and another bearer", management("Private-Token", mgmtTeamA, "Authorization", "Bearer "+mgmtAll)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := new(recorder)
			w, _, err := serve(h, tt.r, next)
			if err != nil {
				t.Fatal(err)
			}
			if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), `"message":"400 Bad request`) {
				t.Errorf("got %d %s, want 400 Bad request", w.Code, w.Body)
			}
			if next.calls != 0 {
				t.Errorf("forwarded %d times", next.calls)
			}
			if strings.Contains(w.Body.String(), mgmtAll) || strings.Contains(w.Body.String(), token) {
				t.Errorf("answer shows a credential: %s", w.Body)
			}
		})
	}

	t.Run("the same value twice is one credential", func(t *testing.T) {
		next := new(recorder)
		w, _, err := serve(h, trigger("Authorization", "Bearer "+mgmtAll, "Authorization", "Bearer "+mgmtAll), next)
		if err != nil || w.Code != http.StatusCreated || next.calls != 1 {
			t.Fatalf("got %d %v with %d forwards, want 201 forwarded once", w.Code, err, next.calls)
		}
		if got := next.header[headerAuthorization]; got != nil {
			t.Errorf("the management token reached the CI server: %d values", len(got))
		}
	})
}

// Once the handler is done, whatever the outcome, the request holds no
// credential: what runs after it ({http.request.*} placeholders in
// log_append, error routes) sees none.
func TestServeHTTPScrubsRequest(t *testing.T) {
	h := newManagementHandler(t, nil)
	_, token := createToken(t, h, "9", "alice")
	credentials := []string{"Job-Token", "job-secret-1", "Private-Token", "private-secret-2",
		"X-Gitlab-Token", "hook-secret-3", "X-Hub-Signature-256", "sha256=sig-secret-4",
		"Authorization", "Bearer " + mgmtAll}
	secrets := []string{token, "job-secret-1", "private-secret-2", "hook-secret-3", "sig-secret-4", mgmtAll, "query-secret-5"}
	tests := []struct {
		name, method, target string
		body                 string
		want                 int
	}{
		{"accepted trigger", http.MethodPost, "/api/v4/projects/9/trigger/pipeline?ref=main&token=" + token, "", http.StatusCreated},
		{"refused trigger", http.MethodPost, "/api/v4/projects/9/trigger/pipeline?ref=main&token=glptt-unknown0000000000000000000000000000000&private_token=query-secret-5", "", http.StatusNotFound},
		{"refused webhook", http.MethodPost, "/api/v4/projects/9/ref/main/trigger/pipeline?TOKEN=query-secret-5", "", http.StatusBadRequest},
		{"refused artifacts", http.MethodGet, "/api/v4/projects/9/jobs/artifacts/main/download?job=build&job_token=query-secret-5", "", http.StatusBadRequest},
		{"management API", http.MethodGet, "/api/v4/projects/9/triggers?access_token=query-secret-5", "", http.StatusOK},
		{"not the trigger API", http.MethodGet, "/elsewhere?token=query-secret-5", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.target, nil)
			for i := 0; i+1 < len(credentials); i += 2 {
				r.Header.Set(credentials[i], credentials[i+1])
			}
			if tt.name == "accepted trigger" || tt.name == "management API" {
				// One credential of each kind that the route reads, so that it gets this far.
				r.Header.Del("Private-Token")
			}
			// The request the handler is given, as Caddy gives it: the one
			// the {http.request.*} placeholders read.
			ctx := context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: "192.0.2.10"})
			ctx = context.WithValue(ctx, caddy.ReplacerCtxKey, caddy.NewReplacer())
			r = r.WithContext(ctx)
			w := httptest.NewRecorder()
			err := h.ServeHTTP(w, r, new(recorder))
			if tt.want != 0 && (err != nil || w.Code != tt.want) {
				t.Fatalf("got %d %v (%s), want %d", w.Code, err, w.Body, tt.want)
			}
			seen := r.URL.String() + " " + r.RequestURI + " " + headerText(r.Header)
			for _, s := range secrets {
				if strings.Contains(seen, s) {
					t.Errorf("after the handler, the request still holds %.8s…: %s", s, seen)
				}
			}
		})
	}
}

func headerText(h http.Header) string {
	var b strings.Builder
	for name, values := range h {
		b.WriteString(name + ": " + strings.Join(values, ", ") + "\n")
	}
	return b.String()
}
