package caddymodule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/triggergate/caddy-trigger-gateway/tokenstore"
	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// newTriggerCommand builds a fresh "trigger" command tree from the
// registered command, the way Caddy's command factory does.
func newTriggerCommand() *cobra.Command {
	reg := caddycmd.Commands()["trigger"]
	cmd := &cobra.Command{
		Use:           reg.Name + " " + reg.Usage,
		Short:         reg.Short,
		Long:          reg.Long,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	reg.CobraFunc(cmd)
	return cmd
}

// runTriggerCLI runs "caddy trigger <args>" and returns what it printed.
func runTriggerCLI(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := newTriggerCommand()
	var out bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(io.Discard)
	cmd.SetIn(strings.NewReader(stdin))
	err := cmd.Execute()
	return out.String(), err
}

// addFlags parses args as the flags of "trigger add".
func addFlags(t *testing.T, args ...string) caddycmd.Flags {
	t.Helper()
	add, _, err := newTriggerCommand().Find([]string{"add"})
	if err != nil {
		t.Fatal(err)
	}
	if err := add.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	return caddycmd.Flags{FlagSet: add.Flags()}
}

func TestAddRequestFromFlags(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	const tok = "imported-token-0123456789"
	tests := []struct {
		name   string
		args   []string
		stdin  string
		want   adminCreateRequest
		errHas string
	}{
		{name: "minimal", args: []string{"--project", "9", "--description", "deploy"},
			want: adminCreateRequest{Project: "9", Description: "deploy"}},
		{name: "everything", args: []string{"--project", "group/project", "--description", " nightly ", "--owner", "alice",
			"--expires-at", "2030-06-01T00:00:00+02:00", "--token", tok},
			want: adminCreateRequest{Project: "group/project", Description: "nightly", Owner: "alice",
				ExpiresAt: "2030-06-01T00:00:00+02:00", Token: tok}},
		{name: "token from stdin", args: []string{"--project", "9", "--description", "d", "--token", "-"},
			stdin: tok + "\r\nignored\n", want: adminCreateRequest{Project: "9", Description: "d", Token: tok}},
		{name: "token from stdin without newline", args: []string{"--project", "9", "--description", "d", "--token", "-"},
			stdin: tok, want: adminCreateRequest{Project: "9", Description: "d", Token: tok}},
		{name: "missing project", args: []string{"--description", "d"}, errHas: "--project is required"},
		{name: "blank project", args: []string{"--project", "  ", "--description", "d"}, errHas: "--project is required"},
		{name: "missing description", args: []string{"--project", "9"}, errHas: "--description is required"},
		{name: "expiry date", args: []string{"--project", "9", "--description", "d", "--expires-at", "2030-06-01"},
			want: adminCreateRequest{Project: "9", Description: "d", ExpiresAt: "2030-06-01"}},
		{name: "bad expiry", args: []string{"--project", "9", "--description", "d", "--expires-at", "06/01/2030"},
			errHas: "a date like 2027-01-31 (midnight UTC) or an RFC 3339 time"},
		{name: "past expiry date", args: []string{"--project", "9", "--description", "d", "--expires-at", "2030-01-01"},
			errHas: "in the past"},
		{name: "past expiry", args: []string{"--project", "9", "--description", "d", "--expires-at", "2029-12-31T23:59:59Z"},
			errHas: "in the past"},
		{name: "expiry now", args: []string{"--project", "9", "--description", "d", "--expires-at", "2030-01-01T12:00:00Z"},
			errHas: "in the past"},
		{name: "short token", args: []string{"--project", "9", "--description", "d", "--token", "short-token"},
			errHas: "--token"},
		{name: "token with a space", args: []string{"--project", "9", "--description", "d", "--token", "with space 0123456789"},
			errHas: "--token"},
		{name: "empty stdin", args: []string{"--project", "9", "--description", "d", "--token", "-"},
			stdin: "\n", errHas: "no token on standard input"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := addRequestFromFlags(addFlags(t, tc.args...), strings.NewReader(tc.stdin), now)
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.errHas)
				}
				for i, a := range tc.args {
					if i > 0 && tc.args[i-1] == "--token" && a != "-" && strings.Contains(err.Error(), a) {
						t.Errorf("error %q contains the token", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseCLITriggerID(t *testing.T) {
	tests := []struct {
		arg  string
		want int64
		ok   bool
	}{
		{"1", 1, true},
		{"9223372036854775807", 9223372036854775807, true},
		{"0", 0, false},
		{"-1", 0, false},
		{"1.0", 0, false},
		{"", 0, false},
		{"glptt-0123456789abcdef0123456789abcdef01234567", 0, false},
	}
	for _, tc := range tests {
		got, err := parseCLITriggerID(tc.arg)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseCLITriggerID(%q) = %d, %v", tc.arg, got, err)
		}
		if err != nil && tc.arg != "" && strings.Contains(err.Error(), tc.arg) {
			t.Errorf("error %q echoes the argument", err)
		}
	}
}

func TestAdminRequestError(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"admin API error", errors.New(`caddy responded with error: HTTP 404: {"error":"trigger 3 not found"}` + "\n"),
			"trigger 3 not found (HTTP 404)"},
		{"error with warnings", errors.New(`caddy responded with error: HTTP 409: {"error":"exists","warnings":[]}`),
			"exists (HTTP 409)"},
		{"not JSON", errors.New(`caddy responded with error: HTTP 502: bad gateway`),
			"the answer from localhost:2019 is not the trigger_gateway admin API's (HTTP 502: bad gateway): " +
				"is it Caddy's admin endpoint, with this plugin? see --address and --config"},
		{"connection", errors.New("performing request: dial tcp 127.0.0.1:2019: connect: connection refused"),
			"reaching Caddy's admin API at localhost:2019 (is Caddy running? see --address and --config): " +
				"performing request: dial tcp 127.0.0.1:2019: connect: connection refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := adminRequestError("localhost:2019", tc.err).Error(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFormatCLITime(t *testing.T) {
	at := time.Date(2030, 2, 3, 4, 5, 6, 0, time.UTC)
	paris := time.FixedZone("CET", 3600)
	tests := []struct {
		name string
		t    *time.Time
		loc  *time.Location
		want string
	}{
		{"unset", nil, time.UTC, "never"},
		{"zero", &time.Time{}, time.UTC, "never"},
		{"UTC", &at, time.UTC, "2030-02-03 04:05 UTC"},
		{"other zone", &at, paris, "2030-02-03 05:05 CET"},
	}
	for _, tc := range tests {
		if got := formatCLITime(tc.t, tc.loc, "never"); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestCellText(t *testing.T) {
	tests := []struct {
		in    string
		width int
		want  string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"eleven chars", 10, "eleven ch…"},
		{"tab\tand\nnewline\x1b[31m", 40, "tab and newline [31m"},
		{"héhéhéhéhé-plus", 10, "héhéhéhéh…"},
		// Columns as a terminal shows them: a wide character takes two, a
		// combining mark none; a bidi control, which would reorder the
		// rest of the row, becomes a space.
		{"日本語の説明です", 10, "日本語の…"},
		{"日本語の説明", 12, "日本語の説明"},
		{"Café Café Café", 14, "Café Café Café"},
		{"owner‮exe.txt", 20, "owner exe.txt"},
	}
	for _, tc := range tests {
		if got := cellText(tc.in, tc.width); got != tc.want {
			t.Errorf("cellText(%q, %d) = %q, want %q", tc.in, tc.width, got, tc.want)
		}
	}
}

func sampleTriggers() []adminTrigger {
	created := time.Date(2030, 1, 2, 10, 30, 0, 0, time.UTC)
	used := time.Date(2030, 1, 5, 8, 0, 0, 0, time.UTC)
	soon := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	past := time.Date(2030, 1, 3, 0, 0, 0, 0, time.UTC)
	return []adminTrigger{
		{ID: 1, TokenPrefix: "glptt-1a2b", Project: "9", Description: "nightly deploy", Owner: "alice",
			Refs: []string{"main", "release/*"}, CreatedAt: created, LastUsed: &used, UseCount: 42},
		{ID: 12, TokenPrefix: "abcd", Project: "group/project", Description: "imported from GitLab\twith a tab",
			Legacy: true, CreatedAt: created, ExpiresAt: &soon},
		{ID: 103, TokenPrefix: "glptt-ffff", Project: "10", Description: strings.Repeat("long ", 10), Owner: "bob",
			CreatedAt: created, ExpiresAt: &past, UseCount: 1, LastUsed: &used},
	}
}

func TestWriteTriggerTable(t *testing.T) {
	now := time.Date(2030, 1, 10, 0, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	if err := writeTriggerTable(&buf, sampleTriggers(), now); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"ID   PROJECT        DESCRIPTION                               OWNER     TOKEN        REFS            CREATED               EXPIRES                         LAST USED             USES",
		"1    9              nightly deploy                            alice     glptt-1a2b…  main,release/*  2030-01-02 10:30 UTC  never                           2030-01-05 08:00 UTC  42",
		"12   group/project  imported from GitLab with a tab           (legacy)  abcd…        (any)           2030-01-02 10:30 UTC  2031-01-01 00:00 UTC            never                 0",
		"103  10             long long long long long long long long…  bob       glptt-ffff…  (any)           2030-01-02 10:30 UTC  2030-01-03 00:00 UTC (expired)  2030-01-05 08:00 UTC  1",
		"",
	}, "\n")
	if got := buf.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

// Columns stay aligned as a terminal shows them whatever the text: wide
// (CJK) characters take two columns, combining marks none.
func TestWriteTriggerTableAlignsWideText(t *testing.T) {
	now := time.Date(2030, 1, 10, 0, 0, 0, 0, time.UTC)
	list := sampleTriggers()[:1]
	for _, d := range []string{"日本語の説明", "Café deploy"} {
		tr := list[0]
		tr.Description = d
		list = append(list, tr)
	}
	var buf bytes.Buffer
	if err := writeTriggerTable(&buf, list, now); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"ID  PROJECT  DESCRIPTION     OWNER  TOKEN        REFS            CREATED               EXPIRES  LAST USED             USES",
		"1   9        nightly deploy  alice  glptt-1a2b…  main,release/*  2030-01-02 10:30 UTC  never    2030-01-05 08:00 UTC  42",
		"1   9        日本語の説明    alice  glptt-1a2b…  main,release/*  2030-01-02 10:30 UTC  never    2030-01-05 08:00 UTC  42",
		"1   9        Café deploy     alice  glptt-1a2b…  main,release/*  2030-01-02 10:30 UTC  never    2030-01-05 08:00 UTC  42",
		"",
	}, "\n")
	if got := buf.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

// A list with a revoked trigger says when and by whom, in two more columns.
func TestWriteTriggerTableRevoked(t *testing.T) {
	now := time.Date(2030, 1, 10, 0, 0, 0, 0, time.UTC)
	revokedAt := time.Date(2030, 1, 6, 9, 15, 0, 0, time.UTC)
	list := sampleTriggers()[:2]
	list[0].RevokedAt, list[0].RevokedBy = &revokedAt, "admin API, user alice"
	var buf bytes.Buffer
	if err := writeTriggerTable(&buf, list, now); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"ID  PROJECT        DESCRIPTION                      OWNER     TOKEN        REFS            CREATED               EXPIRES               LAST USED             USES  REVOKED               REVOKED BY",
		"1   9              nightly deploy                   alice     glptt-1a2b…  main,release/*  2030-01-02 10:30 UTC  never                 2030-01-05 08:00 UTC  42    2030-01-06 09:15 UTC  admin API, user alice",
		"12  group/project  imported from GitLab with a tab  (legacy)  abcd…        (any)           2030-01-02 10:30 UTC  2031-01-01 00:00 UTC  never                 0     -                     -",
		"",
	}, "\n")
	if got := buf.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

// show adds the last pipeline under the row, when one is known.
func TestWriteShownTrigger(t *testing.T) {
	now := time.Date(2030, 1, 10, 0, 0, 0, 0, time.UTC)
	tr := sampleTriggers()[0]
	var without bytes.Buffer
	if err := writeShownTrigger(&without, tr, now); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(without.String(), "pipeline") {
		t.Errorf("a trigger without a pipeline shows one:\n%s", without.String())
	}
	tr.LastPipeline = &tokenstore.Pipeline{ID: 4242, WebURL: "https://ci.example.com/p/-/pipelines/4242",
		TriggeredAt: time.Date(2030, 1, 5, 8, 0, 0, 0, time.UTC)}
	var with bytes.Buffer
	if err := writeShownTrigger(&with, tr, now); err != nil {
		t.Fatal(err)
	}
	want := without.String() + "\nLast pipeline: 4242 https://ci.example.com/p/-/pipelines/4242 (triggered 2030-01-05 08:00 UTC)\n"
	if with.String() != want {
		t.Errorf("show:\n%s\nwant:\n%s", with.String(), want)
	}
}

func TestWriteCreatedTrigger(t *testing.T) {
	tr := sampleTriggers()[0]
	tr.Token = "glptt-1a2b" + strings.Repeat("0", 36)
	var buf bytes.Buffer
	if err := writeCreatedTrigger(&buf, tr, time.Date(2030, 1, 10, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(buf.String(), "\n")
	if lines[0] != "Token: "+tr.Token {
		t.Errorf("first line %q, want the labelled token", lines[0])
	}
	if !strings.Contains(lines[1], "shown only once") {
		t.Errorf("second line %q lacks the shown-once note", lines[1])
	}
	if len(lines) != 6 || !strings.HasPrefix(lines[3], "ID ") || !strings.HasPrefix(lines[4], "1 ") {
		t.Errorf("no table after the token:\n%s", buf.String())
	}
}

func TestPrintIndentedJSON(t *testing.T) {
	var buf bytes.Buffer
	if err := printIndentedJSON(&buf, []byte(`{"id":1,"last_used":null}`)); err != nil {
		t.Fatal(err)
	}
	if want := "{\n  \"id\": 1,\n  \"last_used\": null\n}\n"; buf.String() != want {
		t.Errorf("got %q, want %q", buf.String(), want)
	}
	if err := printIndentedJSON(&buf, []byte("<html>")); err == nil {
		t.Error("no error for an answer that is not JSON")
	}
}

// closedAddress returns a local address nothing listens on, so a test can
// tell that the CLI stopped before sending a request.
func closedAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestTriggerCommandLocalErrors(t *testing.T) {
	addr := closedAddress(t)
	tests := []struct {
		name   string
		args   []string
		errHas string
	}{
		{"unknown subcommand", []string{"frob"}, `unknown command "frob"`},
		{"show without ID", []string{"show", "--address", addr}, "accepts 1 arg"},
		{"revoke two IDs", []string{"revoke", "1", "2", "--address", addr}, "accepts 1 arg"},
		{"show bad ID", []string{"show", "abc", "--address", addr}, "invalid trigger ID"},
		{"revoke bad ID", []string{"revoke", "0", "--address", addr}, "invalid trigger ID"},
		{"add without project", []string{"add", "--description", "d", "--address", addr}, "--project is required"},
		{"add bad expiry", []string{"add", "--project", "9", "--description", "d", "--expires-at", "soon", "--address", addr}, "RFC 3339"},
		{"list extra argument", []string{"list", "9", "--address", addr}, `unknown command "9"`},
		{"unknown flag", []string{"list", "--projct", "9"}, "unknown flag"},
		{"no Caddy listening", []string{"list", "--address", addr}, "is Caddy running?"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runTriggerCLI(t, "", tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.errHas)
			}
			if out != "" {
				t.Errorf("printed %q on error", out)
			}
		})
	}

	out, err := runTriggerCLI(t, "")
	if err != nil || !strings.Contains(out, "caddy trigger add --project 9") {
		t.Errorf("without subcommand: %v, help %q", err, out)
	}
}

// TestTriggerCommandAgainstAdminAPI runs the CLI against the admin API's
// routes served over HTTP with a real store (not the whole Caddy binary,
// which the integration tests drive).
func TestTriggerCommandAgainstAdminAPI(t *testing.T) {
	c, _ := newAdminClient(t, map[string]string{"group/project": "9"})
	srv := adminTestServer(t, c.a)
	conn := []string{"--address", srv.Listener.Addr().String(), "--storage", c.g.key}
	run := func(t *testing.T, stdin string, args ...string) (string, error) {
		t.Helper()
		return runTriggerCLI(t, stdin, append(args, conn...)...)
	}

	out, err := run(t, "", "add", "--project", "group/project", "--description", "deploy", "--owner", "alice", "--json")
	if err != nil {
		t.Fatal(err)
	}
	first, m := decodeTrigger(t, []byte(out))
	if !generatedToken.MatchString(first.Token) || first.Project != "9" || m["last_used"] != nil {
		t.Fatalf("add --json printed %s", out)
	}
	if !strings.Contains(out, "\n  \"id\": ") {
		t.Errorf("add --json output is not indented: %s", out)
	}

	const imported = "imported-token-0123456789"
	out, err = run(t, imported+"\n", "add", "--project", "10", "--description", "imported", "--token", "-")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "Token: "+imported+"\n") || !strings.Contains(out, "impo…") {
		t.Errorf("add printed %q", out)
	}

	tests := []struct {
		name    string
		args    []string
		want    []string // substrings of the output
		errHas  string
		secrets bool // the output must hold no token
	}{
		{name: "list", args: []string{"list"}, want: []string{"ID ", first.TokenPrefix + "…", "deploy", "alice", "(legacy)", "impo…"}, secrets: true},
		{name: "list by alias", args: []string{"list", "--project", "group/project"}, want: []string{"deploy"}, secrets: true},
		{name: "list empty project", args: []string{"list", "--project", "77"}, want: []string{"No triggers."}, secrets: true},
		{name: "list json", args: []string{"list", "--json"}, want: []string{`"token_prefix": "impo"`, `"use_count": 0`}, secrets: true},
		{name: "show", args: []string{"show", "1"}, want: []string{"deploy", first.TokenPrefix + "…", "No deliveries yet."}, secrets: true},
		{name: "show json", args: []string{"show", "1", "--json"}, want: []string{`"id": 1,`, `"deliveries": []`}, secrets: true},
		{name: "show unknown", args: []string{"show", "99"}, errHas: "trigger 99 not found (HTTP 404)"},
		{name: "add existing token", args: []string{"add", "--project", "9", "--description", "x", "--token", imported},
			errHas: "(HTTP 409)"},
		{name: "revoke", args: []string{"revoke", "1"}, want: []string{"Trigger 1 revoked.\n"}},
		{name: "show revoked", args: []string{"show", "1"}, want: []string{"deploy", "REVOKED", "admin API"}, secrets: true},
		{name: "list revoked", args: []string{"list", "--revoked"}, want: []string{"deploy", "REVOKED"}, secrets: true},
		{name: "revoke json prints nothing", args: []string{"revoke", "2", "--json"}},
		{name: "revoke revoked", args: []string{"revoke", "2"}, errHas: "trigger 2 is already revoked (since "},
		{name: "list after revocations", args: []string{"list", "--json"}, want: []string{"[]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(t, "", tc.args...)
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.errHas)
				}
				assertNoSecret(t, "error", err.Error(), first.Token, imported)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if len(tc.want) == 0 && out != "" {
				t.Errorf("printed %q, want nothing", out)
			}
			if tc.secrets {
				assertNoSecret(t, "output", out, first.Token, imported)
			}
			if strings.Contains(strings.Join(tc.args, " "), "--json") && out != "" && !json.Valid([]byte(out)) {
				t.Errorf("--json output is not JSON: %s", out)
			}
		})
	}
}

