package integration

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	glpttPattern = regexp.MustCompile(`glptt-[0-9a-f]{40}`)
	shownOnce    = regexp.MustCompile(`(?i)shown (only )?once`)
)

// Creating, listing and showing triggers with `caddy trigger`, and the usage
// they show after triggers.
func TestTriggerCLI(t *testing.T) {
	t.Parallel()
	// Usage is never flushed during the test: the CLI must show the counts
	// still in memory.
	g := newGateway(t, config{Gateway: `usage_flush_interval 1h`})

	var tabled, alice, legacy triggerObj

	t.Run("add prints a table and the token once", func(t *testing.T) {
		res := g.mustCLI(t, "trigger", "add", "--address", g.adminAddr(),
			"--project", "9", "--description", "nightly build", "--owner", "carol")
		out := res.Stdout + res.Stderr
		toks := glpttPattern.FindAllString(out, -1)
		if len(toks) != 1 {
			t.Fatalf("found %d glptt- tokens in the output of `caddy trigger add`, want exactly 1:\n%s", len(toks), out)
		}
		tok := toks[0]
		g.secrets.addToken(tok)
		if !shownOnce.MatchString(out) {
			t.Errorf("`caddy trigger add` does not say the token is shown once:\n%s", redact(out, g.secrets.all()))
		}
		for _, want := range []string{"nightly build", tok[:10], "carol"} {
			if !strings.Contains(res.Stdout, want) {
				t.Errorf("`caddy trigger add` table lacks %q:\n%s", want, redact(res.Stdout, g.secrets.all()))
			}
		}
		for _, tr := range g.listTriggers(t, "9") {
			if tr.Description == "nightly build" {
				tabled = tr
			}
		}
		if tabled.ID == 0 || tabled.TokenPrefix != tok[:10] {
			t.Fatalf("the trigger created without --json is not listed with prefix %s: %+v", tok[:10], tabled)
		}
		tabled.Token = tok
		if !strings.Contains(res.Stdout, tabled.idString()) {
			t.Errorf("`caddy trigger add` table lacks the ID %d", tabled.ID)
		}
	})

	t.Run("add --json", func(t *testing.T) {
		before := time.Now().Add(-time.Second)
		alice = g.addTrigger(t, addOpts{Project: "9", Description: "deploy from CI", Owner: "alice"})
		after := time.Now().Add(time.Second)
		if !glpttPattern.MatchString(alice.Token) || len(alice.Token) != 46 {
			t.Errorf("token is not glptt- + 40 hex: %s", describeToken(alice.Token))
		}
		if alice.TokenPrefix != alice.Token[:10] {
			t.Errorf("token_prefix = %q, want %q", alice.TokenPrefix, alice.Token[:10])
		}
		if alice.Project != "9" || alice.Description != "deploy from CI" || alice.Owner != "alice" || alice.Legacy {
			t.Errorf("trigger = %+v", alice)
		}
		if alice.UseCount != 0 || alice.LastUsed != nil || alice.ExpiresAt != nil {
			t.Errorf("new trigger use_count/last_used/expires_at = %d/%v/%v, want 0/null/null",
				alice.UseCount, alice.LastUsed, alice.ExpiresAt)
		}
		created, err := time.Parse(time.RFC3339, alice.CreatedAt)
		if err != nil || created.Before(before) || created.After(after) {
			t.Errorf("created_at = %q (%v), want between %s and %s", alice.CreatedAt, err, before, after)
		}
		if alice.ID == tabled.ID {
			t.Errorf("two triggers share ID %d", alice.ID)
		}
	})

	t.Run("add without --owner makes a legacy trigger", func(t *testing.T) {
		legacy = g.addTrigger(t, addOpts{Project: "9", Description: "old cron"})
		if !legacy.Legacy || legacy.Owner != "" {
			t.Errorf("legacy = %v, owner = %q; want true, empty", legacy.Legacy, legacy.Owner)
		}
	})

	t.Run("list", func(t *testing.T) {
		other := g.addTrigger(t, addOpts{Project: "10", Description: "elsewhere", Owner: "bob"})
		ids := map[int64]bool{}
		for _, tr := range g.listTriggers(t, "9") {
			ids[tr.ID] = true
			if tr.Project != "9" {
				t.Errorf("list --project 9 shows a trigger of project %q", tr.Project)
			}
		}
		for _, tr := range []triggerObj{tabled, alice, legacy} {
			if !ids[tr.ID] {
				t.Errorf("list --project 9 lacks trigger %d", tr.ID)
			}
		}
		if ids[other.ID] {
			t.Errorf("list --project 9 shows project 10's trigger")
		}
		all := map[int64]bool{}
		for _, tr := range g.listTriggers(t, "") {
			all[tr.ID] = true
		}
		if len(all) != 4 {
			t.Errorf("list shows %d triggers, want 4", len(all))
		}

		res := g.mustCLI(t, "trigger", "list", "--address", g.adminAddr(), "--project", "9")
		for _, want := range []string{alice.TokenPrefix, "deploy from CI", legacy.TokenPrefix, "old cron"} {
			if !strings.Contains(res.Stdout, want) {
				t.Errorf("list table lacks %q:\n%s", want, res.Stdout)
			}
		}
		for _, s := range g.secrets.all() {
			if strings.Contains(res.Stdout+res.Stderr, s.needle) {
				t.Errorf("list table shows %s", s.label)
			}
		}
	})

	t.Run("admin address from --config", func(t *testing.T) {
		res := g.mustCLI(t, "trigger", "list", "--config", g.caddyfile, "--adapter", "caddyfile", "--json", "--project", "9")
		var list []triggerObj
		if err := json.Unmarshal([]byte(res.Stdout), &list); err != nil {
			t.Fatalf("list --config --json: %v: %s", err, res.Stdout)
		}
		findTrigger(t, list, alice.ID)
	})

	t.Run("show", func(t *testing.T) {
		got, res := g.showTrigger(t, alice.ID)
		if res.ExitCode != 0 {
			t.Fatalf("show %d: exit %d: %s", alice.ID, res.ExitCode, res.Stderr)
		}
		if got.ID != alice.ID || got.TokenPrefix != alice.TokenPrefix || got.Project != alice.Project ||
			got.Description != alice.Description || got.Owner != alice.Owner || got.Legacy ||
			got.CreatedAt != alice.CreatedAt || got.Token != "" {
			t.Errorf("show = %+v, want the trigger as created (without its token)", got)
		}
	})

	t.Run("usage counts include unflushed uses", func(t *testing.T) {
		before := time.Now().Add(-time.Second).Truncate(time.Second)
		const uses = 3
		for i := 0; i < uses; i++ {
			resp := g.post(t, "/api/v4/projects/9/trigger/pipeline", urlencoded("token", alice.Token, "ref", "main"))
			assertForwarded(t, resp, g.up.take(), forwarded{Project: "9", Token: alice.Token, Ref: "main", Variables: map[string]string{}, Trigger: alice})
		}
		resp := g.post(t, "/api/v4/projects/9/trigger/pipeline", urlencoded("token", tabled.Token, "ref", "main"))
		assertForwarded(t, resp, g.up.take(), forwarded{Project: "9", Token: tabled.Token, Ref: "main", Variables: map[string]string{}, Trigger: tabled})
		after := time.Now().Add(time.Second)

		n, lastUsed := g.usage(t, alice)
		if n != uses {
			t.Errorf("alice's use_count = %d, want %d", n, uses)
		}
		if lastUsed == nil || lastUsed.Before(before) || lastUsed.After(after) {
			t.Errorf("alice's last_used = %v, want between %s and %s", lastUsed, before, after)
		}
		if n, _ := g.usage(t, tabled); n != 1 {
			t.Errorf("use_count = %d, want 1", n)
		}
		if n, lastUsed := g.usage(t, legacy); n != 0 || lastUsed != nil {
			t.Errorf("unused trigger: use_count = %d, last_used = %v; want 0, null", n, lastUsed)
		}
		if got, _ := g.showTrigger(t, alice.ID); got.UseCount != uses {
			t.Errorf("show: use_count = %d, want %d", got.UseCount, uses)
		}
	})
}

