package integration

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// githubSignature is GitHub's X-Hub-Signature-256 of body.
func githubSignature(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Webhook verification against the real binary: GitLab's secret token
// from {env.X}, GitHub's HMAC over the raw body with a secret from
// {file./path}; valid deliveries are forwarded, invalid or unsigned ones
// get 401 and reach nothing. The secrets end up in no log and (GitLab's
// token being meant for the gateway) at no upstream.
func TestWebhookSignatures(t *testing.T) {
	t.Parallel()
	gitlabSecret := "gl-hook-" + randomHex(12)
	githubSecret := "gh-hook-" + randomHex(12)
	secretFile := filepath.Join(t.TempDir(), "github-webhook-secret")
	if err := os.WriteFile(secretFile, []byte(githubSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g := newGateway(t, config{
		Gateway: `
			project 9 {
				webhook_gitlab_token {env.POLICY_GITLAB_WEBHOOK_SECRET}
			}
			project 10 {
				webhook_github_secret {file.` + secretFile + `}
			}`,
		Env: map[string]string{"POLICY_GITLAB_WEBHOOK_SECRET": gitlabSecret},
	})
	// GitHub's secret never travels: it must show up nowhere at all.
	// GitLab's travels in X-Gitlab-Token, which the documented log filter
	// drops: it must show up in no log line either.
	g.secrets.addSecret(githubSecret, "GitHub webhook secret")
	g.secrets.addSecret(gitlabSecret, "GitLab webhook secret")
	p9 := g.addTrigger(t, addOpts{Project: "9", Description: "GitLab webhook", Owner: "alice"})
	p10 := g.addTrigger(t, addOpts{Project: "10", Description: "GitHub webhook", Owner: "bob"})
	p11 := g.addTrigger(t, addOpts{Project: "11", Description: "no webhook secret", Owner: "carol"})

	raw := []byte(pushEvent) // as the forge sent it: indented, with non-ASCII text
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		t.Fatal(err)
	}
	hook := func(tr triggerObj) string {
		return "/api/v4/projects/" + tr.Project + "/ref/main/trigger/pipeline?token=" + tr.Token
	}
	gitlab := func(token string) []string {
		return []string{"X-Gitlab-Event", "Push Hook", "X-Gitlab-Token", token, "X-Gitlab-Event-UUID", uuid()}
	}
	github := func(signature string) []string {
		return []string{"X-GitHub-Event", "push", "X-Hub-Signature-256", signature, "X-GitHub-Delivery", uuid()}
	}
	unsigned := []string{"X-Gitlab-Event", "Push Hook", "X-Gitlab-Event-UUID", uuid()}

	tests := []struct {
		name     string
		tr       triggerObj
		headers  []string
		accepted bool
	}{
		{"GitLab: the secret token", p9, gitlab(gitlabSecret), true},
		{"GitLab: a wrong token", p9, gitlab(gitlabSecret[:len(gitlabSecret)-1] + "x"), false},
		{"GitLab: another secret", p9, gitlab("gl-hook-" + randomHex(12)), false},
		{"GitLab: no token", p9, unsigned, false},
		{"GitLab: a GitHub signature instead", p9, github(githubSignature(gitlabSecret, raw)), false},
		{"GitHub: HMAC of the raw body", p10, github(githubSignature(githubSecret, raw)), true},
		{"GitHub: HMAC of the same JSON, compacted", p10, github(githubSignature(githubSecret, compact.Bytes())), false},
		{"GitHub: HMAC with another secret", p10, github(githubSignature(gitlabSecret, raw)), false},
		{"GitHub: no signature", p10, []string{"X-GitHub-Event", "push", "X-GitHub-Delivery", uuid()}, false},
		{"no secret configured: nothing to check", p11, unsigned, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := g.post(t, hook(tt.tr), reqBody{"application/json", raw}, tt.headers...)
			if tt.accepted {
				ups := g.up.take()
				assertForwarded(t, resp, ups, forwarded{
					Project: tt.tr.Project, Token: tt.tr.Token, Ref: "main", Variables: map[string]string{},
					Payload: payloadWithout(t, pushEvent, "ref"), Trigger: tt.tr,
				})
				for _, up := range ups {
					if got := up.Header.Get("X-Gitlab-Token"); got != "" {
						t.Errorf("the upstream received the webhook's secret token (X-Gitlab-Token, %d bytes): it is the gateway's credential", len(got))
					}
				}
				return
			}
			assertJSONAnswer(t, resp, 401, `{"message":"401 Unauthorized"}`)
			assertNothingForwarded(t, g.up)
		})
	}

	t.Run("the pipeline route is not a webhook", func(t *testing.T) {
		g.triggerOK(t, p9)
	})

	t.Run("refusals are counted", func(t *testing.T) {
		if got := g.metricValue(t, "caddy_trigger_gateway_requests_total", "outcome", "webhook_not_verified"); got != 7 {
			t.Errorf("requests_total{outcome=webhook_not_verified} = %v, want 7", got)
		}
	})

	t.Run("no secret in Caddy's output", func(t *testing.T) {
		if err := g.interrupt(g.proc); err != nil {
			t.Logf("caddy exited with %v", err)
		}
		out := g.processOutput(t)
		for name, value := range map[string]string{"GitLab's secret token": gitlabSecret, "GitHub's secret": githubSecret} {
			if n := strings.Count(out, value); n > 0 {
				t.Errorf("%s is in Caddy's output %d times, e.g.: %s", name, n, redact(lineWith(out, value), []secret{{needle: value, label: name}}))
			}
		}
	})
}

// lineWith returns the first line of s containing needle.
func lineWith(s, needle string) string {
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, needle) {
			return line
		}
	}
	return ""
}

