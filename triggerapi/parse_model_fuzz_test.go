package triggerapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// The fuzz targets of this package's *_fuzz_test.go files check Parse
// against a model of GitLab's parameter rules, written from the rules
// rather than from the parser: the stdlib decodes each form (url,
// mime/multipart, encoding/json), the model applies Rack's nested keys and
// Grape's declared parameters to the decoded fields, in order.

// modelField is one decoded form field, in the order the caller sent it.
type modelField struct {
	key, value string
	file       bool
}

// scalarState is what the model knows of token or ref.
type scalarState uint8

const (
	stateAbsent  scalarState = iota
	stateString              // a plain string value
	stateInvalid             // name[], name[x], a file, or not a JSON string
)

// model is the request the rules say Parse must see.
type model struct {
	token, ref       scalarState
	tokenVal, refVal string
	variables        map[string]string
	inputs           map[string]json.RawMessage
	payload          []string // other JSON fields, by name
	badVars, badIns  bool
	// caseVariants are the other fields whose names differ only in case
	// from token, ref, variables or inputs.
	caseVariants []string
	// badInputs are the JSON inputs whose value is not a string, a
	// number, a boolean or an array of strings.
	badInputs []string
}

// noteField records a field that is none of the parameters.
func (m *model) noteField(name string) {
	for _, parameter := range []string{"token", "ref", "variables", "inputs"} {
		if name != parameter && strings.EqualFold(name, parameter) {
			m.caseVariants = append(m.caseVariants, name)
		}
	}
}

// typedInput says whether a decoded JSON value is one inputs take.
func typedInput(v any) bool {
	switch v := v.(type) {
	case string, json.Number, bool:
		return true
	case []any:
		for _, element := range v {
			if _, ok := element.(string); !ok {
				return false
			}
		}
		return true
	}
	return false
}

// rackEntry is Rack's name[key] with a key free of ']' (a '[' inside the
// key is kept, as Rack does for "a[b[c]").
var rackEntry = regexp.MustCompile(`^([^\[]*)\[([^\]]+)\]$`)

// addForm applies one form field the way Rack nests it.
func (m *model) addForm(f modelField) {
	base, entry := f.key, ""
	isEntry := false
	if sub := rackEntry.FindStringSubmatch(f.key); sub != nil {
		base, entry, isEntry = sub[1], sub[2], true
	} else if i := strings.IndexByte(f.key, '['); i >= 0 {
		base = f.key[:i]
	}
	plain := f.key == base && !f.file
	switch base {
	case "token":
		m.token, m.tokenVal = stateOf(plain), f.value
	case "ref":
		m.ref, m.refVal = stateOf(plain), f.value
	case "variables":
		if !isEntry || f.file {
			m.badVars = true
			return
		}
		if m.variables == nil {
			m.variables = map[string]string{}
		}
		m.variables[entry] = f.value
	case "inputs":
		if !isEntry || f.file {
			m.badIns = true
			return
		}
		if m.inputs == nil {
			m.inputs = map[string]json.RawMessage{}
		}
		m.inputs[entry], _ = json.Marshal(f.value)
	default:
		m.noteField(base)
	}
}

func stateOf(plain bool) scalarState {
	if plain {
		return stateString
	}
	return stateInvalid
}

