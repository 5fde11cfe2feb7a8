package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// explained is the part of an explanation the tests read.
type explained struct {
	Decision    string          `json:"decision"`
	Status      int             `json:"status"`
	Reason      string          `json:"reason"`
	Detail      string          `json:"detail"`
	Answer      json.RawMessage `json:"answer"`
	Route       string          `json:"route"`
	Project     string          `json:"project"`
	Ref         string          `json:"ref"`
	Source      string          `json:"source"`
	TriggerID   int64           `json:"trigger_id"`
	TokenPrefix string          `json:"token_prefix"`
	Rules       []string        `json:"rules"`
	Forward     *struct {
		Method  string            `json:"method"`
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers"`
		Body    struct {
			Token     string            `json:"token"`
			Ref       string            `json:"ref"`
			Variables map[string]string `json:"variables"`
		} `json:"body"`
	} `json:"forward"`
}

// assertNoTokenBeyondPrefix fails if out shows any token of the test past
// its display prefix (explanations show the prefix and a "token" field).
func (g *gateway) assertNoTokenBeyondPrefix(t *testing.T, what, out string) {
	t.Helper()
	for _, s := range g.secrets.all() {
		if strings.Contains(out, s.needle) {
			t.Errorf("%s shows %s: %s", what, s.label, redact(out, g.secrets.all()))
		}
	}
}

