package policy_test

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/triggergate/caddy-trigger-gateway/policy"
	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// gatewaySecret is a value the gateway provides (Set, Default): it must not
// appear in a message or error either.
const gatewaySecret = "gw-PROVIDED-7c6b5a"

func compile(t testing.TB, levels ...policy.VariableRules) *policy.VariablePolicy {
	t.Helper()
	p, err := policy.CompileVariables(levels...)
	if err != nil {
		t.Fatalf("CompileVariables: %v", err)
	}
	return p
}

// typical is a policy as a project would configure it.
var typical = policy.VariableRules{
	Allow:     []string{"DEPLOY_*", "VERSION", "NOTIFY", "REGION", "MESSAGE", "LOG_LEVEL"},
	Deny:      []string{"*_PASSWORD"},
	Protected: []string{"DEPLOY_KEY"},
	Set:       map[string]string{"BUILD_BY": gatewaySecret},
	Default:   map[string]string{"LOG_LEVEL": gatewaySecret},
	Rename:    map[string]string{"DEPLOY_ENV": "ENVIRONMENT"},
	Pattern:   map[string]string{"DEPLOY_ENV": "staging|production", "VERSION": `v?\d+(\.\d+)*`},
}

func TestApply(t *testing.T) {
	tests := []struct {
		name     string
		levels   []policy.VariableRules
		vars     map[string]string
		want     map[string]string // forwarded, when accepted
		applied  []string
		rule     string // "" when accepted
		contains []string
	}{
		{name: "nil vars", vars: nil, want: map[string]string{}},
		{name: "plain", vars: map[string]string{"DEPLOY_ENV": secret, "a": "", "_x1": secret},
			want: map[string]string{"DEPLOY_ENV": secret, "a": "", "_x1": secret}},

		// Limits.
		{name: "at count limit", vars: manyVars(policy.DefaultMaxVariables), want: manyVars(policy.DefaultMaxVariables)},
		{name: "over count limit", vars: manyVars(policy.DefaultMaxVariables + 1),
			rule: policy.RuleTooManyVariables, contains: []string{"101 given", "at most 100"}},
		{name: "custom count limit", levels: []policy.VariableRules{{MaxCount: 2}},
			vars: manyVars(3), rule: policy.RuleTooManyVariables, contains: []string{"3 given", "at most 2"}},
		{name: "count before names", levels: []policy.VariableRules{{MaxCount: 1}},
			vars: map[string]string{"CI_A": secret, "bad-name": secret}, rule: policy.RuleTooManyVariables},
		{name: "at size limit", vars: map[string]string{"BIG": strings.Repeat("x", policy.DefaultMaxVariableBytes)},
			want: map[string]string{"BIG": strings.Repeat("x", policy.DefaultMaxVariableBytes)}},
		{name: "over size limit", vars: map[string]string{"BIG": secret + strings.Repeat("x", policy.DefaultMaxVariableBytes)},
			rule: policy.RuleVariableTooLarge, contains: []string{"value of BIG", "10240 bytes"}},
		{name: "size counts bytes", levels: []policy.VariableRules{{MaxValueBytes: 3}},
			vars: map[string]string{"U": "éé"}, rule: policy.RuleVariableTooLarge},
		{name: "size of an invalid name quotes it", levels: []policy.VariableRules{{MaxValueBytes: 1}},
			vars: map[string]string{"A\nB": secret}, rule: policy.RuleVariableTooLarge, contains: []string{`"A\nB"`}},

		// Names.
		{name: "empty name", vars: map[string]string{"": secret}, rule: policy.RuleInvalidVariableName, contains: []string{`""`}},
		{name: "name with dash", vars: map[string]string{"MY-VAR": secret}, rule: policy.RuleInvalidVariableName,
			contains: []string{`"MY-VAR"`, "letters, digits and '_'"}},
		{name: "name with newline", vars: map[string]string{"A\nB": secret}, rule: policy.RuleInvalidVariableName,
			contains: []string{`"A\nB"`}},
		{name: "non-ASCII name", vars: map[string]string{"VÄR": secret}, rule: policy.RuleInvalidVariableName},
		{name: "name at length limit", vars: map[string]string{strings.Repeat("N", policy.MaxKeyLength): secret},
			want: map[string]string{strings.Repeat("N", policy.MaxKeyLength): secret}},
		{name: "long name is cut in the message", vars: map[string]string{strings.Repeat("N", 5000): secret},
			rule: policy.RuleInvalidVariableName, contains: []string{"(5000 bytes)"}},

		// Protected, deny, allow.
		{name: "protected CI_", vars: map[string]string{"CI_JOB_TOKEN": secret},
			rule: policy.RuleProtectedVariable, contains: []string{"CI_JOB_TOKEN", "(CI_*)"}},
		{name: "protected GITLAB_", vars: map[string]string{"GITLAB_USER_ID": secret},
			rule: policy.RuleProtectedVariable, contains: []string{"GITLAB_USER_ID", "(GITLAB_*)"}},
		{name: "globs are case sensitive", vars: map[string]string{"ci_debug": secret, "CIX": secret},
			want: map[string]string{"ci_debug": secret, "CIX": secret}},
		{name: "custom protected", levels: []policy.VariableRules{{Protected: []string{"DEPLOY_?"}}},
			vars: map[string]string{"DEPLOY_10": secret, "DEPLOY_1": secret},
			rule: policy.RuleProtectedVariable, contains: []string{"DEPLOY_1 ", "(DEPLOY_?)"}},
		{name: "denied", levels: []policy.VariableRules{{Deny: []string{"*_PASSWORD"}}},
			vars: map[string]string{"DB_PASSWORD": secret}, rule: policy.RuleDeniedVariable,
			contains: []string{"DB_PASSWORD is denied (*_PASSWORD)"}},
		{name: "not allowed", levels: []policy.VariableRules{{Allow: []string{"DEPLOY_*", "VERSION"}}},
			vars: map[string]string{"VERSION": secret, "OTHER": secret}, rule: policy.RuleVariableNotAllowed,
			contains: []string{"OTHER is not allowed", "DEPLOY_*, VERSION"}},
		{name: "allowed", levels: []policy.VariableRules{{Allow: []string{"DEPLOY_*", "VERSION"}}},
			vars: map[string]string{"VERSION": secret, "DEPLOY_X": secret}, want: map[string]string{"VERSION": secret, "DEPLOY_X": secret}},
		{name: "allow cannot open protected", levels: []policy.VariableRules{{Allow: []string{"CI_*"}}},
			vars: map[string]string{"CI_DEBUG_TRACE": secret}, rule: policy.RuleProtectedVariable},
		{name: "allow cannot open denied", levels: []policy.VariableRules{{Allow: []string{"*"}, Deny: []string{"X"}}},
			vars: map[string]string{"X": secret}, rule: policy.RuleDeniedVariable},

		// Patterns.
		{name: "pattern matches", levels: []policy.VariableRules{{Pattern: map[string]string{"ENV": "staging|production"}}},
			vars: map[string]string{"ENV": "production"}, want: map[string]string{"ENV": "production"}},
		{name: "pattern must match all of the value", levels: []policy.VariableRules{{Pattern: map[string]string{"ENV": "staging|production"}}},
			vars: map[string]string{"ENV": "production-" + secret}, rule: policy.RuleVariablePattern,
			contains: []string{"value of ENV", "(staging|production)"}},
		{name: "pattern anchors cannot be bypassed", levels: []policy.VariableRules{{Pattern: map[string]string{"ENV": "a|b"}}},
			vars: map[string]string{"ENV": "ab"}, rule: policy.RuleVariablePattern},
		{name: "pattern is not multi-line", levels: []policy.VariableRules{{Pattern: map[string]string{"N": `^\d+$`}}},
			vars: map[string]string{"N": "1\n2"}, rule: policy.RuleVariablePattern},
		{name: "pattern on an absent name", levels: []policy.VariableRules{{Pattern: map[string]string{"ENV": "x"}}},
			vars: map[string]string{"OTHER": secret}, want: map[string]string{"OTHER": secret}},
		{name: "pattern applies under the caller's name only",
			levels: []policy.VariableRules{{Rename: map[string]string{"A": "B"}, Pattern: map[string]string{"B": "x"}}},
			vars:   map[string]string{"A": secret}, want: map[string]string{"B": secret}, applied: []string{"renamed A to B"}},

		// Order of the rules for one name, and across names.
		{name: "size before name validity", levels: []policy.VariableRules{{MaxValueBytes: 1}},
			vars: map[string]string{"bad-name": secret}, rule: policy.RuleVariableTooLarge},
		{name: "validity before protection", vars: map[string]string{"CI-X": secret}, rule: policy.RuleInvalidVariableName},
		{name: "size before protection", levels: []policy.VariableRules{{MaxValueBytes: 1}},
			vars: map[string]string{"CI_A": secret}, rule: policy.RuleVariableTooLarge},
		{name: "protected before denied", levels: []policy.VariableRules{{Deny: []string{"CI_*"}}},
			vars: map[string]string{"CI_A": secret}, rule: policy.RuleProtectedVariable},
		{name: "denied before allow", levels: []policy.VariableRules{{Deny: []string{"X*"}, Allow: []string{"Y"}}},
			vars: map[string]string{"X1": secret}, rule: policy.RuleDeniedVariable},
		{name: "allow before pattern", levels: []policy.VariableRules{{Allow: []string{"Y"}, Pattern: map[string]string{"X": "z"}}},
			vars: map[string]string{"X": secret}, rule: policy.RuleVariableNotAllowed},
		{name: "first name in sorted order wins", levels: []policy.VariableRules{{Pattern: map[string]string{"A": "z"}}},
			vars: map[string]string{"B_bad-name": secret, "A": secret, "CI_X": secret}, rule: policy.RuleVariablePattern,
			contains: []string{"value of A"}},

		// Gateway-provided values.
		{name: "rename", levels: []policy.VariableRules{{Rename: map[string]string{"DEPLOY_ENV": "ENVIRONMENT"}}},
			vars: map[string]string{"DEPLOY_ENV": secret, "X": "1"}, want: map[string]string{"ENVIRONMENT": secret, "X": "1"},
			applied: []string{"renamed DEPLOY_ENV to ENVIRONMENT"}},
		{name: "rename of an absent name", levels: []policy.VariableRules{{Rename: map[string]string{"DEPLOY_ENV": "ENVIRONMENT"}}},
			vars: map[string]string{"X": "1"}, want: map[string]string{"X": "1"}},
		{name: "renames are one pass", levels: []policy.VariableRules{{Rename: map[string]string{"A": "B", "B": "C"}}},
			vars: map[string]string{"A": "a", "B": "b"}, want: map[string]string{"B": "a", "C": "b"},
			applied: []string{"renamed A to B", "renamed B to C"}},
		{name: "rename onto a name the request sets", levels: []policy.VariableRules{{Rename: map[string]string{"A": "B"}}},
			vars: map[string]string{"A": secret, "B": secret}, rule: policy.RuleVariableConflict,
			contains: []string{"A is renamed to B, which the request also sets"}},
		{name: "rename target is exempt from the caller rules",
			levels: []policy.VariableRules{{Allow: []string{"A"}, Rename: map[string]string{"A": "B"}}},
			vars:   map[string]string{"A": secret}, want: map[string]string{"B": secret}, applied: []string{"renamed A to B"}},
		{name: "default when absent", levels: []policy.VariableRules{{Default: map[string]string{"LOG_LEVEL": gatewaySecret}}},
			vars: nil, want: map[string]string{"LOG_LEVEL": gatewaySecret}, applied: []string{"default LOG_LEVEL"}},
		{name: "no default when the caller sets it", levels: []policy.VariableRules{{Default: map[string]string{"LOG_LEVEL": gatewaySecret}}},
			vars: map[string]string{"LOG_LEVEL": secret}, want: map[string]string{"LOG_LEVEL": secret}},
		{name: "no default when a rename provides it",
			levels: []policy.VariableRules{{Rename: map[string]string{"LVL": "LOG_LEVEL"}, Default: map[string]string{"LOG_LEVEL": gatewaySecret}}},
			vars:   map[string]string{"LVL": secret}, want: map[string]string{"LOG_LEVEL": secret}, applied: []string{"renamed LVL to LOG_LEVEL"}},
		{name: "set", levels: []policy.VariableRules{{Set: map[string]string{"BUILD_BY": gatewaySecret}}},
			vars: map[string]string{"X": "1"}, want: map[string]string{"BUILD_BY": gatewaySecret, "X": "1"}, applied: []string{"set BUILD_BY"}},
		{name: "set replaces the caller's value", levels: []policy.VariableRules{{Set: map[string]string{"BUILD_BY": gatewaySecret}}},
			vars: map[string]string{"BUILD_BY": secret}, want: map[string]string{"BUILD_BY": gatewaySecret},
			applied: []string{"set BUILD_BY (replacing the caller's value)"}},
		{name: "set wins over default", levels: []policy.VariableRules{{Set: map[string]string{"X": gatewaySecret}, Default: map[string]string{"X": "d"}}},
			vars: nil, want: map[string]string{"X": gatewaySecret}, applied: []string{"set X"}},
		{name: "gateway may provide protected names",
			levels: []policy.VariableRules{{Set: map[string]string{"CI_DEBUG_TRACE": "false"}, Default: map[string]string{"DEPLOY_KEY": gatewaySecret},
				Protected: []string{"DEPLOY_KEY"}}},
			vars: nil, want: map[string]string{"CI_DEBUG_TRACE": "false", "DEPLOY_KEY": gatewaySecret},
			applied: []string{"default DEPLOY_KEY", "set CI_DEBUG_TRACE"}},
		{name: "gateway values are exempt from limits and patterns",
			levels: []policy.VariableRules{{MaxCount: 1, MaxValueBytes: 2, Allow: []string{"A"}, Pattern: map[string]string{"S": "x"},
				Set: map[string]string{"S": gatewaySecret, "T": gatewaySecret}}},
			vars: map[string]string{"A": "a"}, want: map[string]string{"A": "a", "S": gatewaySecret, "T": gatewaySecret},
			applied: []string{"set S", "set T"}},
		{name: "typical", levels: []policy.VariableRules{typical},
			vars: map[string]string{"DEPLOY_ENV": "staging", "VERSION": "v1.2", "NOTIFY": secret},
			want: map[string]string{"ENVIRONMENT": "staging", "VERSION": "v1.2", "NOTIFY": secret,
				"BUILD_BY": gatewaySecret, "LOG_LEVEL": gatewaySecret},
			applied: []string{"renamed DEPLOY_ENV to ENVIRONMENT", "default LOG_LEVEL", "set BUILD_BY"}},
		{name: "typical, protected by the project", levels: []policy.VariableRules{typical},
			vars: map[string]string{"DEPLOY_KEY": secret}, rule: policy.RuleProtectedVariable, contains: []string{"DEPLOY_KEY is protected (DEPLOY_KEY)"}},
		{name: "typical, bad version", levels: []policy.VariableRules{typical},
			vars: map[string]string{"VERSION": secret}, rule: policy.RuleVariablePattern, contains: []string{"VERSION"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := compile(t, tt.levels...)
			before := maps.Clone(tt.vars)
			out, applied, v := apply(t, p, tt.vars)
			if !maps.Equal(before, tt.vars) {
				t.Errorf("Apply changed its input: %v", tt.vars)
			}
			if tt.rule == "" {
				if v != nil {
					t.Fatalf("Apply() = %q (%s), want accepted", v.Message, v.Rule)
				}
				if !maps.Equal(out, tt.want) {
					t.Errorf("forwarded %v, want %v", out, tt.want)
				}
				if !slices.Equal(applied, tt.applied) {
					t.Errorf("applied %q, want %q", applied, tt.applied)
				}
				if len(tt.applied) > 0 {
					// Rules rewrote the variables in a new map: writing to
					// it leaves the caller's alone.
					for k := range out {
						out[k] = "changed"
					}
					if !maps.Equal(before, tt.vars) {
						t.Error("the forwarded map shares storage with the input")
					}
				}
				return
			}
			if v == nil {
				t.Fatalf("Apply() accepted (%v), want %s", out, tt.rule)
			}
			if out != nil || applied != nil {
				t.Errorf("a refusal returned variables %v, applied %q", out, applied)
			}
			if v.Rule != tt.rule {
				t.Errorf("Rule = %q, want %q (message %q)", v.Rule, tt.rule, v.Message)
			}
			if v.Error() != v.Message {
				t.Errorf("Error() = %q, want the message", v.Error())
			}
			assertNoValue(t, v.Message)
			for _, s := range tt.contains {
				if !strings.Contains(v.Message, s) {
					t.Errorf("message %q does not contain %q", v.Message, s)
				}
			}
		})
	}
}

