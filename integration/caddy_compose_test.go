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

func newFlakyCI(t *testing.T, drop, h2c bool) *flakyCI {
	t.Helper()
	f := &flakyCI{drop: drop}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	if h2c {
		f.srv.Config.Protocols = new(http.Protocols)
		f.srv.Config.Protocols.SetUnencryptedHTTP2(true)
	}
	f.srv.Start()
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
// first, with the request_buffers docs/production.md gives it.
func TestComposeProxyRetryResendsBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		drop, h2c bool
		proxy     string
	}{
		{"on the CI's 503", false, false, "lb_retries 2\nrequest_buffers 2MiB\nlb_retry_match {\n\texpression \"{rp.status_code} == 503\"\n}"},
		{"on a connection lost", true, false, "lb_retries 2\nrequest_buffers 2MiB\nlb_retry_match {\n\tmethod POST\n}"},
		{"over h2c, on the CI's 503", false, true, "transport http {\n\tversions h2c\n}\nlb_retries 2\nrequest_buffers 2MiB\nlb_retry_match {\n\texpression \"{rp.status_code} == 503\"\n}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ci := newFlakyCI(t, tt.drop, tt.h2c)
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
				t.Fatalf("CI got %d attempts, want 2: %q", len(seen), seen)
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

// Placeholders read by the directives around the gateway: header_up, a
// vars matcher, an expression matcher and map, at the point they run.
func TestComposePlaceholders(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	g := newGatewayFor(t, config{
		Site: "map {http.trigger.project} {ci_lane} {\n\t9 fast\n\tdefault slow\n}\n" +
			fmt.Sprintf("@gitlab expression `{http.trigger.upstream} == \"gitlab\" && {http.trigger.source} == \"trigger\"`\n"+
				"reverse_proxy @gitlab 127.0.0.1:%d {\n"+
				"\theader_up X-Project {http.trigger.project}\n"+
				"\theader_up X-Ref {http.trigger.ref}\n"+
				"\theader_up X-Id {http.trigger.id}\n"+
				"\theader_up X-Prefix {http.trigger.token_prefix}\n"+
				"\theader_up X-Route {http.trigger.route}\n"+
				"\theader_up X-Upstream {http.trigger.upstream}\n"+
				"\theader_up X-Lane {ci_lane}\n"+
				"\theader_up X-Outcome {http.trigger.outcome}\n"+
				"\theader_down X-Seen-Ref {http.trigger.ref}\n"+
				"}", up.port()),
	}, up)
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "placeholders", Owner: "alice"})
	resp := g.post(t, "/api/v4/projects/9/ref/refs%2Fheads%2Fmain/trigger/pipeline?token="+tr.Token, rawJSON(`{"object_kind":"push"}`))
	if resp.Status != http.StatusCreated {
		t.Fatalf("answer %s", resp)
	}
	got := up.take()
	if len(got) != 1 {
		t.Fatalf("upstream got %d requests", len(got))
	}
	h := got[0].Header
	want := map[string]string{
		"X-Project": "9", "X-Ref": "main", "X-Id": fmt.Sprint(tr.ID), "X-Prefix": tr.TokenPrefix,
		"X-Route": "webhook", "X-Upstream": "gitlab", "X-Lane": "fast", "X-Outcome": "accepted",
	}
	for name, v := range want {
		if h.Get(name) != v {
			t.Errorf("%s: %q, want %q", name, h.Get(name), v)
		}
	}
	if resp.Header.Get("X-Seen-Ref") != "main" {
		t.Errorf("header_down X-Seen-Ref %q, want main", resp.Header.Get("X-Seen-Ref"))
	}
}

// rewrite reads the placeholders where it runs after the gateway: as
// reverse_proxy's rewrite subdirective, or in a route block after
// trigger_gateway.
func TestComposeRewriteWithPlaceholders(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	g := newGatewayFor(t, config{
		Proxy: "rewrite /ci/{http.trigger.project}/{http.trigger.source}",
		Site: fmt.Sprintf(`handle_path /routed/* {
	route {
		trigger_gateway
		rewrite * /routed/{http.trigger.project}/{http.trigger.route}
		reverse_proxy 127.0.0.1:%d
	}
}`, up.port()),
	}, up)
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "rewritten", Owner: "alice"})
	for path, want := range map[string]string{
		"/api/v4/projects/9/trigger/pipeline":        "/ci/9/trigger",
		"/routed/api/v4/projects/9/trigger/pipeline": "/routed/9/pipeline",
	} {
		resp := g.post(t, path, urlencoded("token", tr.Token, "ref", "main"))
		if resp.Status != http.StatusCreated {
			t.Fatalf("%s: %s", path, resp)
		}
		if got := up.take(); len(got) != 1 || got[0].EscapedPath != want {
			t.Errorf("%s: upstream got %+v, want path %s", path, got, want)
		}
	}
}

// A site with encode and handle_errors, reached over HTTP/2 (h2c): a
// streamed body without Content-Length is accepted, and refusals keep
// GitLab's JSON, which neither encode nor the error routes replace.
func TestComposeEncodeErrorsHTTP2(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{
		Global: "servers {\n\tprotocols h1 h2c\n}",
		Site:   "encode gzip\nhandle_errors {\n\trespond \"caddy error {err.status_code}\"\n}",
	})
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "h2", Owner: "alice"})
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	h2 := &http.Client{Transport: &http.Transport{Protocols: protocols}}
	const path = "/api/v4/projects/9/trigger/pipeline"
	send := func(method, body string) (*http.Response, string) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = io.NopCloser(strings.NewReader(body)) // no length: streamed
		}
		req, err := http.NewRequest(method, g.base()+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		g.siteRequests++
		resp, err := h2.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.ProtoMajor != 2 {
			t.Fatalf("%s answered over %s, want HTTP/2", method, resp.Proto)
		}
		return resp, string(b)
	}
	resp, body := send(http.MethodPost, `{"token":"`+tr.Token+`","ref":"main"}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("streamed trigger: %d %s", resp.StatusCode, body)
	}
	if got := g.up.take(); len(got) != 1 || !strings.Contains(string(got[0].Body), `"ref":"main"`) {
		t.Fatalf("upstream got %+v", got)
	}
	refusals := []struct {
		method, body string
		status       int
		want         string
	}{
		{http.MethodPost, `{"token":"glptt-` + strings.Repeat("0", 40) + `","ref":"main"}`, 404, `{"message":"404 Not Found"}`},
		{http.MethodPost, `{"ref":"main"}`, 400, `{"error":"token is missing"}`},
		{http.MethodGet, "", 405, ""},
		{http.MethodHead, "", 405, ""},
	}
	for _, r := range refusals {
		resp, body := send(r.method, r.body)
		if resp.StatusCode != r.status || (r.want != "" && body != r.want) || strings.Contains(body, "caddy error") {
			t.Errorf("%s %s: %d %q, want %d %s", r.method, r.body, resp.StatusCode, body, r.status, r.want)
		}
		if r.status == 405 && resp.Header.Get("Allow") != "POST" {
			t.Errorf("%s: Allow %q, want POST", r.method, resp.Header.Get("Allow"))
		}
	}
	assertNothingForwarded(t, g.up)
}
