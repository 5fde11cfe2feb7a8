package caddymodule

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// secretSetting is one secret-bearing setting of the handler, as a
// Caddyfile configures it: block renders the trigger_gateway body with the
// secret's configured text.
type secretSetting struct {
	name  string // as the refusal names it
	block func(value string) string
}

// secretSettings are every secret-bearing setting of the handler.
func secretSettings(t *testing.T) []secretSetting {
	jwks := writeJWKS(t)
	jobToken := "job_token {\n\tjwks_file " + jwks + "\n\tissuer " + testIssuer + "\n\taudience " + testAudience + "\n"
	return []secretSetting{
		{"upstream_token", func(v string) string { return "upstream_token " + v }},
		{"project 9: upstream_token", func(v string) string { return "project 9 {\n\tupstream_token " + v + "\n}" }},
		{"project 9: webhook_gitlab_token", func(v string) string { return "project 9 {\n\twebhook_gitlab_token " + v + "\n}" }},
		{"project 9: webhook_github_secret", func(v string) string { return "project 9 {\n\twebhook_github_secret " + v + "\n}" }},
		{"project 9: artifacts_credential", func(v string) string {
			return "project 9 {\n\tartifacts_credential PRIVATE-TOKEN " + v + "\n}"
		}},
		{"job_token: artifacts_credential", func(v string) string {
			return jobToken + "\tartifacts_credential PRIVATE-TOKEN " + v + "\n}"
		}},
		{"management_token terraform", func(v string) string { return "management_token terraform " + v }},
	}
}

// provisionFromCaddyfile loads a trigger_gateway block as Caddy does: the
// Caddyfile adapted to the handler's JSON, which is decoded strictly and
// provisioned. It returns the Provision error, and the JSON.
func provisionFromCaddyfile(t *testing.T, body string) (error, string) {
	t.Helper()
	var parsed Handler
	if err := parsed.UnmarshalCaddyfile(caddyfile.NewTestDispenser("trigger_gateway {\n" + body + "\n}")); err != nil {
		t.Fatalf("UnmarshalCaddyfile: %v", err)
	}
	config, err := json.Marshal(parsed)
	if err != nil {
		t.Fatal(err)
	}
	var h Handler
	if err := caddy.StrictUnmarshalJSON(config, &h); err != nil {
		t.Fatalf("decoding %s: %v", config, err)
	}
	h.StorageRaw = json.RawMessage(`{"module":"file_system","root":` + mustJSON(t, t.TempDir()) + `}`)
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	err = h.Provision(ctx)
	if err == nil {
		err = h.Validate()
	}
	_ = h.Cleanup()
	return err, string(config)
}

// Every secret-bearing setting refuses to load when it resolves to
// nothing, whether its placeholder is unset, set empty, or it is written
// empty: the error names the setting and the placeholder, never a value.
// Set, each loads.
func TestProvisionRefusesEmptySecrets(t *testing.T) {
	const value = "secret-value-5d1c"
	t.Setenv("SECRETS_TEST_SET", value)
	t.Setenv("SECRETS_TEST_EMPTY", "")
	for _, setting := range secretSettings(t) {
		t.Run(setting.name, func(t *testing.T) {
			tests := []struct {
				name, configured, wantErr string
			}{
				{"set", "{env.SECRETS_TEST_SET}", ""},
				{"unset variable", "{env.SECRETS_TEST_UNSET}",
					setting.name + ": {env.SECRETS_TEST_UNSET} resolved to an empty value"},
				{"empty variable", "{env.SECRETS_TEST_EMPTY}",
					setting.name + ": {env.SECRETS_TEST_EMPTY} resolved to an empty value"},
				{"missing file", "{file./nonexistent/secret}",
					setting.name + ": {file./nonexistent/secret} resolved to an empty value"},
				{"unset after a literal", `"Bearer {env.SECRETS_TEST_UNSET}"`,
					setting.name + ": {env.SECRETS_TEST_UNSET} resolved to an empty value"},
				{"written empty", `""`, setting.name + ": the value is empty"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					err, config := provisionFromCaddyfile(t, setting.block(tt.configured))
					if tt.wantErr == "" {
						if err != nil {
							t.Fatalf("Provision: %v\nconfig: %s", err, config)
						}
						return
					}
					if err == nil {
						t.Fatalf("Provision succeeded, want %q\nconfig: %s", tt.wantErr, config)
					}
					if !strings.HasPrefix(err.Error(), tt.wantErr) {
						t.Errorf("error %q, want one starting %q", err, tt.wantErr)
					}
					if strings.Contains(err.Error(), value) || strings.Contains(err.Error(), "Bearer") {
						t.Errorf("error %q holds a value or the configured text beyond the placeholder", err)
					}
				})
			}
		})
	}
}

// The handler's JSON keeps a secret written empty apart from one left out:
// left out, the setting is off (the caller's token is forwarded, no
// webhook check); present and empty, it is refused.
func TestSecretJSONShape(t *testing.T) {
	tests := []struct {
		name, config, wantErr string
	}{
		{"left out", `{}`, ""},
		{"upstream_token empty", `{"upstream_token":""}`, "upstream_token: the value is empty"},
		{"project left out", `{"projects":{"9":{}}}`, ""},
		{"project upstream_token empty", `{"projects":{"9":{"upstream_token":""}}}`, "project 9: upstream_token: the value is empty"},
		{"webhook_gitlab_token empty", `{"projects":{"9":{"webhook_gitlab_token":""}}}`, "project 9: webhook_gitlab_token: the value is empty"},
		{"webhook_github_secret empty", `{"projects":{"9":{"webhook_github_secret":""}}}`, "project 9: webhook_github_secret: the value is empty"},
		{"artifacts_header without a credential", `{"projects":{"9":{"artifacts_header":"PRIVATE-TOKEN"}}}`,
			"project 9: artifacts_credential: the value is empty"},
		{"artifacts_credential without a header", `{"projects":{"9":{"artifacts_credential":"{env.X}"}}}`,
			"project 9: artifacts_credential needs artifacts_header"},
		{"management token empty", `{"management_tokens":[{"name":"terraform","token":""}]}`, "management_token terraform: the value is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Handler
			if err := caddy.StrictUnmarshalJSON([]byte(tt.config), &h); err != nil {
				t.Fatal(err)
			}
			h.StorageRaw = json.RawMessage(`{"module":"file_system","root":` + mustJSON(t, t.TempDir()) + `}`)
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			err := h.Provision(ctx)
			_ = h.Cleanup()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Provision: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)):
				t.Fatalf("Provision: %v, want an error starting %q", err, tt.wantErr)
			}
		})
	}

	t.Run("the Caddyfile keeps an empty secret in the JSON", func(t *testing.T) {
		checkUnmarshal(t, "trigger_gateway {\n\tupstream_token \"\"\n\tproject 9 {\n\t\twebhook_gitlab_token \"\"\n\t}\n}",
			`{"upstream_token":"","projects":{"9":{"webhook_gitlab_token":""}}}`, "")
	})
}
