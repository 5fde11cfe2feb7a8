package caddymodule

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strings"
	"unicode"

	"github.com/spf13/cobra"
)

// errQuietFailure ends a command with status 1 and prints nothing more: the
// output has said it already (explain's "Refused: ...").
var errQuietFailure = errors.New("caddy trigger: refused")

// printPlainErrors makes every error of the command tree (its own, cobra's
// flag and argument errors) one plain line on standard error, "caddy
// trigger: <sentence>", instead of cobra's "Error: ..." or the log line
// Caddy's command wrapper makes of it (JSON when standard error is not a
// terminal). The error is still returned, so that caddy exits with
// status 1.
func printPlainErrors(cmd *cobra.Command) {
	cmd.SilenceErrors = true
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return printCLIError(c, err) })
	if args := cmd.Args; args != nil {
		cmd.Args = func(c *cobra.Command, a []string) error {
			if err := args(c, a); err != nil {
				return printCLIError(c, err)
			}
			return nil
		}
	}
	if run := cmd.RunE; run != nil {
		cmd.RunE = func(c *cobra.Command, a []string) error {
			if err := run(c, a); err != nil {
				return printCLIError(c, err)
			}
			return nil
		}
	}
	for _, sub := range cmd.Commands() {
		printPlainErrors(sub)
	}
}

// printCLIError prints err on c's standard error, on one line, and returns it.
func printCLIError(c *cobra.Command, err error) error {
	if errors.Is(err, errQuietFailure) {
		return err
	}
	line := strings.Join(strings.Fields(err.Error()), " ")
	fmt.Fprintf(c.ErrOrStderr(), "caddy trigger: %s\n", line)
	return err
}

// cliUser is the name of the user running the CLI, for the record of who
// revoked a trigger; "" when it cannot be told.
func cliUser() string {
	name := ""
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	for _, env := range []string{"USER", "LOGNAME", "USERNAME"} {
		if name != "" {
			break
		}
		name = os.Getenv(env)
	}
	if len(name) > maxAdminUser || strings.ContainsFunc(name, unicode.IsControl) {
		return ""
	}
	return name
}
