package integration

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// explainedForward is the request an explanation would forward, its body
// as it is.
type explainedForward struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// fullExplanation is an explanation with the forwarded body as it is.
type fullExplanation struct {
	Decision    string            `json:"decision"`
	Status      int               `json:"status"`
	Reason      string            `json:"reason"`
	Answer      json.RawMessage   `json:"answer"`
	Route       string            `json:"route"`
	Project     string            `json:"project"`
	Ref         string            `json:"ref"`
	Source      string            `json:"source"`
	TriggerID   int64             `json:"trigger_id"`
	TokenPrefix string            `json:"token_prefix"`
	Forward     *explainedForward `json:"forward"`
}

// explainCase is one request, explained and then served.
type explainCase struct {
	name    string
	method  string
	path    string
	headers map[string]string
	body    reqBody
}

// explainThenServe explains c, serves it, and checks that both decided
// alike: the same verdict, status, answer and forwarded request, and one
// request counted by the metrics, with the labels explain's decision
// names; explaining moved nothing.
func (g *gateway) explainThenServe(t *testing.T, c explainCase, callerToken string) {
	t.Helper()
	method := c.method
	if method == "" {
		method = http.MethodPost
	}
	headers := map[string]string{}
	for k, v := range c.headers {
		headers[k] = v
	}
	if c.body.ContentType != "" {
		headers["Content-Type"] = c.body.ContentType
	}
	requestsBefore := g.metricValue(t, "caddy_trigger_gateway_requests_total")
	resp := g.adminPostJSON(t, "/trigger_gateway/explain", map[string]any{
		"method": method, "url": c.path, "headers": headers, "body": string(c.body.Data),
	})
	if resp.Status != 200 {
		t.Fatalf("explain: %s", resp)
	}
	g.assertNoTokenBeyondPrefix(t, "the explanation", string(resp.Body))
	var e fullExplanation
	if err := json.Unmarshal(resp.Body, &e); err != nil {
		t.Fatal(err)
	}
	assertNothingForwarded(t, g.up)
	if got := g.metricValue(t, "caddy_trigger_gateway_requests_total"); got != requestsBefore {
		t.Errorf("explain moved requests_total from %v to %v", requestsBefore, got)
	}

	outcome := e.Reason
	if e.Decision == "accepted" {
		outcome = "accepted"
	}
	source := e.Source
	if source == "" {
		source = "none"
	}
	counted := g.delta(t, counter{"caddy_trigger_gateway_requests_total", []string{"route", e.Route, "source", source, "outcome", outcome}})
	all := g.delta(t, counter{"caddy_trigger_gateway_requests_total", nil})

	req, err := http.NewRequest(method, g.base()+c.path, bytes.NewReader(c.body.Data))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	logged := len(g.accessLogEntries(t, 0))
	served := g.do(t, req)
	ups := g.up.take()
	// The access log's decision fields ({http.trigger.*}) say what explain said.
	if entries := g.accessLogEntries(t, logged+1); len(entries) != logged+1 {
		t.Errorf("%d access log entries, want %d", len(entries), logged+1)
	} else if entry := entries[logged]; entry["trigger_outcome"] != outcome || entry["trigger_project"] != e.Project ||
		entry["trigger_ref"] != e.Ref || entry["trigger_source"] != e.Source || entry["trigger_token_prefix"] != e.TokenPrefix {
		t.Errorf("access log decision %v %v %v %v %v; explain: %s %s %s %s %s", entry["trigger_outcome"], entry["trigger_project"],
			entry["trigger_ref"], entry["trigger_source"], entry["trigger_token_prefix"], outcome, e.Project, e.Ref, e.Source, e.TokenPrefix)
	}
	if got := counted(); got != 1 {
		t.Errorf("requests_total{route=%s,source=%s,outcome=%s} moved by %v, want 1", e.Route, source, outcome, got)
	}
	if got := all(); got != 1 {
		t.Errorf("requests_total moved by %v in all, want 1", got)
	}

	if e.Decision == "refused" {
		if served.Status != e.Status || !jsonEqual(served.Body, e.Answer) || len(ups) != 0 {
			t.Errorf("explain: refused %d %s (%s); served: %s, %d forwarded", e.Status, e.Answer, e.Reason, served, len(ups))
		}
		return
	}
	if e.Decision != "accepted" || e.Forward == nil {
		t.Fatalf("explanation %s", resp.Body)
	}
	if served.Status != 201 || len(ups) != 1 {
		t.Fatalf("explain accepted; served: %s, %d forwarded", served, len(ups))
	}
	up := ups[0]
	wantURL := up.EscapedPath
	if up.RawQuery != "" {
		wantURL += "?" + up.RawQuery
	}
	if e.Forward.Method != up.Method || e.Forward.URL != wantURL {
		t.Errorf("explain would forward %s %s; served forwarded %s %s", e.Forward.Method, e.Forward.URL, up.Method, wantURL)
	}
	for name, value := range e.Forward.Headers {
		if strings.HasPrefix(name, "X-Trigger") && up.Header.Get(name) != value {
			t.Errorf("header %s: explain %q, forwarded %q", name, value, up.Header.Get(name))
		}
	}
	for name := range up.Header {
		if _, ok := e.Forward.Headers[name]; !ok && strings.HasPrefix(name, "X-Trigger") {
			t.Errorf("header %s forwarded, not in explain", name)
		}
	}
	var explainedBody, forwardedBody map[string]any
	if err := json.Unmarshal(e.Forward.Body, &explainedBody); err != nil {
		t.Fatalf("explained body %s: %v", e.Forward.Body, err)
	}
	if err := json.Unmarshal(up.Body, &forwardedBody); err != nil {
		t.Fatalf("forwarded body: %v", err)
	}
	if tok, _ := forwardedBody["token"].(string); tok != callerToken {
		t.Errorf("forwarded token is not the caller's")
	}
	if shown, _ := explainedBody["token"].(string); !strings.HasPrefix(callerToken, strings.TrimSuffix(shown, "…")) || shown == callerToken {
		t.Errorf("explained token %q is not the caller's prefix", shown)
	}
	delete(explainedBody, "token")
	delete(forwardedBody, "token")
	if !reflect.DeepEqual(explainedBody, forwardedBody) {
		t.Errorf("explain would forward %s; served forwarded %s", mustJSON(explainedBody), mustJSON(forwardedBody))
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(bytes.TrimSpace(a), bytes.TrimSpace(b))
	}
	return reflect.DeepEqual(x, y)
}

