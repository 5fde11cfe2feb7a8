// Package secret resolves the secret-bearing settings of the gateway's
// configuration (upstream tokens, webhook secrets, artifacts credentials,
// management tokens, the upstream modules' credentials) when the config
// loads, and refuses one that resolves to nothing.
//
// A secret comes from Caddy's global placeholders ({env.X}, {file./path})
// so that it stays out of the config. A variable missing from a service's
// environment, or an empty or missing file, resolves to "": the config
// must then not load, because the setting would silently do something
// else (forward the caller's own token, refuse every webhook delivery).
// Every module with a secret resolves it here, so that they all refuse
// alike and say the same thing.
package secret

import (
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2"
)

// Resolve returns the value of the secret-bearing setting named setting
// (as errors name it, e.g. "project 9: upstream_token"), configured as
// configured: its global placeholders resolved with repl, or with a new
// replacer when repl is nil. It refuses, with an *EmptyError, a value that
// is empty or only whitespace, and one with a placeholder that resolves
// so ("Bearer {env.X}" with X unset is no credential either).
func Resolve(repl *caddy.Replacer, setting, configured string) (string, error) {
	if repl == nil {
		repl = caddy.NewReplacer()
	}
	for _, placeholder := range placeholders(configured) {
		if blank(repl.ReplaceKnown(placeholder, "")) {
			return "", &EmptyError{Setting: setting, Placeholder: placeholder}
		}
	}
	value := repl.ReplaceKnown(configured, "")
	if blank(value) {
		return "", &EmptyError{Setting: setting}
	}
	return value, nil
}

// ResolveOptional is Resolve for a setting that may be left out: nil (not
// configured) is "" and no error; anything configured, even "", must
// resolve to a value.
func ResolveOptional(repl *caddy.Replacer, setting string, configured *string) (string, error) {
	if configured == nil {
		return "", nil
	}
	return Resolve(repl, setting, *configured)
}

// EmptyError is the refusal of a secret that resolved to nothing. It names
// the setting and the placeholder that resolved to nothing, never a value
// nor the rest of the configured text (which may hold a literal secret).
type EmptyError struct {
	// Setting names the setting, e.g. "project 9: upstream_token".
	Setting string
	// Placeholder is the placeholder that resolved to nothing, e.g.
	// "{env.TOKEN_9}"; empty when the configured value itself is.
	Placeholder string
}

func (e *EmptyError) Error() string {
	if e.Placeholder == "" {
		return e.Setting + ": the value is empty; a secret must not be"
	}
	return fmt.Sprintf("%s: %s resolved to an empty value (an unset environment variable, or an empty or missing file?)",
		e.Setting, e.Placeholder)
}

// placeholders lists the placeholders of s ("{env.X}"), as Caddy's
// replacer finds them: from an unescaped "{" to the next "}". Unknown ones
// are listed too; the replacer keeps them, so they never resolve to blank.
func placeholders(s string) []string {
	var found []string
	for i := 0; i < len(s); i++ {
		if s[i] != '{' || (i > 0 && s[i-1] == '\\') {
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			break
		}
		found = append(found, s[i:i+end+1])
		i += end
	}
	return found
}

func blank(s string) bool { return strings.TrimSpace(s) == "" }
