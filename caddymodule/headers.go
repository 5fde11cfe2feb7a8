package caddymodule

import "net/http"

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

// Request headers the request path reads or sets, in canonical form: see
// headerValue.
const (
	headerContentType    = "Content-Type"
	headerContentLength  = "Content-Length"
	headerGitlabEvent    = "X-Gitlab-Event"
	headerIdempotencyKey = "Idempotency-Key"
	headerGitlabEventID  = "X-Gitlab-Event-Uuid" // GitLab sends X-Gitlab-Event-UUID
	headerGithubDelivery = "X-Github-Delivery"   // GitHub sends X-GitHub-Delivery
	headerAuthorization  = "Authorization"
)

// Request headers the forwarded request must not carry, in canonical form:
// removed with delete, as Header.Del would after canonicalizing each name.
const (
	headerContentEncoding  = "Content-Encoding"
	headerTransferEncoding = "Transfer-Encoding"
	headerPrivateToken     = "Private-Token"
	headerGitlabToken      = "X-Gitlab-Token"
	headerHubSignature     = "X-Hub-Signature-256"
)

// headerAcceptEncoding is removed from every forwarded trigger: the
// gateway reads the CI's answer (the pipeline it names, the answer kept
// for a repeat, another CI's answer), so the proxy must ask for an
// encoding itself, and then decodes it.
const headerAcceptEncoding = "Accept-Encoding"

// headerValue is Header.Get for a name already in canonical form: Go's
// servers (HTTP/1, 2 and 3) store request headers under canonical names,
// and Header.Get would canonicalize the name again on every call.
func headerValue(header http.Header, canonicalName string) string {
	if values := header[canonicalName]; len(values) > 0 {
		return values[0]
	}
	return ""
}
