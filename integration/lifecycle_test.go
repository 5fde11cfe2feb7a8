package integration

import (
	"strings"
	"testing"
)

// triggerOK sends one accepted trigger for tr on project 9 and checks what
// the upstream received.
func (g *gateway) triggerOK(t *testing.T, tr triggerObj) {
	t.Helper()
	resp := g.post(t, "/api/v4/projects/"+tr.Project+"/trigger/pipeline", urlencoded("token", tr.Token, "ref", "main"))
	assertForwarded(t, resp, g.up.take(), forwarded{
		Project: tr.Project, Token: tr.Token, Ref: "main", Variables: map[string]string{}, Trigger: tr,
	})
}

// wantUsage checks a trigger's exact use_count as the CLI shows it.
func (g *gateway) wantUsage(t *testing.T, tr triggerObj, want int64) {
	t.Helper()
	if got, _ := g.usage(t, tr); got != want {
		t.Errorf("trigger %d: use_count = %d, want %d", tr.ID, got, want)
	}
}

// A config reload keeps the tokens, the cache's view of them and the usage
// counted so far, to the unit.
func TestReloadKeepsTokensAndUsage(t *testing.T) {
	t.Parallel()
	cfg := func(generation string) config {
		return config{
			Gateway: "usage_flush_interval 1h",
			Site:    "header X-Config-Generation " + generation,
		}
	}
	g := newGateway(t, cfg("gen-1"))
	used := g.addTrigger(t, addOpts{Project: "9", Description: "used", Owner: "alice"})
	unused := g.addTrigger(t, addOpts{Project: "9", Description: "unused", Owner: "alice"})
	const uses = 3
	for i := 0; i < uses; i++ {
		g.triggerOK(t, used)
	}
	g.wantUsage(t, used, uses)
	pid := g.proc.cmd.Process.Pid

	g.reload(t, cfg("gen-2"))
	if conf := string(g.adminGet(t, "/config/").Body); !strings.Contains(conf, "gen-2") || strings.Contains(conf, "gen-1") {
		t.Fatalf("the reload did not apply: config is %s", conf)
	}
	if g.proc.exited() || g.proc.cmd.Process.Pid != pid {
		t.Fatal("caddy exited on reload")
	}

	g.wantUsage(t, used, uses)
	g.wantUsage(t, unused, 0)
	g.triggerOK(t, used)
	g.triggerOK(t, unused)
	g.wantUsage(t, used, uses+1)
	g.wantUsage(t, unused, 1)

	// The admin API still reaches the store after the reload.
	added := g.addTrigger(t, addOpts{Project: "9", Description: "after reload", Owner: "alice"})
	g.triggerOK(t, added)
}

// Stopping Caddy gracefully and starting it again on the same storage keeps
// tokens and usage, even when usage was never flushed while it ran.
func TestRestartKeepsTokensAndUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		stop func(*gateway, *caddyProcess) error
	}{
		{"SIGINT", (*gateway).interrupt},
		{"caddy stop", (*gateway).stopViaCLI},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := newGateway(t, config{Gateway: "usage_flush_interval 1h"})
			used := g.addTrigger(t, addOpts{Project: "9", Description: "used", Owner: "alice"})
			unused := g.addTrigger(t, addOpts{Project: "9", Description: "unused", Owner: "alice"})
			legacy := g.addTrigger(t, addOpts{Project: "12", Description: "legacy"})
			const uses = 3
			for i := 0; i < uses; i++ {
				g.triggerOK(t, used)
			}
			_, lastUsed := g.usage(t, used)

			if err := tt.stop(g, g.proc); err != nil {
				t.Errorf("caddy exited with %v on a graceful stop:\n%s", err, tail(g.proc.logPath))
			}
			g.start()

			n, lastUsedAfter := g.usage(t, used)
			if n != uses {
				t.Errorf("use_count after restart = %d, want %d", n, uses)
			}
			if lastUsed == nil || lastUsedAfter == nil || !lastUsedAfter.Equal(*lastUsed) {
				t.Errorf("last_used after restart = %v, want %v", lastUsedAfter, lastUsed)
			}
			g.wantUsage(t, unused, 0)
			for _, tr := range []triggerObj{used, unused, legacy} {
				g.triggerOK(t, tr)
			}
			g.wantUsage(t, used, uses+1)
			g.wantUsage(t, unused, 1)
		})
	}
}

// Every creation and revocation the admin API acknowledged survives a
// SIGKILL right after it.
func TestKillAfterCreation(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{})
	var created []triggerObj
	for i := 0; i < 5; i++ {
		created = append(created, g.addTrigger(t, addOpts{Project: "9", Description: "acknowledged", Owner: "alice"}))
	}
	revoked := g.addTrigger(t, addOpts{Project: "9", Description: "revoked", Owner: "alice"})
	if res := g.revokeTrigger(t, revoked.ID); res.ExitCode != 0 {
		t.Fatalf("revoke: exit %d: %s", res.ExitCode, res.Stderr)
	}
	g.kill(g.proc)
	g.start()

	maxID := revoked.ID
	for _, tr := range created {
		g.triggerOK(t, tr)
		maxID = max(maxID, tr.ID)
	}
	assertJSONAnswer(t, g.post(t, "/api/v4/projects/9/trigger/pipeline", urlencoded("token", revoked.Token, "ref", "main")), 404, notFound)
	assertNothingForwarded(t, g.up)
	if n := len(g.listTriggers(t, "9")); n != len(created) {
		t.Errorf("after SIGKILL and restart %d triggers are listed, want %d", n, len(created))
	}

	// IDs keep increasing: the counter was durable too.
	next := g.addTrigger(t, addOpts{Project: "9", Description: "after restart", Owner: "alice"})
	if next.ID <= maxID {
		t.Errorf("new trigger got ID %d, want more than %d", next.ID, maxID)
	}
	g.triggerOK(t, next)
}