// wantError is Grape's answer for the declared parameters, then the
// endpoint's own shape checks; nil when the request is valid.
func (m *model) wantError() []byte {
	message := func(format string, args ...any) []byte {
		b, _ := json.Marshal(map[string]string{"message": fmt.Sprintf(format, args...)})
		return b
	}
	if len(m.caseVariants) > 0 {
		name := slices.Min(m.caseVariants)
		var parameter string
		for _, p := range []string{"token", "ref", "variables", "inputs"} {
			if strings.EqualFold(name, p) {
				parameter = p
			}
		}
		return message("%s differs only in case from %s: parameter names are case-sensitive", shownName(name), parameter)
	}
	var msgs []string
	switch {
	case m.ref == stateInvalid:
		msgs = append(msgs, "ref is invalid")
	case m.ref == stateAbsent:
		msgs = append(msgs, "ref is missing")
	case strings.TrimSpace(m.refVal) == "":
		msgs = append(msgs, "ref is empty")
	}
	switch m.token {
	case stateInvalid:
		msgs = append(msgs, "token is invalid")
	case stateAbsent:
		msgs = append(msgs, "token is missing")
	}
	switch {
	case len(msgs) > 0:
		b, _ := json.Marshal(map[string]string{"error": strings.Join(msgs, ", ")})
		return b
	case m.badVars:
		return []byte(bodyVariablesShape)
	case m.badIns:
		return []byte(bodyInputsShape)
	case len(m.badInputs) > 0:
		return message("inputs: the value of %s must be a string, a number, a boolean or an array of strings",
			shownName(slices.Min(m.badInputs)))
	}
	if first, second, found := foldPair(slices.Collect(maps.Keys(m.variables))); found {
		return message("variables: %s and %s differ only in case", shownName(first), shownName(second))
	}
	if first, second, found := foldPair(slices.Collect(maps.Keys(m.inputs))); found {
		return message("inputs: %s and %s differ only in case", shownName(first), shownName(second))
	}
	return nil
}

// foldPair finds, in sorted order, the first name equal to an earlier one
// but for case, and the first such earlier name.
func foldPair(names []string) (first, second string, found bool) {
	slices.Sort(names)
	for j := range names {
		for i := range j {
			if strings.EqualFold(names[i], names[j]) {
				return names[i], names[j], true
			}
		}
	}
	return "", "", false
}

// shownName is how a refusal names a caller's field: as it is when made of
// ASCII letters, digits and '_' (64 at most), else quoted in ASCII, its
// first 64 bytes only when longer, followed by its length.
var plainName = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

func shownName(name string) string {
	switch {
	case plainName.MatchString(name):
		return name
	case len(name) <= 64:
		return strconv.QuoteToASCII(name)
	}
	return strconv.QuoteToASCII(name[:64]) + fmt.Sprintf("… (%d bytes)", len(name))
}

// check compares Parse's result with the model.
func (m *model) check(t *testing.T, got *triggerapi.Request, perr *triggerapi.Error) {
	t.Helper()
	want := m.wantError()
	if want != nil {
		if perr == nil {
			t.Fatalf("Parse accepted %+v; want %s", got, want)
		}
		if perr.Status != 400 || string(perr.Body) != string(want) {
			t.Fatalf("Parse refused with %d %s; want 400 %s", perr.Status, perr.Body, want)
		}
		return
	}
	if perr != nil {
		t.Fatalf("Parse refused with %d %s; want token %q ref %q variables %v", perr.Status, perr.Body, m.tokenVal, m.refVal, m.variables)
	}
	if got.Token != m.tokenVal || got.Ref != m.refVal {
		t.Fatalf("Parse gave token %q ref %q; want %q %q", got.Token, got.Ref, m.tokenVal, m.refVal)
	}
	if len(got.Variables) != len(m.variables) || len(m.variables) > 0 && !slices.Equal(got.Variables, triggerapi.VariablesOf(m.variables)) {
		t.Fatalf("Parse gave variables %q; want %q", got.Variables, m.variables)
	}
	if !slices.Equal(slices.Sorted(maps.Keys(got.Inputs)), slices.Sorted(maps.Keys(m.inputs))) {
		t.Fatalf("Parse gave inputs %q; want %q", got.Inputs, m.inputs)
	}
	for k, v := range got.Inputs {
		if !jsonEqual(v, m.inputs[k]) {
			t.Fatalf("input %q = %s; want %s", k, v, m.inputs[k])
		}
	}
	if keys := slices.Sorted(maps.Keys(got.Payload)); !slices.Equal(keys, slices.Sorted(slices.Values(m.payload))) {
		t.Fatalf("Parse kept payload fields %q; want %q", keys, m.payload)
	}
}

// jsonEqual compares two JSON values by meaning (numbers as written).
func jsonEqual(a, b json.RawMessage) bool {
	x, errA := decodeNumbers(a)
	y, errB := decodeNumbers(b)
	if errA != nil || errB != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

func decodeNumbers(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}
