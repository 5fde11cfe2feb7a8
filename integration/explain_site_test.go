package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// Two sites on one port, each with a trigger_gateway of its own rules:
// explain decides as the site the URL (or its Host header) names, as
// serving does, and refuses a bare path it cannot attribute to one site
// rather than explaining the other site's rules.
func TestExplainNamesTheSite(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{Gateway: `
		variables {
			set SITE first
		}`})
	// The harness's site is http://127.0.0.1:PORT; the second answers for
	// localhost on the same port, through the same server.
	g.reload(t, config{
		Gateway: g.cfg.Gateway,
		Sites: fmt.Sprintf(`
http://localhost:%d {
	trigger_gateway {
		variables {
			set SITE second
		}
	}
	reverse_proxy 127.0.0.1:%d
}`, g.httpPort, g.up.port()),
	})
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "two sites", Owner: "alice"})
	const pipeline = "/api/v4/projects/9/trigger/pipeline"
	body := mustJSON(map[string]any{"token": tr.Token, "ref": "main"})
	explain := func(url string, headers map[string]string) response {
		t.Helper()
		headers["Content-Type"] = "application/json"
		resp := g.adminPostJSON(t, "/trigger_gateway/explain", map[string]any{"url": url, "headers": headers, "body": body})
		g.assertNoTokenBeyondPrefix(t, "the explanation", string(resp.Body))
		return resp
	}
	site := func(t *testing.T, resp response) string {
		t.Helper()
		var e explained
		if resp.Status != http.StatusOK || json.Unmarshal(resp.Body, &e) != nil || e.Forward == nil {
			t.Fatalf("explain: %s", resp)
		}
		return e.Forward.Body.Variables["SITE"]
	}

	tests := []struct {
		name    string
		url     string
		headers map[string]string
		want    string
	}{
		{"the URL names the first site", fmt.Sprintf("http://127.0.0.1:%d%s", g.httpPort, pipeline), nil, "first"},
		{"the URL names the second site", fmt.Sprintf("http://localhost:%d%s", g.httpPort, pipeline), nil, "second"},
		{"a Host header names the site", pipeline, map[string]string{"Host": fmt.Sprintf("localhost:%d", g.httpPort)}, "second"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.headers == nil {
				tt.headers = map[string]string{}
			}
			if got := site(t, explain(tt.url, tt.headers)); got != tt.want {
				t.Errorf("explained with SITE=%q, want the %s site's rules", got, tt.want)
			}
		})
	}

	t.Run("serving agrees", func(t *testing.T) {
		for host, want := range map[string]string{"127.0.0.1": "first", "localhost": "second"} {
			url := fmt.Sprintf("http://%s:%d%s", host, g.httpPort, pipeline)
			req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			resp := g.do(t, req)
			got := g.up.take()
			if resp.Status != http.StatusCreated || len(got) != 1 || !strings.Contains(string(got[0].Body), `"SITE":"`+want+`"`) {
				t.Errorf("%s: %s, upstream got %d requests, want SITE=%s forwarded", host, resp, len(got), want)
			}
		}
	})

	t.Run("a bare path served by both sites is refused", func(t *testing.T) {
		resp := explain(pipeline, map[string]string{})
		if resp.Status != http.StatusBadRequest || !strings.Contains(string(resp.Body), "name the site in url") {
			t.Errorf("explain: %s, want 400 asking for the site", resp)
		}
	})
	t.Run("a site that does not exist", func(t *testing.T) {
		resp := explain(fmt.Sprintf("http://elsewhere.example:%d%s", g.httpPort, pipeline), map[string]string{})
		if resp.Status != http.StatusNotFound {
			t.Errorf("explain: %s, want 404", resp)
		}
	})
	t.Run("another port", func(t *testing.T) {
		resp := explain(fmt.Sprintf("http://localhost:%d%s", g.httpPort+1, pipeline), map[string]string{})
		if resp.Status != http.StatusNotFound {
			t.Errorf("explain: %s, want 404", resp)
		}
	})
	t.Run("CLI", func(t *testing.T) {
		out := g.cli(t, "trigger", "explain", "--address", g.adminAddr(), "--json",
			"--url", fmt.Sprintf("http://localhost:%d%s", g.httpPort, pipeline),
			"--header", "Content-Type: application/json", "--data", body)
		if out.ExitCode != 0 || !strings.Contains(out.Stdout, `"SITE": "second"`) {
			t.Errorf("caddy trigger explain: exit %d, %s %s", out.ExitCode, redact(out.Stdout, g.secrets.all()), out.Stderr)
		}
	})
	assertNothingForwarded(t, g.up)
}