// Revoking is immediate and irreversible; the revoked trigger stays
// visible (TestRevokedTriggerStaysVisible), never as a working one.
func TestRevokeCLI(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{})
	used := g.addTrigger(t, addOpts{Project: "9", Description: "to revoke", Owner: "alice"})
	unused := g.addTrigger(t, addOpts{Project: "9", Description: "never used", Owner: "alice"})
	keep := g.addTrigger(t, addOpts{Project: "9", Description: "stays", Owner: "alice"})
	trigger := func(tr triggerObj) response {
		return g.post(t, "/api/v4/projects/9/trigger/pipeline", urlencoded("token", tr.Token, "ref", "main"))
	}

	// A use first, so the token sits in the gateway's cache when revoked.
	assertForwarded(t, trigger(used), g.up.take(), forwarded{Project: "9", Token: used.Token, Ref: "main", Variables: map[string]string{}, Trigger: used})

	for _, tr := range []triggerObj{used, unused} {
		if res := g.revokeTrigger(t, tr.ID); res.ExitCode != 0 {
			t.Fatalf("revoke %d: exit %d: %s", tr.ID, res.ExitCode, res.Stderr)
		}
		assertJSONAnswer(t, trigger(tr), 404, notFound)
		assertNothingForwarded(t, g.up)
		if shown, res := g.showTrigger(t, tr.ID); res.ExitCode != 0 || shown.RevokedAt == nil {
			t.Errorf("show %d after revoke: exit %d, revoked_at %v; want it shown as revoked", tr.ID, res.ExitCode, shown.RevokedAt)
		}
	}
	for _, listed := range g.listTriggers(t, "9") {
		if listed.ID == used.ID || listed.ID == unused.ID {
			t.Errorf("revoked trigger %d is still listed", listed.ID)
		}
	}
	if res := g.revokeTrigger(t, used.ID); res.ExitCode == 0 {
		t.Errorf("revoking %d twice succeeds", used.ID)
	}

	// Importing the revoked token again must not bring it back.
	res := g.addTriggerCLI(t, addOpts{Project: "9", Description: "resurrect", Owner: "alice", Token: used.Token})
	if res.ExitCode == 0 {
		t.Errorf("re-importing a revoked token succeeds: %s", redact(res.Stdout, g.secrets.all()))
	}
	g.assertNoSecretsIn(t, "failed import's output", res.Stdout+res.Stderr)
	assertJSONAnswer(t, trigger(used), 404, notFound)
	assertNothingForwarded(t, g.up)

	// The other triggers are untouched.
	assertForwarded(t, trigger(keep), g.up.take(), forwarded{Project: "9", Token: keep.Token, Ref: "main", Variables: map[string]string{}, Trigger: keep})
}

