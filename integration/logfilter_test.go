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

// accessLogURIs returns the request URIs of the access log's lines, waiting
// until it has at least n of them.
func (g *gateway) accessLogURIs(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var uris []string
		data, _ := os.ReadFile(g.accessLog())
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
		for sc.Scan() {
			var line struct {
				Request struct {
					URI string `json:"uri"`
				} `json:"request"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Request.URI != "" {
				uris = append(uris, line.Request.URI)
			}
		}
		if len(uris) >= n || time.Now().After(deadline) {
			return uris
		}
		time.Sleep(20 * time.Millisecond)
	}
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

// The filter the tests run with is the one README "Logs" and
// Caddyfile.example (default log and access log) document.
func TestLogFilterIsDocumented(t *testing.T) {
	t.Parallel()
	for file, copies := range map[string]int{"../README.md": 1, "../Caddyfile.example": 2} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(logFilter), "\n") {
			if n := strings.Count(string(data), "\t"+line+"\n"); n < copies {
				t.Errorf("%s has %d copies of the harness's log filter line %q, want %d", file, n, line, copies)
			}
		}
	}
}
