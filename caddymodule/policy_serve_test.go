package caddymodule

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/triggergate/caddy-trigger-gateway/policy"
	"github.com/triggergate/caddy-trigger-gateway/tokenstore"
)

// The variable rules of the gateway and of a project, merged, applied to
// what callers send: every rule refuses with 400 naming the variable and
// the rule, and what is accepted is forwarded exactly as rewritten.
func TestServeHTTPVariablePolicy(t *testing.T) {
	h := provisionHandler(t, &Handler{
		Variables: &policy.VariableRules{
			Deny:          []string{"SECRET_*"},
			Protected:     []string{"DEPLOY_KEY"},
			Set:           map[string]string{"BUILD_BY": "gateway"},
			Default:       map[string]string{"LOG_LEVEL": "info"},
			Rename:        map[string]string{"ENV": "ENVIRONMENT"},
			Pattern:       map[string]string{"VERSION": `v[0-9]+\.[0-9]+`},
			MaxCount:      3,
			MaxValueBytes: 24,
		},
		Projects: map[string]*Project{
			"9": {Aliases: []string{"group/app"}, Variables: &policy.VariableRules{
				Allow:     []string{"ENV", "VERSION", "APP_*"},
				Protected: []string{"APP_SECRET"},
				Set:       map[string]string{"TARGET": "production"},
				Default:   map[string]string{"LOG_LEVEL": "debug"},
				MaxCount:  5,
			}},
		},
	}, "")
	logs := watchLogs(h)
	_, token9 := createToken(t, h, "9", "alice")
	_, token10 := createToken(t, h, "10", "bob")
	const jsonType = "application/json"
	const formType = "application/x-www-form-urlencoded"
	p9, p10 := "/api/v4/projects/9/trigger/pipeline", "/api/v4/projects/10/trigger/pipeline"
	refused := func(name, target, contentType, body, outcome string, message ...string) policyCase {
		return policyCase{name: name, target: target, contentType: contentType, body: body,
			wantStatus: 400, wantOutcome: outcome, wantMessage: message, wantDetail: message[0]}
	}

	runPolicyCases(t, h, logs, []policyCase{
		// Project 10 has the gateway's rules only.
		{name: "rename, pattern, default and set", target: p10, contentType: jsonType,
			body:    jsonVars(token10, "main", map[string]string{"ENV": "staging", "VERSION": "v1.2"}),
			wantRef: "main", wantVars: map[string]string{"ENVIRONMENT": "staging", "VERSION": "v1.2", "LOG_LEVEL": "info", "BUILD_BY": "gateway"}},
		{name: "set replaces the caller's value, default yields to it", target: p10, contentType: formType,
			body:     form(map[string]string{"token": token10, "ref": "main", "variables[BUILD_BY]": "me", "variables[LOG_LEVEL]": "warn"}),
			wantVars: map[string]string{"BUILD_BY": "gateway", "LOG_LEVEL": "warn"}},
		{name: "no variables: defaults and sets only", target: p10 + "?ref=main&token=" + token10,
			wantVars: map[string]string{"LOG_LEVEL": "info", "BUILD_BY": "gateway"}},
		{name: "similar names are not protected", target: p10, contentType: jsonType,
			body:     jsonVars(token10, "main", map[string]string{"MY_CI_X": "1", "GITLAB": "2"}),
			wantVars: map[string]string{"MY_CI_X": "1", "GITLAB": "2", "LOG_LEVEL": "info", "BUILD_BY": "gateway"}},
		refused("CI_* is protected by default", p10, formType,
			form(map[string]string{"token": token10, "ref": "main", "variables[CI_JOB_TOKEN]": policyHiddenValue}),
			"protected_variable", "CI_JOB_TOKEN", "CI_*"),
		refused("GITLAB_* is protected by default", p10, jsonType,
			jsonVars(token10, "main", map[string]string{"OK": "1", "GITLAB_USER_LOGIN": policyHiddenValue}),
			"protected_variable", "GITLAB_USER_LOGIN", "GITLAB_*"),
		refused("configured protected name", p10, jsonType,
			jsonVars(token10, "main", map[string]string{"DEPLOY_KEY": policyHiddenValue}),
			"protected_variable", "DEPLOY_KEY", "protected"),
		refused("denied name", p10, jsonType,
			jsonVars(token10, "main", map[string]string{"SECRET_TOKEN": policyHiddenValue}),
			"denied_variable", "SECRET_TOKEN", "SECRET_*"),
		refused("value does not match the pattern", p10, jsonType,
			jsonVars(token10, "main", map[string]string{"VERSION": "1.2" + policyHiddenValue[:6]}),
			"variable_pattern_mismatch", "VERSION", "pattern"),
		refused("pattern must match the whole value", p10, jsonType,
			jsonVars(token10, "main", map[string]string{"VERSION": "v1.2;" + policyHiddenValue}),
			"variable_pattern_mismatch", "VERSION"),
		refused("too many variables", p10, jsonType,
			jsonVars(token10, "main", map[string]string{"A": "1", "B": "2", "C": "3", "D": policyHiddenValue}),
			"too_many_variables", "4 given", "at most 3"),
		refused("value too large", p10, jsonType,
			jsonVars(token10, "main", map[string]string{"BIG": policyHiddenValue + strings.Repeat("x", 10)}),
			"variable_too_large", "BIG", "24 bytes"),
		refused("invalid name", p10, formType,
			form(map[string]string{"token": token10, "ref": "main", "variables[BAD-NAME]": policyHiddenValue}),
			"invalid_variable_name", "BAD-NAME"),
		refused("a name and another renamed to it", p10, jsonType,
			jsonVars(token10, "main", map[string]string{"ENV": policyHiddenValue, "ENVIRONMENT": "x"}),
			"variable_conflict", "ENV", "ENVIRONMENT"),

		// Project 9 merges its rules over the gateway's.
		{name: "project: allowed names, its set and default, the gateway's rename and set", target: p9, contentType: jsonType,
			body:     jsonVars(token9, "main", map[string]string{"APP_NAME": "web", "ENV": "prod"}),
			wantVars: map[string]string{"APP_NAME": "web", "ENVIRONMENT": "prod", "LOG_LEVEL": "debug", "BUILD_BY": "gateway", "TARGET": "production"}},
		{name: "project: its max_count overrides the gateway's", target: p9, contentType: jsonType,
			body: jsonVars(token9, "main", map[string]string{"APP_A": "1", "APP_B": "2", "ENV": "e", "VERSION": "v2.0"}),
			wantVars: map[string]string{"APP_A": "1", "APP_B": "2", "ENVIRONMENT": "e", "VERSION": "v2.0",
				"LOG_LEVEL": "debug", "BUILD_BY": "gateway", "TARGET": "production"}},
		{name: "project: webhook payload gets the defaults and sets", target: "/api/v4/projects/9/ref/main/trigger/pipeline?token=" + token9,
			contentType: jsonType, body: `{"object_kind":"push","ref":"refs/heads/other"}`,
			wantRef: "main", wantVars: map[string]string{"LOG_LEVEL": "debug", "BUILD_BY": "gateway", "TARGET": "production"},
			wantExtra: map[string]any{"object_kind": "push"}},
		refused("project: name outside its allow list", p9, jsonType,
			jsonVars(token9, "main", map[string]string{"OTHER": policyHiddenValue}),
			"variable_not_allowed", "OTHER", "APP_*"),
		refused("project: its rules apply through an alias", "/api/v4/projects/group%2Fapp/trigger/pipeline", jsonType,
			jsonVars(token9, "main", map[string]string{"OTHER": policyHiddenValue}),
			"variable_not_allowed", "OTHER", "APP_*"),
		refused("project: its own protected name", p9, jsonType,
			jsonVars(token9, "main", map[string]string{"APP_SECRET": policyHiddenValue}),
			"protected_variable", "APP_SECRET"),
		refused("project: the gateway's deny list still applies", p9, jsonType,
			jsonVars(token9, "main", map[string]string{"SECRET_APP": policyHiddenValue}),
			"denied_variable", "SECRET_APP"),
		refused("project: CI_* still protected", p9, jsonType,
			jsonVars(token9, "main", map[string]string{"CI_DEBUG_TRACE": policyHiddenValue}),
			"protected_variable", "CI_DEBUG_TRACE"),
		refused("project: the gateway's pattern still applies", p9, jsonType,
			jsonVars(token9, "main", map[string]string{"VERSION": policyHiddenValue}),
			"variable_pattern_mismatch", "VERSION"),
		refused("project: over its own max_count", p9, jsonType,
			jsonVars(token9, "main", map[string]string{"APP_A": "1", "APP_B": "2", "APP_C": "3", "APP_D": "4", "APP_E": "5", "APP_F": "6"}),
			"too_many_variables", "6 given", "at most 5"),
	}, token9[10:], token10[10:])
}

