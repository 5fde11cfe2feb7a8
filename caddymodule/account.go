package caddymodule

import (
	"net/http"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// account is step 9, the one place where what became of a request is
// recorded, whatever it was: a refused credential against its client's
// failed-authentication limit; for a forwarded request, the trigger's use
// and the pipeline the CI's answer named, if any (the trigger's last
// pipeline, written with its usage, and {http.trigger.pipeline_id}); the
// placeholders of a request not forwarded (forwarding set them already);
// then the decision's log line and metrics (observe).
func (h *Handler) account(r *http.Request, d *decision) {
	if d.refusal != nil && h.limiter != nil && failedAuthentication[d.refusal] {
		h.limiter.failed(d.client, d.start)
	}
	if !d.forwarded {
		setPlaceholders(r, d)
		d.took = time.Since(d.start)
		h.observe(d)
		return
	}
	d.credential.RecordUse(d.start) // a job token's has no trigger: a no-op
	if d.pipeline.ID != 0 {
		d.credential.RecordPipeline(d.start, d.pipeline.ID, d.pipeline.WebURL)
		if d.placeholders != nil {
			d.placeholders.pipelineID = d.pipeline.ID // {http.trigger.pipeline_id}
		}
	}
	h.observe(d)
}

// observe writes the decision's log line and metrics, with the gateway's
// own time on the request (d.took).
func (h *Handler) observe(d *decision) {
	route := d.route.Kind.String()
	outcome, result := d.outcome()
	countRequest(d.route.Kind, d.source, outcome, result, d.took)
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

// sourceLabel is the metric label of a source; "none" before authentication.
func sourceLabel(source string) string {
	if source == "" {
		return "none"
	}
	return source
}
