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
func CanonicalBody(token, ref string, variables map[string]string, inputs, payload map[string]json.RawMessage) []byte {
	return AppendCanonicalBody(nil, token, ref, variables, inputs, payload)
}

// AppendCanonicalBody appends CanonicalBody's bytes to dst: the request
// path writes them into room it allocated with the rest of the request's
// state.
func AppendCanonicalBody(dst []byte, token, ref string, variables map[string]string, inputs, payload map[string]json.RawMessage) []byte {
	buf := bytes.NewBuffer(dst)
	buf.Grow(64 + len(token) + len(ref) + 32*len(variables))
	buf.WriteString(`{"token":`)
	writeJSONString(buf, token)
	buf.WriteString(`,"ref":`)
	writeJSONString(buf, ref)
	buf.WriteString(`,"variables":{`)
	var keys [16]string // most requests' names fit: sorted without an allocation
	for i, key := range sortedKeys(keys[:0], variables) {
		if i > 0 {
			buf.WriteByte(',')
		}
		writeJSONString(buf, key)
		buf.WriteByte(':')
		writeJSONString(buf, variables[key])
	}
	buf.WriteByte('}')
	if len(inputs) > 0 {
		buf.WriteString(`,"inputs":{`)
		writeRawFields(buf, inputs)
		buf.WriteByte('}')
	}
	if len(payload) > 0 {
		buf.WriteByte(',')
		writeRawFields(buf, payload)
	}
	buf.WriteByte('}')
	return buf.Bytes()
}

func writeRawFields(buf *bytes.Buffer, fields map[string]json.RawMessage) {
	for i, key := range sortedKeys(nil, fields) {
		if i > 0 {
			buf.WriteByte(',')
		}
		writeJSONString(buf, key)
		buf.WriteByte(':')
		buf.Write(fields[key])
	}
}

// writeJSONString writes s as a JSON string, exactly as encoding/json
// would. Tokens, refs and most variables are plain printable ASCII, which
// is written as it is; anything else goes through encoding/json.
func writeJSONString(buf *bytes.Buffer, s string) {
	if !plainJSON(s) {
		encoded, _ := json.Marshal(s) // a string always encodes
		buf.Write(encoded)
		return
	}
	buf.WriteByte('"')
	buf.WriteString(s)
	buf.WriteByte('"')
}

// plainJSON reports whether s needs no escaping in JSON, by encoding/json's
// rules (which also escape <, > and & for HTML).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
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
