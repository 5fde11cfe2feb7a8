package caddymodule

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/triggergate/caddy-trigger-gateway/policy"
	"github.com/triggergate/caddy-trigger-gateway/tokenstore"
	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "trigger",
		Usage: "add|list|show|revoke|explain [--address <interface>] [--config <path> [--adapter <name>]] [--json]",
		Short: "Manages the trigger tokens of the trigger_gateway handler",
		Long: `
Creates, lists, shows and revokes the pipeline trigger tokens that the
trigger_gateway handler of a running Caddy accepts:

	caddy trigger add --project 9 --description "nightly deploy" --owner alice
	caddy trigger list [--project 9] [--revoked]
	caddy trigger show <id>
	caddy trigger revoke <id>

Tokens look like GitLab's ("glptt-" and 40 hex characters). Caddy stores only
their SHA-256 hash, so a new token is shown once, by 'add', and never again;
listings show its prefix only. Revoking is irreversible: the token never
works again, and it cannot be imported again either. A revoked trigger stays
visible, with when and by whom it was revoked: 'list --revoked', 'show'.

Existing GitLab trigger tokens can be imported with 'add --token', so that
callers keep working unchanged.

This command talks to the running Caddy through its admin API, whose
address it finds as 'caddy reload' does: --address, else the admin address
of the config given with --config (and --adapter), else of the Caddyfile in
the current directory, else '` + caddy.DefaultAdminListen + `'. When several storages are used
by trigger_gateway handlers, choose one with --storage.

By default the output is a table for people; --json prints the admin API's
JSON for scripts. Errors are one line on standard error, starting with
"caddy trigger: ", and a status other than 0.`,
		CobraFunc: buildTriggerCommand,
	})
}

// buildTriggerCommand fills in "caddy trigger" and its subcommands.
func buildTriggerCommand(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	pf.String("address", "", "Address of the administration API listener (if --config is not used)")
	pf.StringP("config", "c", "", "Configuration file (if --address is not used)")
	pf.StringP("adapter", "a", "", "Name of config adapter to apply (if --config is used)")
	pf.String("storage", "", "Storage key of the trigger_gateway to manage (needed only when several storages are in use; one not in use is refused)")
	pf.Bool("json", false, "Print the admin API's JSON instead of a table")

	// Without a subcommand, help; an unknown one is an error, not help.
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }

	add := &cobra.Command{
		Use:   "add --project <id> --description <text> [--owner <name>] [--expires-at <time>] [--ref <glob>]... [--token <token>|-]",
		Short: "Creates a trigger token, or imports an existing one",
		Long: `
Creates a trigger for a project and prints its token. The token is shown only
this once: store it right away (for instance in a CI/CD variable).

--project is the project's numeric ID or one of its aliases from the
Caddyfile (group/project); the trigger belongs to the canonical project.
--owner names who is responsible for the trigger; a trigger without owner
is a legacy trigger, which the handler can be configured to refuse.
--expires-at makes the token stop working at that time: a date (2030-01-02,
midnight UTC) or an RFC 3339 time (2030-01-02T15:04:05Z), as GitLab's API
takes it.
--ref (repeatable) limits the token to refs matching these globs, such as
main or 'v*', on top of the Caddyfile's ref rules. A glob that no ref the
gateway's and the project's ref rules allow can match is refused.

--token imports an existing token (16 to 255 visible ASCII characters, such
as a GitLab trigger token) instead of generating one. Use --token - to read
it from standard input, which keeps it out of the shell history and the
process list.`,
		Args: cobra.NoArgs,
		RunE: triggerRunE(cmdTriggerAdd),
	}
	add.Flags().String("project", "", "Project ID or alias the trigger belongs to (required)")
	add.Flags().String("description", "", "What the trigger is for (required)")
	add.Flags().String("owner", "", "Who owns the trigger (empty: legacy trigger)")
	add.Flags().String("expires-at", "", "Expiry: a date like 2030-01-02 (midnight UTC) or an RFC 3339 time (default: never)")
	add.Flags().String("token", "", "Existing token to import instead of generating one; - reads it from stdin")
	add.Flags().StringArray("ref", nil, "Ref glob the token is limited to (repeatable; default: every ref the rules allow)")

	list := &cobra.Command{
		Use:   "list [--project <id>] [--revoked]",
		Short: "Lists trigger tokens",
		Long: `
Lists the triggers, sorted by ID, with their token prefix (never the token),
owner, ref globs, creation and expiry times, last use and use count.
--project, an ID or an alias, limits the list to that project. --revoked
lists the revoked triggers instead, with when and by whom each was revoked:
after a rotation, the ID in a "revoked_token" log line is found there.`,
		Args: cobra.NoArgs,
		RunE: triggerRunE(cmdTriggerList),
	}
	list.Flags().String("project", "", "Only the triggers of this project ID or alias")
	list.Flags().Bool("revoked", false, "List the revoked triggers instead of the others")

	show := &cobra.Command{
		Use:   "show <id>",
		Short: "Shows one trigger token",
		Long: `
Shows the trigger with the given ID (as listed by 'caddy trigger list'):
token prefix, project, description, owner, ref globs, times and usage; for a
revoked trigger, when and by whom it was revoked too. Then its recent
deliveries, newest first (the last 20 uses, on every instance sharing the
storage): time, source, ref, the names of the variables (never their
values), outcome (accepted, replayed or the reason refused), the CI's
status and the pipeline it started. --json adds them to the trigger's
object as "deliveries".`,
		Args: cobra.ExactArgs(1),
		RunE: triggerRunE(cmdTriggerShow),
	}

	revoke := &cobra.Command{
		Use:   "revoke <id> [--wait [--wait-timeout <duration>]]",
		Short: "Revokes a trigger token for good",
		Long: `
Revokes the trigger with the given ID. This is irreversible: its token
stops working at once and can never be used or imported again. The trigger
stays listed by 'list --revoked', with the time and "admin API, user <you>"
(the user running this command) as who revoked it. With --json nothing is
printed on success; the exit status tells.

The instance that revokes refuses the token at once; the other instances
sharing the storage within their change_poll_interval. With --wait the
command returns only once every other live instance has confirmed that it
refuses the token, or fails (exit status 1, the trigger being revoked
anyway) after 10 change_poll_intervals (5s by default) or --wait-timeout,
naming the instances that did not confirm. Run again with --wait on the
revoked trigger once they are back, it waits again.`,
		Args: cobra.ExactArgs(1),
		RunE: triggerRunE(cmdTriggerRevoke),
	}
	revoke.Flags().Bool("wait", false, "Return only once every live instance refuses the token")
	revoke.Flags().String("wait-timeout", "", "How long --wait waits, like 30s (default: 10 change_poll_intervals); implies --wait")

	cmd.AddCommand(add, list, show, revoke, explainCommand())
	printPlainErrors(cmd)
}

