package upstream

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// callerToken is the caller's own token: it must reach no CI but GitLab.
const callerToken = "glptt-0123456789abcdef0123456789abcdef01234567"

// tokenTrigger is a trigger-token trigger with a variable and an input.
func tokenTrigger() *Trigger {
	return &Trigger{
		Project:     "9",
		Ref:         "feature/x",
		Variables:   triggerapi.VariablesOf(map[string]string{"DEPLOY": "yes", "ref": "ignored"}),
		Inputs:      map[string]json.RawMessage{"replicas": json.RawMessage(`3`)},
		Source:      "trigger",
		TriggerID:   42,
		TokenPrefix: "glptt-01234567",
		Token:       callerToken,
		PathPrefix:  "/api/v4",
	}
}

// jobTrigger is a job-token trigger carrying a webhook payload.
func jobTrigger() *Trigger {
	return &Trigger{
		Project:   "group/app",
		Ref:       "main",
		Variables: triggerapi.VariablesOf(map[string]string{"A": "1"}),
		Payload:   map[string]json.RawMessage{"object_kind": json.RawMessage(`"push"`), "after": json.RawMessage(`{"id":1}`)},
		Source:    "pipeline",
		Job:       &Job{ProjectID: "12", ProjectPath: "group/lib", PipelineID: "345", JobID: "6789"},
		Token:     "eyJhbGciOiJSUzI1NiJ9.job.token",
	}
}

// provisioned provisions and validates m, failing the test on an error.
func provisioned[M interface {
	caddy.Provisioner
	caddy.Validator
}](t *testing.T, m M) M {
	t.Helper()
	if err := m.Provision(caddy.Context{}); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	if err := m.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return m
}

// checkRequest compares a built request with the one expected; the body
// is compared as JSON when want's is JSON.
func checkRequest(t *testing.T, got, want *Request) {
	t.Helper()
	if got.Method != want.Method || got.Path != want.Path || got.RawPath != want.RawPath || got.RawQuery != want.RawQuery {
		t.Errorf("request line = %s %q (raw %q) ?%q, want %s %q (raw %q) ?%q",
			got.Method, got.Path, got.RawPath, got.RawQuery, want.Method, want.Path, want.RawPath, want.RawQuery)
	}
	if !reflect.DeepEqual(got.Header, want.Header) {
		t.Errorf("header = %v, want %v", got.Header, want.Header)
	}
	if !reflect.DeepEqual(got.Secret, want.Secret) {
		t.Errorf("secret = %v, want %v", got.Secret, want.Secret)
	}
	if string(got.Body) != string(want.Body) {
		t.Errorf("body =\n%s\nwant\n%s", got.Body, want.Body)
	}
	for _, name := range got.Secret {
		if _, ok := got.Header[name]; !ok || http.CanonicalHeaderKey(name) != name {
			t.Errorf("secret %q is not a canonical header of the request", name)
		}
	}
}

// checkNoCallerToken fails if the caller's token is anywhere in r.
func checkNoCallerToken(t *testing.T, r *Request, token string) {
	t.Helper()
	all := r.Path + r.RawPath + r.RawQuery + string(r.Body)
	for _, values := range r.Header {
		all += strings.Join(values, "")
	}
	if strings.Contains(all, token) {
		t.Errorf("the caller's token reaches the CI: %s", all)
	}
}

// unmarshal parses a Caddyfile block into m.
func unmarshal(t *testing.T, m caddyfile.Unmarshaler, input string) error {
	t.Helper()
	return m.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
}

func int64p(n int64) *int64 { return &n }

// checkStarted compares what Read said with what was expected.
func checkStarted(t *testing.T, got Started, err error, want Started, wantRefused int) {
	t.Helper()
	if wantRefused != 0 {
		refused, ok := err.(*RefusedError)
		if !ok || refused.Status != wantRefused {
			t.Fatalf("Read = %+v, %v; want a refusal %d", got, err, wantRefused)
		}
		return
	}
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if (got.ID == nil) != (want.ID == nil) || got.ID != nil && *got.ID != *want.ID || got.WebURL != want.WebURL {
		t.Errorf("Read = %s, want %s", showStarted(got), showStarted(want))
	}
}

func showStarted(s Started) string {
	id := "null"
	if s.ID != nil {
		id = strconvItoa(*s.ID)
	}
	return "{id " + id + ", web_url " + s.WebURL + "}"
}

func strconvItoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func caddyContext() caddy.Context { return caddy.Context{} }
