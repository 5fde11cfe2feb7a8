package caddymodule

import (
	"net/http"
	"strconv"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
	"github.com/triggergate/caddy-trigger-gateway/upstream"
)

// buildRequest ends step 7 with the request the CI receives, in its own
// API: the canonical body of contract §5 for gitlab, or what the project's
// upstream module builds from the accepted trigger. A module's refusal
// (GitHub's 25 inputs) refuses the request before anything is sent.
func (h *Handler) buildRequest(d *decision, req *triggerapi.Request, variables map[string]string) *triggerapi.Error {
	module := d.settings.upstream.ci
	if module == nil {
		d.body = triggerapi.CanonicalBody(upstreamToken(d, req), d.ref, variables, req.Inputs, req.Payload)
		return nil
	}
	t := &upstream.Trigger{
		Project:     d.project,
		Ref:         d.ref,
		Variables:   variables,
		Inputs:      req.Inputs,
		Payload:     req.Payload,
		Source:      d.source,
		TriggerID:   d.triggerID,
		TokenPrefix: d.tokenPrefix,
		PathPrefix:  h.PathPrefix,
		// Token stays empty: the caller's token never reaches a CI but GitLab.
	}
	if id := d.identity; id != nil {
		t.Job = &upstream.Job{ProjectID: id.ProjectID, ProjectPath: id.ProjectPath, PipelineID: id.PipelineID, JobID: id.JobID}
	}
	built, refusal := module.Build(t)
	if refusal != nil {
		d.detail = "upstream " + d.settings.upstream.name + ": " + refusal.Reason
		return refusal
	}
	d.ciTrigger, d.ciRequest = t, built
	if d.explain { // formatting boxes its arguments: not on the request path
		d.note("upstream: %s, sent %s %s in its own API", d.settings.upstream.name, built.Method, built.Path)
	}
	return nil
}

// rewriteForCI turns r, in place, into the request the project's upstream
// module built: its method, URL, body and headers. Nothing of the caller's
// credentials goes with it, whatever its form: only GitLab may receive
// them, and only as the canonical request carries them.
func (h *Handler) rewriteForCI(r *http.Request, d *decision) {
	ci := d.ciRequest
	r.Method = ci.Method
	setURL(r, ci.Path, ci.RawPath, ci.RawQuery)
	r.Form, r.PostForm, r.MultipartForm = nil, nil, nil

	body := newForwardedBody(ci.Body)
	r.Body, r.GetBody = body, body.rewind
	r.ContentLength = int64(len(ci.Body))
	r.TransferEncoding = nil

	header := r.Header
	h.dropCallerCredentials(header)
	for _, name := range ciDroppedHeaders {
		delete(header, name)
	}
	for name, values := range ci.Header {
		header[name] = values
	}
	header[headerContentLength] = []string{strconv.Itoa(len(ci.Body))}
	setDecisionHeaders(header, d, newHeaderValues(decisionHeaderCount))
}

// ciDroppedHeaders are the caller's headers another CI must not receive:
// any credential (a caller's Authorization that is not the gateway's is
// GitLab's business, not Jenkins'), and the body's former encoding.
var ciDroppedHeaders = []string{
	headerAuthorization,
	"Cookie",
	"Proxy-Authorization",
	headerContentType,
	headerContentEncoding,
	headerTransferEncoding,
}