// assertNoSecretsIn fails if out holds any token or value of the test.
func (g *gateway) assertNoSecretsIn(t *testing.T, what, out string) {
	t.Helper()
	for _, s := range g.secrets.all() {
		if strings.Contains(out, s.needle) {
			t.Errorf("%s shows %s", what, s.label)
		}
	}
}

// An expired trigger stops working at its expiry, even though it is cached.
func TestExpiredTrigger(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{})
	expiry := time.Now().Add(4 * time.Second).Truncate(time.Second).UTC()
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "short-lived", Owner: "alice", ExpiresAt: expiry.Format(time.RFC3339)})
	if tr.ExpiresAt == nil {
		t.Fatal("expires_at missing")
	}
	if got, err := time.Parse(time.RFC3339, *tr.ExpiresAt); err != nil || !got.Equal(expiry) {
		t.Errorf("expires_at = %q, want %s", *tr.ExpiresAt, expiry.Format(time.RFC3339))
	}

	resp := g.post(t, "/api/v4/projects/9/trigger/pipeline", urlencoded("token", tr.Token, "ref", "main"))
	assertForwarded(t, resp, g.up.take(), forwarded{Project: "9", Token: tr.Token, Ref: "main", Variables: map[string]string{}, Trigger: tr})

	time.Sleep(time.Until(expiry) + 1200*time.Millisecond)
	resp = g.post(t, "/api/v4/projects/9/trigger/pipeline", urlencoded("token", tr.Token, "ref", "main"))
	assertJSONAnswer(t, resp, 404, notFound)
	assertNothingForwarded(t, g.up)

	if res := g.addTriggerCLI(t, addOpts{Project: "9", Description: "bad expiry", Owner: "alice", ExpiresAt: "tomorrow"}); res.ExitCode == 0 {
		t.Errorf("--expires-at tomorrow is accepted: %s", redact(res.Stdout, g.secrets.all()))
	}
}