// triggerCommandFunc runs one subcommand with its parsed flags and arguments.
type triggerCommandFunc func(cl *triggerClient, fl caddycmd.Flags, args []string) error

// triggerRunE adapts a subcommand to cobra. Its error is printed by
// printPlainErrors; caddy exits with status 1 on it.
func triggerRunE(run triggerCommandFunc) func(*cobra.Command, []string) error {
	return func(c *cobra.Command, args []string) error {
		fl := caddycmd.Flags{FlagSet: c.Flags()}
		cl := &triggerClient{
			flags:  fl,
			out:    c.OutOrStdout(),
			in:     c.InOrStdin(),
			asJSON: fl.Bool("json"),
			now:    time.Now,
		}
		return run(cl, fl, args)
	}
}

func cmdTriggerAdd(cl *triggerClient, fl caddycmd.Flags, _ []string) error {
	req, err := addRequestFromFlags(fl, cl.in, cl.now())
	if err != nil {
		return err
	}
	raw, err := cl.request(http.MethodPost, "/trigger_gateway/triggers", nil, req, http.StatusCreated)
	if err != nil {
		return err
	}
	var t adminTrigger
	if err := json.Unmarshal(raw, &t); err != nil {
		return fmt.Errorf("decoding the admin API's answer: %v", err)
	}
	if t.ID <= 0 || t.Token == "" || t.TokenPrefix == "" {
		// Another server's 201 JSON (a CI server's pipeline) is no trigger.
		return notAdminAPIError(cl.address, errors.New("no trigger ID or token in the answer"))
	}
	if cl.asJSON {
		return printIndentedJSON(cl.out, raw)
	}
	return writeCreatedTrigger(cl.out, t, cl.now())
}

func cmdTriggerList(cl *triggerClient, fl caddycmd.Flags, _ []string) error {
	q := url.Values{}
	if p := strings.TrimSpace(fl.String("project")); p != "" {
		q.Set("project", p)
	}
	revoked := fl.Bool("revoked")
	if revoked {
		q.Set("revoked", "true")
	}
	raw, err := cl.request(http.MethodGet, "/trigger_gateway/triggers", q, nil, http.StatusOK)
	if err != nil {
		return err
	}
	if cl.asJSON {
		return printIndentedJSON(cl.out, raw)
	}
	var list []adminTrigger
	if err := json.Unmarshal(raw, &list); err != nil {
		return fmt.Errorf("decoding the admin API's answer: %v", err)
	}
	if len(list) == 0 {
		none := "No triggers."
		if revoked {
			none = "No revoked triggers."
		}
		_, err := fmt.Fprintln(cl.out, none)
		return err
	}
	return writeTriggerTable(cl.out, list, cl.now())
}

