package integration

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// decisionLine is the part of a decision log line these tests read.
type decisionLine struct {
	Msg       string `json:"msg"`
	Outcome   string `json:"outcome"`
	TriggerID int64  `json:"trigger_id"`
	Status    int    `json:"status"`
}

// waitDecision waits for the gateway's log line of a refusal with the
// given outcome and returns it.
func (g *gateway) waitDecision(t *testing.T, outcome string) decisionLine {
	t.Helper()
	re := regexp.MustCompile(`"outcome":"` + regexp.QuoteMeta(outcome) + `"`)
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, line := range g.logLines(t, re) {
			var d decisionLine
			if json.Unmarshal([]byte(line), &d) == nil && d.Msg == "trigger refused" {
				return d
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q decision in Caddy's log", outcome)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// listTriggersArgs runs `caddy trigger list --json` with more flags.
func (g *gateway) listTriggersArgs(t *testing.T, args ...string) []triggerObj {
	t.Helper()
	res := g.mustCLI(t, append([]string{"trigger", "list", "--address", g.adminAddr(), "--json"}, args...)...)
	g.assertNoTokenIn(t, "caddy trigger list --json", res.Stdout)
	var list []triggerObj
	if err := json.Unmarshal([]byte(res.Stdout), &list); err != nil {
		t.Fatalf("caddy trigger list --json: %v\nstdout: %s", err, res.Stdout)
	}
	return list
}

// A revoked trigger stays visible (list --revoked, show, with when and by
// whom), and a use of its token is logged and counted as revoked_token
// with its trigger's ID, while the caller gets the same 404 as for any
// unknown token.
func TestRevokedTriggerStaysVisible(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{})
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "nightly cron", Owner: "alice"})
	keep := g.addTrigger(t, addOpts{Project: "9", Description: "kept", Owner: "alice"})
	g.triggerOK(t, tr)
	before := time.Now().Add(-time.Second)
	if res := g.revokeTrigger(t, tr.ID); res.ExitCode != 0 {
		t.Fatalf("revoke: exit %d: %s", res.ExitCode, res.Stderr)
	}

	wantRevoked := func(t *testing.T, what string, got triggerObj) {
		t.Helper()
		if got.ID != tr.ID || got.Description != "nightly cron" || got.TokenPrefix != tr.TokenPrefix {
			t.Errorf("%s: %+v, want trigger %d", what, got, tr.ID)
		}
		if got.RevokedAt == nil {
			t.Fatalf("%s: no revoked_at", what)
		}
		if at, err := time.Parse(time.RFC3339, *got.RevokedAt); err != nil || at.Before(before) || at.After(time.Now().Add(time.Second)) {
			t.Errorf("%s: revoked_at %q (%v), want the time of the revocation", what, *got.RevokedAt, err)
		}
		// The CLI names the user running it.
		if !strings.HasPrefix(got.RevokedBy, "admin API, user ") || len(got.RevokedBy) == len("admin API, user ") {
			t.Errorf("%s: revoked_by %q, want \"admin API, user <the CLI's user>\"", what, got.RevokedBy)
		}
		if got.UseCount != 1 || got.LastUsed == nil {
			t.Errorf("%s: use_count %d, last_used %v; want the use before the revocation", what, got.UseCount, got.LastUsed)
		}
	}

	t.Run("list --revoked", func(t *testing.T) {
		revoked := g.listTriggersArgs(t, "--revoked")
		if len(revoked) != 1 {
			t.Fatalf("list --revoked shows %d triggers, want 1: %+v", len(revoked), revoked)
		}
		wantRevoked(t, "list --revoked", revoked[0])
		byProject := g.listTriggersArgs(t, "--revoked", "--project", "9")
		if len(byProject) != 1 || byProject[0].ID != tr.ID {
			t.Errorf("list --revoked --project 9 = %+v", byProject)
		}
		for _, listed := range g.listTriggers(t, "9") {
			if listed.ID == tr.ID {
				t.Errorf("revoked trigger %d is listed without --revoked", tr.ID)
			}
		}
		res := g.mustCLI(t, "trigger", "list", "--address", g.adminAddr(), "--revoked")
		for _, want := range []string{"REVOKED", "REVOKED BY", "admin API, user ", "nightly cron"} {
			if !strings.Contains(res.Stdout, want) {
				t.Errorf("list --revoked table lacks %q:\n%s", want, res.Stdout)
			}
		}
	})

	t.Run("show", func(t *testing.T) {
		got, res := g.showTrigger(t, tr.ID)
		if res.ExitCode != 0 {
			t.Fatalf("show %d: exit %d: %s", tr.ID, res.ExitCode, res.Stderr)
		}
		wantRevoked(t, "show", got)
		if kept, res := g.showTrigger(t, keep.ID); res.ExitCode != 0 || kept.RevokedAt != nil || kept.RevokedBy != "" {
			t.Errorf("show of a trigger not revoked: %+v (exit %d)", kept, res.ExitCode)
		}
	})

	t.Run("a use is logged and counted as revoked_token", func(t *testing.T) {
		resp := g.post(t, "/api/v4/projects/9/trigger/pipeline", urlencoded("token", tr.Token, "ref", "main"))
		assertJSONAnswer(t, resp, 404, notFound)
		assertNothingForwarded(t, g.up)
		d := g.waitDecision(t, "revoked_token")
		if d.TriggerID != tr.ID || d.Status != 404 {
			t.Errorf("decision %+v, want trigger_id %d and status 404", d, tr.ID)
		}
		if got := g.metricValue(t, "caddy_trigger_gateway_requests_total", "outcome", "revoked_token"); got != 1 {
			t.Errorf("requests_total{outcome=revoked_token} = %v, want 1", got)
		}
		if got := g.metricValue(t, "caddy_trigger_gateway_requests_total", "outcome", "unknown_token"); got != 0 {
			t.Errorf("requests_total{outcome=unknown_token} = %v, want 0", got)
		}
	})

	t.Run("revoking again is refused", func(t *testing.T) {
		if res := g.revokeTrigger(t, tr.ID); res.ExitCode == 0 {
			t.Errorf("revoking %d twice succeeds", tr.ID)
		}
	})
}

