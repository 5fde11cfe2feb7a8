package integration

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Tests of the gateway among Caddy's other directives, as a Caddyfile
// composes them.

// A chunked body (no Content-Length, as HTTP/2 clients and streaming
// clients send) over a request_body max_size in front of the gateway is
// the 413 of an oversized body, in GitLab's shape, not a 400 saying the
// body could not be parsed.
func TestComposeRequestBodyMaxSize(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{Site: "request_body {\n\tmax_size 200\n}"})
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "big", Owner: "alice"})
	body := `{"token":"` + tr.Token + `","ref":"main","variables":{"PAD":"` + strings.Repeat("x", 400) + `"}}`
	req, err := http.NewRequest(http.MethodPost, g.base()+"/api/v4/projects/9/trigger/pipeline", io.NopCloser(strings.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1 // chunked
	req.Header.Set("Content-Type", "application/json")
	resp := g.do(t, req)
	assertJSONAnswer(t, resp, http.StatusRequestEntityTooLarge, `{"message":"413 Request Entity Too Large"}`)
	assertNothingForwarded(t, g.up)
}

// flakyCI fails its first request, whose body it reads in full, and
// answers the next ones 201; it records every body it reads: a CI server
// behind a load balancer that was briefly unavailable.
type flakyCI struct {
	srv *httptest.Server
	// drop makes the first request's failure a connection closed without
	// an answer, instead of a 503.
	drop bool

	mu     sync.Mutex
	bodies []string
}

func newFlakyCI(t *testing.T, drop bool) *flakyCI {
	t.Helper()
	f := &flakyCI{drop: drop}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *flakyCI) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.bodies = append(f.bodies, string(body))
	first := len(f.bodies) == 1
	f.mu.Unlock()
	switch {
	case first && f.drop:
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	case first:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"message":"503 Service Unavailable"}`)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, `{"id":77,"status":"created"}`)
}

func (f *flakyCI) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.bodies...)
}

// A reverse_proxy told to retry a POST the CI did not take (lb_retries with
// lb_retry_match, on the CI's status or on a connection lost after the
// body was sent) sends the retried attempt the same canonical body as the
// first: the gateway holds the body in memory, so it needs no
// request_buffers, and a retry is never an empty body the CI refuses or a
// 502 for the caller.
func TestComposeProxyRetryResendsBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		drop  bool
		proxy string
	}{
		{"on the CI's 503", false, "lb_retries 2\nlb_retry_match {\n\texpression \"{rp.status_code} == 503\"\n}"},
		{"on a connection lost", true, "lb_retries 2\nlb_retry_match {\n\tmethod POST\n}"},
		{"with request_buffers", false, "lb_retries 2\nrequest_buffers 1MiB\nlb_retry_match {\n\texpression `{rp.status_code} == 503`\n}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ci := newFlakyCI(t, tt.drop)
			g := newGateway(t, config{ProxyTo: strings.TrimPrefix(ci.srv.URL, "http://"), Proxy: tt.proxy})
			tr := g.addTrigger(t, addOpts{Project: "9", Description: "retried", Owner: "alice"})
			v := g.varValue()
			resp := g.post(t, "/api/v4/projects/9/trigger/pipeline",
				jsonBody(map[string]any{"token": tr.Token, "ref": "main", "variables": map[string]string{"X": v}}))
			seen := ci.seen()
			if resp.Status != http.StatusCreated {
				t.Fatalf("answer %s after %d attempts, want the retried attempt's 201", resp, len(seen))
			}
			if len(seen) != 2 {
				t.Fatalf("CI got %d attempts, want 2", len(seen))
			}
			if seen[1] != seen[0] || !strings.Contains(seen[1], v) {
				t.Errorf("the retried attempt's body differs from the first's:\nfirst: %s\nretry: %s",
					strings.ReplaceAll(seen[0], v, "VALUE"), strings.ReplaceAll(seen[1], v, "VALUE"))
			}
		})
	}
}

// The gateway inside handle_path (or after uri strip_prefix): the prefix
// is stripped before the gateway sees the request, an escaped project path
// and ref included, and the placeholders reach reverse_proxy. Caddy's
// rewrite logs the rewritten URI at debug level in a field of its own
// (uri), the caller's query with it: the documented log filter removes the
// credentials there too (the log scan fails the test otherwise).
func TestComposeHandlePath(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	g := newGatewayFor(t, config{
		Site: fmt.Sprintf(`handle_path /ci/* {
	trigger_gateway {
		project 9 {
			alias group/project
		}
	}
	reverse_proxy 127.0.0.1:%d {
		header_up X-Project {http.trigger.project}
		header_up X-Ref {http.trigger.ref}
	}
}`, up.port()),
	}, up)
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "under a prefix", Owner: "alice"})
	v := g.varValue()
	tests := []struct {
		path    string
		body    reqBody
		wantRef string
	}{
		{"/ci/api/v4/projects/9/trigger/pipeline", urlencoded("token", tr.Token, "ref", "main"), "main"},
		{"/ci/api/v4/projects/group%2Fproject/trigger/pipeline?token=" + tr.Token + "&ref=main&variables[X]=" + v, reqBody{}, "main"},
		{"/ci/api/v4/projects/group%2Fproject/ref/feature%2Fx/trigger/pipeline?token=" + tr.Token, rawJSON(`{"object_kind":"push"}`), "feature/x"},
	}
	for _, tt := range tests {
		resp := g.post(t, tt.path, tt.body)
		if resp.Status != http.StatusCreated {
			t.Fatalf("%s: %s", redact(tt.path, g.secrets.all()), resp)
		}
		got := up.take()
		if len(got) != 1 || got[0].EscapedPath != "/api/v4/projects/9/trigger/pipeline" ||
			got[0].Header.Get("X-Project") != "9" || got[0].Header.Get("X-Ref") != tt.wantRef {
			t.Fatalf("%s: upstream got %d requests: %+v", redact(tt.path, g.secrets.all()), len(got), got)
		}
	}
}