func cmdTriggerShow(cl *triggerClient, _ caddycmd.Flags, args []string) error {
	id, err := parseCLITriggerID(args[0])
	if err != nil {
		return err
	}
	path := "/trigger_gateway/triggers/" + strconv.FormatInt(id, 10)
	raw, err := cl.request(http.MethodGet, path, nil, nil, http.StatusOK)
	if err != nil {
		return err
	}
	rawDeliveries, err := cl.request(http.MethodGet, path+"/deliveries", nil, nil, http.StatusOK)
	if err != nil {
		return err
	}
	if cl.asJSON {
		withDeliveries, err := withMember(raw, "deliveries", rawDeliveries)
		if err != nil {
			return err
		}
		return printIndentedJSON(cl.out, withDeliveries)
	}
	var t adminTrigger
	if err := json.Unmarshal(raw, &t); err != nil {
		return fmt.Errorf("decoding the admin API's answer: %v", err)
	}
	var deliveries []tokenstore.Delivery
	if err := json.Unmarshal(rawDeliveries, &deliveries); err != nil {
		return fmt.Errorf("decoding the admin API's answer: %v", err)
	}
	if err := writeShownTrigger(cl.out, t, cl.now()); err != nil {
		return err
	}
	return writeDeliveries(cl.out, deliveries, cl.now())
}

func cmdTriggerRevoke(cl *triggerClient, fl caddycmd.Flags, args []string) error {
	id, err := parseCLITriggerID(args[0])
	if err != nil {
		return err
	}
	wait, err := revokeWaitQuery(fl)
	if err != nil {
		return err
	}
	header := make(http.Header)
	if user := cliUser(); user != "" {
		header.Set(adminUserHeader, user)
	}
	if _, err := cl.requestWithHeader(http.MethodDelete, "/trigger_gateway/triggers/"+strconv.FormatInt(id, 10), wait, header, nil, http.StatusNoContent); err != nil {
		return err
	}
	if cl.asJSON {
		return nil
	}
	if wait != nil {
		_, err = fmt.Fprintf(cl.out, "Trigger %d revoked; every live instance has confirmed it refuses the token.\n", id)
		return err
	}
	_, err = fmt.Fprintf(cl.out, "Trigger %d revoked.\n", id)
	return err
}

// addRequestFromFlags validates the flags of "add" before anything is sent.
func addRequestFromFlags(fl caddycmd.Flags, stdin io.Reader, now time.Time) (adminCreateRequest, error) {
	req := adminCreateRequest{
		Project:     strings.TrimSpace(fl.String("project")),
		Description: strings.TrimSpace(fl.String("description")),
		Owner:       strings.TrimSpace(fl.String("owner")),
		ExpiresAt:   strings.TrimSpace(fl.String("expires-at")),
		Token:       fl.String("token"),
	}
	if refs, err := fl.GetStringArray("ref"); err == nil && len(refs) > 0 {
		req.Refs = refs
	}
	if _, err := policy.CompileRefs(req.Refs); err != nil {
		return req, fmt.Errorf("--ref: %v", err)
	}
	if req.Project == "" {
		return req, errors.New("--project is required: the project's ID (like 9) or an alias (like group/project)")
	}
	if req.Description == "" {
		return req, errors.New("--description is required: say what the trigger is for")
	}
	if req.ExpiresAt != "" {
		// The admin API reads it with the same parser; checked here, the
		// mistake is told before anything is sent.
		exp, ok := triggerapi.ParseExpiresAt(req.ExpiresAt)
		if !ok {
			return req, errors.New("--expires-at must be " + triggerapi.ExpiresAtFormats)
		}
		if !exp.After(now) {
			return req, errors.New("--expires-at is in the past")
		}
	}
	if req.Token == "-" {
		tok, err := readTokenLine(stdin)
		if err != nil {
			return req, err
		}
		req.Token = tok
	}
	if req.Token != "" {
		if err := tokenstore.ValidImportToken(req.Token); err != nil {
			return req, fmt.Errorf("--token: %w", err)
		}
	}
	return req, nil
}

