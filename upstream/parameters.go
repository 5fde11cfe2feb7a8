package upstream

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// A CI other than GitLab has one kind of build parameter where GitLab has
// two (variables and inputs): both become that CI's parameters, by name.
// A name in both would leave one of the caller's values behind, so it is
// refused before anything is sent.
func nameClash(t *Trigger) *triggerapi.Error {
	var clashes []string
	for name := range t.Inputs {
		if _, ok := t.Variables.Lookup(name); ok {
			clashes = append(clashes, name)
		}
	}
	if len(clashes) == 0 {
		return nil
	}
	slices.Sort(clashes)
	return triggerapi.MessageError(http.StatusBadRequest, "variable_input_clash", fmt.Sprintf(
		"%s is both a variable and an input: the CI server takes one parameter of each name", showName(clashes[0])))
}

// stringParameters are t's variables and inputs as one map of strings (an
// input's string as it is, any other input as its JSON text), with room
// for extra more; a name in both is refused.
func stringParameters(t *Trigger, extra int) (map[string]string, *triggerapi.Error) {
	if err := nameClash(t); err != nil {
		return nil, err
	}
	params := make(map[string]string, len(t.Variables)+len(t.Inputs)+extra)
	for _, v := range t.Variables {
		params[v.Name] = v.Value
	}
	for name, value := range t.Inputs {
		params[name] = inputText(value)
	}
	return params, nil
}

// inputText is a GitLab input's value as a string parameter: a JSON
// string decoded, anything else (number, boolean, array) its JSON text.
func inputText(raw json.RawMessage) string {
	var s string
	if len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// payloadJSON is a webhook's payload as one JSON object, its members in
// name order so that equal triggers send equal bytes; "" without one.
func payloadJSON(payload map[string]json.RawMessage) string {
	if len(payload) == 0 {
		return ""
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, name := range slices.Sorted(maps.Keys(payload)) {
		if i > 0 {
			buf.WriteByte(',')
		}
		key, _ := json.Marshal(name)
		buf.Write(key)
		buf.WriteByte(':')
		buf.Write(payload[name])
	}
	buf.WriteByte('}')
	return buf.String()
}

// maxShownName bounds how much of a caller's name a message repeats.
const maxShownName = 64

// showName renders a caller's variable or input name for a message: as it
// is when plain (letters, digits, '_'), else quoted with everything else
// escaped, so that control characters cannot forge a log line; cut when
// long. (triggerapi words its own messages the same way.)
func showName(name string) string {
	plain := name != "" && len(name) <= maxShownName
	for i := 0; plain && i < len(name); i++ {
		c := name[i]
		plain = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
	}
	switch {
	case plain:
		return name
	case len(name) <= maxShownName:
		return strconv.QuoteToASCII(name)
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.QuoteToASCII(name[:maxShownName]), len(name))
}
