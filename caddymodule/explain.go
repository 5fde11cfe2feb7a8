package caddymodule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/triggergate/caddy-trigger-gateway/idempotency"
	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// redactionMarker stands in the explain answer for a secret's value.
const redactionMarker = "[redacted]"

// handlers are the provisioned trigger_gateway handlers of the running
// configuration, for the explain endpoint: it decides as they would.
var handlers sync.Map // *Handler -> struct{}

// explainRequest is the body of POST /trigger_gateway/explain.
type explainRequest struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
}

// explanation is what the gateway would decide for a request.
type explanation struct {
	// Decision is "accepted" or "refused".
	Decision string `json:"decision"`
	// Status is the status the gateway would answer a refusal with.
	Status int `json:"status,omitempty"`
	// Reason is the refusal's reason, as in logs and metrics.
	Reason string `json:"reason,omitempty"`
	// Detail says which rule refused, when one did.
	Detail string `json:"detail,omitempty"`
	// Answer is the body the caller would get for a refusal.
	Answer json.RawMessage `json:"answer,omitempty"`
	// Replayed says the request repeats one already answered under its
	// idempotency key: the caller would get that answer again (Status)
	// and nothing would be forwarded.
	Replayed bool `json:"replayed,omitempty"`

	Route       string   `json:"route"`
	Project     string   `json:"project,omitempty"`
	Ref         string   `json:"ref,omitempty"`
	Source      string   `json:"source,omitempty"`
	TriggerID   int64    `json:"trigger_id,omitempty"`
	TokenPrefix string   `json:"token_prefix,omitempty"`
	Rules       []string `json:"rules"`

	// Upstream names the project's upstream module: the CI the request
	// would go to, in its own API.
	Upstream string `json:"upstream,omitempty"`

	// Forward is the request the upstream would receive: the canonical
	// one for gitlab, the CI's own for the other upstream modules.
	Forward *explainedForward `json:"forward,omitempty"`
}

type explainedForward struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

// handleExplain answers what the gateway would decide for a request, and
// what it would forward, without forwarding anything or counting usage.
func (a *adminAPI) handleExplain(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return methodNotAllowed(w, r, http.MethodPost)
	}
	var req explainRequest
	if err := decodeAdminJSONUpTo(w, r, &req, explainMaxBody()); err != nil {
		return err
	}
	if req.Method == "" {
		req.Method = http.MethodPost
	}
	probe, err := http.NewRequestWithContext(r.Context(), req.Method, req.URL, strings.NewReader(req.Body))
	if err != nil || !strings.HasPrefix(probe.URL.Path, "/") {
		return adminError(http.StatusBadRequest, errors.New("url must be a request path such as /api/v4/projects/9/trigger/pipeline?ref=main"))
	}
	for name, value := range req.Headers {
		probe.Header.Set(name, value)
	}
	h, route, err := handlerFor(probe)
	if err != nil {
		return err
	}
	answer := h.explain(probe, route)
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(answer)
}

// explainMaxBody bounds an explain request: it carries a request body as a
// JSON string, which may be as large as the largest max_body, and larger
// to be explained as the 413 it gets; escaping (quotes, backslashes,
// newlines) may double it.
func explainMaxBody() int64 {
	largest := int64(0)
	handlers.Range(func(key, _ any) bool {
		largest = max(largest, key.(*Handler).MaxBody)
		return true
	})
	return adminMaxBody + 2*(largest+1)
}