// max_variables and max_variable_size still limit callers when no
// variables block is configured.
func TestServeHTTPVariableLimitsWithoutRules(t *testing.T) {
	h := provisionHandler(t, &Handler{MaxVariables: 2, MaxVariableSize: 8}, "")
	logs := watchLogs(h)
	_, token := createToken(t, h, "9", "alice")
	p := "/api/v4/projects/9/trigger/pipeline"
	runPolicyCases(t, h, logs, []policyCase{
		{name: "within the limits", target: p, contentType: "application/json",
			body: jsonVars(token, "main", map[string]string{"A": "12345678", "B": "x"}), wantVars: map[string]string{"A": "12345678", "B": "x"}},
		{name: "one too many", target: p, contentType: "application/json",
			body:       jsonVars(token, "main", map[string]string{"A": "1", "B": "2", "C": "3"}),
			wantStatus: 400, wantOutcome: "too_many_variables", wantMessage: []string{"at most 2"}},
		{name: "one byte too long", target: p, contentType: "application/json",
			body:       jsonVars(token, "main", map[string]string{"A": "123456789"}),
			wantStatus: 400, wantOutcome: "variable_too_large", wantMessage: []string{"A", "8 bytes"}},
		{name: "CI_ protected without any rules", target: p, contentType: "application/json",
			body:       jsonVars(token, "main", map[string]string{"CI_COMMIT_SHA": policyHiddenValue[:8]}),
			wantStatus: 400, wantOutcome: "protected_variable", wantMessage: []string{"CI_COMMIT_SHA"}},
	}, token[10:])
}

