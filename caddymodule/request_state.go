package caddymodule

import (
	"context"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// requestState is what the request path allocates for one request, in
// one allocation instead of one each: the parsed request, the reader that
// forwards the canonical body, the forwarded headers' values, the writer
// that reads the CI's answer and the {http.trigger.*} placeholders'
// facts. 448 bytes, a size class of objects without a type header
// (TestRequestStateFitsItsSizeClass). The canonical body is allocated apart, with no pointers
// for the collector to scan, in the size it needs.
//
// It is never pooled nor reused: later handlers and the access log keep
// references into it after ServeHTTP returns (the proxy's transport may
// still read the body, the replacer's provider reads the placeholders
// when the access log is written), and the garbage collector frees it
// once the last of them is gone. Each field is written by one step of one
// request, before anything else can see it.
type requestState struct {
	request      triggerapi.Request
	placeholders triggerPlaceholders
	writer       upstreamWriter
	body         forwardedBody
	// headers is headerValues' backing array: Content-Type,
	// Content-Length and a trigger token's decision headers. A job
	// token's identity headers take one allocation of their own, which
	// keeps the state in the 448-byte size class.
	headers [2 + tokenHeaderCount]string
}

// state is the request's state, allocated on first use: a request refused
// before it is parsed needs only its placeholders.
func (d *decision) state() *requestState {
	if d.scratch == nil {
		d.scratch = new(requestState)
	}
	return d.scratch
}

// upstreamWriter wraps w, to tell whether the answer has begun.
func (s *requestState) upstreamWriter(w http.ResponseWriter) *upstreamWriter {
	s.writer = upstreamWriter{ResponseWriterWrapper: caddyhttp.ResponseWriterWrapper{ResponseWriter: w}}
	return &s.writer
}

// capturingWriter wraps w and keeps a copy of the answer for repeats; ctx
// is the request's.
func (s *requestState) capturingWriter(ctx context.Context, w http.ResponseWriter) *upstreamWriter {
	u := s.upstreamWriter(w)
	u.ctx = ctx
	return u
}

// forwardedBody is the request's forwarded body, reading data.
func (s *requestState) forwardedBody(data []byte) *forwardedBody {
	s.body = forwardedBody{data: data}
	s.body.Reset(data)
	return &s.body
}

// headerValues cuts the forwarded headers' values from the state's array.
func (s *requestState) headerValues() headerValues {
	return headerValues{backing: s.headers[:0]}
}
