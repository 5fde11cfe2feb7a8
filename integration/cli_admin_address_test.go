package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// `caddy trigger` reaches the admin API the way `caddy reload` does: the
// --address, else the admin address of --config, else of the Caddyfile in
// the current directory, else localhost:2019. It never falls back to the
// default address when the config turns the admin API off, and never
// manages another storage than the one --storage names: either would
// create, list or revoke the triggers of another Caddy or storage. Loading
// the config writes no log line: standard error holds an error's one line.
func TestTriggerCLIReachesTheAdminAPIReloadWould(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{})
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "found", Owner: "alice"})

	adminOff := filepath.Join(g.dir, "admin-off.Caddyfile")
	if err := os.WriteFile(adminOff, []byte("{\n\tadmin off\n}\n\nhttp://127.0.0.1:1 {\n\ttrigger_gateway\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		args      []string
		stdoutHas string // on success
		stderrHas []string
	}{
		{name: "the adjacent Caddyfile's admin address", args: []string{"trigger", "list", "--json"}, stdoutHas: `"token_prefix": "` + tr.TokenPrefix + `"`},
		{name: "a config with admin off", args: []string{"trigger", "list", "--config", adminOff},
			stderrHas: []string{"caddy trigger: ", adminOff, "admin off", "--address"}},
		{name: "a storage not in use", args: []string{"trigger", "add", "--address", g.adminAddr(), "--storage", "redis:nowhere",
			"--project", "9", "--description", "elsewhere", "--owner", "alice", "--json"},
			stderrHas: []string{"caddy trigger: ", "redis:nowhere", "FileStorage:" + filepath.Join(g.dir, "storage")}},
		{name: "a storage not in use, listing", args: []string{"trigger", "list", "--address", g.adminAddr(), "--storage", "redis:nowhere"},
			stderrHas: []string{"redis:nowhere"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := g.cli(t, tc.args...)
			if tc.stdoutHas != "" {
				if res.ExitCode != 0 || !strings.Contains(res.Stdout, tc.stdoutHas) || res.Stderr != "" {
					t.Fatalf("exit %d, stdout %q, stderr %q; want the gateway's trigger and nothing on standard error",
						res.ExitCode, res.Stdout, res.Stderr)
				}
				return
			}
			if res.ExitCode != 1 || res.Stdout != "" {
				t.Errorf("exit %d, stdout %q; want 1 and nothing", res.ExitCode, res.Stdout)
			}
			if !strings.HasPrefix(res.Stderr, "caddy trigger: ") || strings.Count(res.Stderr, "\n") != 1 {
				t.Errorf("stderr %q, want the error's one line (no log lines of the config's loading)", res.Stderr)
			}
			for _, want := range tc.stderrHas {
				if !strings.Contains(res.Stderr, want) {
					t.Errorf("stderr %q lacks %q", res.Stderr, want)
				}
			}
			if strings.Contains(res.Stderr, "localhost:2019") {
				t.Errorf("stderr %q: the CLI tried the default admin address", res.Stderr)
			}
		})
	}
	if list := g.listTriggers(t, ""); len(list) != 1 {
		t.Errorf("%d triggers in the storage, want only the first", len(list))
	}
}

// An --address that is not the admin endpoint (the gateway's own port,
// which answers 404, or the CI server's, which answers 201 with JSON as
// Caddyfile.example's stand-in does) fails with a sentence saying so:
// revoke never prints "revoked" for a token that still works.
func TestTriggerCLIRefusesAnAddressThatIsNotTheAdminAPI(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{})
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "still works", Owner: "alice"})
	for _, addr := range []string{"127.0.0.1:" + strconv.Itoa(g.httpPort), "127.0.0.1:" + strconv.Itoa(g.up.port())} {
		for _, args := range [][]string{
			{"trigger", "revoke", "--address", addr, tr.idString()},
			{"trigger", "revoke", "--address", addr, "--json", tr.idString()},
			{"trigger", "add", "--address", addr, "--project", "9", "--description", "d", "--owner", "alice"},
		} {
			res := g.cli(t, args...)
			if res.ExitCode != 1 || res.Stdout != "" || !strings.Contains(res.Stderr, "is not the trigger_gateway admin API's") {
				t.Errorf("caddy %s --address %s: exit %d, stdout %q, stderr %q; want 1 and an error saying it is not the admin API",
					strings.Join(args[:2], " "), addr, res.ExitCode, res.Stdout, res.Stderr)
			}
		}
	}
	g.up.take() // what the CI server received
	g.triggerOK(t, tr)
}
