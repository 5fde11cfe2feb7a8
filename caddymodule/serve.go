package caddymodule

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/triggergate/caddy-trigger-gateway/tokenstore"
	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

var errNotTriggerAPI = errors.New("not a trigger API request")

// ServeHTTP follows one request through the architecture's nine steps.
// Step 1 finds the route family: GitLab's management API has a flow of its
// own (management.go); the trigger routes (trigger.go) and artifact
// downloads (artifacts.go) decide steps 2 to 7 each in its own file, with
// the very code explain runs (decide), then share forwarding and
// accounting. Every refusal is answered at the step that finds it, and
// nothing after it runs but the accounting.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	start := time.Now()
	// Whatever the outcome, what runs after the handler sees no credential.
	defer h.scrubRequest(r)

	route, ok := triggerapi.ParseRoute(h.PathPrefix, r.URL.EscapedPath()) // 1 route
	if !ok {
		return h.serveManagement(w, r, start) // the management API's own flow, or a 404
	}
	h.boundBodyRead(w, r, start) // the body must arrive within read_body_timeout from now
	d := decision{route: route, start: start}
	h.findProject(&d)                // 5 project, first: every refusal's log line names it
	h.checkFailedAuthLimit(w, r, &d) // a client over its limit is refused before any lookup
	if d.refusal == nil {
		h.decide(r, &d) // 2 read, 3 parse, 4 refuse, 6 auth, 7 rules: the family's flow
	}
	var err error
	if d.refusal == nil {
		err = h.forward(w, r, &d, next) // 8 forward, or replay a repeat's first answer
	}
	if d.refusal != nil {
		h.refuse(w, &d) // whichever step refused
	}
	h.account(r, &d) // 9 account, whatever the outcome
	drainRefusedBody(w, r, d.refusal)
	return err
}

// findProject is step 5: the project the route names (an alias, or its
// path in any case) is its canonical project, whose compiled rules the
// decision keeps (rulesFor).
func (h *Handler) findProject(d *decision) {
	d.project, d.settings = h.rulesFor(d.route.Project)
	if !d.explain || d.project == d.route.Project { // formatting boxes its arguments: not on the request path
		return
	}
	if d.project == tokenstore.FoldProject(d.route.Project) {
		d.note("project: %s is project %s (project paths are case-insensitive)", d.route.Project, d.project)
	} else {
		d.note("project: %s is an alias of project %s", d.route.Project, d.project)
	}
}

// decide runs steps 2 to 7 of the route family's flow, for a request
// served and for explain alike: on acceptance d holds what forward needs,
// otherwise d.refusal says why not. It changes nothing outside d. A new
// family that forwards to the CI adds its case here and its rewrite to
// forward.
func (h *Handler) decide(r *http.Request, d *decision) {
	switch d.route.Kind {
	case triggerapi.KindArtifacts:
		d.refusal = h.decideArtifacts(r, d)
	default: // triggerapi.KindPipeline, triggerapi.KindWebhook
		d.refusal = h.decideTrigger(r, d)
	}
}

// refuse answers a refusal in GitLab's JSON shape. Refusals are API
// answers, not handler errors: GitLab clients read the JSON body, which
// Caddy's error handling would replace.
func (h *Handler) refuse(w http.ResponseWriter, d *decision) {
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
