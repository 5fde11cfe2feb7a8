package triggerapi

import (
	"bytes"
	"encoding/json"
	"slices"
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
	dst = appendJSONString(dst, token)
	dst = append(dst, `,"ref":`...)
	dst = appendJSONString(dst, ref)
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
		dst = appendJSONString(dst, key)
		dst = append(dst, ':')
		dst = append(dst, fields[key]...)
	}
	return dst
}

// writeJSONString writes s as a JSON string, exactly as encoding/json
// would (appendJSONString).
func writeJSONString(buf *bytes.Buffer, s string) {
	buf.Write(appendJSONString(buf.AvailableBuffer(), s))
}

// appendJSONString appends s as a JSON string, exactly as encoding/json
// would. Tokens, refs and most variables are plain printable ASCII, which
// is written as it is; anything else goes through encoding/json.
func appendJSONString(dst []byte, s string) []byte {
	if !plainJSON(s) {
		encoded, _ := json.Marshal(s) // a string always encodes
		return append(dst, encoded...)
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// plainJSON reports whether s needs no escaping in JSON, by encoding/json's
// rules (which also escape <, > and & for HTML).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if !plainJSONByte[s[i]] {
			return false
		}
	}
	return true
}

// plainJSONByte tells the bytes plainJSON lets through: printable ASCII
// but for '"', '\\', '<', '>' and '&'.
var plainJSONByte = func() (plain [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		plain[c] = true
	}
	for _, c := range `"\<>&` {
		plain[c] = false
	}
	return plain
}()

// sortedKeys appends m's keys to keys, sorted.
func sortedKeys[V any](keys []string, m map[string]V) []string {
	keys = slices.Grow(keys, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
