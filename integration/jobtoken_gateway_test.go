// The gateway side of the job-token tests: an upstream that also serves
// artifacts, a gateway that keeps job tokens out of its access log, and
// what the upstream must receive.

package integration

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// newArtifactUpstream is the harness's recording upstream that also serves
// an artifacts archive on GitLab's artifacts download route, with Range
// support as GitLab has. Artifact requests are recorded too (without the
// answer's body).
func newArtifactUpstream(t *testing.T, artifact []byte) *upstream {
	t.Helper()
	u := &upstream{nextID: 4000}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.EscapedPath(), "/jobs/artifacts/") {
			u.serve(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		u.mu.Lock()
		u.reqs = append(u.reqs, upstreamRequest{
			Method: r.Method, EscapedPath: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery,
			Header: r.Header.Clone(), Body: body,
		})
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/zip")
		w.Header().Set("X-Upstream", "gitlab-stand-in")
		http.ServeContent(w, r, "artifacts.zip", time.Time{}, bytes.NewReader(artifact))
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// reloadJob is reload for a gateway of newJobGateway.
func (g *gateway) reloadJob(t *testing.T, cfg config) {
	t.Helper()
	g.writeCaddyfile(cfg)
	g.mustCLI(t, "reload", "--config", g.caddyfile, "--adapter", "caddyfile", "--address", g.adminAddr())
}

// get sends a GET to the gateway; headers are name, value pairs.
func (g *gateway) get(t *testing.T, path string, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, g.base()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return g.do(t, req)
}

// jobForwarded is what the upstream must receive for a trigger accepted on
// a job token (contract §5).
type jobForwarded struct {
	// Project is the project path segment as the upstream sees it, escaped.
	Project string
	// Token is the token the body must carry: the upstream token when one
	// is configured, else the caller's job token.
	Token string
	// Ref is the normalized ref.
	Ref string
	// Variables are the variables the body must carry, exactly.
	Variables map[string]string
	// Job is the job behind the token.
	Job job
	// CallerToken is the job token the caller sent.
	CallerToken string
}

// assertJobHeaders checks the X-Trigger-* headers of a job token's request:
// source pipeline, the job's facts, nothing of a trigger, nothing else.
func assertJobHeaders(t *testing.T, header http.Header, j job) {
	t.Helper()
	want := map[string]string{
		"X-Trigger-Source":              "pipeline",
		"X-Trigger-Source-Project":      j.ProjectID,
		"X-Trigger-Source-Project-Path": j.ProjectPath,
		"X-Trigger-Source-Pipeline":     j.PipelineID,
		"X-Trigger-Source-Job":          j.JobID,
	}
	for name, value := range want {
		if got := header.Values(name); len(got) != 1 || got[0] != value {
			t.Errorf("upstream header %s = %q, want [%q]", name, got, value)
		}
	}
	for name := range header {
		if _, ok := want[name]; strings.HasPrefix(name, "X-Trigger-") && !ok {
			t.Errorf("upstream received header %s = %q (no X-Trigger-Id or token prefix for a job token, nothing from the caller)",
				name, header.Values(name))
		}
	}
}

// assertNoJobTokenUpstream checks that the caller's job token is in no
// header and not in the URL of what the upstream received.
func assertNoJobTokenUpstream(t *testing.T, up upstreamRequest, token string) {
	t.Helper()
	if strings.Contains(up.EscapedPath+"?"+up.RawQuery, token) {
		t.Errorf("the job token is in the upstream URL")
	}
	for name, vals := range up.Header {
		if strings.Contains(strings.Join(vals, " "), token) {
			t.Errorf("the job token is in upstream header %s", name)
		}
	}
}

// assertJobForwarded checks that the upstream received exactly one
// canonical trigger request for a job token, and the caller its answer.
func assertJobForwarded(t *testing.T, resp response, got []upstreamRequest, want jobForwarded) {
	t.Helper()
	if len(got) != 1 {
		t.Fatalf("upstream received %d requests, want exactly 1 (caller got %s)", len(got), resp)
	}
	up := got[0]
	if wantPath := "/api/v4/projects/" + want.Project + "/trigger/pipeline"; up.Method != "POST" || up.EscapedPath != wantPath || up.RawQuery != "" {
		t.Errorf("upstream got %s %s?%s, want POST %s", up.Method, up.EscapedPath, up.RawQuery, wantPath)
	}
	if ct := up.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("upstream Content-Type = %q, want application/json", ct)
	}
	assertJobHeaders(t, up.Header, want.Job)
	assertNoJobTokenUpstream(t, up, want.CallerToken)

	body := decodeObject(t, "upstream body", up.Body)
	if tok, _ := body["token"].(string); tok != want.Token {
		t.Errorf("upstream body token is %s, want %s", describeToken(tok), describeToken(want.Token))
	}
	if ref, _ := body["ref"].(string); ref != want.Ref {
		t.Errorf("upstream body ref = %#v, want %q", body["ref"], want.Ref)
	}
	wantVars := map[string]any{}
	for k, v := range want.Variables {
		wantVars[k] = v
	}
	if vars, ok := body["variables"].(map[string]any); !ok || mustJSON(vars) != mustJSON(wantVars) {
		t.Errorf("upstream body variables = %#v, want %#v", body["variables"], wantVars)
	}
	if len(body) != 3 {
		t.Errorf("upstream body has fields beyond token, ref and variables: %d fields", len(body))
	}
	if want.Token != want.CallerToken && bytes.Contains(up.Body, []byte(want.CallerToken)) {
		t.Errorf("the job token reached the upstream although an upstream token replaces it")
	}

	if resp.Status != http.StatusCreated || !bytes.Equal(resp.Body, up.Response) {
		t.Errorf("caller got %s, want the upstream's 201 %s", resp, up.Response)
	}
}

// artifactForwarded is what the upstream must receive for an accepted
// artifacts download.
type artifactForwarded struct {
	// Path is the escaped path the upstream must see.
	Path string
	// Query is the exact raw query the upstream must see.
	Query string
	// Credential is the header name and value the upstream must get in
	// place of the job token; empty when none is configured.
	Credential [2]string
	Job        job
	// CallerToken is the job token the caller sent.
	CallerToken string
}

// assertArtifactForwarded checks the one request the upstream received for
// an artifacts download.
func assertArtifactForwarded(t *testing.T, got []upstreamRequest, want artifactForwarded) upstreamRequest {
	t.Helper()
	if len(got) != 1 {
		t.Fatalf("upstream received %d requests, want exactly 1", len(got))
	}
	up := got[0]
	if up.Method != http.MethodGet || up.EscapedPath != want.Path || up.RawQuery != want.Query {
		t.Errorf("upstream got %s %s?%s, want GET %s?%s", up.Method, up.EscapedPath, up.RawQuery, want.Path, want.Query)
	}
	if v := up.Header.Values("Job-Token"); len(v) != 0 {
		t.Errorf("upstream received a JOB-TOKEN header")
	}
	if name := want.Credential[0]; name != "" {
		if got := up.Header.Values(name); len(got) != 1 || got[0] != want.Credential[1] {
			t.Errorf("upstream header %s is %s, want the configured credential %s",
				name, describeValues(got), describeToken(want.Credential[1]))
		}
	}
	assertJobHeaders(t, up.Header, want.Job)
	assertNoJobTokenUpstream(t, up, want.CallerToken)
	return up
}

// describeValues names header values by their display prefixes.
func describeValues(vals []string) string {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = describeToken(v)
	}
	return "[" + strings.Join(out, ", ") + "]"
}

// digest is a short fingerprint of a large body, for failure messages.
func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:9])
}

// counter is a gateway metric to watch by its change.
type counter struct {
	name   string
	labels []string
}

// delta returns a function reporting how much the metric changed since
// delta was called.
func (g *gateway) delta(t *testing.T, c counter) func() float64 {
	t.Helper()
	before := g.metricValue(t, c.name, c.labels...)
	return func() float64 {
		t.Helper()
		return g.metricValue(t, c.name, c.labels...) - before
	}
}

// jobTokensTotal counts job-token verifications with one outcome.
func jobTokensTotal(outcome string) counter {
	return counter{"caddy_trigger_gateway_job_tokens_total", []string{"outcome", outcome}}
}

// jwksRefreshes counts key-set loads with one result (ok or error).
func jwksRefreshes(result string) counter {
	return counter{"caddy_trigger_gateway_jwks_refreshes_total", []string{"result", result}}
}

// requestsTotal counts the gateway's decisions on a route with one outcome.
func requestsTotal(route, outcome string) counter {
	return counter{"caddy_trigger_gateway_requests_total", []string{"route", route, "outcome", outcome}}
}
