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

// Headers the upstream receives with every accepted request (contract §5).
const (
	headerPrefix            = "X-Trigger-"
	headerSource            = "X-Trigger-Source"
	headerID                = "X-Trigger-Id"
	headerTokenPrefix       = "X-Trigger-Token-Prefix"
	headerSourceProject     = "X-Trigger-Source-Project"
	headerSourceProjectPath = "X-Trigger-Source-Project-Path"
	headerSourcePipeline    = "X-Trigger-Source-Pipeline"
	headerSourceJob         = "X-Trigger-Source-Job"

	// headerJobToken is GitLab's header for a CI job token.
	headerJobToken = "Job-Token"
)

// forward rewrites r in place into the canonical trigger request: whatever
// form the caller used, the next handler sees POST {prefix}/projects/{id}/
// trigger/pipeline with a JSON body, and nothing of the caller's token in
// the URL.
func (h *Handler) forward(r *http.Request, d *decision) {
	path, rawPath := triggerapi.PipelinePath(h.PathPrefix, d.project)
	r.Method = http.MethodPost
	setURL(r, path, rawPath, "")
	r.Form, r.PostForm, r.MultipartForm = nil, nil, nil

	body := d.body
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	r.ContentLength = int64(len(body))
	r.TransferEncoding = nil

	header := r.Header
	header.Del(headerJobToken) // a credential meant for the gateway only
	header.Del("Content-Encoding")
	header.Del("Transfer-Encoding")
	header.Set("Content-Type", "application/json")
	header.Set("Content-Length", strconv.Itoa(len(body)))
	setDecisionHeaders(header, d)
}

// forwardArtifacts passes an authorized artifact download on, with the
// project made canonical and the job token removed (replaced by the
// configured upstream credential, if any). The answer streams back through
// the proxy untouched, Range requests included.
func (h *Handler) forwardArtifacts(r *http.Request, d *decision) {
	path, rawPath := triggerapi.ArtifactsPath(h.PathPrefix, d.project, d.ref)
	query := r.URL.Query()
	query.Del("job_token")
	setURL(r, path, rawPath, query.Encode())

	r.Header.Del(headerJobToken)
	if name, value := h.artifactsCredential(d.project); name != "" {
		r.Header.Set(name, value)
	}
	setDecisionHeaders(r.Header, d)
}

// setURL points r at path; RequestURI is kept in step, as Caddy's rewrite
// does: the proxy's logs print it, and the caller's token must not survive
// there.
func setURL(r *http.Request, path, rawPath, rawQuery string) {
	r.URL.Path, r.URL.RawPath, r.URL.RawQuery = path, rawPath, rawQuery
	r.RequestURI = r.URL.RequestURI()
}

// setDecisionHeaders tells the upstream who triggered. Callers must not
// speak for the gateway: any X-Trigger-* header they sent is dropped first.
// So are the webhook secret and signature, meant for the gateway alone.
func setDecisionHeaders(header http.Header, d *decision) {
	header.Del("X-Gitlab-Token")
	header.Del("X-Hub-Signature-256")
	for name := range header {
		if strings.HasPrefix(name, headerPrefix) {
			delete(header, name)
		}
	}
	header.Set(headerSource, d.source)
	if d.triggerID != 0 {
		header.Set(headerID, strconv.FormatInt(d.triggerID, 10))
		header.Set(headerTokenPrefix, d.tokenPrefix)
	}
	if id := d.identity; id != nil {
		header.Set(headerSourceProject, id.ProjectID)
		header.Set(headerSourceProjectPath, id.ProjectPath)
		header.Set(headerSourcePipeline, id.PipelineID)
		header.Set(headerSourceJob, id.JobID)
	}
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
	if id := d.identity; id != nil {
		repl.Set("http.trigger.source_project", id.ProjectID)
		repl.Set("http.trigger.source_project_path", id.ProjectPath)
		repl.Set("http.trigger.source_pipeline", id.PipelineID)
		repl.Set("http.trigger.source_job", id.JobID)
	}
	switch {
	case d.refusal != nil:
		repl.Set("http.trigger.outcome", d.refusal.Reason)
	case d.replayed:
		repl.Set("http.trigger.outcome", "replayed")
	default:
		repl.Set("http.trigger.outcome", "accepted")
	}
}