// assertNoValue fails if s holds a variable value of the tests.
func assertNoValue(t testing.TB, s string) {
	t.Helper()
	for _, value := range []string{secret, gatewaySecret} {
		if strings.Contains(s, value) {
			t.Errorf("%q holds a value", s)
		}
	}
}

// TestApplyDeterministic checks that the same request always gets the same
// answer, the first name in sorted order, whatever the map's order.
func TestApplyDeterministic(t *testing.T) {
	p := compile(t, typical, policy.VariableRules{Deny: []string{"Z*"}})
	refused := map[string]string{
		"ZED": secret, "GITLAB_Z": secret, "DEPLOY_KEY": secret, "CI_B": secret, "CI_A": secret, "MESSAGE": secret,
		"NOTIFY": secret, "GITLAB_A": secret, "VERSION": "x" + secret, "DEPLOY_ENV": "prod", "bad-name": secret,
	}
	accepted := map[string]string{"DEPLOY_ENV": "production", "DEPLOY_X": "1", "VERSION": "1", "NOTIFY": "", "REGION": "r", "MESSAGE": "m"}
	var want, wantOut []string
	for i := range 200 {
		_, _, v := apply(t, p, refused)
		if v == nil || v.Rule != policy.RuleProtectedVariable || !strings.Contains(v.Message, "CI_A ") {
			t.Fatalf("Apply() = %+v, want CI_A reported", v)
		}
		out, applied, v := apply(t, p, accepted)
		if v != nil {
			t.Fatalf("Apply() = %v", v)
		}
		got := slices.Sorted(maps.Keys(out))
		if i == 0 {
			want, wantOut = applied, got
		}
		if !slices.Equal(applied, want) || !slices.Equal(got, wantOut) {
			t.Fatalf("run %d: applied %q to %q, first run %q to %q", i, applied, got, want, wantOut)
		}
	}
}