// Ref rules of the gateway, the project and the trigger token: a ref must
// pass every level that has rules; the log says which level refused.
func TestServeHTTPRefPolicy(t *testing.T) {
	h := provisionHandler(t, &Handler{
		Refs: []string{"main", "release/**", "v*"},
		Projects: map[string]*Project{
			"9": {Aliases: []string{"group/app"}, Refs: []string{"main", "release/*"}},
		},
	}, "")
	logs := watchLogs(h)
	_, token9 := createToken(t, h, "9", "alice")
	_, token10 := createToken(t, h, "10", "bob")
	_, limited, err := h.gateway.store.Create(context.Background(), tokenstore.CreateRequest{
		Project: "9", Description: "release pipelines only", Owner: "carol", Refs: []string{"release/*"},
	})
	if err != nil {
		t.Fatal(err)
	}
	pipeline := func(project, token, ref string) string {
		return "/api/v4/projects/" + project + "/trigger/pipeline?token=" + token + "&ref=" + ref
	}
	ok := func(name, target, ref string) policyCase {
		return policyCase{name: name, target: target, wantRef: ref, wantVars: map[string]string{}}
	}
	refused := func(name, target, level string, message ...string) policyCase {
		return policyCase{name: name, target: target, wantStatus: 400, wantOutcome: "ref_not_allowed",
			wantMessage: message, wantDetail: level}
	}

	runPolicyCases(t, h, logs, []policyCase{
		ok("gateway: exact glob", pipeline("10", token10, "main"), "main"),
		ok("gateway: star glob", pipeline("10", token10, "v1.0"), "v1.0"),
		ok("gateway: ** crosses slashes", pipeline("10", token10, "release/1/x"), "release/1/x"),
		refused("gateway: not listed", pipeline("10", token10, "dev"), "gateway: ", `"dev"`, `"main"`, `"release/**"`, `"v*"`),
		refused("gateway: * stops at a slash", pipeline("10", token10, "v1/x"), "gateway: ", `"v1/x"`),
		refused("gateway: checked after normalization", pipeline("10", token10, "refs/heads/dev"), "gateway: ", `"dev"`),
		{name: "gateway: refs/heads/ normalized before the check", target: "/api/v4/projects/10/trigger/pipeline",
			contentType: "application/json", body: `{"token":"` + token10 + `","ref":"refs/heads/main"}`, wantRef: "main"},

		ok("project: allowed at both levels", pipeline("9", token9, "release/1.x"), "release/1.x"),
		refused("project: allowed by the gateway only", pipeline("9", token9, "v1.0"), "project: ", `"v1.0"`, `"release/*"`),
		refused("project: * does not cross a slash", pipeline("9", token9, "release/1/x"), "project: ", `"release/1/x"`),
		refused("project: its rules apply through an alias", pipeline("group%2Fapp", token9, "v1.0"), "project: ", `"v1.0"`),

		ok("token: within its refs", pipeline("9", limited, "release/2.0"), "release/2.0"),
		refused("token: outside its refs", pipeline("9", limited, "main"), "trigger token: ", `"main"`, `"release/*"`),

		ok("webhook: URL ref allowed", "/api/v4/projects/9/ref/release%2F1.x/trigger/pipeline?token="+token9, "release/1.x"),
		{name: "webhook: URL ref refused", target: "/api/v4/projects/10/ref/dev/trigger/pipeline?token=" + token10,
			contentType: "application/json", body: `{"object_kind":"push","ref":"refs/heads/main"}`,
			wantStatus: 400, wantOutcome: "ref_not_allowed", wantMessage: []string{`"dev"`}, wantDetail: "gateway: "},
		{name: "webhook: body ref refused", target: "/api/v4/projects/10/trigger/pipeline?token=" + token10,
			contentType: "application/json", body: `{"object_kind":"push","ref":"refs/heads/feature"}`,
			wantStatus: 400, wantOutcome: "ref_not_allowed", wantMessage: []string{`"feature"`}, wantDetail: "gateway: "},
	}, token9[10:], token10[10:], limited[10:])
}

