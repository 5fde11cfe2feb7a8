package caddymodule

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// The Caddyfile subdirectives of the policies: variables, refs,
// idempotency_window, and per project variables, refs and webhook secrets.
func TestUnmarshalCaddyfilePolicies(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    string // the handler's JSON
		wantErr string
	}{
		{
			name: "every variables subdirective",
			input: "trigger_gateway {\n" +
				"	variables {\n" +
				"		allow DEPLOY_* VERSION\n" +
				"		allow APP_*\n" +
				"		deny SECRET_*\n" +
				"		protected DEPLOY_KEY\n" +
				"		set BUILD_BY gateway\n" +
				"		default LOG_LEVEL info\n" +
				"		default REGION \"eu west\"\n" +
				"		rename ENV ENVIRONMENT\n" +
				"		pattern VERSION `v[0-9]+\\.[0-9]+`\n" +
				"		max_count 5\n" +
				"		max_value_size 1KiB\n" +
				"	}\n" +
				"}",
			want: `{"variables":{"allow":["DEPLOY_*","VERSION","APP_*"],"deny":["SECRET_*"],"protected":["DEPLOY_KEY"],` +
				`"set":{"BUILD_BY":"gateway"},"default":{"LOG_LEVEL":"info","REGION":"eu west"},"rename":{"ENV":"ENVIRONMENT"},` +
				`"pattern":{"VERSION":"v[0-9]+\\.[0-9]+"},"max_count":5,"max_value_bytes":1024}}`,
		},
		{
			name:  "two variables blocks add up",
			input: "trigger_gateway {\n\tvariables {\n\t\tdeny A\n\t}\n\tvariables {\n\t\tdeny B\n\t\tset C d\n\t}\n}",
			want:  `{"variables":{"deny":["A","B"],"set":{"C":"d"}}}`,
		},
		{
			name:  "empty variables block",
			input: "trigger_gateway {\n\tvariables\n}",
			want:  `{"variables":{}}`,
		},
		{
			name:  "refs",
			input: "trigger_gateway {\n\trefs main release/** v*\n\trefs stable\n}",
			want:  `{"refs":["main","release/**","v*","stable"]}`,
		},
		{
			name:  "idempotency_window duration",
			input: "trigger_gateway {\n\tidempotency_window 1h\n}",
			want:  `{"idempotency_window":3600000000000}`,
		},
		{
			name:  "idempotency_window in days",
			input: "trigger_gateway {\n\tidempotency_window 2d\n}",
			want:  `{"idempotency_window":172800000000000}`,
		},
		{
			name:  "idempotency_window off",
			input: "trigger_gateway {\n\tidempotency_window off\n}",
			want:  `{"disable_idempotency":true}`,
		},
		{
			name: "project policies and webhook secrets",
			input: `trigger_gateway {
				project 9 {
					alias group/app
					variables {
						allow APP_*
						set TARGET production
					}
					refs main release/*
					webhook_gitlab_token {env.GITLAB_HOOK_SECRET}
					webhook_github_secret {file./etc/caddy/github-secret}
				}
			}`,
			want: `{"projects":{"9":{"aliases":["group/app"],"variables":{"allow":["APP_*"],"set":{"TARGET":"production"}},` +
				`"refs":["main","release/*"],"webhook_gitlab_token":"{env.GITLAB_HOOK_SECRET}",` +
				`"webhook_github_secret":"{file./etc/caddy/github-secret}"}}}`,
		},

		{name: "variables with an argument", input: "trigger_gateway {\n\tvariables strict {\n\t}\n}", wantErr: "wrong argument count"},
		{name: "unknown variables subdirective", input: "trigger_gateway {\n\tvariables {\n\t\tforbid A\n\t}\n}", wantErr: "unrecognized variables subdirective 'forbid'"},
		{name: "allow without a glob", input: "trigger_gateway {\n\tvariables {\n\t\tallow\n\t}\n}", wantErr: "wrong argument count"},
		{name: "deny without a glob", input: "trigger_gateway {\n\tvariables {\n\t\tdeny\n\t}\n}", wantErr: "wrong argument count"},
		{name: "protected without a glob", input: "trigger_gateway {\n\tvariables {\n\t\tprotected\n\t}\n}", wantErr: "wrong argument count"},
		{name: "set without a value", input: "trigger_gateway {\n\tvariables {\n\t\tset A\n\t}\n}", wantErr: "wrong argument count"},
		{name: "default with three arguments", input: "trigger_gateway {\n\tvariables {\n\t\tdefault A b c\n\t}\n}", wantErr: "wrong argument count"},
		{name: "rename without a target", input: "trigger_gateway {\n\tvariables {\n\t\trename A\n\t}\n}", wantErr: "wrong argument count"},
		{name: "pattern without a regexp", input: "trigger_gateway {\n\tvariables {\n\t\tpattern A\n\t}\n}", wantErr: "wrong argument count"},
		{name: "set twice", input: "trigger_gateway {\n\tvariables {\n\t\tset A 1\n\t\tset A 2\n\t}\n}", wantErr: "set A is given twice"},
		{name: "rename twice across blocks", input: "trigger_gateway {\n\tvariables {\n\t\trename A B\n\t}\n\tvariables {\n\t\trename A C\n\t}\n}", wantErr: "rename A is given twice"},
		{name: "max_count not a count", input: "trigger_gateway {\n\tvariables {\n\t\tmax_count many\n\t}\n}", wantErr: "is not a count"},
		{name: "max_count negative", input: "trigger_gateway {\n\tvariables {\n\t\tmax_count -1\n\t}\n}", wantErr: "is not a count"},
		{name: "max_value_size not a size", input: "trigger_gateway {\n\tvariables {\n\t\tmax_value_size big\n\t}\n}", wantErr: "is not a size"},
		{name: "max_value_size zero", input: "trigger_gateway {\n\tvariables {\n\t\tmax_value_size 0\n\t}\n}", wantErr: "is not a size"},
		{name: "refs without a glob", input: "trigger_gateway {\n\trefs\n}", wantErr: "wrong argument count"},
		{name: "idempotency_window without a value", input: "trigger_gateway {\n\tidempotency_window\n}", wantErr: "wrong argument count"},
		{name: "idempotency_window not a duration", input: "trigger_gateway {\n\tidempotency_window forever\n}", wantErr: "neither off nor a duration"},
		{name: "idempotency_window under a second", input: "trigger_gateway {\n\tidempotency_window 500ms\n}", wantErr: "at least 1s"},
		{name: "idempotency_window two values", input: "trigger_gateway {\n\tidempotency_window 1h off\n}", wantErr: "wrong argument count"},
		{name: "project refs without a glob", input: "trigger_gateway {\n\tproject 9 {\n\t\trefs\n\t}\n}", wantErr: "wrong argument count"},
		{name: "project variables with an argument", input: "trigger_gateway {\n\tproject 9 {\n\t\tvariables x\n\t}\n}", wantErr: "wrong argument count"},
		{name: "project unknown variables subdirective", input: "trigger_gateway {\n\tproject 9 {\n\t\tvariables {\n\t\t\tallowed A\n\t\t}\n\t}\n}", wantErr: "unrecognized variables subdirective 'allowed'"},
		{name: "webhook_gitlab_token without a secret", input: "trigger_gateway {\n\tproject 9 {\n\t\twebhook_gitlab_token\n\t}\n}", wantErr: "wrong argument count"},
		{name: "webhook_github_secret with two", input: "trigger_gateway {\n\tproject 9 {\n\t\twebhook_github_secret a b\n\t}\n}", wantErr: "wrong argument count"},
		{name: "webhook secret at the top level", input: "trigger_gateway {\n\twebhook_gitlab_token x\n}", wantErr: "unrecognized trigger_gateway subdirective 'webhook_gitlab_token'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkUnmarshal(t, tt.input, tt.want, tt.wantErr) })
	}
}

