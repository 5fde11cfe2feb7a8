package policy_test

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/triggergate/caddy-trigger-gateway/policy"
)

// TestCompileVariablesMerge checks each merge rule through its effect on
// Apply: the global level first, then the project's.
func TestCompileVariablesMerge(t *testing.T) {
	global := policy.VariableRules{
		Allow:     []string{"G_*"},
		Deny:      []string{"G_DENIED"},
		Protected: []string{"G_PROTECTED"},
		Set:       map[string]string{"S1": "global", "S2": "global"},
		Default:   map[string]string{"D1": "global", "D2": "global"},
		Rename:    map[string]string{"G_R1": "R1_GLOBAL", "G_R2": "R2_GLOBAL"},
		Pattern:   map[string]string{"G_P1": "global", "G_P2": "global"},
		MaxCount:  5, MaxValueBytes: 10,
	}
	project := policy.VariableRules{
		Allow:     []string{"P_*", "G_*"},
		Deny:      []string{"P_DENIED"},
		Protected: []string{"P_PROTECTED"},
		Set:       map[string]string{"S2": "project"},
		Default:   map[string]string{"D2": "project"},
		Rename:    map[string]string{"G_R2": "R2_PROJECT"},
		Pattern:   map[string]string{"G_P2": "project"},
		MaxCount:  3,
	}
	tests := []struct {
		name   string
		levels []policy.VariableRules
		vars   map[string]string
		want   map[string]string
		rule   string
	}{
		{name: "global alone", levels: []policy.VariableRules{global}, vars: map[string]string{"G_R1": "a", "G_R2": "b"},
			want: map[string]string{"R1_GLOBAL": "a", "R2_GLOBAL": "b", "S1": "global", "S2": "global", "D1": "global", "D2": "global"}},
		{name: "maps merge key by key, later wins", levels: []policy.VariableRules{global, project},
			vars: map[string]string{"G_R1": "a", "G_R2": "b"},
			want: map[string]string{"R1_GLOBAL": "a", "R2_PROJECT": "b", "S1": "global", "S2": "project", "D1": "global", "D2": "project"}},
		{name: "pattern kept from global", levels: []policy.VariableRules{global, project},
			vars: map[string]string{"G_P1": "x"}, rule: policy.RuleVariablePattern},
		{name: "pattern replaced by project", levels: []policy.VariableRules{global, project},
			vars: map[string]string{"G_P2": "project"}, want: map[string]string{"G_P2": "project", "S1": "global", "S2": "project", "D1": "global", "D2": "project"}},
		{name: "project allow replaces global", levels: []policy.VariableRules{global, project},
			vars: map[string]string{"P_X": "1"}, want: map[string]string{"P_X": "1", "S1": "global", "S2": "project", "D1": "global", "D2": "project"}},
		{name: "global allow without project allow", levels: []policy.VariableRules{global, {Deny: []string{"X"}}},
			vars: map[string]string{"P_X": "1"}, rule: policy.RuleVariableNotAllowed},
		{name: "project widens allow to any", levels: []policy.VariableRules{{Allow: []string{"A"}}, {Allow: []string{"*"}}},
			vars: map[string]string{"B": "1"}, want: map[string]string{"B": "1"}},
		{name: "project narrows allow", levels: []policy.VariableRules{{Allow: []string{"*"}}, {Allow: []string{"A"}}},
			vars: map[string]string{"B": "1"}, rule: policy.RuleVariableNotAllowed},
		{name: "deny: global kept", levels: []policy.VariableRules{global, project},
			vars: map[string]string{"G_DENIED": "1"}, rule: policy.RuleDeniedVariable},
		{name: "deny: project added", levels: []policy.VariableRules{global, project},
			vars: map[string]string{"P_DENIED": "1"}, rule: policy.RuleDeniedVariable},
		{name: "protected: global kept", levels: []policy.VariableRules{global, project},
			vars: map[string]string{"G_PROTECTED": "1"}, rule: policy.RuleProtectedVariable},
		{name: "protected: project added", levels: []policy.VariableRules{global, project},
			vars: map[string]string{"P_PROTECTED": "1"}, rule: policy.RuleProtectedVariable},
		{name: "protected: defaults kept", levels: []policy.VariableRules{global, project},
			vars: map[string]string{"CI_X": "1"}, rule: policy.RuleProtectedVariable},
		{name: "count: project wins", levels: []policy.VariableRules{global, project},
			vars: map[string]string{"G_1": "", "G_2": "", "G_3": "", "G_4": ""}, rule: policy.RuleTooManyVariables},
		{name: "size: zero keeps global", levels: []policy.VariableRules{global, project},
			vars: map[string]string{"G_1": "12345678901"}, rule: policy.RuleVariableTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, v := apply(t, compile(t, tt.levels...), tt.vars)
			if tt.rule != "" {
				if v == nil || v.Rule != tt.rule {
					t.Fatalf("Apply() = %v, %v, want %s", out, v, tt.rule)
				}
				return
			}
			if v != nil {
				t.Fatalf("Apply() = %v", v)
			}
			if !maps.Equal(out, tt.want) {
				t.Errorf("forwarded %v, want %v", out, tt.want)
			}
		})
	}
}

