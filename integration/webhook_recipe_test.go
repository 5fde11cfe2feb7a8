package integration

import (
	"fmt"
	"net/url"
	"testing"
)

// The webhook recipes of docs/webhooks.md, as GitLab and GitHub deliver:
// the exact body the CI receives is the event's fields merged at the top
// level next to token, ref and variables, ref taken from the URL (the
// event's own ref is replaced, as in GitLab's TRIGGER_PAYLOAD), the
// token the configured upstream_token. The event headers pass on; the
// webhook's secret token and signature do not.
func TestWebhookRecipes(t *testing.T) {
	t.Parallel()
	const (
		gitlabToken  = "gitlab-webhook-secret-token"
		githubSecret = "github-webhook-secret"
		ciToken      = "ci-trigger-token"
	)
	g := newGateway(t, config{
		Gateway: `
			upstream_token {env.CI_TRIGGER_TOKEN}
			project 9 {
				webhook_gitlab_token {env.GITLAB_WEBHOOK_TOKEN}
			}
			project 12 {
				webhook_github_secret {env.GITHUB_WEBHOOK_SECRET}
			}`,
		Env: map[string]string{
			"CI_TRIGGER_TOKEN":      ciToken,
			"GITLAB_WEBHOOK_TOKEN":  gitlabToken,
			"GITHUB_WEBHOOK_SECRET": githubSecret,
		},
	})
	g.secrets.addSecret(gitlabToken, "GitLab webhook secret token")
	g.secrets.addSecret(githubSecret, "GitHub webhook secret")
	g.secrets.addSecret(ciToken, "upstream token")
	p9 := g.addTrigger(t, addOpts{Project: "9", Description: "GitLab push", Owner: "alice"})
	p12 := g.addTrigger(t, addOpts{Project: "12", Description: "GitHub push", Owner: "bob"})
	hook := func(tr triggerObj) string {
		return "/api/v4/projects/" + tr.Project + "/ref/main/trigger/pipeline?token=" + tr.Token
	}

	const (
		gitlabPush = `{"object_kind":"push","event_name":"push",` +
			`"before":"95790bf891e76fee5e1747ab589903a6a1f80f22","after":"da1560886d4f094c3e6c9ef40349f7d38b5d27d7",` +
			`"ref":"refs/heads/main","checkout_sha":"da1560886d4f094c3e6c9ef40349f7d38b5d27d7","user_username":"jsmith",` +
			`"project_id":15,"project":{"id":15,"path_with_namespace":"mike/diaspora"},` +
			`"commits":[{"id":"da1560886d4f094c3e6c9ef40349f7d38b5d27d7","message":"fixed readme\n"}],"total_commits_count":1}`
		gitlabForwarded = `{"token":"ci-trigger-token","ref":"main","variables":{},` +
			`"after":"da1560886d4f094c3e6c9ef40349f7d38b5d27d7","before":"95790bf891e76fee5e1747ab589903a6a1f80f22",` +
			`"checkout_sha":"da1560886d4f094c3e6c9ef40349f7d38b5d27d7",` +
			`"commits":[{"id":"da1560886d4f094c3e6c9ef40349f7d38b5d27d7","message":"fixed readme\n"}],` +
			`"event_name":"push","object_kind":"push","project":{"id":15,"path_with_namespace":"mike/diaspora"},` +
			`"project_id":15,"total_commits_count":1,"user_username":"jsmith"}`

		githubPush = `{"ref":"refs/heads/main","before":"6113728f27ae82c7b1a177c8d03f9e96e0adf246",` +
			`"after":"0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c","repository":{"id":1296269,"full_name":"octocat/Hello-World"},` +
			`"pusher":{"name":"octocat"},"created":false,"deleted":false,"forced":false,` +
			`"head_commit":{"id":"0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c","message":"Update README.md"}}`
		githubForwarded = `{"token":"ci-trigger-token","ref":"main","variables":{},` +
			`"after":"0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c","before":"6113728f27ae82c7b1a177c8d03f9e96e0adf246",` +
			`"created":false,"deleted":false,"forced":false,` +
			`"head_commit":{"id":"0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c","message":"Update README.md"},` +
			`"pusher":{"name":"octocat"},"repository":{"id":1296269,"full_name":"octocat/Hello-World"}}`

		githubPing          = `{"zen":"Design for failure.","hook_id":109948940,"hook":{"type":"Repository","events":["push"]}}`
		githubPingForwarded = `{"token":"ci-trigger-token","ref":"main","variables":{},` +
			`"hook":{"type":"Repository","events":["push"]},"hook_id":109948940,"zen":"Design for failure."}`
	)

	tests := []struct {
		name       string
		tr         triggerObj
		body       reqBody
		headers    []string
		wantBody   string
		wantHeader map[string]string // "" = must not reach the CI
	}{
		{
			name: "GitLab push event", tr: p9, body: rawJSON(gitlabPush),
			headers: []string{"User-Agent", "GitLab/17.5.0", "X-Gitlab-Event", "Push Hook", "X-Gitlab-Token", gitlabToken,
				"X-Gitlab-Event-UUID", "13792a34-cac6-4fda-95a8-c58e00a3954e", "X-Gitlab-Instance", "https://gitlab.example.com"},
			wantBody: gitlabForwarded,
			wantHeader: map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-Uuid": "13792a34-cac6-4fda-95a8-c58e00a3954e",
				"X-Gitlab-Token": ""},
		},
		{
			name: "GitHub push event", tr: p12, body: rawJSON(githubPush),
			headers: []string{"User-Agent", "GitHub-Hookshot/044aadd", "X-GitHub-Event", "push",
				"X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958", "X-GitHub-Hook-ID", "109948940",
				"X-Hub-Signature-256", githubSignature(githubSecret, []byte(githubPush))},
			wantBody: githubForwarded,
			wantHeader: map[string]string{"X-Github-Event": "push", "X-Github-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
				"X-Hub-Signature-256": ""},
		},
		{
			// GitHub pings a webhook when it is created: a delivery like any other.
			name: "GitHub ping event", tr: p12, body: rawJSON(githubPing),
			headers: []string{"X-GitHub-Event", "ping", "X-GitHub-Delivery", "8e1bd2c0-cc78-11e3-9f8a-1f8e3e4b7d2a",
				"X-Hub-Signature-256", githubSignature(githubSecret, []byte(githubPing))},
			wantBody:   githubPingForwarded,
			wantHeader: map[string]string{"X-Github-Event": "ping"},
		},
		{
			// GitHub's other content type sends the event as a form field
			// named payload: the signature passes, the event is lost.
			name: "GitHub push event, content type application/x-www-form-urlencoded", tr: p12,
			body: urlencoded("payload", githubPush),
			headers: []string{"X-GitHub-Event", "push", "X-GitHub-Delivery", "a1b2c3d4-cc78-11e3-8f3a-0a1b2c3d4e5f",
				"X-Hub-Signature-256", githubSignature(githubSecret, []byte("payload="+url.QueryEscape(githubPush)))},
			wantBody:   `{"token":"ci-trigger-token","ref":"main","variables":{}}`,
			wantHeader: map[string]string{"X-Github-Event": "push"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := g.post(t, hook(tt.tr), tt.body, tt.headers...)
			ups := g.up.take()
			if resp.Status != 201 || len(ups) != 1 {
				t.Fatalf("answer %s, %d upstream requests; want 201 and 1", resp, len(ups))
			}
			up := ups[0]
			if up.EscapedPath != "/api/v4/projects/"+tt.tr.Project+"/trigger/pipeline" || up.RawQuery != "" {
				t.Errorf("upstream URL %s?%s", up.EscapedPath, up.RawQuery)
			}
			if got := up.Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("upstream Content-Type %q, want application/json", got)
			}
			if string(up.Body) != tt.wantBody {
				t.Errorf("the CI received\n%s\nwant\n%s", redact(string(up.Body), g.secrets.all()), tt.wantBody)
			}
			for name, want := range tt.wantHeader {
				if got := up.Header.Values(name); (want == "" && len(got) != 0) || (want != "" && (len(got) != 1 || got[0] != want)) {
					t.Errorf("upstream header %s = %q, want %q", name, redact(fmt.Sprint(got), g.secrets.all()), want)
				}
			}
		})
	}
}
