package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// accessLogURIs returns the request URIs of the access log's entries,
// waiting until it has at least n of them.
func (g *gateway) accessLogURIs(t *testing.T, n int) []string {
	t.Helper()
	var uris []string
	for _, entry := range g.accessLogEntries(t, n) {
		request, _ := entry["request"].(map[string]any)
		if uri, _ := request["uri"].(string); uri != "" {
			uris = append(uris, uri)
		}
	}
	return uris
}

// The documented log filter against the real binary: the access log shows
// the request URI with the values of token, job_token, private_token and
// variables[...] replaced by REDACTED, in any case and with the brackets
// escaped or not, and the other parameters as they came. The log scan then
// finds none of the values anywhere.
func TestLogFilterRedactsURI(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{})
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "log filter", Owner: "alice"})
	a, b := g.varValue(), g.varValue()
	const p = "/api/v4/projects/9/trigger/pipeline"

	// Accepted: the query string as GitLab's docs and curl -g send it.
	resp := g.post(t, p+"?token="+tr.Token+"&ref=main&variables[A]="+a+"&variables%5BB%5D="+b, reqBody{})
	assertForwarded(t, resp, g.up.take(), forwarded{
		Project: "9", Token: tr.Token, Ref: "main", Variables: map[string]string{"A": a, "B": b}, Trigger: tr,
	})
	// Refused, with every other credential parameter and other spellings.
	unknown, job, private, c := g.glpttToken(), g.glpttToken(), g.glpttToken(), g.varValue()
	g.post(t, p+"?TOKEN="+unknown+"&ref=main&Variables%5bC%5d="+c, reqBody{})
	g.post(t, p+"?ref=main&job_token="+job+"&private_token="+private, reqBody{})
	assertNothingForwarded(t, g.up)

	want := []string{
		p + "?token=REDACTED&ref=main&variables[A]=REDACTED&variables%5BB%5D=REDACTED",
		p + "?TOKEN=REDACTED&ref=main&Variables%5bC%5d=REDACTED",
		p + "?ref=main&job_token=REDACTED&private_token=REDACTED",
	}
	got := g.accessLogURIs(t, len(want))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("access log URIs:\n%s\nwant:\n%s", redact(strings.Join(got, "\n"), g.secrets.all()), strings.Join(want, "\n"))
	}
}

// The log filter and the log_append lines the tests run with are the ones
// docs/logs-and-metrics.md ("Logs") and Caddyfile.example document (the
// filter on both the default log and the access log).
func TestLogConfigIsDocumented(t *testing.T) {
	t.Parallel()
	documented := []struct {
		what   string
		lines  string
		copies map[string]int
	}{
		{"log filter", logFilter, map[string]int{"../docs/logs-and-metrics.md": 1, "../Caddyfile.example": 2}},
		{"decision fields", decisionFields, map[string]int{"../docs/logs-and-metrics.md": 1, "../Caddyfile.example": 1}},
	}
	for _, doc := range documented {
		for file, copies := range doc.copies {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(strings.TrimSpace(doc.lines), "\n") {
				if n := strings.Count(string(data), "\t"+line+"\n"); n < copies {
					t.Errorf("%s has %d copies of the harness's %s line %q, want %d", file, n, doc.what, line, copies)
				}
			}
		}
	}
}

// accessLogEntries returns the access log's entries as JSON objects,
// waiting until it has at least n of them.
func (g *gateway) accessLogEntries(t *testing.T, n int) []map[string]any {
	t.Helper()
	return g.logEntries(t, g.accessLog(), n)
}

