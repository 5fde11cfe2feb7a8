package caddymodule

import (
	"maps"

	"github.com/caddyserver/caddy/v2"

	"github.com/triggergate/caddy-trigger-gateway/policy"
)

// resolveProvided returns rules with the values of its set and default
// rules resolved with Caddy's global placeholders ({env.X}, {file.X}),
// when the config loads, as upstream_token is. The configuration itself
// keeps the placeholders. A value that came from a placeholder may be a
// secret: it is remembered, so that the explain answer hides it.
func (h *Handler) resolveProvided(repl *caddy.Replacer, rules policy.VariableRules) policy.VariableRules {
	rules.Set = h.resolveValues(repl, rules.Set)
	rules.Default = h.resolveValues(repl, rules.Default)
	return rules
}

// resolveValues resolves the placeholders in a copy of values.
func (h *Handler) resolveValues(repl *caddy.Replacer, values map[string]string) map[string]string {
	if len(values) == 0 {
		return values
	}
	resolved := maps.Clone(values)
	for name, raw := range values {
		value := repl.ReplaceKnown(raw, "")
		if value != raw && value != "" {
			h.variableSecrets = append(h.variableSecrets, value)
		}
		resolved[name] = value
	}
	return resolved
}