// handlerFor finds the handler whose trigger API the request is for: among
// the handlers of the site the URL names (see siteHandlers), or of every
// site for a bare path, the longest path_prefix that serves the path wins,
// the first in route order among equals, as Caddy would run it. A bare
// path that several handlers serve equally is refused: their sites' rules
// may differ, and explaining the wrong one would mislead.
func handlerFor(r *http.Request) (*Handler, triggerapi.Route, error) {
	host, port, named := explainSite(r)
	candidates, ok := siteHandlers(host, port, named)
	if !ok {
		// No running HTTP app to read (tests provisioning handlers alone).
		handlers.Range(func(key, _ any) bool {
			candidates = append(candidates, key.(*Handler))
			return true
		})
	}
	var best []*Handler
	var bestRoute triggerapi.Route
	for _, h := range candidates {
		route, ok := triggerapi.ParseRoute(h.PathPrefix, r.URL.EscapedPath())
		switch {
		case !ok || (len(best) > 0 && len(h.PathPrefix) < len(best[0].PathPrefix)):
			continue
		case len(best) > 0 && len(h.PathPrefix) == len(best[0].PathPrefix):
			best = append(best, h)
		default:
			best, bestRoute = []*Handler{h}, route
		}
	}
	switch {
	case len(best) == 0 && named:
		return nil, bestRoute, adminError(http.StatusNotFound, fmt.Errorf("no trigger_gateway handler of a site serving %s on port %d serves this URL as a trigger API request", host, port))
	case len(best) == 0:
		return nil, bestRoute, adminError(http.StatusNotFound, errors.New("no trigger_gateway handler serves this URL as a trigger API request"))
	case len(best) > 1 && !named:
		return nil, bestRoute, adminError(http.StatusBadRequest, fmt.Errorf("%d trigger_gateway handlers serve trigger API requests under %s, in different sites or routes: name the site in url, like https://ci.example.com%s", len(best), best[0].PathPrefix, r.URL.RequestURI()))
	}
	return best[0], bestRoute, nil
}

// explain runs the handler's decision on r, steps 5 and 2 to 7 as
// ServeHTTP runs them, looks its idempotency key up as forward would, and
// shows the request forward would send, or the first answer a repeat gets
// again; it only records: it forwards nothing, counts no usage, takes no
// idempotency claim, writes no log line.
func (h *Handler) explain(r *http.Request, route triggerapi.Route) explanation {
	// Judged now, as a served request is at its start: a token's expiry
	// and the token cache's freshness read the decision's clock.
	d := decision{route: route, start: time.Now(), explain: true}
	h.findProject(&d)
	h.decide(r, &d)
	var firstAnswer *idempotency.Answer
	if d.refusal == nil && d.repeat.Key != "" {
		firstAnswer = h.peekRepeat(r, &d)
	}

	outcome, result := d.outcome()
	out := explanation{
		Decision:    result,
		Route:       route.Kind.String(),
		Project:     d.project,
		Ref:         d.ref,
		Source:      d.source,
		TriggerID:   d.triggerID,
		TokenPrefix: d.tokenPrefix,
		Rules:       d.rules,
		Detail:      d.detail,
		Upstream:    d.settings.upstream.name,
	}
	if out.Rules == nil {
		out.Rules = []string{}
	}
	if d.refusal != nil {
		out.Status = d.refusal.Status
		out.Reason = outcome
		out.Answer = d.refusal.Body
		return out
	}
	if firstAnswer != nil {
		out.Replayed, out.Status = true, firstAnswer.Status
		return out // nothing would be forwarded
	}

	h.rewrite(r, &d) // forward's first step, and nothing sent
	out.Forward = &explainedForward{
		Method:  r.Method,
		URL:     r.URL.RequestURI(),
		Headers: make(map[string]string),
	}
	secrets := h.secretValues()
	if d.request != nil {
		// The caller's token may ride elsewhere too (a payload's field, a
		// variable, a header of its own): forwarded, but shown nowhere.
		secrets = append(secrets, d.request.Token)
	}
	var moduleSecrets []string // the headers holding the CI module's credentials
	if ci := d.ciRequest; ci != nil {
		out.Forward.Body = redactedCIBody(ci.Body, secrets)
		moduleSecrets = ci.Secret
	} else {
		out.Forward.Body = redactedBody(d.body, secrets)
	}
	credential := d.settings.artifactsHeader
	for name, values := range r.Header {
		value := r.Header.Get(name)
		if credentialHeader(name, credential) || slices.Contains(moduleSecrets, name) || holdsSecret(values, secrets) {
			value = redactionMarker
		}
		out.Forward.Headers[name] = value
	}
	return out
}

// peekRepeat is serveOnce's look-up of the request's idempotency key, for
// explain: it claims nothing and waits for nothing. It returns the first
// answer a repeat would get, or sets d.refusal as serveOnce would (a key
// reused for another request, a storage failure).
func (h *Handler) peekRepeat(r *http.Request, d *decision) *idempotency.Answer {
	answer, err := h.repeats.Peek(r.Context(), d.repeat)
	switch {
	case errors.Is(err, idempotency.ErrMismatch):
		d.refusal = errKeyReused
	case errors.Is(err, idempotency.ErrInProgress):
		d.note("idempotency: a request with this key is in progress: serving waits for its answer (up to %s) and replays it", maxRepeatWait)
	case err != nil:
		d.refusal = triggerapi.ErrUnavailable // serving fails closed
	case answer != nil:
		d.note("idempotency: this key was answered %d at %s: serving replays that answer and forwards nothing",
			answer.Status, answer.SavedAt.UTC().Format(time.RFC3339))
	}
	return answer
}