// logEntries returns a JSON log file's entries, waiting until it has at
// least n of them.
func (g *gateway) logEntries(t *testing.T, file string, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var entries []map[string]any
		data, _ := os.ReadFile(file)
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
		for sc.Scan() {
			var entry map[string]any
			if json.Unmarshal(sc.Bytes(), &entry) == nil {
				entries = append(entries, entry)
			}
		}
		if len(entries) >= n || time.Now().After(deadline) {
			return entries
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The documented log_append lines put the gateway's decision in every
// access-log entry of a trigger request, accepted or refused: the audit
// trail, since the gateway logs accepted triggers at debug level only.
// Other requests of the site get none of the fields.
func TestAccessLogCarriesDecision(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{})
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "audit", Owner: "alice"})
	const p = "/api/v4/projects/9/trigger/pipeline"

	resp := g.post(t, p, urlencoded("token", tr.Token, "ref", "refs/heads/main"))
	assertForwarded(t, resp, g.up.take(), forwarded{Project: "9", Token: tr.Token, Ref: "main", Trigger: tr})
	g.post(t, p, urlencoded("token", g.glpttToken(), "ref", "main"))
	g.post(t, "/not-the-trigger-api", reqBody{})

	want := []map[string]any{
		{"trigger_outcome": "accepted", "trigger_project": "9", "trigger_ref": "main", "trigger_source": "trigger",
			"trigger_id": float64(tr.ID), "trigger_token_prefix": tr.TokenPrefix},
		{"trigger_outcome": "unknown_token", "trigger_project": "9", "trigger_source": "", "trigger_id": nil},
		{},
	}
	entries := g.accessLogEntries(t, len(want))
	if len(entries) != len(want) {
		t.Fatalf("%d access-log entries, want %d", len(entries), len(want))
	}
	for i, fields := range want {
		for k, v := range fields {
			if got, ok := entries[i][k]; !ok || got != v {
				t.Errorf("entry %d: %s = %v (present: %t), want %v", i, k, got, ok, v)
			}
		}
		if len(fields) == 0 {
			for k := range entries[i] {
				if strings.HasPrefix(k, "trigger_") {
					t.Errorf("entry %d, not a trigger request, has %s", i, k)
				}
			}
		}
	}
}

// credentialPlaceholders are log_append fields reading the request as the
// handler leaves it: the URI and query, and every header that carries a
// credential.
const credentialPlaceholders = `
log_append req_uri {http.request.uri}
log_append req_query {http.request.uri.query}
log_append req_private_token {http.request.header.Private-Token}
log_append req_job_token {http.request.header.Job-Token}
log_append req_gitlab_token {http.request.header.X-Gitlab-Token}
log_append req_hub_signature {http.request.header.X-Hub-Signature-256}
log_append req_authorization {http.request.header.Authorization}`

