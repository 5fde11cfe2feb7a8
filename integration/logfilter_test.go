package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
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
// README "Logs" and Caddyfile.example document (the filter on both the
// default log and the access log).
func TestLogConfigIsDocumented(t *testing.T) {
	t.Parallel()
	documented := []struct {
		what   string
		lines  string
		copies map[string]int
	}{
		{"log filter", logFilter, map[string]int{"../README.md": 1, "../Caddyfile.example": 2}},
		{"decision fields", decisionFields, map[string]int{"../README.md": 1, "../Caddyfile.example": 1}},
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
	deadline := time.Now().Add(5 * time.Second)
	for {
		var entries []map[string]any
		data, _ := os.ReadFile(g.accessLog())
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