func TestCompileVariablesLimits(t *testing.T) {
	tests := []struct {
		name             string
		levels           []policy.VariableRules
		maxCount, maxVal int
	}{
		{"none", nil, policy.DefaultMaxVariables, policy.DefaultMaxVariableBytes},
		{"zero", []policy.VariableRules{{}}, policy.DefaultMaxVariables, policy.DefaultMaxVariableBytes},
		{"global", []policy.VariableRules{{MaxCount: 7, MaxValueBytes: 8}}, 7, 8},
		{"later non-zero wins", []policy.VariableRules{{MaxCount: 7, MaxValueBytes: 8}, {MaxCount: 200}}, 200, 8},
		{"last level", []policy.VariableRules{{MaxCount: 7}, {}, {MaxCount: 9, MaxValueBytes: 1}}, 9, 1},
	}
	for _, tt := range tests {
		p := compile(t, tt.levels...)
		if p.MaxCount() != tt.maxCount || p.MaxValueBytes() != tt.maxVal {
			t.Errorf("%s: limits %d, %d, want %d, %d", tt.name, p.MaxCount(), p.MaxValueBytes(), tt.maxCount, tt.maxVal)
		}
	}
}

func TestCompileVariablesErrors(t *testing.T) {
	tests := []struct {
		name   string
		levels []policy.VariableRules
		want   string
	}{
		{"negative count", []policy.VariableRules{{MaxCount: -1}}, "negative"},
		{"negative size", []policy.VariableRules{{}, {MaxValueBytes: -1}}, "negative"},
		{"empty allow glob", []policy.VariableRules{{Allow: []string{""}}}, `allow "": empty pattern`},
		{"deny glob that never matches", []policy.VariableRules{{Deny: []string{"MY-VAR*"}}}, `deny "MY-VAR*": a variable name has only`},
		{"protected glob with a class", []policy.VariableRules{{Protected: []string{"SECRET_[A-C]*"}}}, `protected "SECRET_[A-C]*"`},
		{"glob not UTF-8", []policy.VariableRules{{Allow: []string{"A\xff"}}}, `allow "A\xff"`},
		{"set name", []policy.VariableRules{{Set: map[string]string{"A-B": gatewaySecret}}}, `set: "A-B" is not a valid`},
		{"default name", []policy.VariableRules{{Default: map[string]string{"": gatewaySecret}}}, `default: "" is not a valid`},
		{"pattern name", []policy.VariableRules{{Pattern: map[string]string{"a b": "x"}}}, `pattern: "a b" is not a valid`},
		{"bad regexp", []policy.VariableRules{{Pattern: map[string]string{"ENV": "(prod"}}}, "pattern for ENV: error parsing regexp"},
		{"regexp escaping the anchors", []policy.VariableRules{{Pattern: map[string]string{"ENV": "a)|(b"}}}, "pattern for ENV"},
		{"rename source", []policy.VariableRules{{Rename: map[string]string{"A.B": "C"}}}, `rename: "A.B" is not a valid`},
		{"rename target", []policy.VariableRules{{Rename: map[string]string{"A": "C-D"}}}, `rename A: "C-D" is not a valid`},
		{"rename to itself", []policy.VariableRules{{Rename: map[string]string{"A": "A"}}}, "rename A to itself"},
		{"rename onto a default protected name", []policy.VariableRules{{Rename: map[string]string{"JOB": "CI_JOB_TOKEN"}}},
			"rename JOB to CI_JOB_TOKEN: CI_JOB_TOKEN is protected (CI_*)"},
		{"rename onto a name another level protects",
			[]policy.VariableRules{{Protected: []string{"DEPLOY_KEY"}}, {Rename: map[string]string{"KEY": "DEPLOY_KEY"}}},
			"rename KEY to DEPLOY_KEY: DEPLOY_KEY is protected (DEPLOY_KEY)"},
		{"rename onto a denied name", []policy.VariableRules{{Rename: map[string]string{"A": "X_PASSWORD"}}, {Deny: []string{"*_PASSWORD"}}},
			"X_PASSWORD is denied (*_PASSWORD)"},
		{"two renames onto one name", []policy.VariableRules{{Rename: map[string]string{"A": "T"}}, {Rename: map[string]string{"B": "T"}}},
			"A and B are both renamed to T"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := policy.CompileVariables(tt.levels...)
			if err == nil {
				t.Fatalf("CompileVariables() = %v, want an error", p)
			}
			if p != nil {
				t.Errorf("CompileVariables() returned a policy with its error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			assertNoValue(t, err.Error())
		})
	}
}

// TestCompileVariablesKeepsLevels checks that compiling copies what it
// needs: changing the configuration afterwards changes nothing.
func TestCompileVariablesKeepsLevels(t *testing.T) {
	rules := policy.VariableRules{Allow: []string{"A"}, Set: map[string]string{"S": "1"}, Rename: map[string]string{"A": "B"}}
	p := compile(t, rules)
	rules.Allow[0] = "Z"
	rules.Set["S"] = "2"
	rules.Rename["A"] = "C"
	out, _, v := apply(t, p, map[string]string{"A": "a"})
	if v != nil || !maps.Equal(out, map[string]string{"B": "a", "S": "1"}) {
		t.Errorf("Apply() = %v, %v", out, v)
	}
	if !slices.Equal(policy.DefaultProtected, []string{"CI_*", "GITLAB_*"}) {
		t.Errorf("DefaultProtected changed: %q", policy.DefaultProtected)
	}
}

// TestVariableRulesJSON pins the configuration's field names.
func TestVariableRulesJSON(t *testing.T) {
	in := `{"allow":["A*"],"deny":["D"],"protected":["P"],"set":{"S":"1"},"default":{"F":"2"},` +
		`"rename":{"A1":"B1"},"pattern":{"A2":"x+"},"max_count":3,"max_value_bytes":4}`
	var r policy.VariableRules
	dec := json.NewDecoder(strings.NewReader(in))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != in {
		t.Errorf("round trip:\n got %s\nwant %s", out, in)
	}
	if empty, _ := json.Marshal(policy.VariableRules{}); string(empty) != "{}" {
		t.Errorf("empty rules marshal to %s", empty)
	}
	var refs policy.RefRules
	if err := json.Unmarshal([]byte(`{"allow":["main"]}`), &refs); err != nil || !slices.Equal(refs.Allow, []string{"main"}) {
		t.Errorf("RefRules: %v, %v", refs, err)
	}
}
