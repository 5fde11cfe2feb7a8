package integration

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
)

// Every form a GitLab client may send its parameters in ends up as the same
// canonical request upstream.
func TestTriggerForms(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{})
	alice := g.addTrigger(t, addOpts{Project: "9", Description: "deploy from CI", Owner: "alice"})
	legacy := g.addTrigger(t, addOpts{Project: "9", Description: "old cron job"})
	v1, v2 := g.varValue(), g.varValue()
	// Only the distinctive part is a secret needle; the rest checks that
	// values pass through byte for byte.
	fancy := g.varValue() + ` & ünïcödé "quoted" <b>`

	tests := []struct {
		name     string
		trigger  triggerObj
		path     string // after /api/v4/projects/9/trigger/pipeline
		body     reqBody
		headers  []string
		wantRef  string
		wantVars map[string]string
	}{
		{
			name: "urlencoded", trigger: alice,
			body:    urlencoded("token", alice.Token, "ref", "main", "variables[DEPLOY_ENV]", v1, "variables[MODE]", v2),
			wantRef: "main", wantVars: map[string]string{"DEPLOY_ENV": v1, "MODE": v2},
		},
		{
			name: "multipart", trigger: alice,
			body:    multipartForm("token", alice.Token, "ref", "release/1.x", "variables[DEPLOY_ENV]", v1),
			wantRef: "release/1.x", wantVars: map[string]string{"DEPLOY_ENV": v1},
		},
		{
			name: "JSON", trigger: alice,
			body: jsonBody(map[string]any{"token": alice.Token, "ref": "main",
				"variables": map[string]string{"DEPLOY_ENV": v1, "FANCY": fancy, "EMPTY": ""}}),
			wantRef: "main", wantVars: map[string]string{"DEPLOY_ENV": v1, "FANCY": fancy, "EMPTY": ""},
		},
		{
			name: "query string", trigger: alice,
			path:    "?" + url.Values{"token": {alice.Token}, "ref": {"main"}}.Encode(),
			wantRef: "main", wantVars: map[string]string{},
		},
		{
			name: "query token, JSON body", trigger: alice,
			path:    "?token=" + alice.Token,
			body:    jsonBody(map[string]any{"ref": "main", "variables": map[string]string{"DEPLOY_ENV": v1}}),
			wantRef: "main", wantVars: map[string]string{"DEPLOY_ENV": v1},
		},
		{
			name: "JSON body ref refs/heads/ is a branch", trigger: alice,
			body:    jsonBody(map[string]any{"token": alice.Token, "ref": "refs/heads/feature/login"}),
			wantRef: "feature/login", wantVars: map[string]string{},
		},
		{
			name: "JSON body ref refs/tags/ is a tag", trigger: alice,
			body:    jsonBody(map[string]any{"token": alice.Token, "ref": "refs/tags/v1.2.0"}),
			wantRef: "v1.2.0", wantVars: map[string]string{},
		},
		{
			name: "refs/tags/ names a tag even written like a short SHA", trigger: alice,
			body:    jsonBody(map[string]any{"token": alice.Token, "ref": "refs/tags/deadbeefcafe"}),
			wantRef: "deadbeefcafe", wantVars: map[string]string{},
		},
		{
			name: "refs/heads/ names a branch even written like a short SHA", trigger: alice,
			body:    urlencoded("token", alice.Token, "ref", "refs/heads/da15608"),
			wantRef: "da15608", wantVars: map[string]string{},
		},
		{
			name: "caller cannot speak for the gateway", trigger: alice,
			body:    urlencoded("token", alice.Token, "ref", "main"),
			headers: []string{"X-Trigger-Source", "pipeline", "X-Trigger-Id", "999", "X-Trigger-Token-Prefix", "glptt-ffff", "X-Trigger-Job-Id", "77"},
			wantRef: "main", wantVars: map[string]string{},
		},
		{
			name: "legacy trigger, allowed by default", trigger: legacy,
			body:    urlencoded("token", legacy.Token, "ref", "main"),
			wantRef: "main", wantVars: map[string]string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := g.post(t, "/api/v4/projects/9/trigger/pipeline"+tt.path, tt.body, tt.headers...)
			assertForwarded(t, resp, g.up.take(), forwarded{
				Project: "9", Token: tt.trigger.Token, Ref: tt.wantRef, Variables: tt.wantVars, Trigger: tt.trigger,
			})
		})
	}
}

