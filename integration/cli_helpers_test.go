package integration

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// triggerObj is a trigger as the admin API and `caddy trigger ... --json` show it.
type triggerObj struct {
	ID          int64    `json:"id"`
	Token       string   `json:"token"`
	TokenPrefix string   `json:"token_prefix"`
	Project     string   `json:"project"`
	Description string   `json:"description"`
	Owner       string   `json:"owner"`
	Legacy      bool     `json:"legacy"`
	CreatedAt   string   `json:"created_at"`
	ExpiresAt   *string  `json:"expires_at"`
	LastUsed    *string  `json:"last_used"`
	UseCount    int64    `json:"use_count"`
	Refs        []string `json:"refs"`
	RevokedAt   *string  `json:"revoked_at"`
	RevokedBy   string   `json:"revoked_by"`
	// LastPipeline is what the admin API tells of the trigger's last pipeline.
	LastPipeline *lastPipeline `json:"last_pipeline"`
}

// lastPipeline is a trigger's last_pipeline.
type lastPipeline struct {
	ID          int64  `json:"id"`
	WebURL      string `json:"web_url"`
	TriggeredAt string `json:"triggered_at"`
}

// idString is the ID as the X-Trigger-Id header carries it.
func (tr triggerObj) idString() string { return strconv.FormatInt(tr.ID, 10) }

// addOpts are the flags of `caddy trigger add`.
type addOpts struct {
	Project, Description, Owner, ExpiresAt, Token string
}

func (o addOpts) args() []string {
	args := []string{"--project", o.Project, "--description", o.Description}
	if o.Owner != "" {
		args = append(args, "--owner", o.Owner)
	}
	if o.ExpiresAt != "" {
		args = append(args, "--expires-at", o.ExpiresAt)
	}
	if o.Token != "" {
		args = append(args, "--token", o.Token)
	}
	return args
}

// addTriggerCLI runs `caddy trigger add ... --json` and returns the raw result;
// any token it prints is remembered as a secret.
func (g *gateway) addTriggerCLI(t *testing.T, o addOpts) cliResult {
	t.Helper()
	if o.Token != "" {
		g.secrets.addToken(o.Token)
	}
	args := append([]string{"trigger", "add", "--address", g.adminAddr(), "--json"}, o.args()...)
	res := g.cli(t, args...)
	var tr triggerObj
	if json.Unmarshal([]byte(res.Stdout), &tr) == nil {
		g.secrets.addToken(tr.Token)
	}
	return res
}

// addTrigger creates (or imports) a trigger with the CLI and returns it with its token.
func (g *gateway) addTrigger(t *testing.T, o addOpts) triggerObj {
	t.Helper()
	res := g.addTriggerCLI(t, o)
	if res.ExitCode != 0 {
		t.Fatalf("caddy trigger add %v: exit %d\nstdout: %s\nstderr: %s", o.args(), res.ExitCode, res.Stdout, res.Stderr)
	}
	var tr triggerObj
	if err := json.Unmarshal([]byte(res.Stdout), &tr); err != nil {
		t.Fatalf("caddy trigger add --json: %v\nstdout: %s", err, res.Stdout)
	}
	if o.Token != "" && tr.Token == "" {
		// An import need not echo the token the caller already has.
		tr.Token = o.Token
	}
	if tr.Token == "" || tr.ID == 0 {
		t.Fatalf("caddy trigger add --json gave no token or id: %s", redact(res.Stdout, g.secrets.all()))
	}
	return tr
}

// listTriggers runs `caddy trigger list [--project P] --json`.
func (g *gateway) listTriggers(t *testing.T, project string) []triggerObj {
	t.Helper()
	list, failure := g.tryListTriggers(t, project)
	if failure != "" {
		t.Fatal(failure)
	}
	return list
}

// tryListTriggers is listTriggers for a caller that retries: a listing
// the CLI reports as failed (exit status not 0, such as a 503 when the
// storage answers slower than storage_timeout on a loaded machine) is
// returned as a failure message rather than ending the test.
func (g *gateway) tryListTriggers(t *testing.T, project string) ([]triggerObj, string) {
	t.Helper()
	args := []string{"trigger", "list", "--address", g.adminAddr(), "--json"}
	if project != "" {
		args = append(args, "--project", project)
	}
	res := g.cli(t, args...)
	if res.ExitCode != 0 {
		return nil, fmt.Sprintf("caddy %s: exit %d\nstdout: %s\nstderr: %s",
			strings.Join(args, " "), res.ExitCode, res.Stdout, res.Stderr)
	}
	g.assertNoTokenIn(t, "caddy trigger list --json", res.Stdout)
	var list []triggerObj
	if err := json.Unmarshal([]byte(res.Stdout), &list); err != nil {
		t.Fatalf("caddy trigger list --json: %v\nstdout: %s", err, res.Stdout)
	}
	return list, ""
}

// findTrigger returns the listed trigger with the given ID.
func findTrigger(t *testing.T, list []triggerObj, id int64) triggerObj {
	t.Helper()
	for _, tr := range list {
		if tr.ID == id {
			return tr
		}
	}
	t.Fatalf("trigger %d not listed (got %d triggers)", id, len(list))
	return triggerObj{}
}

// showTrigger runs `caddy trigger show ID --json`.
func (g *gateway) showTrigger(t *testing.T, id int64) (triggerObj, cliResult) {
	t.Helper()
	res := g.cli(t, "trigger", "show", "--address", g.adminAddr(), "--json", strconv.FormatInt(id, 10))
	var tr triggerObj
	if res.ExitCode == 0 {
		g.assertNoTokenIn(t, "caddy trigger show --json", res.Stdout)
		if err := json.Unmarshal([]byte(res.Stdout), &tr); err != nil {
			t.Fatalf("caddy trigger show --json: %v\nstdout: %s", err, res.Stdout)
		}
	}
	return tr, res
}

// revokeTrigger runs `caddy trigger revoke ID`.
func (g *gateway) revokeTrigger(t *testing.T, id int64) cliResult {
	t.Helper()
	return g.cli(t, "trigger", "revoke", "--address", g.adminAddr(), strconv.FormatInt(id, 10))
}

// assertNoTokenIn fails if out has a "token" field or any token of the test.
func (g *gateway) assertNoTokenIn(t *testing.T, what, out string) {
	t.Helper()
	if strings.Contains(out, `"token"`) {
		t.Errorf("%s shows a \"token\" field: %s", what, redact(out, g.secrets.all()))
	}
	for _, s := range g.secrets.all() {
		if strings.Contains(out, s.needle) {
			t.Errorf("%s shows %s", what, s.label)
		}
	}
}

// usage returns use_count and last_used of a trigger as `caddy trigger list` shows them.
func (g *gateway) usage(t *testing.T, tr triggerObj) (int64, *time.Time) {
	t.Helper()
	got := findTrigger(t, g.listTriggers(t, tr.Project), tr.ID)
	if got.LastUsed == nil {
		return got.UseCount, nil
	}
	lu, err := time.Parse(time.RFC3339, *got.LastUsed)
	if err != nil {
		t.Fatalf("last_used %q: %v", *got.LastUsed, err)
	}
	return got.UseCount, &lu
}