// The dry run, through the admin API and `caddy trigger explain` (table and
// --json): what the gateway would decide and forward, with the token shown
// by its prefix only; nothing forwarded, no use counted, no idempotency key
// claimed.
func TestExplain(t *testing.T) {
	t.Parallel()
	upstreamToken := "upstream-" + randomHex(16)
	g := newGateway(t, config{
		Gateway: `
			variables {
				rename ENV ENVIRONMENT
				default LOG_LEVEL info
			}
			refs main v*
			project 12 {
				upstream_token {env.POLICY_EXPLAIN_UPSTREAM_TOKEN}
			}`,
		Env: map[string]string{"POLICY_EXPLAIN_UPSTREAM_TOKEN": upstreamToken},
	})
	g.secrets.addToken(upstreamToken)
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "explained", Owner: "alice"})
	tr12 := g.addTrigger(t, addOpts{Project: "12", Description: "upstream token", Owner: "bob"})
	const pipeline = "/api/v4/projects/9/trigger/pipeline"
	key := uuid()

	t.Run("admin API: accepted", func(t *testing.T) {
		resp := g.adminPostJSON(t, "/trigger_gateway/explain", map[string]any{
			"method":  "POST",
			"url":     pipeline,
			"headers": map[string]string{"Content-Type": "application/json", "Idempotency-Key": key},
			"body":    mustJSON(map[string]any{"token": tr.Token, "ref": "main", "variables": map[string]string{"ENV": "staging"}}),
		})
		if resp.Status != 200 {
			t.Fatalf("explain: %s", resp)
		}
		g.assertNoTokenBeyondPrefix(t, "the explanation", string(resp.Body))
		var e explained
		if err := json.Unmarshal(resp.Body, &e); err != nil {
			t.Fatal(err)
		}
		if e.Decision != "accepted" || e.Route != "pipeline" || e.Project != "9" || e.Ref != "main" || e.Source != "trigger" ||
			e.TriggerID != tr.ID || e.TokenPrefix != tr.TokenPrefix {
			t.Errorf("explanation %s, want pipeline trigger %d of project 9 on main accepted", resp.Body, tr.ID)
		}
		f := e.Forward
		if f == nil || f.Method != "POST" || f.URL != pipeline || f.Headers["Content-Type"] != "application/json" ||
			f.Headers["X-Trigger-Id"] != tr.idString() || f.Headers["X-Trigger-Token-Prefix"] != tr.TokenPrefix {
			t.Fatalf("would forward %+v, want POST %s as JSON with the X-Trigger headers", f, pipeline)
		}
		if f.Body.Token != tr.TokenPrefix+"…" || f.Body.Ref != "main" ||
			!reflect.DeepEqual(f.Body.Variables, map[string]string{"ENVIRONMENT": "staging", "LOG_LEVEL": "info"}) {
			t.Errorf("would forward body %+v, want the token's prefix, main and the rewritten variables", f.Body)
		}
		for _, rule := range []string{"renamed ENV to ENVIRONMENT", "default LOG_LEVEL", "idempotency"} {
			if !strings.Contains(strings.Join(e.Rules, "\n"), rule) {
				t.Errorf("no rule says %q: %q", rule, e.Rules)
			}
		}
	})

	t.Run("admin API: refused", func(t *testing.T) {
		value := g.varValue()
		resp := g.adminPostJSON(t, "/trigger_gateway/explain", map[string]any{
			"url":     pipeline,
			"headers": map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			"body":    "token=" + tr.Token + "&ref=main&variables%5BCI_JOB_TOKEN%5D=" + value,
		})
		g.assertNoTokenBeyondPrefix(t, "the explanation", string(resp.Body))
		var e explained
		if resp.Status != 200 || json.Unmarshal(resp.Body, &e) != nil {
			t.Fatalf("explain: %s", resp)
		}
		var answer map[string]string
		if e.Decision != "refused" || e.Status != 400 || e.Reason != "protected_variable" || !strings.Contains(e.Detail, "CI_JOB_TOKEN") ||
			json.Unmarshal(e.Answer, &answer) != nil || !strings.Contains(answer["message"], "CI_JOB_TOKEN") || e.Forward != nil {
			t.Errorf("explanation %s, want refused 400 protected_variable naming CI_JOB_TOKEN, nothing to forward", resp.Body)
		}
	})

	t.Run("admin API: a URL no handler serves", func(t *testing.T) {
		resp := g.adminPostJSON(t, "/trigger_gateway/explain", map[string]any{"url": "/elsewhere/projects/9/trigger/pipeline"})
		if resp.Status != 404 {
			t.Errorf("explain: %s, want 404", resp)
		}
	})

	cli := func(args ...string) cliResult {
		return g.cli(t, append([]string{"trigger", "explain", "--address", g.adminAddr()}, args...)...)
	}
	t.Run("CLI: table, accepted", func(t *testing.T) {
		data := filepath.Join(t.TempDir(), "body.json")
		if err := os.WriteFile(data, []byte(mustJSON(map[string]any{"token": tr12.Token, "ref": "v1.0", "variables": map[string]string{"ENV": "prod"}})), 0o600); err != nil {
			t.Fatal(err)
		}
		res := cli("--url", "/api/v4/projects/12/trigger/pipeline", "--header", "Content-Type: application/json", "--data", "@"+data)
		if res.ExitCode != 0 {
			t.Fatalf("explain: exit %d: %s", res.ExitCode, res.Stderr)
		}
		g.assertNoTokenBeyondPrefix(t, "caddy trigger explain", res.Stdout)
		for _, want := range []string{
			"Accepted: pipeline trigger of project 12 on v1.0",
			"renamed ENV to ENVIRONMENT",
			"configured upstream_token",
			"Would forward: POST /api/v4/projects/12/trigger/pipeline",
			"X-Trigger-Token-Prefix: " + tr12.TokenPrefix,
			`"token":"` + upstreamToken[:4] + `…"`,
			`"ENVIRONMENT":"prod"`,
		} {
			if !strings.Contains(res.Stdout, want) {
				t.Errorf("output does not say %q:\n%s", want, redact(res.Stdout, g.secrets.all()))
			}
		}
	})

	t.Run("CLI: table, refused", func(t *testing.T) {
		res := cli("--url", pipeline+"?ref=feature&token="+tr.Token)
		if res.ExitCode != 1 || res.Stderr != "" {
			t.Fatalf("explain of a refused request: exit %d, want 1 and nothing on stderr: %s", res.ExitCode, res.Stderr)
		}
		g.assertNoTokenBeyondPrefix(t, "caddy trigger explain", res.Stdout)
		for _, want := range []string{"Refused: 400 (ref_not_allowed)", `"feature"`, "Answer:"} {
			if !strings.Contains(res.Stdout, want) {
				t.Errorf("output does not say %q:\n%s", want, redact(res.Stdout, g.secrets.all()))
			}
		}
		if strings.Contains(res.Stdout, "Would forward") {
			t.Errorf("a refusal shows a request to forward:\n%s", redact(res.Stdout, g.secrets.all()))
		}
	})

	t.Run("CLI: --json", func(t *testing.T) {
		res := cli("--json", "--method", "post", "--url", "/api/v4/projects/9/ref/v2.0/trigger/pipeline?token="+tr.Token,
			"--header", "Content-Type: application/json", "--header", "X-Gitlab-Event-UUID: "+uuid(), "--data", `{"object_kind":"tag_push"}`)
		if res.ExitCode != 0 {
			t.Fatalf("explain --json: exit %d: %s", res.ExitCode, res.Stderr)
		}
		g.assertNoTokenBeyondPrefix(t, "caddy trigger explain --json", res.Stdout)
		var e explained
		if err := json.Unmarshal([]byte(res.Stdout), &e); err != nil {
			t.Fatalf("explain --json: %v\n%s", err, redact(res.Stdout, g.secrets.all()))
		}
		if e.Decision != "accepted" || e.Route != "webhook" || e.Ref != "v2.0" || e.Forward == nil ||
			e.Forward.URL != pipeline || e.Forward.Body.Token != tr.TokenPrefix+"…" {
			t.Errorf("explanation %s, want the webhook on v2.0 accepted, forwarded to %s", redact(res.Stdout, g.secrets.all()), pipeline)
		}
	})

	t.Run("CLI: bad flags", func(t *testing.T) {
		for _, args := range [][]string{
			{"--method", "POST"},
			{"--url", pipeline, "--header", "no colon"},
			{"--url", pipeline, "--data", "@" + filepath.Join(t.TempDir(), "missing")},
		} {
			if res := cli(args...); res.ExitCode == 0 {
				t.Errorf("explain %q succeeded:\n%s", args, res.Stdout)
			}
		}
	})

	t.Run("explaining changed nothing", func(t *testing.T) {
		assertNothingForwarded(t, g.up)
		g.wantUsage(t, tr, 0)
		g.wantUsage(t, tr12, 0)
		if got := g.metricValue(t, "caddy_trigger_gateway_requests_total"); got != 0 {
			t.Errorf("requests_total = %v after explaining only, want 0", got)
		}
		// The key explained above was not claimed: the real request is forwarded.
		resp := g.post(t, pipeline, jsonBody(map[string]any{"token": tr.Token, "ref": "main", "variables": map[string]string{"ENV": "staging"}}),
			"Idempotency-Key", key)
		assertForwarded(t, resp, g.up.take(), forwarded{Project: "9", Token: tr.Token, Ref: "main",
			Variables: map[string]string{"ENVIRONMENT": "staging", "LOG_LEVEL": "info"}, Trigger: tr})
		if got := resp.Header.Get("Idempotent-Replayed"); got != "" {
			t.Errorf("the real request was answered as a repeat (Idempotent-Replayed %q)", got)
		}
		g.wantUsage(t, tr, 1)
	})
}
