// Package policy decides which trigger requests the gateway lets through:
// the rules on the variables a caller sets and on the refs it may run. It
// is plain Go, independent of Caddy and of how requests arrive.
//
// Policies are compiled once, at configuration time, into immutable values
// that are safe for concurrent use. On the hot path, a ref check allocates
// nothing unless it refuses, and applying the variable policy allocates the
// map it returns and, when rules applied, their list.
//
// A refusal is a *Violation. Its message names the variable or ref and the
// rule, never a variable's value, so it can go to the caller and the logs
// as it is.
package policy

import (
	"fmt"
	"strings"
)

// Rules a Violation reports. They form a small fixed set, so they can be
// used as a metric label.
const (
	RuleTooManyVariables    = "too_many_variables"
	RuleVariableTooLarge    = "variable_too_large"
	RuleInvalidVariableName = "invalid_variable_name"
	RuleProtectedVariable   = "protected_variable"
	RuleDeniedVariable      = "denied_variable"
	RuleVariableNotAllowed  = "variable_not_allowed"
	RuleVariablePattern     = "variable_pattern_mismatch"
	RuleVariableConflict    = "variable_conflict"
	RuleRefNotAllowed       = "ref_not_allowed"
)

// Violation says which rule a request broke. Its message names the
// variable and the rule, never the variable's value.
type Violation struct {
	// Rule is a short, bounded identifier of the rule (one of the Rule*
	// constants).
	Rule string
	// Message is for the caller and the logs.
	Message string
}

func (v *Violation) Error() string { return v.Message }

// maxShown bounds how much of a caller's name or ref a message repeats:
// the name is the caller's input and may be arbitrarily long.
const maxShown = 64

// quoteInput renders caller input for a message: quoted, so control
// characters cannot forge log lines, and cut short when it is long.
func quoteInput(s string) string {
	if len(s) <= maxShown {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q… (%d bytes)", s[:maxShown], len(s))
}

// showName renders a variable name: as it is when it is a valid name (only
// letters, digits and '_'), quoted otherwise.
func showName(name string) string {
	if validKey(name) {
		return name
	}
	return quoteInput(name)
}

// globList renders globs for a message: "main", "v*".
func globList(globs []Glob) string {
	var b strings.Builder
	for i, g := range globs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", g.String())
	}
	return b.String()
}