// Existing GitLab tokens can be imported, so callers need not change.
func TestImportTrigger(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{})
	gitlabToken := g.glpttToken()
	olderToken := "Xk" + randomHex(12) // a pre-glptt GitLab trigger token
	g.secrets.addToken(olderToken)

	tests := []struct {
		name       string
		token      string
		wantPrefix string
	}{
		{"glptt- token", gitlabToken, gitlabToken[:10]},
		{"older token format", olderToken, olderToken[:4]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := g.addTrigger(t, addOpts{Project: "9", Description: "imported " + tt.name, Owner: "alice", Token: tt.token})
			if tr.Token != tt.token {
				t.Errorf("imported trigger shows a different token: %s", describeToken(tr.Token))
			}
			if tr.TokenPrefix != tt.wantPrefix {
				t.Errorf("token_prefix = %q, want %q", tr.TokenPrefix, tt.wantPrefix)
			}
			resp := g.post(t, "/api/v4/projects/9/trigger/pipeline", urlencoded("token", tt.token, "ref", "main"))
			assertForwarded(t, resp, g.up.take(), forwarded{Project: "9", Token: tt.token, Ref: "main", Variables: map[string]string{}, Trigger: tr})

			res := g.addTriggerCLI(t, addOpts{Project: "9", Description: "again", Owner: "alice", Token: tt.token})
			if res.ExitCode == 0 {
				t.Errorf("importing the same token twice succeeds")
			}
			g.assertNoSecretsIn(t, "failed import's output", res.Stdout+res.Stderr)
		})
	}

	t.Run("from stdin", func(t *testing.T) {
		// --token - keeps the token out of the process list.
		tok := g.glpttToken()
		res := g.cliWithInput(t, tok+"\n", "trigger", "add", "--address", g.adminAddr(), "--json",
			"--project", "9", "--description", "imported from stdin", "--owner", "alice", "--token", "-")
		if res.ExitCode != 0 {
			t.Fatalf("add --token -: exit %d: %s", res.ExitCode, res.Stderr)
		}
		var tr triggerObj
		if err := json.Unmarshal([]byte(res.Stdout), &tr); err != nil {
			t.Fatalf("add --token - --json: %v: %s", err, redact(res.Stdout, g.secrets.all()))
		}
		if tr.TokenPrefix != tok[:10] {
			t.Errorf("token_prefix = %q, want %q", tr.TokenPrefix, tok[:10])
		}
		tr.Token = tok
		g.triggerOK(t, tr)
	})

	for _, bad := range []string{"short-tok", "has a space in it 0123456789", strings.Repeat("a", 256)} {
		res := g.addTriggerCLI(t, addOpts{Project: "9", Description: "malformed", Owner: "alice", Token: bad})
		if res.ExitCode == 0 {
			t.Errorf("importing malformed token %.12q… succeeds", bad)
		}
	}
}
