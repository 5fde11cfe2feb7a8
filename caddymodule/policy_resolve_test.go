package caddymodule

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// resolvePrefix is the path prefix of the placeholder tests' handlers,
// served by no other test's handler (the explain endpoint picks by it).
const resolvePrefix = "/resolve-test/api/v4"

// The values of variable set and default rules are resolved when the
// config loads, as upstream_token is: {env.X} and {file.X} forward the
// secret, not the placeholder's text, for the gateway's rules and for a
// project's, from the Caddyfile and from JSON. The configuration keeps
// the placeholders, and the explain answer hides the resolved values.
func TestVariablePlaceholdersResolved(t *testing.T) {
	const (
		deployKey = "deploy-key-61c0ffee"
		region    = "eu-west-3b7"
		target    = "target-9a0b1c"
		tier      = "tier-from-file-4d2e"
	)
	t.Setenv("RESOLVE_DEPLOY_KEY", deployKey)
	t.Setenv("RESOLVE_REGION", region)
	t.Setenv("RESOLVE_TARGET", target)
	tierFile := filepath.Join(t.TempDir(), "tier")
	if err := os.WriteFile(tierFile, []byte(tier), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("Caddyfile", func(t *testing.T) {
		var h Handler
		input := "trigger_gateway {\n" +
			"	path_prefix " + resolvePrefix + "\n" +
			"	variables {\n" +
			"		set DEPLOY_KEY {env.RESOLVE_DEPLOY_KEY}\n" +
			"		default REGION {env.RESOLVE_REGION}\n" +
			"		set TRIGGERED_VIA gateway\n" +
			"	}\n" +
			"	project 9 {\n" +
			"		variables {\n" +
			"			set TARGET {env.RESOLVE_TARGET}\n" +
			"			default TIER {file." + tierFile + "}\n" +
			"		}\n" +
			"	}\n" +
			"}"
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err != nil {
			t.Fatal(err)
		}
		provisionHandler(t, &h, "")
		logs := watchLogs(&h)
		_, token9 := createToken(t, &h, "9", "alice")
		_, token12 := createToken(t, &h, "12", "bob")
		runPolicyCases(t, &h, logs, []policyCase{
			{name: "gateway rules", target: resolvePrefix + "/projects/12/trigger/pipeline",
				contentType: "application/json", body: jsonVars(token12, "main", nil),
				wantVars: map[string]string{"DEPLOY_KEY": deployKey, "REGION": region, "TRIGGERED_VIA": "gateway"}},
			{name: "a caller's value wins over a default, never over a set", target: resolvePrefix + "/projects/12/trigger/pipeline",
				contentType: "application/json", body: jsonVars(token12, "main", map[string]string{"REGION": "us", "DEPLOY_KEY": "mine"}),
				wantVars: map[string]string{"DEPLOY_KEY": deployKey, "REGION": "us", "TRIGGERED_VIA": "gateway"}},
			{name: "project rules merged over the gateway's", target: resolvePrefix + "/projects/9/trigger/pipeline",
				contentType: "application/json", body: jsonVars(token9, "main", nil),
				wantVars: map[string]string{"DEPLOY_KEY": deployKey, "REGION": region, "TRIGGERED_VIA": "gateway",
					"TARGET": target, "TIER": tier}},
		}, deployKey, region, target, tier)

		// The configuration (what Caddy autosaves and the admin API shows)
		// keeps the placeholders.
		if got := h.Variables.Set["DEPLOY_KEY"]; got != "{env.RESOLVE_DEPLOY_KEY}" {
			t.Errorf("the configured set value became %q", got)
		}
		if got := h.Projects["9"].Variables.Set["TARGET"]; got != "{env.RESOLVE_TARGET}" {
			t.Errorf("the project's configured set value became %q", got)
		}

		// The explain answer shows a resolved value by its name only; a
		// value written in the config as it is shows as it is.
		got, raw := explainJSON(t, explainRequest{URL: resolvePrefix + "/projects/9/trigger/pipeline",
			Headers: map[string]string{"Content-Type": "application/json"}, Body: jsonVars(token9, "main", nil)})
		for _, secret := range []string{deployKey, region, target, tier} {
			if strings.Contains(raw, secret) {
				t.Errorf("the explanation holds a resolved value (%s): %s", secret, raw)
			}
		}
		var body struct {
			Variables map[string]string `json:"variables"`
		}
		if err := json.Unmarshal(got.Forward.Body, &body); err != nil {
			t.Fatalf("forward body %s: %v", got.Forward.Body, err)
		}
		want := map[string]string{"DEPLOY_KEY": redactionMarker, "REGION": redactionMarker, "TRIGGERED_VIA": "gateway",
			"TARGET": redactionMarker, "TIER": redactionMarker}
		if mustJSON(t, body.Variables) != mustJSON(t, want) {
			t.Errorf("explained variables %v, want %v", body.Variables, want)
		}
	})

	t.Run("JSON", func(t *testing.T) {
		var h Handler
		config := `{
			"path_prefix": "` + resolvePrefix + `",
			"variables": {"default": {"REGION": "{env.RESOLVE_REGION}"}},
			"projects": {"9": {"variables": {"set": {"TARGET": "{env.RESOLVE_TARGET}"}}}}
		}`
		if err := json.Unmarshal([]byte(config), &h); err != nil {
			t.Fatal(err)
		}
		provisionHandler(t, &h, "")
		logs := watchLogs(&h)
		_, token := createToken(t, &h, "9", "alice")
		runPolicyCases(t, &h, logs, []policyCase{
			{name: "resolved", target: resolvePrefix + "/projects/9/trigger/pipeline",
				contentType: "application/json", body: jsonVars(token, "main", map[string]string{"TARGET": "mine"}),
				wantVars: map[string]string{"REGION": region, "TARGET": target}},
		}, region, target)
	})
}
