package policy_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/triggergate/caddy-trigger-gateway/policy"
)

// manyInputs returns n inputs, all the string secret.
func manyInputs(n int) map[string]json.RawMessage {
	inputs := make(map[string]json.RawMessage, n)
	for i := range n {
		inputs[fmt.Sprintf("input_%03d", i)] = json.RawMessage(`"` + secret + `"`)
	}
	return inputs
}

// Pipeline inputs get the limits of variables, counted apart from them: at
// most maxCount inputs, no value longer than maxValueBytes (a string's
// length once decoded, any other value's JSON text). The message names the
// input and the limit, never the value.
func TestCheckInputs(t *testing.T) {
	long := strings.Repeat("x", 16) + secret            // 35 bytes
	escaped := `"` + strings.Repeat(`\u0041`, 20) + `"` // 20 bytes once decoded, 122 as JSON
	tests := []struct {
		name    string
		inputs  map[string]json.RawMessage
		rule    string
		message string
	}{
		{name: "none", inputs: nil},
		{name: "at the count limit", inputs: manyInputs(3)},
		{name: "over the count limit", inputs: manyInputs(4),
			rule: policy.RuleTooManyInputs, message: "inputs: 4 given, at most 3 allowed"},
		{name: "a string at the size limit", inputs: map[string]json.RawMessage{"a": json.RawMessage(`"` + long[:30] + `"`)}},
		{name: "a string over the size limit", inputs: map[string]json.RawMessage{"environment": json.RawMessage(`"` + long + `"`)},
			rule: policy.RuleInputTooLarge, message: "inputs: the value of environment is longer than 30 bytes"},
		{name: "escapes count decoded", inputs: map[string]json.RawMessage{"a": json.RawMessage(escaped)}},
		{name: "a number within the limit", inputs: map[string]json.RawMessage{"replicas": json.RawMessage(`3`)}},
		{name: "typed inputs within the limits", inputs: map[string]json.RawMessage{
			"ratio": json.RawMessage(`-0.25e1`), "debug": json.RawMessage(`false`), "regions": json.RawMessage(`["eu","us"]`)}},
		{name: "a number over the size limit", inputs: map[string]json.RawMessage{"n": json.RawMessage(strings.Repeat("9", 31))},
			rule: policy.RuleInputTooLarge, message: "inputs: the value of n is longer than 30 bytes"},
		{name: "an array at the size limit, counted as JSON text", inputs: map[string]json.RawMessage{
			"list": json.RawMessage(`["` + long[:11] + `","` + long[:12] + `"]`)}}, // 30 bytes
		{name: "an array over the size limit", inputs: map[string]json.RawMessage{"list": json.RawMessage(`["` + secret + `","` + secret + `"]`)},
			rule: policy.RuleInputTooLarge, message: "inputs: the value of list is longer than 30 bytes"},
		{name: "the first name in order is reported", inputs: map[string]json.RawMessage{
			"b": json.RawMessage(`"` + long + `"`), "a": json.RawMessage(`"` + long + `"`), "c": json.RawMessage(`1`)},
			rule: policy.RuleInputTooLarge, message: "inputs: the value of a is longer"},
		{name: "an odd name is quoted", inputs: map[string]json.RawMessage{"bad\nname": json.RawMessage(`"` + long + `"`)},
			rule: policy.RuleInputTooLarge, message: `inputs: the value of "bad\nname" is longer`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := policy.CheckInputs(tt.inputs, 3, 30)
			if tt.rule == "" {
				if v != nil {
					t.Fatalf("refused: %v", v)
				}
				return
			}
			if v == nil {
				t.Fatalf("accepted, want %s", tt.rule)
			}
			if v.Rule != tt.rule || !strings.HasPrefix(v.Message, tt.message) {
				t.Errorf("got %s %q, want %s %q…", v.Rule, v.Message, tt.rule, tt.message)
			}
			if strings.Contains(v.Message, secret) {
				t.Errorf("the message shows a value: %q", v.Message)
			}
		})
	}
}
