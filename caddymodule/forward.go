package caddymodule

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// Headers the upstream receives with every accepted trigger (contract §5).
const (
	headerSource      = "X-Trigger-Source"
	headerID          = "X-Trigger-Id"
	headerTokenPrefix = "X-Trigger-Token-Prefix"
	headerPrefix      = "X-Trigger-"
)

// forward rewrites r in place into the canonical trigger request: whatever
// form the caller used, the next handler sees POST {prefix}/projects/{id}/
// trigger/pipeline with a JSON body, and nothing of the caller's token in
// the URL.
func (h *Handler) forward(r *http.Request, d *decision, body []byte) {
	path, rawPath := triggerapi.PipelinePath(h.PathPrefix, d.project)
	r.Method = http.MethodPost
	r.URL.Path, r.URL.RawPath, r.URL.RawQuery = path, rawPath, ""
	// Keep RequestURI in step, as Caddy's rewrite does: the proxy's logs
	// print it, and the caller's ?token= must not survive there.
	r.RequestURI = r.URL.RequestURI()
	r.Form, r.PostForm, r.MultipartForm = nil, nil, nil

	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	r.ContentLength = int64(len(body))
	r.TransferEncoding = nil

	header := r.Header
	for name := range header {
		// Callers must not speak for the gateway: drop any X-Trigger-*
		// header they sent before setting ours.
		if strings.HasPrefix(name, headerPrefix) {
			delete(header, name)
		}
	}
	header.Del("Content-Encoding")
	header.Del("Transfer-Encoding")
	header.Set("Content-Type", "application/json")
	header.Set("Content-Length", strconv.Itoa(len(body)))
	header.Set(headerSource, d.source)
	header.Set(headerID, strconv.FormatInt(d.triggerID, 10))
	header.Set(headerTokenPrefix, d.tokenPrefix)
}

// setPlaceholders makes the decision available to the rest of the route
// (rewrite, header_up, logs) as {http.trigger.*}. No placeholder holds a
// token beyond its prefix, nor a variable value.
func setPlaceholders(r *http.Request, d *decision) {
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return
	}
	repl.Set("http.trigger.route", d.route.Kind.String())
	repl.Set("http.trigger.project", d.project)
	repl.Set("http.trigger.ref", d.ref)
	repl.Set("http.trigger.source", d.source)
	repl.Set("http.trigger.token_prefix", d.tokenPrefix)
	if d.triggerID != 0 {
		repl.Set("http.trigger.id", d.triggerID)
	}
	if d.refusal != nil {
		repl.Set("http.trigger.outcome", d.refusal.Reason)
	} else {
		repl.Set("http.trigger.outcome", "accepted")
	}
}