// readTokenLine reads the token to import from the first line of r.
func readTokenLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the token from standard input: %v", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("--token -: no token on standard input")
	}
	return line, nil
}

// parseCLITriggerID checks an ID argument locally, as the admin and
// management APIs do (triggerapi.ParseTriggerID). The argument is not
// echoed: it could be a token pasted in the wrong place.
func parseCLITriggerID(arg string) (int64, error) {
	id, refusal := triggerapi.ParseTriggerID(arg)
	if refusal != nil {
		return 0, errors.New("invalid trigger ID: it is a positive integer, as listed by 'caddy trigger list'")
	}
	return id, nil
}

// triggerClient sends the subcommands' requests to Caddy's admin endpoint.
type triggerClient struct {
	flags  caddycmd.Flags
	out    io.Writer
	in     io.Reader
	asJSON bool
	now    func() time.Time
	// address is the admin address of the last request, for errors.
	address string
}

// request sends one admin API request and returns the answer's body. The
// admin address is resolved only now, after the local checks have passed.
// A success is an answer with status want (and a JSON body, unless 204):
// any other is not the admin API's (an --address that is the site's port,
// or another server), and must not pass for a success.
func (cl *triggerClient) request(method, path string, query url.Values, body any, want int) ([]byte, error) {
	return cl.requestWithHeader(method, path, query, make(http.Header), body, want)
}

// requestWithHeader is request with request headers.
func (cl *triggerClient) requestWithHeader(method, path string, query url.Values, header http.Header, body any, want int) ([]byte, error) {
	addr, err := cliAdminAddress(cl.flags.String("address"), cl.flags.String("config"), cl.flags.String("adapter"))
	if err != nil {
		return nil, fmt.Errorf("couldn't determine admin API address: %v", err)
	}
	cl.address = addr
	if s := cl.flags.String("storage"); s != "" {
		if query == nil {
			query = url.Values{}
		}
		query.Set("storage", s)
	}
	uri := path
	if len(query) > 0 {
		uri += "?" + query.Encode()
	}
	var reqBody io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		reqBody = bytes.NewReader(b)
	}
	resp, err := caddycmd.AdminAPIRequest(addr, method, uri, header, reqBody)
	if err != nil {
		return nil, adminRequestError(addr, err)
	}
	defer resp.Body.Close()
	if err := checkAdminAnswer(resp, want); err != nil {
		return nil, notAdminAPIError(addr, err)
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the admin API's answer: %v", err)
	}
	return raw, nil
}

