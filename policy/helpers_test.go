package policy_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/triggergate/caddy-trigger-gateway/policy"
	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// secret is a value distinctive enough that finding it in a message can
// only mean the message leaked a variable's value.
const secret = "s3cr3t-VALUE-9f8e7d"

// manyVars returns n valid variables, all holding secret.
func manyVars(n int) map[string]string {
	vars := make(map[string]string, n)
	for i := range n {
		vars[fmt.Sprintf("VAR_%03d", i)] = secret
	}
	return vars
}

// apply is p.Apply on the variables of vars, as a request brings them
// (sorted by name), and gives the forwarded ones by name, nil when none
// are returned. It checks what holds for every call: the forwarded
// variables are sorted, each name once; the caller's are left as they
// were, and when rules rewrote them, writing to the forwarded ones leaves
// the caller's alone.
func apply(t testing.TB, p *policy.VariablePolicy, vars map[string]string) (map[string]string, []string, *policy.Violation) {
	t.Helper()
	in := triggerapi.VariablesOf(vars)
	before := slices.Clone(in)
	out, applied, v := p.Apply(in)
	if !slices.Equal(in, before) {
		t.Errorf("Apply changed its input: %q", in)
	}
	for i := 1; i < len(out); i++ {
		if strings.Compare(out[i-1].Name, out[i].Name) >= 0 {
			t.Errorf("forwarded %q: not sorted by name, each once", out)
		}
	}
	if out == nil {
		return nil, applied, v
	}
	forwarded := make(map[string]string, len(out))
	for _, variable := range out {
		forwarded[variable.Name] = variable.Value
	}
	if len(applied) > 0 {
		for i := range out {
			out[i].Value = "changed"
		}
		if !slices.Equal(in, before) {
			t.Error("the forwarded variables share storage with the input")
		}
	}
	return forwarded, applied, v
}
