package caddymodule

import (
	"fmt"
	"slices"

	"github.com/triggergate/caddy-trigger-gateway/policy"
)

// checkTokenRefs refuses the ref globs of a trigger token to create for
// project (canonical) when one of them can never match: no valid branch or
// tag name matches it (policy.RefGlobError), or no ref it matches passes
// the gateway's and the project's ref rules (policy.MayAllowGlob, which
// refuses only what the globs' literal text proves; each level is checked
// on its own).
//
// Every handler using the store accepts its tokens, and sites sharing a
// storage may have different rules: a glob is refused only when it can
// match under none of them, since it is of use on any site where it can.
// The error says why, naming the glob and the rules; it wraps nothing.
func (g *gateway) checkTokenRefs(project string, refs []string) error {
	for _, glob := range refs {
		if err := policy.RefGlobError(glob); err != nil {
			return fmt.Errorf("refs: %q can never match: %v", glob, err)
		}
	}
	g.membersMu.Lock()
	members := slices.Clone(g.members)
	g.membersMu.Unlock()
	for _, glob := range refs {
		why := ""
		for _, h := range members {
			if why = h.refusingRefRules(project, glob); why == "" {
				break
			}
		}
		if why == "" {
			continue
		}
		if len(members) > 1 {
			why += fmt.Sprintf(" (and the ref rules of the %d other trigger_gateway handlers sharing this storage refuse it too)", len(members)-1)
		}
		return fmt.Errorf("refs: %q can never match: %s", glob, why)
	}
	return nil
}

// refusingRefRules says which of the handler's ref rules (the gateway's,
// then the project's) no ref matching glob can pass, or returns "" when
// neither provably refuses it.
func (h *Handler) refusingRefRules(project, glob string) string {
	project, rules := h.rulesFor(project)
	switch {
	case !h.globalRefs.MayAllowGlob(glob):
		return "the gateway's ref rules allow only " + h.globalRefs.Allowed()
	case !rules.refs.MayAllowGlob(glob):
		return fmt.Sprintf("project %s's ref rules allow only %s", project, rules.refs.Allowed())
	}
	return ""
}