// checkAdminAnswer tells whether a successful answer is the one the admin
// API gives: status want, and JSON unless want is 204 No Content.
func checkAdminAnswer(resp *http.Response, want int) error {
	if resp.StatusCode != want {
		return fmt.Errorf("HTTP %d where the admin API answers %d", resp.StatusCode, want)
	}
	if want == http.StatusNoContent {
		return nil
	}
	if mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mediaType != "application/json" {
		return fmt.Errorf("HTTP %d with Content-Type %q, not JSON", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return nil
}

// notAdminAPIError says that addr answered, but not as the admin API does.
func notAdminAPIError(addr string, err error) error {
	return fmt.Errorf("the answer from %s is not the trigger_gateway admin API's (%v): "+
		"is it Caddy's admin endpoint, with this plugin? see --address and --config", addr, err)
}

// adminErrorPrefix starts the error AdminAPIRequest returns for a 4xx or 5xx
// answer, followed by "<status>: <body>".
const adminErrorPrefix = "caddy responded with error: HTTP "

// adminErrorExcerpt bounds, in columns, what an error shows of an answer
// that is not the admin API's.
const adminErrorExcerpt = 120

// adminRequestError turns AdminAPIRequest's error into the admin API's own
// message ({"error": "..."}) with the status, or explains a failed connection.
func adminRequestError(addr string, err error) error {
	rest, ok := strings.CutPrefix(err.Error(), adminErrorPrefix)
	if !ok {
		return fmt.Errorf("reaching Caddy's admin API at %s (is Caddy running? see --address and --config): %v", addr, err)
	}
	status, body, _ := strings.Cut(rest, ": ")
	var apiErr struct {
		Error string `json:"error"`
	}
	if json.Unmarshal([]byte(body), &apiErr) != nil || apiErr.Error == "" {
		// Not the admin API's error: its body (a web page, maybe) is cut short.
		return notAdminAPIError(addr, fmt.Errorf("HTTP %s: %s", status, cellText(strings.TrimSpace(body), adminErrorExcerpt)))
	}
	return fmt.Errorf("%s (HTTP %s)", apiErr.Error, status)
}

// printIndentedJSON prints an admin API answer as it is, indented.
func printIndentedJSON(w io.Writer, raw []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return fmt.Errorf("the admin API's answer is not JSON: %v", err)
	}
	buf.WriteByte('\n')
	_, err := buf.WriteTo(w)
	return err
}

// writeCreatedTrigger prints a new trigger: its token, labelled and alone on
// its line so it is easy to copy, then its table row.
func writeCreatedTrigger(w io.Writer, t adminTrigger, now time.Time) error {
	if _, err := fmt.Fprintf(w, "Token: %s\nThis token is shown only once: store it now, it cannot be displayed again.\n\n", t.Token); err != nil {
		return err
	}
	return writeTriggerTable(w, []adminTrigger{t}, now)
}

// writeShownTrigger prints one trigger: its table row, then the last
// pipeline it started, when one is known.
func writeShownTrigger(w io.Writer, t adminTrigger, now time.Time) error {
	if err := writeTriggerTable(w, []adminTrigger{t}, now); err != nil {
		return err
	}
	p := t.LastPipeline
	if p == nil {
		return nil
	}
	line := fmt.Sprintf("\nLast pipeline: %d", p.ID)
	if p.WebURL != "" {
		line += " " + cellText(p.WebURL, triggerapi.MaxPipelineWebURL)
	}
	_, err := fmt.Fprintf(w, "%s (triggered %s)\n", line, formatCLITime(&p.TriggeredAt, now.Location(), "-"))
	return err
}

// descriptionWidth bounds the DESCRIPTION column, in terminal columns, so
// rows stay on one line.
const descriptionWidth = 40

// writeTriggerTable prints triggers as an aligned table; times are shown in
// now's location, and an expiry already reached is marked. When a trigger
// of the list is revoked, REVOKED and REVOKED BY columns say when and by
// whom.
func writeTriggerTable(w io.Writer, list []adminTrigger, now time.Time) error {
	withRevoked := slices.ContainsFunc(list, func(t adminTrigger) bool { return t.RevokedAt != nil })
	header := []string{"ID", "PROJECT", "DESCRIPTION", "OWNER", "TOKEN", "REFS", "CREATED", "EXPIRES", "LAST USED", "USES"}
	if withRevoked {
		header = append(header, "REVOKED", "REVOKED BY")
	}
	rows := [][]string{header}
	for _, t := range list {
		owner := cellText(t.Owner, descriptionWidth)
		if t.Legacy || owner == "" {
			owner = "(legacy)"
		}
		expires := formatCLITime(t.ExpiresAt, now.Location(), "never")
		if t.ExpiresAt != nil && !now.Before(*t.ExpiresAt) {
			expires += " (expired)"
		}
		row := []string{
			strconv.FormatInt(t.ID, 10),
			cellText(t.Project, descriptionWidth),
			cellText(t.Description, descriptionWidth),
			owner,
			cellText(t.TokenPrefix, descriptionWidth) + "…",
			refsCell(t.Refs),
			formatCLITime(&t.CreatedAt, now.Location(), "-"),
			expires,
			formatCLITime(t.LastUsed, now.Location(), "never"),
			strconv.FormatInt(t.UseCount, 10),
		}
		if withRevoked {
			row = append(row,
				formatCLITime(t.RevokedAt, now.Location(), "-"),
				cellText(orText(t.RevokedBy, "-"), descriptionWidth))
		}
		rows = append(rows, row)
	}
	return writeTable(w, rows)
}

// refsCell shows a trigger's ref globs; "(any)" when it has none: the
// Caddyfile's ref rules alone apply.
func refsCell(refs []string) string {
	if len(refs) == 0 {
		return "(any)"
	}
	return cellText(strings.Join(refs, ","), descriptionWidth)
}

// orText is s, or none when s is empty.
func orText(s, none string) string {
	if s == "" {
		return none
	}
	return s
}

// cliTimeLayout is precise enough for people; --json has the exact times.
const cliTimeLayout = "2006-01-02 15:04 MST"

// formatCLITime formats t in loc, or returns none when t is unset.
func formatCLITime(t *time.Time, loc *time.Location, none string) string {
	if t == nil || t.IsZero() {
		return none
	}
	return t.In(loc).Format(cliTimeLayout)
}

// cellText makes s safe for one table cell: control characters (tabs,
// newlines, escapes) and bidi controls (which would reorder the rest of
// the row) become spaces, and text wider than width terminal columns is
// cut with an ellipsis.
func cellText(s string, width int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return ' '
		}
		return r
	}, s)
	return truncateWidth(s, width)
}
