package caddymodule

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// forward is step 8 of an accepted request: r becomes the request the CI
// receives (rewrite), and goes to the next handler, normally
// reverse_proxy, through the writer that reads the CI's answer
// (serveUpstream); a request with an idempotency key goes under its key's
// claim, or is answered with the first answer, or refused (serveOnce).
// It leaves on d what became of the request, for account.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, d *decision, next caddyhttp.Handler) error {
	h.rewrite(r, d)
	if d.repeat.Key != "" {
		return h.serveOnce(w, r, d, next)
	}
	return h.serveUpstream(d.state().upstreamWriter(w), r, d, next)
}

// rewrite turns r, in place, into the request the CI receives for the
// route family; explain shows it.
func (h *Handler) rewrite(r *http.Request, d *decision) {
	switch {
	case d.route.Kind == triggerapi.KindArtifacts:
		h.rewriteArtifacts(r, d)
	case d.ciRequest != nil:
		h.rewriteForCI(r, d) // another CI's own API (ci_request.go)
	default:
		h.rewriteTrigger(r, d)
	}
}

// rewriteTrigger rewrites r into the canonical trigger request: whatever
// form the caller used, the next handler sees POST {prefix}/projects/{id}/
// trigger/pipeline with a JSON body, and nothing of the caller's token in
// the URL.
func (h *Handler) rewriteTrigger(r *http.Request, d *decision) {
	path, rawPath := r.URL.Path, "" // the caller's, most often: already canonical
	if !triggerapi.IsPipelinePath(h.PathPrefix, d.project, path) {
		path, rawPath = triggerapi.PipelinePath(h.PathPrefix, d.project)
	}
	r.Method = http.MethodPost
	setURL(r, path, rawPath, "")
	r.Form, r.PostForm, r.MultipartForm = nil, nil, nil

	state := d.state()
	body := state.forwardedBody(d.body)
	r.Body, r.GetBody = body, body.rewind
	r.ContentLength = int64(len(d.body))
	r.TransferEncoding = nil

	header := r.Header
	h.dropCallerCredentials(header)
	delete(header, headerContentEncoding)
	delete(header, headerTransferEncoding)
	delete(header, headerAcceptEncoding) // see headerAcceptEncoding
	values := state.headerValues()
	values.set(header, headerContentType, "application/json")
	values.set(header, headerContentLength, decimal(len(d.body)))
	setDecisionHeaders(header, d, &values)
}

// forwardedBody is the canonical body as the request's Body: a reader that
// also hands the transport a fresh copy (GetBody) to retry on another
// connection. One allocation, where NopCloser over a bytes.Reader and a
// GetBody closure took three.
type forwardedBody struct {
	bytes.Reader
	data []byte
}

func newForwardedBody(data []byte) *forwardedBody {
	b := &forwardedBody{data: data}
	b.Reset(data)
	return b
}

// Close makes forwardedBody an io.ReadCloser; there is nothing to release.
func (*forwardedBody) Close() error { return nil }

// rewind is the request's GetBody.
func (b *forwardedBody) rewind() (io.ReadCloser, error) { return newForwardedBody(b.data), nil }

// The headers setDecisionHeaders sets: at most decisionHeaderCount, of
// which a trigger token's request sets tokenHeaderCount (the source, the
// ID and the token prefix) and a job token's request the source and
// identityHeaderCount.
const (
	decisionHeaderCount = 7
	tokenHeaderCount    = 3
	identityHeaderCount = 4
)

// headerValues hands out one-element value slices cut from one backing
// array: the request path sets several headers with one allocation
// instead of one each. Each slice's capacity is capped, so an append by a
// later handler copies instead of overwriting its neighbour.
type headerValues struct{ backing []string }

func newHeaderValues(n int) *headerValues { return &headerValues{backing: make([]string, 0, n)} }

// reserve makes room for n more values in one allocation, if there is
// less.
func (v *headerValues) reserve(n int) {
	if cap(v.backing)-len(v.backing) < n {
		v.backing = make([]string, 0, n)
	}
}

// set replaces the values of name, a canonical header name, with value.
func (v *headerValues) set(header http.Header, name, value string) {
	if len(v.backing) == cap(v.backing) {
		header[name] = []string{value}
		return
	}
	i := len(v.backing)
	v.backing = append(v.backing, value)
	header[name] = v.backing[i : i+1 : i+1]
}

// rewriteArtifacts passes an authorized artifact download on, with the
// project made canonical and every query credential (triggerapi.
// QueryCredentialNames, in any case) removed: the job token is replaced by the
// configured upstream credential, if any. The answer streams back through
// the proxy untouched, Range requests included.
func (h *Handler) rewriteArtifacts(r *http.Request, d *decision) {
	path, rawPath := triggerapi.ArtifactsPath(h.PathPrefix, d.project, d.ref)
	query := r.URL.Query()
	triggerapi.DeleteQueryCredentials(query)
	setURL(r, path, rawPath, query.Encode())

	h.dropCallerCredentials(r.Header)
	if name := d.settings.artifactsHeader; name != "" {
		r.Header.Set(name, d.settings.artifactsCredential)
	}
	setDecisionHeaders(r.Header, d, newHeaderValues(decisionHeaderCount))
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
func setDecisionHeaders(header http.Header, d *decision, values *headerValues) {
	for name := range header {
		if strings.HasPrefix(name, headerPrefix) {
			delete(header, name)
		}
	}
	values.set(header, headerSource, d.source)
	if d.triggerID != 0 {
		id := ""
		if d.credential != nil {
			id = d.credential.Trigger.IDText // formatted once, when cached
		}
		if id == "" {
			id = strconv.FormatInt(d.triggerID, 10)
		}
		values.set(header, headerID, id)
		values.set(header, headerTokenPrefix, d.tokenPrefix)
	}
	if id := d.identity; id != nil {
		values.reserve(identityHeaderCount)
		values.set(header, headerSourceProject, id.ProjectID)
		values.set(header, headerSourceProjectPath, id.ProjectPath)
		values.set(header, headerSourcePipeline, id.PipelineID)
		values.set(header, headerSourceJob, id.JobID)
	}
}
