package integration

import (
	"io"
	"net/http"
	"strings"
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