// Errors are one plain line on standard error, "caddy trigger: ...": the
// subcommands' own, cobra's flag and argument errors, the admin API's.
func TestTriggerCommandErrorsArePlainLines(t *testing.T) {
	addr := closedAddress(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad expiry", []string{"add", "--project", "9", "--description", "d", "--expires-at", "soon", "--address", addr},
			"caddy trigger: --expires-at must be a date like 2027-01-31 (midnight UTC) or an RFC 3339 time like 2027-01-31T15:04:05Z"},
		{"unknown flag", []string{"list", "--projct", "9"}, "caddy trigger: unknown flag: --projct"},
		{"missing argument", []string{"show", "--address", addr}, "caddy trigger: accepts 1 arg(s), received 0"},
		{"unknown subcommand", []string{"frob"}, `caddy trigger: unknown command "frob" for "trigger"`},
		{"no Caddy listening", []string{"list", "--address", addr}, "caddy trigger: reaching Caddy's admin API at " + addr},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := newTriggerCommand()
			var stdout, stderr bytes.Buffer
			cmd.SetArgs(tc.args)
			cmd.SetOut(&stdout)
			cmd.SetErr(&stderr)
			if err := cmd.Execute(); err == nil {
				t.Fatal("no error")
			}
			got := stderr.String()
			if !strings.HasPrefix(got, tc.want) || strings.Count(got, "\n") != 1 || !strings.HasSuffix(got, "\n") {
				t.Errorf("stderr %q, want one line starting with %q", got, tc.want)
			}
			if strings.Contains(got, `"level"`) || strings.Contains(got, "Error:") {
				t.Errorf("stderr is not a plain sentence: %q", got)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q on error", stdout.String())
			}
		})
	}
}

