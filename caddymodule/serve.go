package caddymodule

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/triggergate/caddy-trigger-gateway/gitref"
	"github.com/triggergate/caddy-trigger-gateway/idempotency"
	"github.com/triggergate/caddy-trigger-gateway/jobtoken"
	"github.com/triggergate/caddy-trigger-gateway/policy"
	"github.com/triggergate/caddy-trigger-gateway/tokenstore"
	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
	"github.com/triggergate/caddy-trigger-gateway/webhook"
)

var errNotTriggerAPI = errors.New("not a trigger API request")

// Pipeline sources, as GitLab names them: a trigger token's pipelines are
// "trigger", a job token's (multi-project pipelines) are "pipeline".
const (
	sourceTrigger  = "trigger"
	sourcePipeline = "pipeline"
)

// decision is what the handler found out about one request, for the
// answer, the log line, the metrics and the placeholders.
type decision struct {
	route       triggerapi.Route
	project     string        // canonical
	settings    *projectRules // the project's compiled rules, found once (rulesFor)
	ref         string        // normalized
	source      string        // sourceTrigger or sourcePipeline once authenticated
	triggerID   int64
	tokenPrefix string
	identity    *jobtoken.Identity // the job behind a job token
	refusal     *triggerapi.Error
	detail      string // why a rule refused, never a value

	credential *tokenstore.Credential // the trigger whose use to count
	request    *triggerapi.Request    // the caller's request, parsed
	body       []byte                 // the canonical body to forward
	replayed   bool                   // a repeat answered with the first answer
	pipeline   triggerapi.Pipeline    // the pipeline the upstream's answer named, if any
	// answerStatus is the status of the answer to the forwarded request
	// (the CI's, or the gateway's 502/504 for a CI it could not reach);
	// 0 when nothing was forwarded. replayedAnswer is the first answer a
	// repeat got. Both are for the trigger's recent deliveries.
	answerStatus   int
	replayedAnswer *idempotency.Answer

	placeholders *triggerPlaceholders // the request's {http.trigger.*}, once set

	explain bool     // collect the rules applied, for the explain endpoint
	rules   []string // the rules applied, in order (names, never values)
}

// note records a rule applied. Callers that pass arguments check
// d.explain first, so that the request path does not even format them.
func (d *decision) note(format string, args ...any) {
	if d.explain {
		d.rules = append(d.rules, fmt.Sprintf(format, args...))
	}
}

// ServeHTTP follows one trigger request through the steps of the
// architecture: route, read, parse, refuse early, resolve the project,
// authenticate, apply the ref and variable rules, forward, account. Every
// refusal is answered where it is found and nothing after it runs.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	start := time.Now()
	// Whatever the outcome, what runs after the handler sees no credential.
	defer h.scrubRequest(r)
	route, ok := triggerapi.ParseRoute(h.PathPrefix, r.URL.EscapedPath())
	if !ok {
		if h.management != nil {
			h.boundBodyRead(w, r, start)
			return h.serveManagement(w, r, start) // GitLab's /projects/:id/triggers API
		}
		return caddyhttp.Error(http.StatusNotFound, errNotTriggerAPI)
	}
	h.boundBodyRead(w, r, start)
	d := decision{route: route}
	d.project, d.settings = h.rulesFor(route.Project)
	client, limited := h.overFailedAuthLimit(w, r, route.Kind, start)
	if limited {
		d.refusal = errRateLimited
		h.refuse(w, r, &d, start)
		return nil
	}
	if route.Kind == triggerapi.KindArtifacts {
		d.refusal = h.decideArtifacts(r, &d)
	} else {
		d.refusal = h.decideTrigger(r, &d)
	}
	var repeat idempotency.Request
	if d.refusal == nil && route.Kind != triggerapi.KindArtifacts && h.repeats != nil {
		repeat, d.refusal = repeatRequest(r, &d)
	}
	if d.refusal != nil {
		if h.limiter != nil && failedAuthentication[d.refusal] {
			h.limiter.failed(client, start)
		}
		h.refuse(w, r, &d, start)
		return nil
	}

	if route.Kind == triggerapi.KindArtifacts {
		h.forwardArtifacts(r, &d)
	} else {
		h.forward(r, &d)
	}
	if repeat.Key == "" {
		if d.credential != nil {
			d.credential.RecordUse(start)
		}
		setPlaceholders(r, &d) // before forwarding: reverse_proxy's header_up may use them
		took := time.Since(start)
		err := h.serveUpstream(newUpstreamWriter(w), r, &d, next)
		h.answered(&d, start, took)
		return err
	}

	answer, claim, refusal := h.beginOnce(r, &d, repeat)
	switch {
	case refusal != nil:
		d.refusal = refusal
		h.refuse(w, r, &d, start)
		return nil
	case answer != nil:
		d.replayed, d.replayedAnswer = true, answer
		replay(w, answer)
		h.account(r, &d, start)
		return nil
	}
	defer claim.Release() // unless saved: a failed request may be retried
	if d.credential != nil {
		d.credential.RecordUse(start)
	}
	setPlaceholders(r, &d)
	took := time.Since(start)
	err := h.serveAndSave(w, r, &d, claim, next)
	h.answered(&d, start, took)
	return err
}

