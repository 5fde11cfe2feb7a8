package caddymodule

import (
	"net/http"

	"github.com/triggergate/caddy-trigger-gateway/jobtoken"
	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// The artifacts flow: GET /projects/:id/jobs/artifacts/:ref/download,
// steps 2 to 7 (decide runs them for ServeHTTP and explain alike). There
// is no body to read: the download streams back through the proxy.

// decideArtifacts authorizes GET /projects/:id/jobs/artifacts/:ref/download
// with a job token (query job_token or header JOB-TOKEN, read by
// triggerapi.ParseArtifactsRequest).
func (h *Handler) decideArtifacts(r *http.Request, d *decision) *triggerapi.Error {
	// 4 refuse what the method and headers alone refuse
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return triggerapi.ErrMethod
	}
	if refusal, detail := refuseConflictingCredential(r.Header); refusal != nil {
		d.detail = detail
		return refusal
	}
	// 3 parse the job and the job token
	req, refusal := triggerapi.ParseArtifactsRequest(r.URL.Query(), headerValue(r.Header, headerJobToken))
	if refusal == triggerapi.ErrConflictingCredential {
		d.detail = "job token given more than once with different values"
	}
	if refusal != nil {
		return refusal
	}
	switch { // 6 auth: a job token, and only one
	case h.verifier == nil:
		return errJobTokensOff
	case !jobtoken.LooksLikeJWT(req.JobToken):
		return errArtifactsBadJob
	}
	if refusal := h.authenticateJob(r, d, req.JobToken, errArtifactsBadJob); refusal != nil {
		return refusal
	}
	return h.checkRef(d, d.route.Ref) // 7 rules: the ref
}
