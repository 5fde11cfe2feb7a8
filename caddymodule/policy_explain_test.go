package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/triggergate/caddy-trigger-gateway/policy"
)

// explainPrefix is the path prefix of the explain tests' handler: no other
// test's handler serves it, so the explain endpoint can only pick this one.
const explainPrefix = "/explain-test/api/v4"

// explainCall posts body to the admin API's explain route.
func explainCall(t *testing.T, body string) *httptest.ResponseRecorder {
	t.Helper()
	a := &adminAPI{log: zap.NewNop()}
	req := httptest.NewRequest(http.MethodPost, "/trigger_gateway/explain", strings.NewReader(body))
	rec := httptest.NewRecorder()
	renderAdminResult(t, rec, a.handleAPI(rec, req))
	return rec
}

// POST /trigger_gateway/explain answers what the handler would decide and
// forward, with the token reduced to its prefix, and changes nothing:
// no forwarding, no use counted, no metrics, no idempotency claim.
func TestExplainPolicies(t *testing.T) {
	const upstreamToken = "upstream-token-12-0f0e0d0c0b0a"
	h := provisionHandler(t, &Handler{
		PathPrefix: explainPrefix,
		Variables: &policy.VariableRules{
			Rename:  map[string]string{"ENV": "ENVIRONMENT"},
			Default: map[string]string{"LOG_LEVEL": "info"},
		},
		Refs: []string{"main", "v*"},
		Projects: map[string]*Project{
			"9":  {Aliases: []string{"group/app"}},
			"12": {UpstreamToken: new(upstreamToken)},
		},
	}, "")
	trigger, token := createToken(t, h, "9", "alice")
	trigger12, token12 := createToken(t, h, "12", "bob")
	revokedTrigger, revokedToken := createToken(t, h, "9", "carol")
	if err := h.gateway.store.Revoke(context.Background(), revokedTrigger.ID, revokedByAdminAPI); err != nil {
		t.Fatal(err)
	}
	pipeline := explainPrefix + "/projects/9/trigger/pipeline"
	explainedKey := "explained-" + idemKey()

	type want struct {
		decision, project, ref, reason, detail string
		status                                 int
		triggerID                              int64
		tokenPrefix                            string
		forwardURL                             string
		forwardToken                           string
		forwardVars                            map[string]string
		rules                                  []string // parts of rules, each in some rule
		answer                                 string
	}
	tests := []struct {
		name string
		req  explainRequest
		want want
	}{
		{
			name: "accepted: form body, variables after the rules",
			req: explainRequest{Method: "POST", URL: pipeline,
				Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
				Body:    url.Values{"token": {token}, "ref": {"main"}, "variables[ENV]": {"staging"}}.Encode()},
			want: want{decision: "accepted", project: "9", ref: "main", triggerID: trigger.ID, tokenPrefix: token[:10],
				forwardURL: pipeline, forwardToken: token[:10] + "…",
				forwardVars: map[string]string{"ENVIRONMENT": "staging", "LOG_LEVEL": "info"},
				rules:       []string{"renamed ENV to ENVIRONMENT", "default LOG_LEVEL", "caller's own", "allowed by the gateway's ref rules"}},
		},
		{
			name: "accepted: an alias, method omitted, token in the query",
			req:  explainRequest{URL: explainPrefix + "/projects/group%2Fapp/trigger/pipeline?ref=v1.0&token=" + token},
			want: want{decision: "accepted", project: "9", ref: "v1.0", triggerID: trigger.ID, tokenPrefix: token[:10],
				forwardURL: pipeline, forwardToken: token[:10] + "…", forwardVars: map[string]string{"LOG_LEVEL": "info"},
				rules: []string{"alias"}},
		},
		{
			name: "accepted: the upstream token is shown by its prefix",
			req: explainRequest{URL: explainPrefix + "/projects/12/ref/main/trigger/pipeline?token=" + token12,
				Headers: map[string]string{"Content-Type": "application/json", "Idempotency-Key": explainedKey},
				Body:    `{"object_kind":"push"}`},
			want: want{decision: "accepted", project: "12", ref: "main", triggerID: trigger12.ID, tokenPrefix: token12[:10],
				forwardURL: explainPrefix + "/projects/12/trigger/pipeline", forwardToken: upstreamToken[:4] + "…",
				forwardVars: map[string]string{"LOG_LEVEL": "info"},
				rules:       []string{"configured upstream_token", "idempotency: a repeat within 24h0m0s"}},
		},
		{
			name: "refused: protected variable",
			req: explainRequest{URL: pipeline, Headers: map[string]string{"Content-Type": "application/json"},
				Body: jsonVars(token, "main", map[string]string{"CI_FOO": policyHiddenValue})},
			want: want{decision: "refused", status: 400, reason: "protected_variable", detail: "CI_FOO",
				project: "9", ref: "main", triggerID: trigger.ID, tokenPrefix: token[:10]},
		},
		{
			name: "refused: ref rules",
			req:  explainRequest{URL: pipeline + "?ref=dev&token=" + token},
			want: want{decision: "refused", status: 400, reason: "ref_not_allowed", detail: "gateway: ", project: "9", ref: "dev",
				triggerID: trigger.ID, tokenPrefix: token[:10]},
		},
		{
			name: "refused: unknown token",
			req:  explainRequest{URL: pipeline + "?ref=main&token=glptt-0000000000000000000000000000000000000000"},
			want: want{decision: "refused", status: 404, reason: "unknown_token", project: "9", tokenPrefix: "glptt-0000",
				answer: `{"message":"404 Not Found"}`},
		},
		{
			name: "refused: revoked token, named for the operator",
			req:  explainRequest{URL: pipeline + "?ref=main&token=" + revokedToken},
			want: want{decision: "refused", status: 404, reason: "revoked_token", project: "9", triggerID: revokedTrigger.ID,
				tokenPrefix: revokedToken[:10], answer: `{"message":"404 Not Found"}`,
				rules: []string{"was revoked"}},
		},
		{
			name: "refused: pipeline event",
			req:  explainRequest{URL: pipeline + "?ref=main&token=" + token, Headers: map[string]string{"X-Gitlab-Event": "Pipeline Hook"}},
			want: want{decision: "refused", status: 403, reason: "pipeline_hook", answer: `{"message":"403 Forbidden"}`},
		},
		{
			name: "refused: wrong method",
			req:  explainRequest{Method: "GET", URL: pipeline + "?ref=main&token=" + token},
			want: want{decision: "refused", status: 405, reason: "method_not_allowed"},
		},
	}

	_, usageBefore, err := h.gateway.store.Get(context.Background(), trigger.ID)
	if err != nil {
		t.Fatal(err)
	}
	accepted := gatewayMetrics.requests.WithLabelValues("pipeline", "trigger", "accepted")
	acceptedBefore := policyCounter(t, accepted)

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := explainCall(t, mustJSON(t, tt.req))
			raw := rec.Body.String()
			if rec.Code != http.StatusOK {
				t.Fatalf("explain: %d %s", rec.Code, raw)
			}
			for _, secret := range []string{token[10:], token12[10:], upstreamToken[4:], policyHiddenValue} {
				if strings.Contains(raw, secret) {
					t.Fatalf("the explanation shows a token beyond its prefix, or a variable value: %s", raw)
				}
			}
			var got explanation
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("explanation %s: %v", raw, err)
			}
			w := tt.want
			if got.Decision != w.decision || got.Status != w.status || got.Reason != w.reason {
				t.Errorf("decision %q %d %q, want %q %d %q", got.Decision, got.Status, got.Reason, w.decision, w.status, w.reason)
			}
			if (w.project != "" && got.Project != w.project) || (w.ref != "" && got.Ref != w.ref) ||
				got.TriggerID != w.triggerID || got.TokenPrefix != w.tokenPrefix {
				t.Errorf("project %q ref %q trigger %d prefix %q, want %q %q %d %q",
					got.Project, got.Ref, got.TriggerID, got.TokenPrefix, w.project, w.ref, w.triggerID, w.tokenPrefix)
			}
			if !strings.Contains(got.Detail, w.detail) {
				t.Errorf("detail %q, want it to say %q", got.Detail, w.detail)
			}
			for _, part := range w.rules {
				if !slices.ContainsFunc(got.Rules, func(r string) bool { return strings.Contains(r, part) }) {
					t.Errorf("no rule says %q: %q", part, got.Rules)
				}
			}
			if w.decision == "refused" {
				if got.Forward != nil {
					t.Errorf("a refusal shows a request to forward: %+v", got.Forward)
				}
				var answer map[string]any
				if json.Unmarshal(got.Answer, &answer) != nil || len(answer) != 1 {
					t.Errorf("answer %s is not the caller's JSON answer", got.Answer)
				}
				if w.answer != "" && string(got.Answer) != w.answer {
					t.Errorf("answer %s, want %s", got.Answer, w.answer)
				}
				return
			}
			f := got.Forward
			if f == nil {
				t.Fatalf("an acceptance without the request to forward: %s", raw)
			}
			if f.Method != "POST" || f.URL != w.forwardURL {
				t.Errorf("would forward %s %s, want POST %s", f.Method, f.URL, w.forwardURL)
			}
			for name, value := range map[string]string{
				"Content-Type": "application/json", "X-Trigger-Source": "trigger",
				"X-Trigger-Id": mustJSON(t, w.triggerID), "X-Trigger-Token-Prefix": w.tokenPrefix,
			} {
				if f.Headers[name] != value {
					t.Errorf("forward header %s = %q, want %q", name, f.Headers[name], value)
				}
			}
			var body struct {
				Token     string            `json:"token"`
				Ref       string            `json:"ref"`
				Variables map[string]string `json:"variables"`
			}
			if err := json.Unmarshal(f.Body, &body); err != nil {
				t.Fatalf("forward body %s: %v", f.Body, err)
			}
			if body.Token != w.forwardToken || body.Ref != w.ref || mustJSON(t, body.Variables) != mustJSON(t, w.forwardVars) {
				t.Errorf("forward body %s, want token %q, ref %q, variables %v", f.Body, w.forwardToken, w.ref, w.forwardVars)
			}
		})
	}

	t.Run("changes nothing", func(t *testing.T) {
		_, usageAfter, err := h.gateway.store.Get(context.Background(), trigger.ID)
		if err != nil {
			t.Fatal(err)
		}
		if usageAfter.UseCount != usageBefore.UseCount || usageAfter.LastUsed != nil {
			t.Errorf("use_count %d (last used %v) after explaining, want %d and never used",
				usageAfter.UseCount, usageAfter.LastUsed, usageBefore.UseCount)
		}
		if got := policyCounter(t, accepted) - acceptedBefore; got != 0 {
			t.Errorf("explaining counted %v accepted requests in the metrics", got)
		}
		// The key explained above was not claimed: the real request runs.
		next := &scriptedNext{}
		got := idemSend(t, h, next, explainPrefix+"/projects/12/ref/main/trigger/pipeline?token="+token12,
			`{"object_kind":"push"}`, "Idempotency-Key", explainedKey)
		if got.status != http.StatusCreated || got.replayed != "" || next.count() != 1 {
			t.Errorf("real request after explaining its key: %+v with %d calls, want it forwarded", got, next.count())
		}
	})
}