// Projects named by path: an alias maps to the project's ID, any other path
// is forwarded as it came, encoded.
func TestProjectAliasesAndPaths(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{Gateway: `
		project 9 {
			alias group/project
		}`})
	t9 := g.addTrigger(t, addOpts{Project: "9", Description: "project 9", Owner: "alice"})
	other := g.addTrigger(t, addOpts{Project: "other/repo", Description: "by path", Owner: "bob"})
	if other.Project != "other/repo" {
		t.Errorf("trigger project = %q, want other/repo", other.Project)
	}

	accepted := []struct {
		name        string
		path        string
		tr          triggerObj
		wantProject string
		wantRef     string
	}{
		{"alias is project 9", "/api/v4/projects/group%2Fproject/trigger/pipeline", t9, "9", "main"},
		{"ID of the aliased project", "/api/v4/projects/9/trigger/pipeline", t9, "9", "main"},
		{"alias, webhook form", "/api/v4/projects/group%2Fproject/ref/feature%2Fx/trigger/pipeline", t9, "9", "feature/x"},
		{"path without alias stays encoded", "/api/v4/projects/other%2Frepo/trigger/pipeline", other, "other%2Frepo", "main"},
	}
	for _, tt := range accepted {
		t.Run(tt.name, func(t *testing.T) {
			resp := g.post(t, tt.path, urlencoded("token", tt.tr.Token, "ref", "main"))
			assertForwarded(t, resp, g.up.take(), forwarded{
				Project: tt.wantProject, Token: tt.tr.Token, Ref: tt.wantRef, Variables: map[string]string{}, Trigger: tt.tr,
			})
		})
	}

	refused := []struct {
		name string
		path string
		tr   triggerObj
	}{
		{"project 9's token on another path", "/api/v4/projects/other%2Frepo/trigger/pipeline", t9},
		{"path project's token on the alias", "/api/v4/projects/group%2Fproject/trigger/pipeline", other},
		{"path project's token on ID 9", "/api/v4/projects/9/trigger/pipeline", other},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			resp := g.post(t, tt.path, urlencoded("token", tt.tr.Token, "ref", "main"))
			assertJSONAnswer(t, resp, http.StatusNotFound, `{"message":"404 Not Found"}`)
			assertNothingForwarded(t, g.up)
		})
	}
}

// A configured upstream token replaces the caller's: per project first,
// then the global one.
func TestUpstreamTokens(t *testing.T) {
	t.Parallel()
	secretsDir := t.TempDir()
	global := "glptt-" + randomHex(20)
	perProject := "glptt-" + randomHex(20)
	globalFile := filepath.Join(secretsDir, "upstream.token")
	if err := os.WriteFile(globalFile, []byte(global+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g := newGateway(t, config{
		Gateway: `
			upstream_token {file.` + globalFile + `}
			project 9 {
				upstream_token {env.UPSTREAM_TOKEN_9}
			}`,
		Env: map[string]string{"UPSTREAM_TOKEN_9": perProject},
	})
	g.secrets.addToken(global)
	g.secrets.addToken(perProject)
	t9 := g.addTrigger(t, addOpts{Project: "9", Description: "project 9", Owner: "alice"})
	t12 := g.addTrigger(t, addOpts{Project: "12", Description: "project 12", Owner: "alice"})
	v := g.varValue()

	tests := []struct {
		name      string
		tr        triggerObj
		path      string
		body      reqBody
		wantToken string
	}{
		{"project block's token", t9, "/api/v4/projects/9/trigger/pipeline",
			urlencoded("token", t9.Token, "ref", "main", "variables[V]", v), perProject},
		{"project block's token, webhook", t9, "/api/v4/projects/9/ref/main/trigger/pipeline?token=" + t9.Token,
			jsonBody(map[string]any{"variables": map[string]string{"V": v}}), perProject},
		{"global token", t12, "/api/v4/projects/12/trigger/pipeline",
			jsonBody(map[string]any{"token": t12.Token, "ref": "main", "variables": map[string]string{"V": v}}), global},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := g.post(t, tt.path, tt.body)
			assertForwarded(t, resp, g.up.take(), forwarded{
				Project: tt.tr.Project, Token: tt.wantToken, Ref: "main", Variables: map[string]string{"V": v}, Trigger: tt.tr,
			})
		})
	}
}

// The decision is available to the rest of the route as placeholders, for
// header_up and friends.
func TestPlaceholders(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{Proxy: `
		header_up X-Seen-Project {http.trigger.project}
		header_up X-Seen-Ref {http.trigger.ref}
		header_up X-Seen-Source {http.trigger.source}
		header_up X-Seen-Id {http.trigger.id}`,
		Gateway: `
			project 9 {
				alias group/project
			}`})
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "placeholders", Owner: "alice"})
	resp := g.post(t, "/api/v4/projects/group%2Fproject/ref/feature%2Fx/trigger/pipeline?token="+tr.Token, rawJSON(`{}`))
	got := g.up.take()
	assertForwarded(t, resp, got, forwarded{Project: "9", Token: tr.Token, Ref: "feature/x", Variables: map[string]string{}, Trigger: tr})
	for name, want := range map[string]string{
		"X-Seen-Project": "9", "X-Seen-Ref": "feature/x", "X-Seen-Source": "trigger", "X-Seen-Id": tr.idString(),
	} {
		if v := got[0].Header.Get(name); v != want {
			t.Errorf("upstream header %s (from a placeholder) = %q, want %q", name, v, want)
		}
	}
}
