package caddymodule

import (
	"net/http"
	"strings"

	"github.com/triggergate/caddy-trigger-gateway/idempotency"
	"github.com/triggergate/caddy-trigger-gateway/tokenstore"
	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// recordDelivery keeps a use of a known trigger for its recent deliveries
// (the admin API's /triggers/{id}/deliveries, 'caddy trigger show'): an
// accepted or replayed request, or one refused once its trigger token was
// identified (revoked, expired, another project's, a ref or variable
// rule...), with the outcome its log line names. A job token and an
// unknown token name no trigger, and explain records nothing. Only the
// names of the variables are kept, never their values. It does no I/O:
// the store writes deliveries with its usage flush.
func (h *Handler) recordDelivery(d *decision, outcome string) {
	if d.triggerID == 0 || d.explain || h.gateway == nil || h.gateway.store == nil {
		return
	}
	delivery := tokenstore.Delivery{
		Time:      d.start,       // the request's clock read: no second one
		Source:    sourceTrigger, // only trigger tokens name a trigger
		Ref:       d.ref,
		Variables: variableNames(d.request),
		Outcome:   outcome,
		Status:    d.upstreamStatus,
	}
	if d.pipeline.ID != 0 {
		id := d.pipeline.ID // allocated only when there is one
		delivery.PipelineID, delivery.WebURL = &id, d.pipeline.WebURL
	}
	if d.bodySize > maxSharedBody {
		detachNames(&delivery)
	}
	h.gateway.store.RecordDelivery(d.triggerID, delivery)
}

// maxSharedBody is the largest body a recorded delivery may keep alive
// until the store writes it: the ref and the variables' names are cut
// from a copy of the caller's body (triggerapi.Parse), and up to
// thousands of deliveries wait for a flush. A delivery from a larger body
// copies them instead.
const maxSharedBody = 1 << 10

// detachNames gives a delivery's ref and variable names a copy of their
// own, in one allocation, so that they keep nothing else alive.
func detachNames(delivery *tokenstore.Delivery) {
	size := len(delivery.Ref)
	for _, name := range delivery.Variables {
		size += len(name)
	}
	var b strings.Builder
	b.Grow(size)
	b.WriteString(delivery.Ref)
	for _, name := range delivery.Variables {
		b.WriteString(name)
	}
	all := b.String()
	delivery.Ref, all = all[:len(delivery.Ref)], all[len(delivery.Ref):]
	for i, name := range delivery.Variables {
		delivery.Variables[i], all = all[:len(name)], all[len(name):]
	}
}

// variableNames lists the caller's variable names, sorted; the request
// is nil when the refusal came before the request was parsed.
func variableNames(req *triggerapi.Request) []string {
	if req == nil || len(req.Variables) == 0 {
		return nil
	}
	return req.Variables.Names(nil)
}

// replayedPipeline is the pipeline a replayed answer names, read as the
// first answer was (a 2xx JSON answer, see pipelineCapture; decoded when
// the CI compressed it).
func replayedPipeline(a *idempotency.Answer) triggerapi.Pipeline {
	header := http.Header(a.Header)
	if a.Status < 200 || a.Status > 299 || !triggerapi.IsJSONContentType(headerValue(header, headerContentType)) {
		return triggerapi.Pipeline{}
	}
	body, ok := decodeAnswerBody(headerValue(header, headerContentEncoding), a.Body, maxSavedAnswer)
	if !ok {
		return triggerapi.Pipeline{}
	}
	p, _ := triggerapi.ParsePipeline(body)
	return p
}