// An expired token's use is logged and counted as expired_token with its
// trigger's ID; --expires-at takes a date as GitLab's API does.
func TestExpiredTokenNamedInLogs(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{})
	date := time.Now().UTC().AddDate(1, 0, 0).Format(time.DateOnly)
	dated := g.addTrigger(t, addOpts{Project: "9", Description: "until next year", Owner: "alice", ExpiresAt: date})
	if want := date + "T00:00:00Z"; dated.ExpiresAt == nil || *dated.ExpiresAt != want {
		t.Errorf("--expires-at %s gives expires_at %v, want %s", date, dated.ExpiresAt, want)
	}
	g.triggerOK(t, dated)

	expiry := time.Now().Add(3 * time.Second).Truncate(time.Second).UTC()
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "short-lived", Owner: "alice", ExpiresAt: expiry.Format(time.RFC3339)})
	time.Sleep(time.Until(expiry) + 500*time.Millisecond)
	resp := g.post(t, "/api/v4/projects/9/trigger/pipeline", urlencoded("token", tr.Token, "ref", "main"))
	assertJSONAnswer(t, resp, 404, notFound)
	assertNothingForwarded(t, g.up)
	d := g.waitDecision(t, "expired_token")
	if d.TriggerID != tr.ID {
		t.Errorf("decision %+v, want trigger_id %d", d, tr.ID)
	}
	if got := g.metricValue(t, "caddy_trigger_gateway_requests_total", "outcome", "expired_token"); got != 1 {
		t.Errorf("requests_total{outcome=expired_token} = %v, want 1", got)
	}
}

