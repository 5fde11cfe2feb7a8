package caddymodule

import (
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/triggergate/caddy-trigger-gateway/gitref"
	"github.com/triggergate/caddy-trigger-gateway/policy"
	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// Step 7, rules, for the ref: normalized, then the gateway's, the project's
// and the trigger token's ref rules.

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