// explainFlags parses args as the flags of "trigger explain".
func explainFlags(t *testing.T, args ...string) caddycmd.Flags {
	t.Helper()
	explain, _, err := newTriggerCommand().Find([]string{"explain"})
	if err != nil {
		t.Fatal(err)
	}
	if err := explain.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	return caddycmd.Flags{FlagSet: explain.Flags()}
}

// --form builds a multipart/form-data body as curl -F does, which the
// gateway's own parser reads back field by field.
func TestExplainForm(t *testing.T) {
	const tok = "glptt-0123456789abcdef0123456789abcdef01234567"
	req, err := explainRequestFromFlags(explainFlags(t, "--url", "/api/v4/projects/9/trigger/pipeline",
		"--form", "token="+tok, "--form", "ref=main", "--form", "variables[DEPLOY]=a=b c"))
	if err != nil {
		t.Fatal(err)
	}
	contentType := req.Headers["Content-Type"]
	if req.Method != http.MethodPost || !strings.HasPrefix(contentType, "multipart/form-data; boundary=") {
		t.Fatalf("request %s with Content-Type %q", req.Method, contentType)
	}
	route, _ := triggerapi.ParseRoute("/api/v4", "/api/v4/projects/9/trigger/pipeline")
	parsed, refusal := triggerapi.Parse(route, contentType, "", []byte(req.Body))
	if refusal != nil {
		t.Fatalf("the gateway refuses the body: %s", refusal.Body)
	}
	if parsed.Token != tok || parsed.Ref != "main" || len(parsed.Variables) != 1 || parsed.Variables[0] != (triggerapi.Variable{Name: "DEPLOY", Value: "a=b c"}) {
		t.Errorf("parsed %+v", parsed)
	}

	bad := []struct {
		name   string
		args   []string
		errHas string
	}{
		{"no equals sign", []string{"--form", tok}, "--form must be key=value"},
		{"no key", []string{"--form", "=main"}, "--form must be key=value"},
		{"file upload", []string{"--form", "token=@token.txt"}, "not supported"},
		{"with --data", []string{"--form", "ref=main", "--data", "x=1"}, "cannot be combined"},
		{"with a Content-Type", []string{"--form", "ref=main", "--header", "content-type: text/plain"}, "sets the Content-Type itself"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--url", "/api/v4/projects/9/trigger/pipeline"}, tc.args...)
			_, err := explainRequestFromFlags(explainFlags(t, args...))
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.errHas)
			}
			if strings.Contains(err.Error(), tok) {
				t.Errorf("error %q holds the token", err)
			}
		})
	}
}

