package integration

import (
	"strings"
	"testing"
)

// pushEvent is a GitLab push event as a webhook delivers it.
const pushEvent = `{
  "object_kind": "push",
  "event_name": "push",
  "before": "95790bf891e76fee5e1747ab589903a6a1f80f22",
  "after": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
  "ref": "refs/heads/main",
  "ref_protected": true,
  "checkout_sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
  "message": null,
  "user_id": 4,
  "user_name": "John Smith",
  "user_username": "jsmith",
  "user_email": "john@example.com",
  "user_avatar": "https://s.gravatar.com/avatar/d4c74594d841139328695756648b6bd6?s=80",
  "project_id": 15,
  "project": {
    "id": 15,
    "name": "Diaspora",
    "description": "Ünïcödé & <html> \"quotes\"",
    "web_url": "http://example.com/mike/diaspora",
    "avatar_url": null,
    "git_ssh_url": "git@example.com:mike/diaspora.git",
    "git_http_url": "http://example.com/mike/diaspora.git",
    "namespace": "Mike",
    "visibility_level": 0,
    "path_with_namespace": "mike/diaspora",
    "default_branch": "master",
    "ci_config_path": null,
    "homepage": "http://example.com/mike/diaspora",
    "url": "git@example.com:mike/diaspora.git",
    "ssh_url": "git@example.com:mike/diaspora.git",
    "http_url": "http://example.com/mike/diaspora.git"
  },
  "commits": [
    {
      "id": "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327",
      "message": "Update Catalan translation to e38cb41.\n\nSee https://gitlab.com/gitlab-org/gitlab for more information",
      "title": "Update Catalan translation to e38cb41.",
      "timestamp": "2011-12-12T14:27:31+02:00",
      "url": "http://example.com/mike/diaspora/commit/b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327",
      "author": {"name": "Jordi Mallach", "email": "jordi@softcatala.org"},
      "added": ["CHANGELOG"],
      "modified": ["app/controller/application.rb"],
      "removed": []
    },
    {
      "id": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
      "message": "fixed readme",
      "title": "fixed readme",
      "timestamp": "2012-01-03T23:36:29+02:00",
      "url": "http://example.com/mike/diaspora/commit/da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
      "author": {"name": "GitLab dev user", "email": "gitlabdev@dv6700.(none)"},
      "added": ["CHANGELOG"],
      "modified": ["app/controller/application.rb"],
      "removed": []
    }
  ],
  "total_commits_count": 2,
  "push_options": {},
  "repository": {
    "name": "Diaspora",
    "url": "git@example.com:mike/diaspora.git",
    "description": "",
    "homepage": "http://example.com/mike/diaspora",
    "git_http_url": "http://example.com/mike/diaspora.git",
    "git_ssh_url": "git@example.com:mike/diaspora.git",
    "visibility_level": 0
  }
}`

// webhookDelivery posts a payload the way GitLab's webhook sender does.
func (g *gateway) webhookDelivery(t *testing.T, path, event, payload string) response {
	t.Helper()
	return g.post(t, path, rawJSON(payload),
		"User-Agent", "GitLab/17.5.0",
		"X-Gitlab-Event", event,
		"X-Gitlab-Instance", "https://gitlab.example.com",
		"X-Gitlab-Event-UUID", uuid(),
		"X-Gitlab-Webhook-UUID", "2b4b1e5a-26fd-4cf4-8e5c-0b6e2f7f1c77")
}

// uuid returns a random UUID-shaped string (each delivery is new).
func uuid() string {
	h := randomHex(16)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// payloadWithout returns the webhook payload minus the fields the gateway
// sets itself (ref): the rest must reach the upstream unchanged.
func payloadWithout(t *testing.T, payload string, drop ...string) map[string]any {
	t.Helper()
	m := decodeObject(t, "payload", []byte(payload))
	for _, k := range drop {
		delete(m, k)
	}
	return m
}

// The webhook URL of the seed document, fed with real push-event deliveries.
func TestWebhookTriggers(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{})
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "webhook of project A", Owner: "alice"})
	tagEvent := strings.Replace(strings.Replace(pushEvent, `"object_kind": "push"`, `"object_kind": "tag_push"`, 1),
		`"ref": "refs/heads/main"`, `"ref": "refs/tags/v2.0.0"`, 1)

	tests := []struct {
		name    string
		path    string
		event   string
		payload string
		wantRef string
	}{
		{"URL ref wins over the body's", "/api/v4/projects/9/ref/master/trigger/pipeline?token=" + tr.Token, "Push Hook", pushEvent, "master"},
		{"URL ref with an encoded slash", "/api/v4/projects/9/ref/feature%2Fx/trigger/pipeline?token=" + tr.Token, "Push Hook", pushEvent, "feature/x"},
		{"tag event, URL ref", "/api/v4/projects/9/ref/stable/trigger/pipeline?token=" + tr.Token, "Tag Push Hook", tagEvent, "stable"},
		{"no URL ref: branch from refs/heads/", "/api/v4/projects/9/trigger/pipeline?token=" + tr.Token, "Push Hook", pushEvent, "main"},
		{"no URL ref: tag from refs/tags/", "/api/v4/projects/9/trigger/pipeline?token=" + tr.Token, "Tag Push Hook", tagEvent, "v2.0.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := g.webhookDelivery(t, tt.path, tt.event, tt.payload)
			assertForwarded(t, resp, g.up.take(), forwarded{
				Project: "9", Token: tr.Token, Ref: tt.wantRef, Variables: map[string]string{},
				Payload: payloadWithout(t, tt.payload, "ref"), Trigger: tr,
			})
		})
	}
}