// Requests the explain endpoint cannot explain.
func TestExplainBadRequests(t *testing.T) {
	provisionHandler(t, &Handler{PathPrefix: explainPrefix}, "")
	tests := []struct {
		name, body string
		status     int
	}{
		{"not JSON", `{"url":`, http.StatusBadRequest},
		{"no URL", `{"method":"POST"}`, http.StatusBadRequest},
		{"absolute URL without a path", `{"url":"http://example.com"}`, http.StatusBadRequest},
		{"no handler serves it", `{"url":"/nowhere/projects/9/trigger/pipeline"}`, http.StatusNotFound},
		{"not a trigger route of the handler", `{"url":"` + explainPrefix + `/projects/9/pipelines"}`, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := explainCall(t, tt.body)
			var answer map[string]string
			if rec.Code != tt.status || json.Unmarshal(rec.Body.Bytes(), &answer) != nil || answer["error"] == "" {
				t.Errorf("got %d %s, want %d with {\"error\": ...}", rec.Code, bytes.TrimSpace(rec.Body.Bytes()), tt.status)
			}
		})
	}
}

// explainNoRefsPrefix is the path prefix of a handler without ref rules,
// served by no other test's handler.
const explainNoRefsPrefix = "/explain-no-refs/api/v4"

// Explain names only the rules that exist: a gateway, project and token
// without `refs` allow every ref, and the explanation says no ref rule
// allowed it (the docs' sample output shows none).
func TestExplainNamesNoRefRulesWhenThereAreNone(t *testing.T) {
	h := provisionHandler(t, &Handler{PathPrefix: explainNoRefsPrefix}, "")
	_, token := createToken(t, h, "9", "alice")
	got, raw := explainJSON(t, explainRequest{URL: explainNoRefsPrefix + "/projects/9/trigger/pipeline?ref=main&token=" + token})
	for _, rule := range got.Rules {
		if strings.Contains(rule, "ref rules") {
			t.Errorf("the explanation names ref rules that do not exist: %q in %s", rule, raw)
		}
	}
}