// A project's webhook secret is asked of every delivery, whichever route
// it came by: a push event sent to /trigger/pipeline (the token in the
// query, the ref in the body) without the secret is refused like one sent
// to /ref/main/trigger/pipeline, and forwarded with it. A request without
// any event header is a plain trigger and is not asked for the secret.
func TestWebhookSecretOnPipelineRoute(t *testing.T) {
	t.Parallel()
	gitlabSecret := "gl-hook-" + randomHex(12)
	githubSecret := "gh-hook-" + randomHex(12)
	g := newGateway(t, config{
		Gateway: `
			project 12 {
				webhook_gitlab_token {env.PIPELINE_ROUTE_GITLAB_SECRET}
			}
			project 13 {
				webhook_github_secret {env.PIPELINE_ROUTE_GITHUB_SECRET}
			}`,
		Env: map[string]string{"PIPELINE_ROUTE_GITLAB_SECRET": gitlabSecret, "PIPELINE_ROUTE_GITHUB_SECRET": githubSecret},
	})
	g.secrets.addSecret(gitlabSecret, "GitLab webhook secret")
	g.secrets.addSecret(githubSecret, "GitHub webhook secret")
	p12 := g.addTrigger(t, addOpts{Project: "12", Description: "GitLab webhook", Owner: "alice"})
	p13 := g.addTrigger(t, addOpts{Project: "13", Description: "GitHub webhook", Owner: "bob"})
	raw := []byte(pushEvent)
	pipeline := func(tr triggerObj) string {
		return "/api/v4/projects/" + tr.Project + "/trigger/pipeline?token=" + tr.Token
	}
	webhookRoute := func(tr triggerObj) string {
		return "/api/v4/projects/" + tr.Project + "/ref/main/trigger/pipeline?token=" + tr.Token
	}

	tests := []struct {
		name     string
		path     string
		tr       triggerObj
		headers  []string
		accepted bool
	}{
		{"webhook route, no secret", webhookRoute(p12), p12, []string{"X-Gitlab-Event", "Push Hook"}, false},
		{"pipeline route, no secret", pipeline(p12), p12, []string{"X-Gitlab-Event", "Push Hook"}, false},
		{"pipeline route, wrong secret", pipeline(p12), p12, []string{"X-Gitlab-Event", "Push Hook", "X-Gitlab-Token", "wrong"}, false},
		{"pipeline route, empty event header", pipeline(p12), p12, []string{"X-Gitlab-Event", ""}, false},
		{"pipeline route, GitHub event, no signature", pipeline(p13), p13, []string{"X-GitHub-Event", "push"}, false},
		{"pipeline route, Gitea event, no signature", pipeline(p13), p13, []string{"X-Gitea-Event", "push"}, false},
		{"pipeline route, the secret", pipeline(p12), p12, []string{"X-Gitlab-Event", "Push Hook", "X-Gitlab-Token", gitlabSecret}, true},
		{"pipeline route, GitHub signature", pipeline(p13), p13,
			[]string{"X-GitHub-Event", "push", "X-Hub-Signature-256", githubSignature(githubSecret, raw)}, true},
		{"pipeline route, no event header: a plain trigger", pipeline(p12), p12, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := g.post(t, tt.path, rawJSON(pushEvent), tt.headers...)
			if !tt.accepted {
				assertJSONAnswer(t, resp, 401, `{"message":"401 Unauthorized"}`)
				assertNothingForwarded(t, g.up)
				return
			}
			assertForwarded(t, resp, g.up.take(), forwarded{
				Project: tt.tr.Project, Token: tt.tr.Token, Ref: "main", Variables: map[string]string{},
				Payload: payloadWithout(t, pushEvent, "ref"), Trigger: tt.tr,
			})
		})
	}
}
