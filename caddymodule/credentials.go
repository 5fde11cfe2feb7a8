package caddymodule

import (
	"net/http"
	"strings"

	"github.com/triggergate/caddy-trigger-gateway/jobtoken"
	"github.com/triggergate/caddy-trigger-gateway/tokenstore"
	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// singletonCredentialHeaders carry one credential each: a request giving
// one of them twice with different values is refused (see
// conflictingCredential), on every route.
var singletonCredentialHeaders = [...]string{
	headerAuthorization, headerPrivateToken, headerJobToken, headerGitlabToken, headerHubSignature,
}

// gatewayCredentialHeaders carry credentials meant for the gateway (or for
// GitLab), never for the CI server: the job token, a GitLab access token
// (scripts send PRIVATE-TOKEN on every call), the webhook secret and
// signature. Every value of each is removed once read.
var gatewayCredentialHeaders = [...]string{headerJobToken, headerPrivateToken, headerGitlabToken, headerHubSignature}

// errConflictingCredential refuses a request carrying two different
// credentials of one kind (see triggerapi.ErrConflictingCredential).
var errConflictingCredential = triggerapi.ErrConflictingCredential

// conflictingCredential is the name of the first credential header the
// request gives more than once with different values, or "". Identical
// repeats (a client and a proxy adding the same header) are one credential.
func conflictingCredential(header http.Header) string {
	for _, name := range singletonCredentialHeaders {
		values := header[name]
		for _, v := range values[min(1, len(values)):] {
			if v != values[0] {
				return name
			}
		}
	}
	return ""
}

// refuseConflictingCredential sets the refusal of a request carrying two
// different credentials of one kind, naming the header for the log line.
func refuseConflictingCredential(header http.Header) (refusal *triggerapi.Error, detail string) {
	if name := conflictingCredential(header); name != "" {
		return errConflictingCredential, name + " given more than once with different values"
	}
	return nil, ""
}

// dropCallerCredentials removes, every value of each, the credentials a
// caller may send that are meant for the gateway or for GitLab, never for
// the CI server (gatewayCredentialHeaders), and an Authorization header
// any value of which is a bearer token of the gateway's: a management
// token, a trigger token (glptt-) or, when job tokens are configured, a
// job token. Another Authorization (the CI server's own scheme) is left.
func (h *Handler) dropCallerCredentials(header http.Header) {
	for _, name := range gatewayCredentialHeaders {
		delete(header, name)
	}
	for _, value := range header[headerAuthorization] {
		if token, ok := bearerToken(value); ok && h.isGatewayToken(token) {
			delete(header, headerAuthorization)
			return
		}
	}
}

// isGatewayToken reports whether a bearer token is one of the kinds the
// gateway reads. An imported trigger token of another shape cannot be
// told from the CI server's own without a lookup, and is left.
func (h *Handler) isGatewayToken(token string) bool {
	return strings.HasPrefix(token, tokenstore.NewTokenPrefix) ||
		(h.verifier != nil && jobtoken.LooksLikeJWT(token)) ||
		(len(h.management) > 0 && h.managementCredential(token) != nil)
}

// scrubRequest removes every credential from r once the handler is done
// with it, whatever the outcome: the headers dropCallerCredentials drops
// and the credential parameters of the query; the values of the query's
// variables and inputs become REDACTED (a refused request keeps its
// query). What runs after the handler
// (log_append and other placeholders such as {http.request.uri} or
// {http.request.header.Private-Token}, error routes) then sees none. An
// accepted trigger's request was rewritten for the CI server already;
// this costs it a few map lookups.
func (h *Handler) scrubRequest(r *http.Request) {
	h.dropCallerCredentials(r.Header)
	if r.URL == nil || r.URL.RawQuery == "" {
		return
	}
	if query, changed := triggerapi.WithoutQuerySecrets(r.URL.RawQuery); changed {
		r.URL.RawQuery = query
		r.RequestURI = r.URL.RequestURI()
	}
}