// The gateway removes every credential from the request once read, on
// every route and every outcome (accepted, refused, management API,
// artifacts), and every variable's and input's value from its query:
// what reads the request after it ({http.request.*} in log_append,
// header_up, error routes) finds none, in a site log without any filter
// as in the filtered one. Before, a management API call's
// PRIVATE-TOKEN, a refused request's JOB-TOKEN and query token were all
// still there. (The `request` object of Caddy's access-log entry is Caddy's
// copy of the request as it arrived, taken before any handler runs: only
// the documented filter keeps credentials out of it; see docs/logs-and-metrics.md.)
func TestBareLogPlaceholdersHoldNoCredential(t *testing.T) {
	t.Parallel()
	mgmt := "mgmt-" + randomHex(20)
	hook := "hook-" + randomHex(12)
	// Outside the harness's scan: it holds Caddy's unfiltered copy of each request.
	bare := filepath.Join(t.TempDir(), "bare.json")
	g := newGateway(t, config{
		Gateway: `management_token ops {env.BARE_MGMT_TOKEN}
project 12 {
	webhook_gitlab_token {env.BARE_HOOK_SECRET}
}`,
		Env:  map[string]string{"BARE_MGMT_TOKEN": mgmt, "BARE_HOOK_SECRET": hook},
		Site: "log bare {\n\toutput file " + bare + "\n}\n" + credentialPlaceholders,
	})
	g.secrets.addToken(mgmt)
	g.secrets.addSecret(hook, "webhook secret")
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "bare log", Owner: "alice"})
	tr12 := g.addTrigger(t, addOpts{Project: "12", Description: "bare log webhook", Owner: "alice"})
	unknown, job, private, signature := g.glpttToken(), "job-"+randomHex(12), "glpat-"+randomHex(10), "sha256="+randomHex(32)
	for _, s := range []string{job, private, signature} {
		g.secrets.addSecret(s, "credential")
	}
	const p = "/api/v4/projects/9/trigger/pipeline"
	requests := []struct {
		name         string
		method, path string
		body         reqBody
		header       http.Header
		status       int
	}{
		{"accepted, token in the query, PRIVATE-TOKEN", "POST", p + "?ref=main&token=" + tr.Token, reqBody{},
			pairs("PRIVATE-TOKEN", private, "Authorization", "Bearer "+mgmt), 201},
		{"accepted, token in the body, JOB-TOKEN", "POST", p, urlencoded("token", tr.Token, "ref", "main"),
			pairs("JOB-TOKEN", job), 201},
		{"refused, unknown token in the query", "POST", p + "?ref=main&token=" + unknown + "&private_token=" + private, reqBody{},
			pairs("JOB-TOKEN", job, "X-Gitlab-Token", hook, "X-Hub-Signature-256", signature), 404},
		{"refused, variables in the query", "POST", p + "?ref=main&token=" + unknown + "&variables[DEPLOY]=" + g.varValue() + "&inputs[env]=" + g.varValue(), reqBody{},
			nil, 404},
		{"refused, a case variant of variables", "POST", p + "?ref=main&token=" + tr.Token + "&VARIABLES[DEPLOY]=" + g.varValue(), reqBody{},
			nil, 400},
		{"accepted, variables in the query", "POST", p + "?ref=main&token=" + tr.Token + "&variables[DEPLOY]=" + g.varValue(), reqBody{},
			nil, 201},
		{"refused webhook, wrong secret", "POST", "/api/v4/projects/12/ref/main/trigger/pipeline?token=" + tr12.Token, rawJSON(pushEvent),
			pairs("X-Gitlab-Event", "Push Hook", "X-Gitlab-Token", hook+"x", "X-Hub-Signature-256", signature), 401},
		{"accepted webhook", "POST", "/api/v4/projects/12/ref/main/trigger/pipeline?token=" + tr12.Token, rawJSON(pushEvent),
			pairs("X-Gitlab-Event", "Push Hook", "X-Gitlab-Token", hook), 201},
		{"refused artifacts", "GET", "/api/v4/projects/9/jobs/artifacts/main/download?job=build&job_token=" + job, reqBody{},
			pairs("JOB-TOKEN", job), 404},
		{"management API", "GET", "/api/v4/projects/9/triggers", reqBody{}, pairs("PRIVATE-TOKEN", mgmt), 200},
		{"management API, bearer", "GET", "/api/v4/projects/9/triggers?private_token=" + private, reqBody{},
			pairs("Authorization", "Bearer "+mgmt), 200},
		{"management API, unknown token", "GET", "/api/v4/projects/9/triggers", reqBody{}, pairs("PRIVATE-TOKEN", private), 401},
	}
	for _, rq := range requests {
		resp := g.send(t, rq.method, rq.path, rq.body, rq.header)
		if resp.Status != rq.status {
			t.Errorf("%s: got %s, want %d", rq.name, resp, rq.status)
		}
		g.up.take()
	}

	// Both logs got every request, and their placeholders hold no credential.
	for _, file := range []string{g.accessLog(), bare} {
		entries := g.logEntries(t, file, len(requests))
		if len(entries) != len(requests) {
			t.Fatalf("%s: %d entries, want %d", filepath.Base(file), len(entries), len(requests))
		}
		for i, entry := range entries {
			for field, value := range entry {
				if !strings.HasPrefix(field, "req_") {
					continue
				}
				text := fmt.Sprint(value)
				for _, s := range g.secrets.all() {
					if strings.Contains(text, s.needle) {
						t.Errorf("%s, entry %d (%s): %s holds %s: %s", filepath.Base(file), i, requests[i].name, field, s.label, redact(text, g.secrets.all()))
					}
				}
			}
		}
	}
}