// decideTrigger runs every step of a trigger request up to forwarding; on
// acceptance d holds the canonical body. It changes nothing outside d.
func (h *Handler) decideTrigger(r *http.Request, d *decision) *triggerapi.Error {
	if r.Method != d.route.Kind.Method() {
		return triggerapi.ErrMethod
	}
	if headerValue(r.Header, headerGitlabEvent) == "Pipeline Hook" {
		return triggerapi.ErrPipelineHook
	}
	if refusal, detail := refuseConflictingCredential(r.Header); refusal != nil {
		d.detail = detail
		return refusal
	}

	buf := bodyBuffers.Get().(*bytes.Buffer)
	defer releaseBuffer(buf)
	if refusal := h.readBody(r, buf); refusal != nil {
		return refusal
	}
	if refusal := h.checkWebhook(r, d, buf.Bytes()); refusal != nil {
		return refusal
	}
	req, refusal := triggerapi.Parse(d.route, headerValue(r.Header, headerContentType), r.URL.RawQuery, buf.Bytes())
	if refusal != nil {
		return refusal
	}
	d.request = req

	if refusal := h.authenticate(r, d, req.Token); refusal != nil {
		return refusal
	}
	if refusal := h.checkRef(d, req.Ref); refusal != nil {
		return refusal
	}
	if refusal := h.checkRefRules(d); refusal != nil {
		return refusal
	}
	variables, applied, violation := d.settings.variables.Apply(req.Variables)
	if violation != nil {
		d.detail = violation.Message
		return triggerapi.MessageError(http.StatusBadRequest, violation.Rule, violation.Message)
	}
	if d.explain { // formatting boxes its arguments: not on the request path
		d.note("variables: %d from the caller accepted by the variable rules", len(req.Variables))
		d.rules = append(d.rules, applied...)
	}
	// Inputs get the variables' limits, counted apart from them.
	if violation := policy.CheckInputs(req.Inputs, h.MaxVariables, h.MaxVariableSize); violation != nil {
		d.detail = violation.Message
		return triggerapi.MessageError(http.StatusBadRequest, violation.Rule, violation.Message)
	}

	token := d.settings.upstreamToken
	if token == "" {
		token = req.Token
		d.note("upstream token: the caller's own")
	} else {
		d.note("upstream token: the configured upstream_token")
	}
	d.body = triggerapi.CanonicalBody(token, d.ref, variables, req.Inputs, req.Payload)
	return nil
}

// checkWebhook verifies the signature or secret token of a webhook
// delivery, for projects that configure one; it reads the raw body. A
// delivery is a request on the webhook route or one that carries a forge's
// event header on any route: a forge's delivery sent to /trigger/pipeline
// must not skip the project's secret.
func (h *Handler) checkWebhook(r *http.Request, d *decision, body []byte) *triggerapi.Error {
	verifier := d.settings.webhook
	if verifier == nil || (d.route.Kind != triggerapi.KindWebhook && !webhook.CarriesEvent(r.Header)) {
		return nil
	}
	if err := verifier.Check(r.Header, body); err != nil {
		var refusal *webhook.Error
		if errors.As(err, &refusal) {
			d.detail = refusal.Reason
		}
		return errWebhookRefused
	}
	d.note("webhook: secret token or signature verified")
	return nil
}

// checkRef normalizes the ref and refuses what is not a branch or tag.
func (h *Handler) checkRef(d *decision, ref string) *triggerapi.Error {
	var err error
	d.ref, err = gitref.Resolve(ref)
	if d.explain && d.ref != ref { // formatting boxes its arguments: not on the request path
		d.note("ref: %s normalized to %s", ref, d.ref)
	}
	if err != nil {
		if errors.Is(err, gitref.ErrCommitSHA) {
			return triggerapi.ErrCommitSHA
		}
		return triggerapi.ErrRefFormat
	}
	if d.explain { // formatting boxes its arguments: not on the request path
		d.note("ref: %s is a valid branch or tag name", d.ref)
	}
	return nil
}