// credentialHeaders carry credentials whoever set them: the explain answer
// shows them by name only.
var credentialHeaders = []string{headerJobToken, headerPrivateToken, headerAuthorization, "Proxy-Authorization", "Cookie"}

// credentialHeader reports whether the header named name carries a
// credential: one of credentialHeaders, or configured, the header the
// gateway sets the artifacts credential in.
func credentialHeader(name, configured string) bool {
	if configured != "" && strings.EqualFold(name, configured) {
		return true
	}
	for _, c := range credentialHeaders {
		if strings.EqualFold(name, c) {
			return true
		}
	}
	return false
}

// secretValues are the resolved secrets of the handler's configuration:
// upstream tokens, artifacts credentials, webhook secrets, variable values
// set from placeholders. Whatever header or variable
// the gateway (or anything else) puts one of them in, the explain answer
// must not show it.
func (h *Handler) secretValues() []string {
	secrets := append([]string{h.upstreamToken, h.artifactsSecret}, h.variableSecrets...)
	for _, rules := range h.projects { // a project's aliases add it again: harmless
		secrets = append(secrets, rules.upstreamToken, rules.artifactsCredential)
		if rules.webhook != nil {
			secrets = append(secrets, rules.webhook.GitLabToken, rules.webhook.GitHubSecret)
		}
	}
	return secrets
}

// holdsSecret reports whether any of values contains one of secrets.
func holdsSecret(values, secrets []string) bool {
	for _, v := range values {
		for _, s := range secrets {
			if s != "" && strings.Contains(v, s) {
				return true
			}
		}
	}
	return false
}

// redactedCIBody shows the body of another CI's request, a JSON value as
// it is and any other (Jenkins' form) as a JSON string, with every secret
// of the configuration in it replaced: the module never sees the caller's
// token, but a variable may be set from a secret.
func redactedCIBody(body []byte, secrets []string) json.RawMessage {
	if len(body) == 0 {
		return nil
	}
	text := redactedText(string(body), secrets)
	if json.Valid([]byte(text)) {
		return json.RawMessage(text)
	}
	shown, _ := json.Marshal(text)
	return shown
}

// redactedText is text with every secret in it, as it is, URL-encoded or
// as a JSON string carries it, replaced by the redaction marker.
func redactedText(text string, secrets []string) string {
	for _, s := range secrets {
		if s == "" {
			continue
		}
		quoted, _ := json.Marshal(s) // as a JSON string carries it
		for _, form := range []string{s, url.QueryEscape(s), string(quoted[1 : len(quoted)-1])} {
			text = strings.ReplaceAll(text, form, redactionMarker)
		}
	}
	return text
}

// redactedBody shows the canonical body with its token reduced to the
// prefix a log line may show, the variables holding a secret blanked, and
// any other secret in it replaced.
func redactedBody(body []byte, secrets []string) json.RawMessage {
	if len(body) == 0 {
		return nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil
	}
	var token string
	_ = json.Unmarshal(fields["token"], &token)
	shown := displayPrefix(token)
	if shown == "" {
		shown = redactionMarker
	} else {
		shown += "…"
	}
	fields["token"], _ = json.Marshal(shown)
	var variables map[string]string
	if json.Unmarshal(fields["variables"], &variables) == nil {
		blanked := false
		for name, value := range variables {
			if holdsSecret([]string{value}, secrets) {
				variables[name], blanked = redactionMarker, true
			}
		}
		if blanked {
			fields["variables"], _ = json.Marshal(variables)
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(fields); err != nil {
		return nil
	}
	// A secret elsewhere in the body, a webhook payload's field say.
	text := redactedText(string(bytes.TrimSpace(buf.Bytes())), secrets)
	if !json.Valid([]byte(text)) {
		shown, _ := json.Marshal(text)
		return shown
	}
	return json.RawMessage(text)
}
