package caddymodule

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/triggergate/caddy-trigger-gateway/tokenstore"
	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// The gateway's own work on one request and its floor (issue 17, target
// 1). BenchmarkServeHTTP builds a new http.Request per iteration, as Go's
// server does before any handler runs: 8 of its allocations are the
// request's (NewRequestWithContext, its URL, header map and body reader).
// BenchmarkServeHTTPOwn sends the same requests with the request rebuilt
// in place, from a peer address as a server sets it, so that what it
// counts is the handler's alone. BenchmarkServeHTTPFloor measures the
// parts no implementation can skip, alone and in sequence.

// replacerRequests is how many requests of a benchmark share one Caddy
// replacer, made while the timer is stopped: a server gives each request
// its own, and one replacer for all would keep every request's
// placeholders (and what they refer to) alive until the benchmark ends.
const replacerRequests = 1000

// benchForm is BenchmarkServeHTTP's form body: a token, a ref and 5 variables.
func benchForm(token string) string {
	return "token=" + token + "&ref=main&variables[A]=1&variables[B]=2&variables[C]=3&variables[D]=4&variables[E]=5"
}

// reusedRequest is one request sent again and again, rebuilt in place
// each time: nothing of the request's construction is counted, and
// nothing a previous round left on it survives (the handler rewrites the
// URL, the headers and the body).
type reusedRequest struct {
	template     *http.Request
	contentTypes []string
	body         string
	reader       *strings.Reader
	readCloser   io.ReadCloser
	r            *http.Request
	u            *url.URL
	header       http.Header
}

func newReusedRequest(tb testing.TB, target, contentType, body string) *reusedRequest {
	template, err := http.NewRequestWithContext(context.Background(), http.MethodPost, target, nil)
	if err != nil {
		tb.Fatal(err)
	}
	template.RemoteAddr = "192.0.2.10:40000"
	q := &reusedRequest{template: template, body: body, reader: strings.NewReader(body),
		r: new(http.Request), u: new(url.URL), header: make(http.Header)}
	if contentType != "" {
		q.contentTypes = []string{contentType}
	}
	q.readCloser = io.NopCloser(q.reader)
	q.freshReplacer()
	return q
}

// freshReplacer gives the requests from here on a new Caddy replacer
// (replacerRequests).
func (q *reusedRequest) freshReplacer() {
	ctx := context.WithValue(context.Background(), caddy.ReplacerCtxKey, caddy.NewReplacer())
	q.template = q.template.WithContext(ctx)
}

// next is the request as new.
func (q *reusedRequest) next() *http.Request {
	*q.r, *q.u = *q.template, *q.template.URL
	q.r.URL = q.u
	clear(q.header)
	if q.contentTypes != nil {
		q.header["Content-Type"] = q.contentTypes
	}
	q.r.Header = q.header
	q.reader.Reset(q.body)
	q.r.Body, q.r.ContentLength = q.readCloser, int64(len(q.body))
	return q.r
}

// benchmarkServeOwn sends the same request through the handler b.N
// times, rebuilt in place (reusedRequest).
func benchmarkServeOwn(b *testing.B, h *Handler, target, contentType, body string) {
	q := newReusedRequest(b, target, contentType, body)
	w := &discardWriter{header: make(http.Header)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%replacerRequests == 0 {
			b.StopTimer()
			q.freshReplacer()
			b.StartTimer()
		}
		clear(w.header)
		if err := h.ServeHTTP(w, q.next(), nopNext{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkServeHTTPOwn(b *testing.B) {
	h := provisionHandler(b, &Handler{}, "")
	h.logger = zap.NewNop()
	_, token := createToken(b, h, "9", "alice")
	const target = "http://gw/api/v4/projects/9/trigger/pipeline"
	jsonBody := `{"token":"` + token + `","ref":"main","variables":{"A":"1","B":"2","C":"3","D":"4","E":"5"}}`
	b.Run("form_5_variables", func(b *testing.B) {
		benchmarkServeOwn(b, h, target, "application/x-www-form-urlencoded", benchForm(token))
	})
	b.Run("json_5_variables", func(b *testing.B) {
		benchmarkServeOwn(b, h, target, "application/json", jsonBody)
	})
	b.Run("query_string", func(b *testing.B) {
		benchmarkServeOwn(b, h, target+"?ref=main&token="+token, "", "")
	})
}

// BenchmarkServeHTTPFloor is the floor of BenchmarkServeHTTP's form case:
// parsing the form, the token's SHA-256 (and the cached lookup that
// includes it), and encoding the canonical body; "sum" runs the three in
// sequence, as a request does.
func BenchmarkServeHTTPFloor(b *testing.B) {
	h := provisionHandler(b, &Handler{}, "")
	_, token := createToken(b, h, "9", "alice")
	store := h.gateway.store
	body := []byte(benchForm(token))
	route := triggerapi.Route{Kind: triggerapi.KindPipeline, Project: "9"}
	const contentType = "application/x-www-form-urlencoded"
	req, perr := triggerapi.Parse(route, contentType, "", body)
	if perr != nil {
		b.Fatal(perr)
	}
	ctx := context.Background()
	if _, err := store.Authenticate(ctx, token); err != nil { // cached from here on
		b.Fatal(err)
	}

	b.Run("parse_form", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := triggerapi.Parse(route, contentType, "", body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sha256_token", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tokenstore.HashToken(token)
		}
	})
	b.Run("authenticate_cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := store.Authenticate(ctx, token); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("canonical_body", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			triggerapi.CanonicalBody(req.Token, req.Ref, req.Variables, nil, nil)
		}
	})
	b.Run("sum", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			req, err := triggerapi.Parse(route, contentType, "", body)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := store.Authenticate(ctx, req.Token); err != nil {
				b.Fatal(err)
			}
			triggerapi.CanonicalBody(req.Token, req.Ref, req.Variables, nil, nil)
		}
	})
}