// Explain decides as serving does, request by request: each refusal kind,
// each form, the webhook route, aliases and case variants, policies that
// widen and narrow.
func TestExplainDecidesAsServing(t *testing.T) {
	t.Parallel()
	hookSecret := "hook-" + randomHex(12)
	g := newGateway(t, config{
		Gateway: `
			variables {
				rename ENV ENVIRONMENT
				default LOG_LEVEL info
				deny *_PASSWORD
				pattern DEPLOY_ENV ^(staging|production)$
			}
			refs main v* feature/**
			max_body 16KiB
			project 9 {
				alias group/proj
			}
			project 12 {
				refs main
				variables {
					allow DEPLOY_* ENV
				}
				webhook_gitlab_token {env.EXPLAIN_HOOK_SECRET}
			}`,
		Env: map[string]string{"EXPLAIN_HOOK_SECRET": hookSecret},
	})
	g.secrets.addSecret(hookSecret, "webhook secret")
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "nine", Owner: "alice"})
	tr12 := g.addTrigger(t, addOpts{Project: "12", Description: "twelve", Owner: "bob"})
	revoked := g.addTrigger(t, addOpts{Project: "9", Description: "revoked", Owner: "carol"})
	g.revokeTrigger(t, revoked.ID)
	expired := g.addTrigger(t, addOpts{Project: "9", Description: "expiring", Owner: "dave", ExpiresAt: time.Now().Add(2 * time.Second).UTC().Format(time.RFC3339)})
	time.Sleep(3 * time.Second)

	const p9 = "/api/v4/projects/9/trigger/pipeline"
	const p12 = "/api/v4/projects/12/trigger/pipeline"
	const value = "staging-1" // the caller's own values: explain shows them
	cases := []explainCase{
		{name: "json", path: p9, body: jsonBody(map[string]any{"token": tr.Token, "ref": "main", "variables": map[string]string{"ENV": value}})},
		{name: "form", path: p9, body: urlencoded("token", tr.Token, "ref", "refs/heads/main", "variables[A]", value)},
		{name: "multipart", path: p9, body: multipartForm("token", tr.Token, "ref", "v1.2", "variables[DEPLOY_ENV]", "staging")},
		{name: "query", path: p9 + "?token=" + tr.Token + "&ref=feature/x/y&variables[B]=" + value},
		{name: "json with payload", path: p9, body: jsonBody(map[string]any{"token": tr.Token, "ref": "main", "object_kind": "push", "nested": map[string]any{"a": 1}})},
		{name: "webhook route", path: "/api/v4/projects/9/ref/feature%2Fz/trigger/pipeline?token=" + tr.Token, body: jsonBody(map[string]any{"ref": "refs/heads/main", "object_kind": "push"})},
		{name: "alias", path: "/api/v4/projects/group%2Fproj/trigger/pipeline", body: jsonBody(map[string]any{"token": tr.Token, "ref": "main"})},
		{name: "alias in other case", path: "/api/v4/projects/Group%2FProj/trigger/pipeline", body: jsonBody(map[string]any{"token": tr.Token, "ref": "main"})},
		{name: "project 12 widened allow", path: p12, body: jsonBody(map[string]any{"token": tr12.Token, "ref": "main", "variables": map[string]string{"DEPLOY_X": "1"}})},
		{name: "project 12 delivery with secret", path: p12, headers: map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": hookSecret}, body: jsonBody(map[string]any{"token": tr12.Token, "ref": "main"})},

		{name: "missing token", path: p9, body: jsonBody(map[string]any{"ref": "main"})},
		{name: "missing ref", path: p9, body: jsonBody(map[string]any{"token": tr.Token})},
		{name: "unknown token", path: p9, body: jsonBody(map[string]any{"token": g.glpttToken(), "ref": "main"})},
		{name: "other project's token", path: p9, body: jsonBody(map[string]any{"token": tr12.Token, "ref": "main"})},
		{name: "revoked", path: p9, body: jsonBody(map[string]any{"token": revoked.Token, "ref": "main"})},
		{name: "expired", path: p9, body: jsonBody(map[string]any{"token": expired.Token, "ref": "main"})},
		{name: "pipeline hook", path: p9, headers: map[string]string{"X-Gitlab-Event": "Pipeline Hook"}, body: jsonBody(map[string]any{"token": tr.Token, "ref": "main"})},
		{name: "CI_ variable", path: p9, body: jsonBody(map[string]any{"token": tr.Token, "ref": "main", "variables": map[string]string{"CI_X": value}})},
		{name: "denied variable", path: p9, body: jsonBody(map[string]any{"token": tr.Token, "ref": "main", "variables": map[string]string{"DB_PASSWORD": value}})},
		{name: "pattern", path: p9, body: jsonBody(map[string]any{"token": tr.Token, "ref": "main", "variables": map[string]string{"DEPLOY_ENV": value}})},
		{name: "ref not allowed", path: p9, body: jsonBody(map[string]any{"token": tr.Token, "ref": "other"})},
		{name: "project 12 narrowed refs", path: p12, body: jsonBody(map[string]any{"token": tr12.Token, "ref": "v1"})},
		{name: "project 12 allow narrows", path: p12, body: jsonBody(map[string]any{"token": tr12.Token, "ref": "main", "variables": map[string]string{"OTHER": "1"}})},
		{name: "project 12 webhook no secret", path: "/api/v4/projects/12/ref/main/trigger/pipeline?token=" + tr12.Token, body: jsonBody(map[string]any{"object_kind": "push"})},
		{name: "sha ref", path: p9, body: jsonBody(map[string]any{"token": tr.Token, "ref": strings.Repeat("ab", 20)})},
		{name: "case variant field", path: p9, body: jsonBody(map[string]any{"token": tr.Token, "ref": "main", "Ref": "other"})},
		{name: "case variant variables", path: p9, body: jsonBody(map[string]any{"token": tr.Token, "ref": "main", "variables": map[string]string{"A": "1", "a": "2"}})},
		{name: "bad variables", path: p9, body: rawJSON(`{"token":"` + tr.Token + `","ref":"main","variables":["x"]}`)},
		{name: "key too long", path: p9, headers: map[string]string{"Idempotency-Key": strings.Repeat("k", 300)}, body: jsonBody(map[string]any{"token": tr.Token, "ref": "main"})},
		{name: "GET", method: "GET", path: p9 + "?token=" + tr.Token + "&ref=main"},
		{name: "oversize", path: p9, body: jsonBody(map[string]any{"token": tr.Token, "ref": "main", "variables": map[string]string{"A": strings.Repeat("x", 20<<10)}})},
		{name: "token in query and body", path: p9 + "?token=" + tr.Token, body: jsonBody(map[string]any{"token": tr.Token, "ref": "main"})},
		{name: "job token header and token", path: p9, headers: map[string]string{"JOB-TOKEN": "x"}, body: jsonBody(map[string]any{"token": tr.Token, "ref": "main"})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			caller := tr.Token
			if strings.Contains(c.path, "/12/") {
				caller = tr12.Token
			}
			g.explainThenServe(t, c, caller)
		})
	}

	// A key already answered: explain looks it up as serving does.
	key := uuid()
	keyed := func(ref string) explainCase {
		return explainCase{path: p9, headers: map[string]string{"Idempotency-Key": key},
			body: jsonBody(map[string]any{"token": tr.Token, "ref": ref})}
	}
	t.Run("first request with a key", func(t *testing.T) { g.explainThenServe(t, keyed("main"), tr.Token) })
	t.Run("the key reused for another request", func(t *testing.T) { g.explainThenServe(t, keyed("v2"), tr.Token) })
	t.Run("the request repeated", func(t *testing.T) {
		c := keyed("main")
		resp := g.adminPostJSON(t, "/trigger_gateway/explain", map[string]any{
			"url": c.path, "headers": map[string]string{"Content-Type": c.body.ContentType, "Idempotency-Key": key}, "body": string(c.body.Data),
		})
		var e struct {
			Decision string          `json:"decision"`
			Replayed bool            `json:"replayed"`
			Status   int             `json:"status"`
			Forward  json.RawMessage `json:"forward"`
		}
		if resp.Status != 200 || json.Unmarshal(resp.Body, &e) != nil {
			t.Fatalf("explain: %s", resp)
		}
		served := g.post(t, c.path, c.body, "Idempotency-Key", key)
		assertNothingForwarded(t, g.up)
		if e.Decision != "accepted" || !e.Replayed || e.Status != served.Status || e.Forward != nil ||
			served.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("explain: %s; served %s (Idempotent-Replayed %q)", resp.Body, served, served.Header.Get("Idempotent-Replayed"))
		}
	})
}

// Explain decides on job tokens as serving does: a job of a project on the
// allowlist, one not on it, an expired token, one signed by another key.
func TestExplainDecidesAsServingJobTokens(t *testing.T) {
	t.Parallel()
	signer := jobKey(0, "gitlab-1")
	jwks := newJWKSServer(t, signer)
	g := newGateway(t, config{Gateway: jobTokenBlock(jwks) + `
		project 9 {
			job_token_allow 12
		}`})
	const p9 = "/api/v4/projects/9/trigger/pipeline"
	tokens := map[string]string{
		"allowed":     g.jobToken(t, signer, deployJob, nil),
		"not allowed": g.jobToken(t, signer, toolJob, nil),
		"expired":     g.jobToken(t, signer, deployJob, func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }),
		"other key":   g.jobToken(t, jobKey(1, "gitlab-1"), deployJob, nil),
	}
	for name, token := range tokens {
		t.Run(name, func(t *testing.T) {
			g.explainThenServe(t, explainCase{path: p9, body: urlencoded("token", token, "ref", "main")}, token)
		})
	}
}
