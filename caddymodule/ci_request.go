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
func (h *Handler) buildRequest(d *decision, req *triggerapi.Request, variables triggerapi.Variables) *triggerapi.Error {
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
// module built: its method, URL, body and headers. Of the caller's headers
// only those in ciCallerHeaders go with it (ciUserAgent stands in for a
// User-Agent the caller did not send): a CI may trust headers a proxy
// in front of it sets (Buildbot's Remote-User, Jenkins' X-Forwarded-User),
// conditional and range headers would change the answer the module reads,
// and the caller's credentials are only ever GitLab's, as the canonical
// request carries them.
func (h *Handler) rewriteForCI(r *http.Request, d *decision) {
	ci := d.ciRequest
	r.Method = ci.Method
	setURL(r, ci.Path, ci.RawPath, ci.RawQuery)
	r.Form, r.PostForm, r.MultipartForm = nil, nil, nil

	body := newForwardedBody(ci.Body)
	r.Body, r.GetBody = body, body.rewind
	r.ContentLength = int64(len(ci.Body))
	r.TransferEncoding = nil

	header := make(http.Header, len(ci.Header)+len(ciCallerHeaders)+1+decisionHeaderCount)
	for _, name := range ciCallerHeaders {
		if values, ok := r.Header[name]; ok {
			header[name] = values
		}
	}
	for name, values := range ci.Header {
		header[name] = values
	}
	if len(header["User-Agent"]) == 0 || header["User-Agent"][0] == "" {
		header["User-Agent"] = ciUserAgent
	}
	header[headerContentLength] = []string{strconv.Itoa(len(ci.Body))}
	setDecisionHeaders(header, d, newHeaderValues(decisionHeaderCount))
	r.Header = header
}

// ciCallerHeaders are the caller's headers another CI receives: what tells
// its logs who called. Caddy's reverse_proxy adds the X-Forwarded-*
// headers itself, and asks for (and decodes) the encodings it takes: the
// module reads the CI's answer.
var ciCallerHeaders = []string{"User-Agent"}

// ciUserAgent is the User-Agent another CI gets when the caller sent none:
// reverse_proxy would then send none, and GitHub refuses such a request
// with 403 ("Requests with no User-Agent header will be rejected",
// docs.github.com/en/rest/using-the-rest-api/getting-started-with-the-rest-api#user-agent).
var ciUserAgent = []string{"caddy-trigger-gateway"}
