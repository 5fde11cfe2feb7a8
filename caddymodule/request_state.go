package caddymodule

import (
	"context"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// requestState is what the request path allocates for one request, in
// one allocation instead of one each: the parsed request, the canonical
// body and the reader that forwards it, the forwarded headers' values,
// the writer that reads the CI's answer and the {http.trigger.*}
// placeholders' facts.
//
// It is never pooled nor reused: later handlers and the access log keep
// references into it after ServeHTTP returns (the proxy's transport may
// still read the body, the replacer's provider reads the placeholders
// when the access log is written), and the garbage collector frees it
// once the last of them is gone. Each field is written by one step of one
// request, before anything else can see it.
type requestState struct {
	request triggerapi.Request
	// bodySize is the caller's body's: the request's strings (its ref,
	// its variables' names and values) are cut from one copy of it.
	bodySize     int
	placeholders triggerPlaceholders
	writer       upstreamWriter
	body         forwardedBody
	headers      [2 + decisionHeaderCount]string // headerValues' backing array
	// canonical is room for the canonical body: most bodies (a token, a
	// ref and a few variables) fit, a longer one is allocated apart.
	canonical [canonicalBodyRoom]byte
}

// canonicalBodyRoom is the canonical body the request state has room for.
const canonicalBodyRoom = 512

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