// The admin API, the CLI and the management API read a trigger ID alike:
// each answers in its own words, none accepts what another refuses.
func TestTriggerIDParsersAgree(t *testing.T) {
	for _, arg := range []string{"1", "42", "+7", "007", "9223372036854775807", "9223372036854775808",
		"0", "-1", "1.0", " 1", "1 ", "0x10", "", "glptt-0123"} {
		want, refusal := triggerapi.ParseTriggerID(arg)
		admin, adminErr := parseTriggerID(arg)
		cli, cliErr := parseCLITriggerID(arg)
		if admin != want || cli != want || (adminErr == nil) != (refusal == nil) || (cliErr == nil) != (refusal == nil) {
			t.Errorf("%q: management %d %v, admin API %d %v, CLI %d %v", arg, want, refusal, admin, adminErr, cli, cliErr)
		}
	}
}

// An --address that is not the admin API (the gateway's own port, another
// server) fails every subcommand with a sentence saying so; above all,
// revoke never reports a revocation that the answer does not confirm.
func TestTriggerCommandRefusesAnswersNotFromTheAdminAPI(t *testing.T) {
	servers := map[string]http.HandlerFunc{
		"a site answering 201 text": func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, "ok")
		},
		"a JSON API answering 200": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"id":5}`)
		},
		"a CI server answering 201 JSON": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, `{"id":4242,"ref":"main","status":"created"}`)
		},
		"a web server answering 404 HTML": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, "<html><body>"+strings.Repeat("Not here. ", 1000)+"</body></html>")
		},
		"a redirect to a listing": func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/list" {
				http.Redirect(w, r, "/list", http.StatusFound)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `[]`)
		},
	}
	changes := [][]string{
		{"revoke", "5"},
		{"revoke", "5", "--json"},
		{"add", "--project", "9", "--description", "d", "--json"},
	}
	readings := [][]string{{"list"}, {"show", "5", "--json"}}
	for name, handler := range servers {
		srv := httptest.NewServer(handler)
		t.Cleanup(srv.Close)
		subcommands := changes
		if !strings.Contains(name, "JSON") && !strings.Contains(name, "redirect") {
			// A JSON answer with 200 to a GET cannot be told from the admin API's.
			subcommands = append(subcommands, readings...)
		}
		for _, args := range subcommands {
			t.Run(name+"/"+strings.Join(args, " "), func(t *testing.T) {
				out, err := runTriggerCLI(t, "", append(args, "--address", srv.Listener.Addr().String())...)
				if err == nil || !strings.Contains(err.Error(), "is not the trigger_gateway admin API's") || len(err.Error()) > 400 {
					t.Errorf("error %.500v, want a short one saying the answer is not the admin API's", err)
				}
				if out != "" {
					t.Errorf("printed %q", out)
				}
			})
		}
	}
}
