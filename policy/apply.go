package policy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// check is the outcome of the caller rules for one variable, in the order
// they are applied.
type check uint8

const (
	passed check = iota
	tooLarge
	invalidName
	protectedName
	deniedName
	notAllowed
	patternMismatch
)

// Apply checks the caller's variables and returns the variables to forward,
// with the rules that changed them, for the explain endpoint: "renamed
// DEPLOY_ENV to ENVIRONMENT", "default LOG_LEVEL", "set BUILD_BY" (names
// only, never values). The variables to forward, sorted by name like
// vars, are vars itself when no rule rewrites variables, else a new slice:
// vars is never modified, and callers must not modify what is returned.
//
// The caller's variables are checked first: their count, then each name in
// sorted order against, in turn, the value size limit, name validity, the
// protected names, Deny, Allow and the name's Pattern. The first failure
// is the Violation, so the same request always gets the same answer, and
// nothing is returned with it. Then Rename, Default and Set give the
// result; a request that sends both a name and another one renamed to it
// is refused (RuleVariableConflict). The values the gateway provides are
// exempt from the caller rules.
func (p *VariablePolicy) Apply(vars triggerapi.Variables) (out triggerapi.Variables, applied []string, v *Violation) {
	p = p.orDefault()
	if len(vars) > p.maxCount {
		return nil, nil, &Violation{Rule: RuleTooManyVariables,
			Message: fmt.Sprintf("variables: %d given, at most %d allowed", len(vars), p.maxCount)}
	}
	for _, v := range vars { // sorted: the first failure is the first name in order
		if c := p.check(v.Name, v.Value); c != passed {
			return nil, nil, p.violation(v.Name, c)
		}
	}
	if len(p.renames)+len(p.defaults)+len(p.sets) == 0 {
		return vars, nil, nil // nothing to rewrite: no copy on the request path
	}
	return p.transform(vars)
}

// check applies the caller rules to one variable.
func (p *VariablePolicy) check(name, value string) check {
	switch {
	case len(value) > p.maxValueBytes:
		return tooLarge
	case !validKey(name):
		return invalidName
	case anyMatch(p.protected, name):
		return protectedName
	case anyMatch(p.deny, name):
		return deniedName
	case len(p.allow) > 0 && !anyMatch(p.allow, name):
		return notAllowed
	}
	if re, ok := p.patterns[name]; ok && !re.MatchString(value) {
		return patternMismatch
	}
	return passed
}

// violation describes a failed check; it never uses the value.
func (p *VariablePolicy) violation(name string, c check) *Violation {
	shown := showName(name)
	switch c {
	case tooLarge:
		return &Violation{Rule: RuleVariableTooLarge,
			Message: fmt.Sprintf("variables: the value of %s is longer than %d bytes", shown, p.maxValueBytes)}
	case invalidName:
		return &Violation{Rule: RuleInvalidVariableName,
			Message: fmt.Sprintf("variables: %s is not a valid variable name: use only letters, digits and '_' (at most %d)", quoteInput(name), MaxKeyLength)}
	case protectedName:
		g, _ := firstMatch(p.protected, name)
		return &Violation{Rule: RuleProtectedVariable,
			Message: fmt.Sprintf("variables: %s is protected (%s) and cannot be set by callers", shown, g)}
	case deniedName:
		g, _ := firstMatch(p.deny, name)
		return &Violation{Rule: RuleDeniedVariable,
			Message: fmt.Sprintf("variables: %s is denied (%s) and cannot be set by callers", shown, g)}
	case notAllowed:
		names := make([]string, len(p.allow))
		for i, g := range p.allow {
			names[i] = g.String()
		}
		return &Violation{Rule: RuleVariableNotAllowed,
			Message: fmt.Sprintf("variables: %s is not allowed: callers may set only %s", shown, strings.Join(names, ", "))}
	default: // patternMismatch
		return &Violation{Rule: RuleVariablePattern,
			Message: fmt.Sprintf("variables: the value of %s does not match the pattern required for it (%s)", shown, p.sources[name])}
	}
}

// transform renames, defaults and sets: the variables to forward.
func (p *VariablePolicy) transform(vars triggerapi.Variables) (triggerapi.Variables, []string, *Violation) {
	out := make(triggerapi.Variables, 0, len(vars)+len(p.renames)+len(p.defaults)+len(p.sets))
	for _, v := range vars {
		if _, renamed := p.renameTo[v.Name]; !renamed {
			out = append(out, v)
		}
	}
	kept := len(out) // the caller's names, still sorted; the gateway's come after
	var applied []string
	note := func(s string) {
		if applied == nil {
			applied = make([]string, 0, len(p.renames)+len(p.defaults)+len(p.sets))
		}
		applied = append(applied, s)
	}
	for _, r := range p.renames {
		value, ok := vars.Lookup(r.from)
		if !ok {
			continue
		}
		// Targets are distinct (CompileVariables), so only a name the
		// caller sent as it is can already be there.
		if _, taken := out[:kept].Lookup(r.to); taken {
			return nil, nil, &Violation{Rule: RuleVariableConflict,
				Message: fmt.Sprintf("variables: %s is renamed to %s, which the request also sets", r.from, r.to)}
		}
		out = append(out, triggerapi.Variable{Name: r.to, Value: value})
		note(r.note)
	}
	for _, d := range p.defaults {
		if position(out, kept, d.name) < 0 {
			out = append(out, triggerapi.Variable{Name: d.name, Value: d.value})
			note(d.note)
		}
	}
	for _, s := range p.sets {
		if i := position(out, kept, s.name); i >= 0 {
			out[i].Value = s.value
			note(s.replaced)
		} else {
			out = append(out, triggerapi.Variable{Name: s.name, Value: s.value})
			note(s.note)
		}
	}
	slices.SortFunc(out, func(a, b triggerapi.Variable) int { return strings.Compare(a.Name, b.Name) })
	return out, applied, nil
}

// position is the index of name in out, whose first kept variables are
// sorted by name (the few after them are not), or -1.
func position(out triggerapi.Variables, kept int, name string) int {
	if i, ok := out[:kept].Index(name); ok {
		return i
	}
	for i := kept; i < len(out); i++ {
		if out[i].Name == name {
			return i
		}
	}
	return -1
}

// anyMatch reports whether a glob matches name.
func anyMatch(globs []Glob, name string) bool {
	for i := range globs {
		if globs[i].match(name) {
			return true
		}
	}
	return false
}