// checkRefRules applies the ref rules of the gateway, of the project and
// of the trigger token: the ref must pass every level that has rules.
func (h *Handler) checkRefRules(d *decision) *triggerapi.Error {
	tokenRules, err := h.tokenRefs(d)
	if err != nil {
		// The admin API validates refs: a record that fails here allows nothing.
		h.logger.Error("trigger token has invalid ref rules", zap.Int64("trigger_id", d.triggerID), zap.Error(err))
		d.detail = "trigger token: invalid ref rules"
		return errTokenRefRules
	}
	levels := [...]struct {
		name  string
		rules *policy.RefPolicy
	}{
		{"gateway", h.globalRefs},
		{"project", d.settings.refs},
		{"trigger token", tokenRules},
	}
	for _, level := range levels {
		if level.rules == nil {
			continue
		}
		if violation := level.rules.Check(d.ref); violation != nil {
			d.detail = level.name + ": " + violation.Message
			return triggerapi.MessageError(http.StatusBadRequest, violation.Rule, violation.Message)
		}
		if d.explain { // formatting boxes its arguments: not on the request path
			d.note("refs: %s allowed by the %s's ref rules", d.ref, level.name)
		}
	}
	return nil
}

// tokenRefs is the trigger token's own ref rules, if it has any. Tokens
// with ref rules are rare, so their rules are compiled when used.
func (h *Handler) tokenRefs(d *decision) (*policy.RefPolicy, error) {
	if d.credential == nil || len(d.credential.Trigger.Refs) == 0 {
		return nil, nil
	}
	return policy.CompileRefs(d.credential.Trigger.Refs)
}

var errTokenRefRules = triggerapi.MessageError(http.StatusBadRequest, policy.RuleRefNotAllowed,
	"ref not allowed: the trigger token's ref rules are invalid")

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
	errArtifactsBadJob = triggerapi.MessageError(http.StatusUnauthorized, "invalid_job_token", "401 Unauthorized")
	errWebhookRefused  = triggerapi.MessageError(http.StatusUnauthorized, "webhook_not_verified", "401 Unauthorized")
)

// authenticate decides who the caller is: a CI job (a job token, when job
// tokens are configured) or a trigger token's trigger; and whether it may
// trigger this project now.
func (h *Handler) authenticate(r *http.Request, d *decision, token string) *triggerapi.Error {
	if h.verifier != nil && jobtoken.LooksLikeJWT(token) {
		return h.authenticateJob(r, d, token, errJobTokenInvalid)
	}
	d.tokenPrefix = displayPrefix(token)
	cred, err := h.gateway.store.Authenticate(r.Context(), token)
	if err != nil {
		return h.authenticationFailure(d, err)
	}
	trigger := cred.Trigger
	d.triggerID = trigger.ID
	switch {
	case h.canonicalProject(trigger.Project) != d.project:
		return errWrongProject
	case trigger.Expired(time.Now()):
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

// decideArtifacts authorizes GET /projects/:id/jobs/artifacts/:ref/download
// with a job token (query job_token or header JOB-TOKEN, read by
// triggerapi.ParseArtifactsRequest).
func (h *Handler) decideArtifacts(r *http.Request, d *decision) *triggerapi.Error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return triggerapi.ErrMethod
	}
	if refusal, detail := refuseConflictingCredential(r.Header); refusal != nil {
		d.detail = detail
		return refusal
	}
	req, refusal := triggerapi.ParseArtifactsRequest(r.URL.Query(), headerValue(r.Header, headerJobToken))
	if refusal == triggerapi.ErrConflictingCredential {
		d.detail = "job token given more than once with different values"
	}
	if refusal != nil {
		return refusal
	}
	switch {
	case h.verifier == nil:
		return errJobTokensOff
	case !jobtoken.LooksLikeJWT(req.JobToken):
		return errArtifactsBadJob
	}
	if refusal := h.authenticateJob(r, d, req.JobToken, errArtifactsBadJob); refusal != nil {
		return refusal
	}
	return h.checkRef(d, d.route.Ref)
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

// sourceLabel is the metric label of a source; "none" before authentication.
func sourceLabel(source string) string {
	if source == "" {
		return "none"
	}
	return source
}

// refuse answers a refusal in GitLab's JSON shape. Refusals are API
// answers, not handler errors: GitLab clients read the JSON body, which
// Caddy's error handling would replace.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, d *decision, start time.Time) {
	header := w.Header()
	header.Set("Cache-Control", "no-cache")
	if d.refusal == triggerapi.ErrMethod {
		allow := d.route.Kind.Method()
		if d.route.Kind == triggerapi.KindArtifacts {
			allow = "GET, HEAD"
		}
		header.Set("Allow", allow)
	}
	writeRefusal(w, d.refusal)
	setPlaceholders(r, d)
	h.observe(d, time.Since(start))
	drainRefusedBody(w, r, d.refusal)
}

