package policy

import (
	"encoding/json"
	"fmt"
)

// Rules of CheckInputs.
const (
	RuleTooManyInputs = "too_many_inputs"
	RuleInputTooLarge = "input_too_large"
)

// CheckInputs applies to a request's pipeline inputs the limits variables
// have, counted apart from them: at most maxCount inputs, and no value
// longer than maxValueBytes (a string's length once decoded, any other
// JSON value's encoded length). The first failing name in sorted order is
// reported, so the same request always gets the same answer; the message
// names the input and the limit, never the value.
func CheckInputs(inputs map[string]json.RawMessage, maxCount, maxValueBytes int) *Violation {
	if len(inputs) == 0 {
		return nil
	}
	if len(inputs) > maxCount {
		return &Violation{Rule: RuleTooManyInputs,
			Message: fmt.Sprintf("inputs: %d given, at most %d allowed", len(inputs), maxCount)}
	}
	failed, found := "", false
	for name, value := range inputs {
		if found && name >= failed {
			continue
		}
		if inputTooLarge(value, maxValueBytes) {
			failed, found = name, true
		}
	}
	if !found {
		return nil
	}
	return &Violation{Rule: RuleInputTooLarge,
		Message: fmt.Sprintf("inputs: the value of %s is longer than %d bytes", showName(failed), maxValueBytes)}
}

// inputTooLarge reports whether an input's value is longer than max
// bytes: a string's length once decoded, any other value's JSON text. A
// string decodes to at most its JSON text less the quotes, so only long
// ones are decoded.
func inputTooLarge(raw json.RawMessage, max int) bool {
	if len(raw) < 2 || raw[0] != '"' {
		return len(raw) > max
	}
	if len(raw)-2 <= max {
		return false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return len(raw) > max
	}
	return len(s) > max
}