// Rules that parse but cannot work are refused when the config loads,
// with a message naming the rule and never a set or default value.
func TestProvisionPolicyErrors(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		wantErr string
	}{
		{"glob that can never match a name", "variables {\n\t\tdeny SECRET-*\n\t}", "can never match"},
		{"pattern that does not compile", "variables {\n\t\tpattern VERSION v(\n\t}", "pattern for VERSION"},
		{"pattern that would escape its anchors", "variables {\n\t\tpattern VERSION `a)|(b`\n\t}", "pattern for VERSION"},
		{"rename onto a protected name", "variables {\n\t\trename TARGET CI_TARGET\n\t}", "protected"},
		{"rename onto a denied name", "variables {\n\t\tdeny X_*\n\t\trename A X_A\n\t}", "denied"},
		{"rename to itself", "variables {\n\t\trename A A\n\t}", "to itself"},
		{"two names renamed to one", "variables {\n\t\trename A C\n\t\trename B C\n\t}", "both renamed to C"},
		{"set of an invalid name", "variables {\n\t\tset BAD-NAME s3cr3t-set-value\n\t}", "not a valid variable name"},
		{"ref glob with a space", "refs \"main branch\"", "refs"},
		{"project rename onto a name the gateway protects", "variables {\n\t\tprotected LOCKED\n\t}\n\tproject 9 {\n\t\tvariables {\n\t\t\trename A LOCKED\n\t\t}\n\t}", "project 9"},
		{"project ref glob with a control character", "project 9 {\n\t\trefs \"a\tb\"\n\t}", "project 9: refs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Handler
			if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("trigger_gateway {\n\t" + tt.input + "\n}")); err != nil {
				t.Fatalf("UnmarshalCaddyfile: %v", err)
			}
			h.StorageRaw = json.RawMessage(`{"module":"file_system","root":` + mustJSON(t, t.TempDir()) + `}`)
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			err := h.Provision(ctx)
			if err == nil {
				_ = h.Cleanup()
				t.Fatalf("Provision succeeded, want an error containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q, want one containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "s3cr3t-set-value") {
				t.Errorf("error shows a set value: %v", err)
			}
		})
	}
}

