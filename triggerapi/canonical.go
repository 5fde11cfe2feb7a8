package triggerapi

import (
	"bytes"
	"encoding/json"
	"slices"

	"github.com/triggergate/caddy-trigger-gateway/internal/jsontext"
)

// CanonicalBody is the one JSON body the upstream receives for every
// accepted trigger, whatever form the caller used:
// {"token": token, "ref": ref, "variables": {...}, "inputs": {...}, ...payload}.
// Keys are written in a fixed order so equal requests forward equal bytes.
func CanonicalBody(token, ref string, variables Variables, inputs, payload map[string]json.RawMessage) []byte {
	return AppendCanonicalBody(nil, token, ref, variables, inputs, payload)
}

// AppendCanonicalBody appends CanonicalBody's bytes to dst: the request
// path writes them into room it allocated with the rest of the request's
// state.
func AppendCanonicalBody(dst []byte, token, ref string, variables Variables, inputs, payload map[string]json.RawMessage) []byte {
	dst = slices.Grow(dst, len(`{"token":"","ref":"","variables":}`)+len(token)+len(ref)+variables.jsonSize())
	dst = append(dst, `{"token":`...)
	dst = jsontext.AppendString(dst, token)
	dst = append(dst, `,"ref":`...)
	dst = jsontext.AppendString(dst, ref)
	dst = append(dst, `,"variables":`...)
	dst = variables.appendJSON(dst)
	if len(inputs) > 0 {
		dst = append(dst, `,"inputs":{`...)
		dst = appendRawFields(dst, inputs)
		dst = append(dst, '}')
	}
	if len(payload) > 0 {
		dst = append(dst, ',')
		dst = appendRawFields(dst, payload)
	}
	return append(dst, '}')
}

func appendRawFields(dst []byte, fields map[string]json.RawMessage) []byte {
	for i, key := range sortedKeys(nil, fields) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsontext.AppendString(dst, key)
		dst = append(dst, ':')
		dst = append(dst, fields[key]...)
	}
	return dst
}

// writeJSONString writes s as a JSON string, exactly as encoding/json
// would (jsontext.AppendString).
func writeJSONString(buf *bytes.Buffer, s string) {
	buf.Write(jsontext.AppendString(buf.AvailableBuffer(), s))
}

// sortedKeys appends m's keys to keys, sorted.
func sortedKeys[V any](keys []string, m map[string]V) []string {
	keys = slices.Grow(keys, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