// TestApplyNoValueInMessages refuses one distinctive value under every
// rule and checks no message repeats it.
func TestApplyNoValueInMessages(t *testing.T) {
	p := compile(t, policy.VariableRules{
		MaxValueBytes: 40, Deny: []string{"D"}, Allow: []string{"A", "D", "P", "R", "T", "CI_X"},
		Pattern: map[string]string{"P": "nope"}, Rename: map[string]string{"R": "T"},
		Set: map[string]string{"S": gatewaySecret}, Default: map[string]string{"F": gatewaySecret},
	})
	seen := map[string]bool{}
	for _, vars := range []map[string]string{
		{"A": secret + strings.Repeat("x", 40)}, {"bad-" + "name": secret}, {"CI_X": secret}, {"D": secret},
		{"N": secret}, {"P": secret}, {"R": secret, "T": secret},
	} {
		_, _, v := apply(t, p, vars)
		if v == nil {
			t.Fatalf("Apply(%v) accepted", vars)
		}
		seen[v.Rule] = true
		assertNoValue(t, v.Message)
	}
	if len(seen) != 7 {
		t.Errorf("rules seen: %v, want 7 different ones", seen)
	}
	_, _, v := apply(t, compile(t, policy.VariableRules{MaxCount: 1}), map[string]string{"A": secret, "B": secret})
	if v == nil || v.Rule != policy.RuleTooManyVariables {
		t.Fatalf("Apply() = %v, want too many variables", v)
	}
	assertNoValue(t, v.Message)
}