// writeRefusal writes a refusal's GitLab-shaped answer.
func writeRefusal(w http.ResponseWriter, refusal *triggerapi.Error) {
	header := w.Header()
	header.Set("Content-Type", "application/json")
	header.Set("Content-Length", strconv.Itoa(len(refusal.Body)))
	if refusal == triggerapi.ErrBodyTooLarge || refusal == triggerapi.ErrBodyTimeout {
		// The rest of the body is unread: without this, Go's server would
		// wait to drain it before answering a client that may never send it.
		header.Set("Connection", "close")
	}
	w.WriteHeader(refusal.Status)
	_, _ = w.Write(refusal.Body)
}

// account records a replayed request in the placeholders, logs and metrics.
func (h *Handler) account(r *http.Request, d *decision, start time.Time) {
	setPlaceholders(r, d)
	h.observe(d, time.Since(start))
}

// answered records a forwarded request once the upstream has answered: the
// pipeline its answer named, if any (the trigger's last pipeline, written
// with its usage, and {http.trigger.pipeline_id}), then the decision's log
// line and metrics. took is the gateway's own time, measured before
// forwarding: the latency metric does not count the CI's.
func (h *Handler) answered(d *decision, start time.Time, took time.Duration) {
	if d.pipeline.ID != 0 {
		d.credential.RecordPipeline(start, d.pipeline.ID, d.pipeline.WebURL) // a job token's has no trigger: a no-op
		if d.placeholders != nil {
			d.placeholders.pipelineID = d.pipeline.ID // {http.trigger.pipeline_id}
		}
	}
	h.observe(d, took)
}

// observe writes the decision's log line and metrics; took is the
// gateway's own time on the request.
func (h *Handler) observe(d *decision, took time.Duration) {
	route := d.route.Kind.String()
	outcome, result := "accepted", "accepted"
	switch {
	case d.refusal != nil:
		outcome, result = d.refusal.Reason, "refused"
	case d.replayed:
		outcome = "replayed"
	}
	countRequest(d.route.Kind, d.source, outcome, result, took)
	h.recordDelivery(d, outcome)

	// Accepted triggers are logged at debug, as Caddy's own handlers log
	// each request they proxy: the CI server records every pipeline it
	// runs, and the access log carries the decision through log_append and
	// the {http.trigger.*} placeholders. Refusals and replays are the
	// requests only the gateway sees: they stay at info.
	level, msg := zapcore.DebugLevel, "trigger accepted"
	switch {
	case d.refusal != nil:
		level, msg = zapcore.InfoLevel, "trigger refused"
	case d.replayed:
		level, msg = zapcore.InfoLevel, "trigger repeated: first answer replayed"
	}
	if ce := h.logger.Check(level, msg); ce != nil {
		fields := []zap.Field{
			zap.String("route", route),
			zap.String("project", d.project),
			zap.String("ref", d.ref),
			zap.String("source", d.source),
			zap.Int64("trigger_id", d.triggerID),
		}
		if d.pipeline.ID != 0 {
			fields = append(fields, zap.Int64("pipeline_id", d.pipeline.ID))
		}
		fields = append(fields,
			zap.String("token_prefix", d.tokenPrefix),
			zap.String("outcome", outcome))
		if id := d.identity; id != nil {
			fields = append(fields,
				zap.String("source_project", id.ProjectID),
				zap.String("source_project_path", id.ProjectPath),
				zap.String("source_pipeline", id.PipelineID),
				zap.String("source_job", id.JobID))
		}
		if d.refusal != nil {
			fields = append(fields, zap.Int("status", d.refusal.Status))
		}
		if d.detail != "" {
			fields = append(fields, zap.String("detail", d.detail))
		}
		ce.Write(fields...)
	}
}