// Token ref restrictions that can never match are refused at creation,
// with a sentence saying why; list and show show the ref globs.
func TestAddRefusesRefsThatCanNeverMatch(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{Gateway: "project 9 {\n\t\trefs release/*\n\t}"})
	add := func(refs ...string) cliResult {
		args := []string{"trigger", "add", "--address", g.adminAddr(), "--json", "--project", "9", "--description", "limited", "--owner", "alice"}
		for _, ref := range refs {
			args = append(args, "--ref", ref)
		}
		return g.cli(t, args...)
	}
	refused := []struct {
		refs []string
		want string
	}{
		{[]string{"main"}, `caddy trigger: refs: "main" can never match: project 9's ref rules allow only "release/*" (HTTP 400)`},
		{[]string{"release/*", "main..x"}, `caddy trigger: refs: "main..x" can never match: it is not a valid branch or tag name (HTTP 400)`},
		{[]string{"v*"}, `caddy trigger: refs: "v*" can never match: project 9's ref rules allow only "release/*" (HTTP 400)`},
	}
	for _, tc := range refused {
		res := add(tc.refs...)
		if res.ExitCode == 0 {
			t.Errorf("add --ref %q succeeds: %s", tc.refs, redact(res.Stdout, g.secrets.all()))
			var tr triggerObj
			if json.Unmarshal([]byte(res.Stdout), &tr) == nil {
				g.secrets.addToken(tr.Token)
			}
			continue
		}
		if got := strings.TrimSpace(res.Stderr); got != tc.want {
			t.Errorf("add --ref %q: stderr %q, want %q", tc.refs, got, tc.want)
		}
	}
	if list := g.listTriggers(t, "9"); len(list) != 0 {
		t.Fatalf("refused creations left triggers: %+v", list)
	}

	res := add("release/*")
	if res.ExitCode != 0 {
		t.Fatalf("add --ref release/*: exit %d: %s", res.ExitCode, res.Stderr)
	}
	var tr triggerObj
	if err := json.Unmarshal([]byte(res.Stdout), &tr); err != nil {
		t.Fatal(err)
	}
	g.secrets.addToken(tr.Token)
	for _, out := range []string{
		g.mustCLI(t, "trigger", "list", "--address", g.adminAddr()).Stdout,
		g.mustCLI(t, "trigger", "show", "--address", g.adminAddr(), strconv.FormatInt(tr.ID, 10)).Stdout,
	} {
		if !strings.Contains(out, "REFS") || !strings.Contains(out, "release/*") {
			t.Errorf("the table lacks the REFS column or the glob:\n%s", out)
		}
	}
}

// CLI errors are one plain sentence on standard error, not a log line.
func TestTriggerCLIErrorsArePlainSentences(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{})
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"trigger", "show", "--address", g.adminAddr(), "999"}, "caddy trigger: trigger 999 not found (HTTP 404)"},
		{[]string{"trigger", "add", "--address", g.adminAddr(), "--project", "9", "--description", "d", "--expires-at", "soon"},
			"caddy trigger: --expires-at must be a date like 2027-01-31 (midnight UTC) or an RFC 3339 time like 2027-01-31T15:04:05Z"},
		{[]string{"trigger", "list", "--address", g.adminAddr(), "--projct", "9"}, "caddy trigger: unknown flag: --projct"},
	}
	for _, tc := range tests {
		res := g.cli(t, tc.args...)
		if res.ExitCode != 1 {
			t.Errorf("caddy %s: exit %d, want 1", strings.Join(tc.args[:2], " "), res.ExitCode)
		}
		if res.Stderr != tc.want+"\n" {
			t.Errorf("caddy %s: stderr %q, want the one line %q", strings.Join(tc.args[:2], " "), res.Stderr, tc.want)
		}
	}
}

// `caddy trigger explain --form` builds the body curl --form would, and
// the exit status tells accepted (0) from refused (1).
func TestExplainFormAndExitStatus(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{})
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "explained", Owner: "alice"})
	explain := func(form ...string) cliResult {
		args := []string{"trigger", "explain", "--address", g.adminAddr(), "--url", "/api/v4/projects/9/trigger/pipeline"}
		for _, f := range form {
			args = append(args, "--form", f)
		}
		return g.cli(t, args...)
	}

	res := explain("token="+tr.Token, "ref=main", "variables[DEPLOY]=staging")
	if res.ExitCode != 0 || !strings.Contains(res.Stdout, "Accepted: pipeline trigger of project 9 on main") ||
		!strings.Contains(res.Stdout, `"DEPLOY":"staging"`) {
		t.Errorf("explain --form, accepted: exit %d\nstdout: %s\nstderr: %s", res.ExitCode, redact(res.Stdout, g.secrets.all()), res.Stderr)
	}
	g.assertNoTokenBeyondPrefix(t, "caddy trigger explain --form", res.Stdout)

	unknown := g.glpttToken()
	res = explain("token="+unknown, "ref=main")
	if res.ExitCode != 1 || !strings.Contains(res.Stdout, "Refused: 404 (unknown_token)") || res.Stderr != "" {
		t.Errorf("explain --form, refused: exit %d, want 1\nstdout: %s\nstderr: %s", res.ExitCode, redact(res.Stdout, g.secrets.all()), res.Stderr)
	}
	assertNothingForwarded(t, g.up)
	g.wantUsage(t, tr, 0)
}