// TestNilVariablePolicy checks that a nil policy applies the safe defaults.
func TestNilVariablePolicy(t *testing.T) {
	var p *policy.VariablePolicy
	if _, _, v := apply(t, p, map[string]string{"CI_JOB_TOKEN": secret}); v == nil || v.Rule != policy.RuleProtectedVariable {
		t.Errorf("nil policy: Apply() = %v, want a protected variable", v)
	}
	if _, _, v := apply(t, p, manyVars(policy.DefaultMaxVariables+1)); v == nil || v.Rule != policy.RuleTooManyVariables {
		t.Errorf("nil policy: Apply() = %v, want too many variables", v)
	}
	out, _, v := apply(t, p, map[string]string{"X": "1"})
	if v != nil || !maps.Equal(out, map[string]string{"X": "1"}) {
		t.Errorf("nil policy: Apply() = %v, %v", out, v)
	}
	if p.MaxCount() != policy.DefaultMaxVariables || p.MaxValueBytes() != policy.DefaultMaxVariableBytes {
		t.Errorf("nil policy limits: %d, %d", p.MaxCount(), p.MaxValueBytes())
	}
}

// TestApplyConcurrent shares one policy between goroutines, for the race
// detector.
func TestApplyConcurrent(t *testing.T) {
	p := compile(t, typical)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				out, _, v := apply(t, p, map[string]string{"DEPLOY_ENV": "staging", "VERSION": "1"})
				if v != nil || out["ENVIRONMENT"] != "staging" {
					t.Errorf("Apply() = %v, %v", out, v)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkApply(b *testing.B) {
	vars := triggerapi.VariablesOf(map[string]string{"DEPLOY_ENV": "production", "VERSION": "1.2.3", "NOTIFY": "true",
		"REGION": "eu-west-1", "MESSAGE": "hello world"})
	for _, bc := range []struct {
		name   string
		levels []policy.VariableRules
	}{
		{"defaults", nil},
		{"typical", []policy.VariableRules{{Deny: []string{"*_TOKEN"}}, typical}},
	} {
		p := compile(b, bc.levels...)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, v := p.Apply(vars); v != nil {
					b.Fatal(v)
				}
			}
		})
	}
}

func BenchmarkApplyRefused(b *testing.B) {
	p := compile(b, typical)
	vars := triggerapi.VariablesOf(map[string]string{"DEPLOY_ENV": "production", "VERSION": "1.2.3", "NOTIFY": "true",
		"REGION": "eu-west-1", "CI_JOB_TOKEN": "x"})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, v := p.Apply(vars); v == nil {
			b.Fatal("accepted")
		}
	}
}
