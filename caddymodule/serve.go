package caddymodule

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/triggergate/caddy-trigger-gateway/gitref"
	"github.com/triggergate/caddy-trigger-gateway/tokenstore"
	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

var errNotTriggerAPI = errors.New("not a trigger API request")

// decision is what the handler found out about one request, for the
// answer, the log line and the metrics.
type decision struct {
	route       triggerapi.Route
	project     string // canonical
	ref         string // normalized
	source      string // "trigger" once authenticated
	triggerID   int64
	tokenPrefix string
	refusal     *triggerapi.Error
	detail      string // why a policy refused, never a value
}

// ServeHTTP follows one trigger request through the steps of the
// architecture: route, read, parse, refuse early, resolve the project,
// authenticate, apply the ref and variable rules, forward, account. Every
// refusal is answered where it is found and nothing after it runs.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	start := time.Now()
	route, ok := triggerapi.ParseRoute(h.PathPrefix, r.URL.EscapedPath())
	if !ok {
		return caddyhttp.Error(http.StatusNotFound, errNotTriggerAPI)
	}
	d := decision{route: route, project: h.canonicalProject(route.Project)}

	body, refusal := h.check(r, &d)
	if refusal != nil {
		d.refusal = refusal
		h.refuse(w, r, &d, start)
		return nil
	}

	h.forward(r, &d, body)
	h.account(r, &d, start)
	return next.ServeHTTP(w, r)
}