// A Caddyfile using every policy subdirective loads, and its rules work.
func TestCaddyfilePoliciesProvision(t *testing.T) {
	var h Handler
	input := "trigger_gateway {\n" +
		"	variables {\n" +
		"		rename ENV ENVIRONMENT\n" +
		"		default LOG_LEVEL info\n" +
		"		pattern VERSION `v[0-9]+\\.[0-9]+`\n" +
		"	}\n" +
		"	refs main v*\n" +
		"	idempotency_window 1h\n" +
		"	project 9 {\n" +
		"		variables {\n" +
		"			set TARGET production\n" +
		"		}\n" +
		"		refs main\n" +
		"		webhook_gitlab_token {env.POLICY_CADDYFILE_SECRET}\n" +
		"	}\n" +
		"}"
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err != nil {
		t.Fatal(err)
	}
	t.Setenv("POLICY_CADDYFILE_SECRET", "caddyfile-secret-5e5e")
	provisionHandler(t, &h, "")
	logs := watchLogs(&h)
	_, token := createToken(t, &h, "9", "alice")
	runPolicyCases(t, &h, logs, []policyCase{
		{name: "accepted", target: "/api/v4/projects/9/ref/main/trigger/pipeline?token=" + token,
			contentType: "application/json", body: `{"variables":{"ENV":"e","VERSION":"v1.0"}}`,
			header: map[string]string{"X-Gitlab-Token": "caddyfile-secret-5e5e"}, wantRef: "main",
			wantVars: map[string]string{"ENVIRONMENT": "e", "VERSION": "v1.0", "LOG_LEVEL": "info", "TARGET": "production"}},
		{name: "pattern with an escaped dot", target: "/api/v4/projects/9/ref/main/trigger/pipeline?token=" + token,
			contentType: "application/json", body: `{"variables":{"VERSION":"v1x0"}}`,
			header:     map[string]string{"X-Gitlab-Token": "caddyfile-secret-5e5e"},
			wantStatus: 400, wantOutcome: "variable_pattern_mismatch", wantMessage: []string{"VERSION"}},
		{name: "project refs", target: "/api/v4/projects/9/ref/v1.0/trigger/pipeline?token=" + token,
			header:     map[string]string{"X-Gitlab-Token": "caddyfile-secret-5e5e"},
			wantStatus: 400, wantOutcome: "ref_not_allowed", wantMessage: []string{`"v1.0"`}, wantDetail: "project: "},
		{name: "webhook secret", target: "/api/v4/projects/9/ref/main/trigger/pipeline?token=" + token,
			header:     map[string]string{"X-Gitlab-Token": "wrong"},
			wantStatus: 401, wantOutcome: "webhook_not_verified", wantDetail: "bad_token"},
	}, "caddyfile-secret-5e5e", token[10:])
}
