package caddymodule

import (
	"bytes"
	"errors"
	"net/http"

	"github.com/triggergate/caddy-trigger-gateway/policy"
	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
	"github.com/triggergate/caddy-trigger-gateway/webhook"
)

// The trigger flow: POST /projects/:id/trigger/pipeline and its webhook
// form /projects/:id/ref/:ref/trigger/pipeline, steps 2 to 7 (decide runs
// them for ServeHTTP and explain alike); in the order below, each refusal
// answered by the first step that finds it.

// decideTrigger runs steps 2 to 7 of a trigger request; on acceptance d
// holds the canonical body. It changes nothing outside d.
func (h *Handler) decideTrigger(r *http.Request, d *decision) *triggerapi.Error {
	if refusal := refuseTriggerEarly(r, d); refusal != nil { // 4 refuse what the headers alone refuse
		return refusal
	}
	buf := bodyBuffers.Get().(*bytes.Buffer)
	defer releaseBuffer(buf)
	if refusal := h.readBody(r, buf); refusal != nil { // 2 read
		return refusal
	}
	if refusal := h.checkWebhook(r, d, buf.Bytes()); refusal != nil { // 6 auth of a delivery: its raw body
		return refusal
	}
	// 3 parse, and 4 refuse a missing token or ref, variables of a bad shape
	d.bodySize = buf.Len()
	req := &d.state().request
	if refusal := triggerapi.ParseInto(req, d.route, headerValue(r.Header, headerContentType), r.URL.RawQuery, buf.Bytes()); refusal != nil {
		return refusal
	}
	// A refusal from here on is a use of a trigger: its delivery names the variables.
	d.request = req
	if refusal := h.authenticate(r, d, req.Token); refusal != nil { // 6 auth
		return refusal
	}
	if refusal := h.checkRef(d, req.Ref); refusal != nil { // 7 rules: the ref,
		return refusal
	}
	if refusal := h.checkRefRules(d); refusal != nil {
		return refusal
	}
	variables, refusal := h.applyVariableRules(d, req) // the variables and inputs,
	if refusal != nil {
		return refusal
	}
	if refusal := h.buildRequest(d, req, variables); refusal != nil { // the CI's request,
		return refusal
	}
	return h.checkRepeat(r, d) // and the idempotency key
}

// refuseTriggerEarly refuses, before the body is read, a method the route
// does not serve, GitLab's own pipeline events sent back (a Pipeline Hook
// would trigger a pipeline per pipeline), and a credential given twice.
func refuseTriggerEarly(r *http.Request, d *decision) *triggerapi.Error {
	if r.Method != d.route.Kind.Method() {
		return triggerapi.ErrMethod
	}
	if headerValue(r.Header, headerGitlabEvent) == "Pipeline Hook" {
		return triggerapi.ErrPipelineHook
	}
	refusal, detail := refuseConflictingCredential(r.Header)
	d.detail = detail
	return refusal
}

// applyVariableRules applies the project's variable rules to the caller's
// variables, which it returns as they are to be forwarded, and the
// variables' limits to its inputs, counted apart from them.
func (h *Handler) applyVariableRules(d *decision, req *triggerapi.Request) (triggerapi.Variables, *triggerapi.Error) {
	variables, applied, violation := d.settings.variables.Apply(req.Variables)
	if violation != nil {
		d.detail = violation.Message
		return nil, triggerapi.MessageError(http.StatusBadRequest, violation.Rule, violation.Message)
	}
	if d.explain { // formatting boxes its arguments: not on the request path
		d.note("variables: %d from the caller accepted by the variable rules", len(req.Variables))
		d.rules = append(d.rules, applied...)
	}
	if violation := policy.CheckInputs(req.Inputs, h.MaxVariables, h.MaxVariableSize); violation != nil {
		d.detail = violation.Message
		return nil, triggerapi.MessageError(http.StatusBadRequest, violation.Rule, violation.Message)
	}
	return variables, nil
}

// upstreamToken is the token the canonical body carries: the project's
// configured upstream_token, or the caller's own.
func upstreamToken(d *decision, req *triggerapi.Request) string {
	if token := d.settings.upstreamToken; token != "" {
		d.note("upstream token: the configured upstream_token")
		return token
	}
	d.note("upstream token: the caller's own")
	return req.Token
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
