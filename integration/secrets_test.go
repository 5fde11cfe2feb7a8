package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// secretSettingsConfig renders a trigger_gateway body holding every
// secret-bearing setting, each from its own environment variable
// SECRETS_IT_<i>; the one numbered unset reads SECRETS_IT_UNSET instead
// (-1: none).
func secretSettingsConfig(jwks *jwksServer, unset int) (body string, names []string) {
	placeholder := func(i int) string {
		if i == unset {
			return "{env.SECRETS_IT_UNSET}"
		}
		return fmt.Sprintf("{env.SECRETS_IT_%d}", i)
	}
	names = []string{
		"upstream_token",
		"management_token terraform",
		"project 9: upstream_token",
		"project 9: webhook_gitlab_token",
		"project 9: webhook_github_secret",
		"project 9: artifacts_credential",
		"job_token: artifacts_credential",
	}
	body = strings.Join([]string{
		"upstream_token " + placeholder(0),
		"management_token terraform " + placeholder(1),
		"project 9 {",
		"upstream_token " + placeholder(2),
		"webhook_gitlab_token " + placeholder(3),
		"webhook_github_secret " + placeholder(4),
		"artifacts_credential PRIVATE-TOKEN " + placeholder(5),
		"}",
		jobTokenBlock(jwks, "artifacts_credential PRIVATE-TOKEN "+placeholder(6)),
	}, "\n")
	return body, names
}

// A secret-bearing setting whose placeholder resolves to nothing (here, an
// environment variable missing from Caddy's environment, as when a
// systemd unit lacks its Environment= line) stops the config from
// loading: `caddy validate`, `caddy run` and `caddy reload` refuse it with
// a message naming the setting and the placeholder and holding no value,
// and a refused reload leaves the running config serving.
func TestSecretResolvingToNothingIsRefused(t *testing.T) {
	t.Parallel()
	jwks := newJWKSServer(t, jobKey(0, "secrets-kid"))
	env := map[string]string{}
	for i := range 7 {
		env[fmt.Sprintf("SECRETS_IT_%d", i)] = fmt.Sprintf("secret-%d-%s", i, randomHex(12))
	}
	good, names := secretSettingsConfig(jwks, -1)
	g := newGateway(t, config{Gateway: good, Env: env})
	for i, value := range env {
		g.secrets.addSecret(value, i)
	}
	tr := g.addTrigger(t, addOpts{Project: "10", Description: "still served", Owner: "alice"})
	// The running config's upstream_token replaces the caller's token.
	stillServing := func(t *testing.T) {
		t.Helper()
		resp := g.post(t, "/api/v4/projects/10/trigger/pipeline", urlencoded("token", tr.Token, "ref", "main"))
		assertForwarded(t, resp, g.up.take(), forwarded{
			Project: "10", Token: env["SECRETS_IT_0"], Ref: "main", Variables: map[string]string{}, Trigger: tr,
		})
	}
	stillServing(t)
	goodCaddyfile, err := os.ReadFile(g.caddyfile)
	if err != nil {
		t.Fatal(err)
	}
	noValue := func(t *testing.T, what, out string) {
		t.Helper()
		for name, value := range env {
			if strings.Contains(out, value) {
				t.Errorf("%s holds the value of %s", what, name)
			}
		}
	}

	for i, setting := range names {
		t.Run(setting, func(t *testing.T) {
			bad, _ := secretSettingsConfig(jwks, i)
			want := setting + ": {env.SECRETS_IT_UNSET} resolved to an empty value"
			refused := func(t *testing.T, command string, res cliResult) {
				t.Helper()
				out := res.Stdout + res.Stderr
				if res.ExitCode == 0 {
					t.Fatalf("caddy %s accepted the config:\n%s", command, out)
				}
				if !strings.Contains(out, want) {
					t.Errorf("caddy %s exited %d without %q:\n%s", command, res.ExitCode, want, redact(out, g.secrets.all()))
				}
				noValue(t, "caddy "+command+"'s output", out)
			}

			g.writeCaddyfile(config{Gateway: bad, Env: env})
			refused(t, "validate", g.cli(t, "validate", "--config", g.caddyfile, "--adapter", "caddyfile"))
			refused(t, "reload", g.cli(t, "reload", "--config", g.caddyfile, "--adapter", "caddyfile", "--address", g.adminAddr()))
			stillServing(t)

			// caddy run on the same config, with its own admin endpoint and
			// port: it must exit, not serve.
			text, err := os.ReadFile(g.caddyfile)
			if err != nil {
				t.Fatal(err)
			}
			runConfig := regexp.MustCompile(`(?m)^\tadmin \S+$`).ReplaceAllString(string(text), "\tadmin off")
			port := freePort(t)
			runConfig = strings.NewReplacer(
				fmt.Sprintf("http_port %d\n", g.httpPort), fmt.Sprintf("http_port %d\n", port),
				fmt.Sprintf("http://127.0.0.1:%d {", g.httpPort), fmt.Sprintf("http://127.0.0.1:%d {", port),
			).Replace(runConfig)
			if !strings.Contains(runConfig, "\tadmin off\n") || !strings.Contains(runConfig, fmt.Sprintf("http_port %d\n", port)) {
				t.Fatalf("the config for caddy run keeps the running instance's addresses:\n%s", runConfig)
			}
			runFile := filepath.Join(g.dir, fmt.Sprintf("run-%d.Caddyfile", i))
			if err := os.WriteFile(runFile, []byte(runConfig), 0o600); err != nil {
				t.Fatal(err)
			}
			refused(t, "run", g.cli(t, "run", "--config", runFile, "--adapter", "caddyfile"))
		})
	}

	// Back to the config with every secret set: it loads.
	if err := os.WriteFile(g.caddyfile, goodCaddyfile, 0o600); err != nil {
		t.Fatal(err)
	}
	g.mustCLI(t, "reload", "--config", g.caddyfile, "--adapter", "caddyfile", "--address", g.adminAddr())
	stillServing(t)
}

// A secret written empty is refused as one resolving to nothing: it is
// never what a user meant. So is the Caddyfile's {$X}, which Caddy
// replaces while reading the file: unset, it leaves the setting without
// its argument, or quoted, empty.
func TestSecretWrittenEmptyIsRefused(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{})
	for _, tt := range []struct{ gateway, want string }{
		{`upstream_token ""`, "upstream_token: the value is empty"},
		{"project 9 {\nwebhook_gitlab_token \"\"\n}", "project 9: webhook_gitlab_token: the value is empty"},
		{`upstream_token "{$SECRETS_IT_UNSET}"`, "upstream_token: the value is empty"},
		{`upstream_token {$SECRETS_IT_UNSET}`, "wrong argument count or unexpected line ending after 'upstream_token'"},
	} {
		g.writeCaddyfile(config{Gateway: tt.gateway})
		res := g.cli(t, "validate", "--config", g.caddyfile, "--adapter", "caddyfile")
		if res.ExitCode == 0 || !strings.Contains(res.Stderr, tt.want) {
			t.Errorf("caddy validate with %q: exit %d, want a refusal with %q:\n%s", tt.gateway, res.ExitCode, tt.want, res.Stderr)
		}
	}
}