// Webhook verification of deliveries (the webhook route, or any route with a
// forge's event header), per project: GitLab's secret
// token and GitHub's HMAC over the raw body, secrets from placeholders. A
// refusal is 401 and reaches nothing.
func TestServeHTTPWebhookVerification(t *testing.T) {
	const (
		gitlabSecret = "gl-secret-from-env-4b2a"
		githubSecret = "gh-secret-from-file-93d1"
		both         = "gl-and-gh-secret-11aa"
	)
	t.Setenv("POLICY_TEST_GITLAB_SECRET", gitlabSecret)
	secretFile := filepath.Join(t.TempDir(), "github-secret")
	if err := os.WriteFile(secretFile, []byte(githubSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := provisionHandler(t, &Handler{Projects: map[string]*Project{
		"9":  {Aliases: []string{"group/gl"}, WebhookGitLabToken: new("{env.POLICY_TEST_GITLAB_SECRET}")},
		"10": {WebhookGitHubSecret: new("{file." + secretFile + "}")},
		"11": {WebhookGitLabToken: new(both), WebhookGitHubSecret: new(both)},
		// A secret that resolves to nothing stops the config from loading:
		// TestProvisionRefusesEmptySecrets.
	}}, "")
	logs := watchLogs(h)
	tokens := map[string]string{}
	for _, p := range []string{"9", "10", "11", "13"} {
		_, tokens[p] = createToken(t, h, p, "alice")
	}
	const payload = "{\n  \"object_kind\": \"push\",\n  \"ref\": \"refs/heads/main\"\n}"
	compact := `{"object_kind":"push","ref":"refs/heads/main"}`
	sign := func(secret, body string) string {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(body))
		return "sha256=" + hex.EncodeToString(mac.Sum(nil))
	}
	hook := func(project string) string {
		return "/api/v4/projects/" + project + "/ref/main/trigger/pipeline?token=" + tokens[project]
	}
	pipe := func(project string) string { // the body's ref is refs/heads/main
		return "/api/v4/projects/" + project + "/trigger/pipeline?token=" + tokens[project]
	}
	ok := func(name, project string, header map[string]string) policyCase {
		return policyCase{name: name, target: hook(project), contentType: "application/json", body: payload,
			header: header, wantRef: "main", wantExtra: map[string]any{"object_kind": "push"}}
	}
	refused := func(name, project, body, detail string, header map[string]string) policyCase {
		return policyCase{name: name, target: hook(project), contentType: "application/json", body: body,
			header: header, wantStatus: 401, wantOutcome: "webhook_not_verified",
			wantMessage: []string{"401 Unauthorized"}, wantDetail: detail}
	}

	runPolicyCases(t, h, logs, []policyCase{
		ok("GitLab token from {env.X}", "9", map[string]string{"X-Gitlab-Token": gitlabSecret}),
		refused("GitLab token wrong", "9", payload, "bad_token", map[string]string{"X-Gitlab-Token": gitlabSecret + "x"}),
		refused("GitLab token missing", "9", payload, "missing_signature", nil),
		{name: "GitLab token missing, through an alias", target: "/api/v4/projects/group%2Fgl/ref/main/trigger/pipeline?token=" + tokens["9"],
			contentType: "application/json", body: payload, wantStatus: 401, wantOutcome: "webhook_not_verified", wantDetail: "missing_signature"},
		{name: "GitLab token, through an alias", target: "/api/v4/projects/group%2Fgl/ref/main/trigger/pipeline?token=" + tokens["9"],
			contentType: "application/json", body: payload, header: map[string]string{"X-Gitlab-Token": gitlabSecret}, wantRef: "main"},
		refused("GitLab token empty", "9", payload, "missing_signature", map[string]string{"X-Gitlab-Token": ""}),
		refused("GitHub signature where a GitLab token is configured", "9", payload, "missing_signature",
			map[string]string{"X-Hub-Signature-256": sign(gitlabSecret, payload)}),
		{name: "pipeline route without an event header: no check", target: "/api/v4/projects/9/trigger/pipeline?ref=main&token=" + tokens["9"],
			wantRef: "main"},
		// A forge's delivery is checked whichever route it came by.
		{name: "pipeline route, GitLab event without the token", target: pipe("9"), contentType: "application/json", body: payload,
			header: map[string]string{"X-Gitlab-Event": "Push Hook"}, wantStatus: 401, wantOutcome: "webhook_not_verified", wantDetail: "missing_signature"},
		{name: "pipeline route, GitLab event with a wrong token", target: pipe("9"), contentType: "application/json", body: payload,
			header: map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "wrong"}, wantStatus: 401, wantOutcome: "webhook_not_verified", wantDetail: "bad_token"},
		{name: "pipeline route, empty event header, no token", target: pipe("9"), contentType: "application/json", body: payload,
			header: map[string]string{"X-Gitlab-Event": ""}, wantStatus: 401, wantOutcome: "webhook_not_verified", wantDetail: "missing_signature"},
		{name: "pipeline route, GitHub event without a signature", target: pipe("9"), contentType: "application/json", body: payload,
			header: map[string]string{"X-GitHub-Event": "push"}, wantStatus: 401, wantOutcome: "webhook_not_verified", wantDetail: "missing_signature"},
		{name: "pipeline route, Gitea event without a signature", target: pipe("10"), contentType: "application/json", body: payload,
			header: map[string]string{"X-Gitea-Event": "push"}, wantStatus: 401, wantOutcome: "webhook_not_verified", wantDetail: "missing_signature"},
		{name: "pipeline route, GitLab event with the token", target: pipe("9"), contentType: "application/json", body: payload,
			header: map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": gitlabSecret}, wantRef: "main"},
		{name: "pipeline route, GitHub event signed", target: pipe("10"), contentType: "application/json", body: payload,
			header: map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": sign(githubSecret, payload)}, wantRef: "main"},

		ok("GitHub HMAC over the raw body, secret from {file.path}", "10",
			map[string]string{"X-Hub-Signature-256": sign(githubSecret, payload)}),
		refused("GitHub HMAC of the same JSON written otherwise", "10", payload, "bad_signature",
			map[string]string{"X-Hub-Signature-256": sign(githubSecret, compact)}),
		refused("GitHub HMAC with the file's trailing newline", "10", payload, "bad_signature",
			map[string]string{"X-Hub-Signature-256": sign(githubSecret+"\n", payload)}),
		refused("GitHub HMAC with another secret", "10", payload, "bad_signature",
			map[string]string{"X-Hub-Signature-256": sign(gitlabSecret, payload)}),
		refused("GitHub sha1 signature", "10", payload, "bad_signature",
			map[string]string{"X-Hub-Signature-256": "sha1=" + strings.Repeat("ab", 20)}),
		refused("GitHub signature missing", "10", payload, "missing_signature",
			map[string]string{"X-Gitlab-Token": githubSecret}),

		ok("both configured: GitLab token", "11", map[string]string{"X-Gitlab-Token": both}),
		ok("both configured: GitHub signature", "11", map[string]string{"X-Hub-Signature-256": sign(both, payload)}),
		ok("both configured: either check passing is enough", "11",
			map[string]string{"X-Hub-Signature-256": sign("wrong", payload), "X-Gitlab-Token": both}),
		refused("both configured: both wrong", "11", payload, "bad_signature",
			map[string]string{"X-Hub-Signature-256": sign("wrong", payload), "X-Gitlab-Token": "wrong"}),

		ok("project without webhook secrets", "13", nil),
		{name: "project without webhook secrets, event on the pipeline route", target: pipe("13"), contentType: "application/json", body: payload,
			header: map[string]string{"X-Gitlab-Event": "Push Hook"}, wantRef: "main"},
	}, gitlabSecret, githubSecret, both, tokens["9"][10:], tokens["10"][10:], tokens["11"][10:])
}