// check runs every step up to forwarding and returns the canonical body to
// forward, or the refusal.
func (h *Handler) check(r *http.Request, d *decision) ([]byte, *triggerapi.Error) {
	if d.route.Kind == triggerapi.KindArtifacts {
		// Artifact downloads are authorized by CI job tokens only, which
		// this gateway does not verify yet: refuse as GitLab does an
		// unknown token.
		return nil, errArtifactsUnavailable
	}
	if r.Method != d.route.Kind.Method() {
		return nil, triggerapi.ErrMethod
	}
	if r.Header.Get("X-Gitlab-Event") == "Pipeline Hook" {
		return nil, triggerapi.ErrPipelineHook
	}

	buf := bodyBuffers.Get().(*bytes.Buffer)
	defer releaseBuffer(buf)
	if refusal := h.readBody(r, buf); refusal != nil {
		return nil, refusal
	}
	req, refusal := triggerapi.Parse(d.route, r.Header.Get("Content-Type"), r.URL.RawQuery, buf.Bytes())
	if refusal != nil {
		return nil, refusal
	}
	d.tokenPrefix = displayPrefix(req.Token)

	cred, refusal := h.authenticate(r, d, req.Token)
	if refusal != nil {
		return nil, refusal
	}

	d.ref = gitref.Normalize(req.Ref)
	if err := gitref.Check(d.ref); err != nil {
		if errors.Is(err, gitref.ErrCommitSHA) {
			return nil, triggerapi.ErrCommitSHA
		}
		return nil, triggerapi.ErrRefFormat
	}
	if violation := h.variablePolicy.Check(req.Variables); violation != nil {
		d.detail = violation.Message
		return nil, triggerapi.MessageError(http.StatusBadRequest, violation.Rule, violation.Message)
	}

	cred.RecordUse(time.Now())
	token := h.upstreamTokenFor(d.project)
	if token == "" {
		token = req.Token
	}
	return triggerapi.CanonicalBody(token, d.ref, req.Variables, req.Inputs, req.Payload), nil
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

var errArtifactsUnavailable = triggerapi.ErrNotFound.WithReason("job_tokens_unsupported")

// Refusals of authentication: one answer, several reasons for the logs.
var (
	errUnknownToken = triggerapi.ErrNotFound.WithReason("unknown_token")
	errWrongProject = triggerapi.ErrNotFound.WithReason("wrong_project")
	errExpiredToken = triggerapi.ErrNotFound.WithReason("expired_token")
	errLegacyDenied = triggerapi.ErrNotFound.WithReason("legacy_denied")
)

// authenticate finds the trigger of the token and checks that it may
// trigger this project now.
func (h *Handler) authenticate(r *http.Request, d *decision, token string) (*tokenstore.Credential, *triggerapi.Error) {
	cred, err := h.gateway.store.Authenticate(r.Context(), token)
	switch {
	case errors.Is(err, tokenstore.ErrNotFound):
		return nil, errUnknownToken
	case err != nil:
		// Fail closed: a token that cannot be checked is not accepted.
		h.logger.Error("token storage unavailable", zap.String("project", d.project), zap.Error(err))
		return nil, triggerapi.ErrUnavailable
	}
	trigger := cred.Trigger
	d.triggerID = trigger.ID
	switch {
	case h.canonicalProject(trigger.Project) != d.project:
		return nil, errWrongProject
	case trigger.Expired(time.Now()):
		return nil, errExpiredToken
	case trigger.Legacy() && h.denyLegacy:
		return nil, errLegacyDenied
	}
	d.source = "trigger"
	return cred, nil
}

// readBody reads the body once, through the size limit, into buf.
func (h *Handler) readBody(r *http.Request, buf *bytes.Buffer) *triggerapi.Error {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	if r.ContentLength > h.MaxBody {
		return triggerapi.ErrBodyTooLarge
	}
	n, err := buf.ReadFrom(io.LimitReader(r.Body, h.MaxBody+1))
	if err != nil {
		return triggerapi.ErrBadBody
	}
	if n > h.MaxBody {
		return triggerapi.ErrBodyTooLarge
	}
	return nil
}

// bodyBuffers recycles request body buffers; Parse copies what it keeps.
var bodyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuffer keeps one oversized body from pinning its memory.
const maxPooledBuffer = 256 << 10

func releaseBuffer(buf *bytes.Buffer) {
	if buf.Cap() > maxPooledBuffer {
		return
	}
	buf.Reset()
	bodyBuffers.Put(buf)
}

// refuse answers a refusal in GitLab's JSON shape. Refusals are API
// answers, not handler errors: GitLab clients read the JSON body, which
// Caddy's error handling would replace.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, d *decision, start time.Time) {
	header := w.Header()
	header.Set("Content-Type", "application/json")
	header.Set("Content-Length", strconv.Itoa(len(d.refusal.Body)))
	header.Set("Cache-Control", "no-cache")
	if d.refusal == triggerapi.ErrMethod {
		header.Set("Allow", d.route.Kind.Method())
	}
	w.WriteHeader(d.refusal.Status)
	_, _ = w.Write(d.refusal.Body)
	setPlaceholders(r, d)
	h.observe(d, start)
}

// account records an accepted trigger in the placeholders, logs and metrics.
func (h *Handler) account(r *http.Request, d *decision, start time.Time) {
	setPlaceholders(r, d)
	h.observe(d, start)
}

// observe writes the decision's log line and metrics.
func (h *Handler) observe(d *decision, start time.Time) {
	route := d.route.Kind.String()
	outcome, result, source := "accepted", "accepted", d.source
	if d.refusal != nil {
		outcome, result = d.refusal.Reason, "refused"
	}
	if source == "" {
		source = "none"
	}
	gatewayMetrics.requests.WithLabelValues(route, source, outcome).Inc()
	gatewayMetrics.duration.WithLabelValues(route, result).Observe(time.Since(start).Seconds())

	msg := "trigger accepted"
	if d.refusal != nil {
		msg = "trigger refused"
	}
	if ce := h.logger.Check(zapcore.InfoLevel, msg); ce != nil {
		fields := []zap.Field{
			zap.String("route", route),
			zap.String("project", d.project),
			zap.String("ref", d.ref),
			zap.String("source", d.source),
			zap.Int64("trigger_id", d.triggerID),
			zap.String("token_prefix", d.tokenPrefix),
			zap.String("outcome", outcome),
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
