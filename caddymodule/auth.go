package caddymodule

import (
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/triggergate/caddy-trigger-gateway/jobtoken"
	"github.com/triggergate/caddy-trigger-gateway/tokenstore"
	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// Step 6, auth: who the caller is, a trigger token's trigger or a CI job
// (job token), and whether it may act on the project now.

// Refusals of authentication: one answer, several reasons for the logs.
var (
	errUnknownToken    = triggerapi.ErrNotFound.WithReason("unknown_token")
	errRevokedToken    = triggerapi.ErrNotFound.WithReason("revoked_token")
	errWrongProject    = triggerapi.ErrNotFound.WithReason("wrong_project")
	errExpiredToken    = triggerapi.ErrNotFound.WithReason("expired_token")
	errLegacyDenied    = triggerapi.ErrNotFound.WithReason("legacy_denied")
	errJobTokenInvalid = triggerapi.ErrNotFound.WithReason("invalid_job_token")
	errJobTokenDenied  = triggerapi.ErrNotFound.WithReason("job_token_not_allowed")
	errJobTokensOff    = triggerapi.ErrNotFound.WithReason("job_tokens_disabled")
	// errJobKeysUnavailable: no key set has ever loaded, so no job token can
	// be checked. The gateway is at fault, not the caller: 503, as for a
	// token storage that is down, and not counted against the client.
	errJobKeysUnavailable = triggerapi.ErrUnavailable.WithReason("job_token_keys_unavailable")
	errArtifactsBadJob    = triggerapi.MessageError(http.StatusUnauthorized, "invalid_job_token", "401 Unauthorized")
	errWebhookRefused     = triggerapi.MessageError(http.StatusUnauthorized, "webhook_not_verified", "401 Unauthorized")
)

// authenticate decides who the caller is: a CI job (a job token, when job
// tokens are configured) or a trigger token's trigger; and whether it may
// trigger this project now.
func (h *Handler) authenticate(r *http.Request, d *decision, token string) *triggerapi.Error {
	if h.verifier != nil && jobtoken.LooksLikeJWT(token) {
		return h.authenticateJob(r, d, token, errJobTokenInvalid)
	}
	d.tokenPrefix = displayPrefix(token)
	cred, err := h.gateway.store.AuthenticateAt(r.Context(), token, d.start) // one clock read a request
	if err != nil {
		return h.authenticationFailure(d, err)
	}
	trigger := cred.Trigger
	d.triggerID = trigger.ID
	switch {
	case h.canonicalProject(trigger.Project) != d.project:
		return errWrongProject
	case trigger.Expired(d.start):
		return errExpiredToken
	case trigger.Legacy() && h.denyLegacy:
		return errLegacyDenied
	}
	d.source = sourceTrigger
	d.credential = cred
	if d.explain { // formatting boxes its arguments: not on the request path
		d.note("token: trigger %d (%s) of project %s, owner %q", trigger.ID, d.tokenPrefix, trigger.Project, trigger.Owner)
	}
	return nil
}

// authenticationFailure is the refusal of a trigger token the store did
// not authenticate. A revoked token is told from an unknown one, with its
// trigger's ID, in the logs and metrics only: the caller gets the same 404.
func (h *Handler) authenticationFailure(d *decision, err error) *triggerapi.Error {
	if revoked, ok := errors.AsType[*tokenstore.RevokedError](err); ok {
		d.triggerID = revoked.TriggerID
		if d.explain { // formatting boxes its arguments: not on the request path
			d.note("token: trigger %d (%s) was revoked", revoked.TriggerID, d.tokenPrefix)
		}
		return errRevokedToken
	}
	if errors.Is(err, tokenstore.ErrNotFound) {
		return errUnknownToken
	}
	// Fail closed: a token that cannot be checked is not accepted.
	h.logger.Error("token storage unavailable", zap.String("project", d.project), zap.Error(err))
	return triggerapi.ErrUnavailable
}

// authenticateJob verifies a job token and applies the permission model.
func (h *Handler) authenticateJob(r *http.Request, d *decision, token string, invalid *triggerapi.Error) *triggerapi.Error {
	identity, err := h.verifier.Verify(r.Context(), token)
	if err != nil {
		var refusal *jobtoken.Error
		if errors.As(err, &refusal) {
			d.detail = refusal.Reason
			if refusal.Reason == jobtoken.ReasonKeysUnavailable {
				return errJobKeysUnavailable
			}
		}
		return invalid
	}
	d.identity = identity
	if !h.jobTokenMayAct(identity, d.project, d.settings) {
		d.detail = "source project " + identity.ProjectID + " is not on the project's job_token_allow"
		return errJobTokenDenied
	}
	d.source = sourcePipeline
	if d.explain {
		d.note("token: job token of project %s (%s), pipeline %s, job %s, allowed on project %s",
			identity.ProjectID, identity.ProjectPath, identity.PipelineID, identity.JobID, d.project)
	}
	return nil
}

// displayPrefix is the part of a caller's token that logs and headers may
// show. A string too short to be any token shows nothing: its prefix would
// be all of it.
func displayPrefix(token string) string {
	if len(token) < tokenstore.MinImportTokenLen {
		return ""
	}
	return tokenstore.TokenPrefix(token)
}
