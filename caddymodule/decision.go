package caddymodule

import (
	"fmt"
	"time"

	"github.com/triggergate/caddy-trigger-gateway/idempotency"
	"github.com/triggergate/caddy-trigger-gateway/jobtoken"
	"github.com/triggergate/caddy-trigger-gateway/tokenstore"
	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
	"github.com/triggergate/caddy-trigger-gateway/upstream"
)

// Pipeline sources, as GitLab names them: a trigger token's pipelines are
// "trigger", a job token's (multi-project pipelines) are "pipeline".
const (
	sourceTrigger  = "trigger"
	sourcePipeline = "pipeline"
)

// decision is what the handler found out about one request, for the
// answer, the log line, the metrics and the placeholders: steps 1 to 7
// fill it (the same code for a request served and for explain), forward
// adds what became of it upstream, account reads it.
type decision struct {
	start       time.Time // when the handler took the request
	client      string    // the client's IP, when the failed-authentication limit is on
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
	bodySize   int                    // the caller's body's, whose one copy the request's strings are cut from
	body       []byte                 // the canonical body to forward (gitlab)
	// For a project whose upstream module is another CI's: the accepted
	// trigger as the module read it, and the request it built in its CI's
	// API, sent in place of the canonical one.
	ciTrigger *upstream.Trigger
	ciRequest *upstream.Request
	repeat    idempotency.Request // the key it may repeat an earlier request under; zero: none

	// What forward did: set by forward and serveUpstream, read by account.
	forwarded bool // handed to the next handler (not refused, not replayed)
	replayed  bool // a repeat answered with the first answer
	// upstreamStatus is the status of the CI's answer: passed on to the
	// caller as it is (gitlab), or read by the project's upstream module,
	// whose caller gets GitLab's answer instead; or the gateway's GitLab-shaped 502/503/504 when the CI
	// could not be reached (upstreamWriter.synthesized), or, replayed, the
	// first answer's. 0: not forwarded, or the next handler wrote nothing
	// (it returned an error that Caddy answers).
	upstreamStatus int
	pipeline       triggerapi.Pipeline // the pipeline the upstream's answer named, if any
	// took is the gateway's own time on the request: until it was handed
	// to the next handler, or until account for a request not forwarded.
	took time.Duration

	placeholders *triggerPlaceholders // the request's {http.trigger.*}, once set
	scratch      *requestState        // what the request allocates, once (state)

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

// What became of a request, in the words of the logs, the metrics, the
// placeholders, explain and the management API's log line: its outcome
// ("accepted", "replayed" or the reason it was refused) and its result,
// the outcome's class ("accepted" or "refused").
const (
	outcomeAccepted = "accepted"
	outcomeReplayed = "replayed"
	resultAccepted  = "accepted"
	resultRefused   = "refused"
)

// outcomeOf is the one place an outcome and its result are worked out: a
// refusal's reason, a repeat answered with its first answer, or accepted.
func outcomeOf(refusal *triggerapi.Error, replayed bool) (outcome, result string) {
	switch {
	case refusal != nil:
		return refusal.Reason, resultRefused
	case replayed:
		return outcomeReplayed, resultAccepted
	}
	return outcomeAccepted, resultAccepted
}

// outcome is what became of the request decided (see outcomeOf).
func (d *decision) outcome() (outcome, result string) {
	return outcomeOf(d.refusal, d.replayed)
}
