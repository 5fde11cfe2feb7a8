// Package policy decides which trigger requests the gateway lets through:
// the rules on variables today, refs and more as the product grows. It is
// plain Go, independent of Caddy and of how requests arrive.
package policy

import (
	"fmt"
	"path"
	"sort"
)

// DefaultProtected are the variable name globs no caller may set: GitLab
// reserves these names for the CI server itself.
var DefaultProtected = []string{"CI_*", "GITLAB_*"}

// Default limits on the variables of one request.
const (
	DefaultMaxVariables     = 100
	DefaultMaxVariableBytes = 10 << 10
	// MaxKeyLength is GitLab's limit on a variable's name.
	MaxKeyLength = 255
)

// Violation says which rule a request broke. Its message names the
// variable and the rule, never the variable's value.
type Violation struct {
	// Rule is a short, bounded identifier of the rule ("protected_variable", ...).
	Rule string
	// Message is for the caller and the logs.
	Message string
}

func (v *Violation) Error() string { return v.Message }

// Variables is the policy on the variables callers set.
type Variables struct {
	// MaxCount is the most variables one request may set.
	MaxCount int
	// MaxValueBytes is the longest value a variable may have.
	MaxValueBytes int
	// Protected are name globs (path.Match syntax) callers may never set.
	Protected []string
}

// Validate checks the globs once, at configuration time.
func (p *Variables) Validate() error {
	for _, glob := range p.Protected {
		if _, err := path.Match(glob, ""); err != nil {
			return fmt.Errorf("protected variable pattern %q: %v", glob, err)
		}
	}
	return nil
}

// Check applies the policy to a request's variables. Names are checked in
// sorted order so the same request always reports the same violation.
func (p *Variables) Check(vars map[string]string) *Violation {
	if p.MaxCount > 0 && len(vars) > p.MaxCount {
		return &Violation{Rule: "too_many_variables",
			Message: fmt.Sprintf("variables: %d given, at most %d allowed", len(vars), p.MaxCount)}
	}
	names := make([]string, 0, len(vars))
	for name := range vars {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !validKey(name) {
			return &Violation{Rule: "invalid_variable_name",
				Message: fmt.Sprintf("variables: %q is not a valid variable name: use only letters, digits and '_' (at most %d)", name, MaxKeyLength)}
		}
		if p.MaxValueBytes > 0 && len(vars[name]) > p.MaxValueBytes {
			return &Violation{Rule: "variable_too_large",
				Message: fmt.Sprintf("variables: the value of %s is longer than %d bytes", name, p.MaxValueBytes)}
		}
		if glob, ok := p.protected(name); ok {
			return &Violation{Rule: "protected_variable",
				Message: fmt.Sprintf("variables: %s is protected (%s) and cannot be set by callers", name, glob)}
		}
	}
	return nil
}

func (p *Variables) protected(name string) (string, bool) {
	for _, glob := range p.Protected {
		if ok, _ := path.Match(glob, name); ok {
			return glob, true
		}
	}
	return "", false
}

// validKey is GitLab's rule for variable names: letters, digits and '_'.
func validKey(name string) bool {
	if name == "" || len(name) > MaxKeyLength {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
