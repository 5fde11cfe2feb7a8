package triggerapi

import "encoding/json"

// GitLab's pipeline inputs (spec:inputs; the trigger API takes them since
// GitLab 18.1) are typed: its clients (glab, client-go) send strings,
// integers, floats, booleans and arrays of strings. A JSON body's inputs
// keep their JSON type up to the CI server; form and query inputs are
// strings. Anything else (null, an object, an array holding anything but
// strings) is refused, naming the input.

// badInput returns the first name, in byte order, of an input whose value
// is none of the types inputs take; ok is false when every value is one.
func badInput(inputs map[string]json.RawMessage) (name string, ok bool) {
	for n, value := range inputs {
		if !typedInput(value) && (!ok || n < name) {
			name, ok = n, true
		}
	}
	return name, ok
}

// typedInput reports whether a valid JSON value (no surrounding space) is
// a string, a number, a boolean or an array of strings; not null, not an
// object, not an array holding anything else.
func typedInput(value json.RawMessage) bool {
	if len(value) == 0 {
		return false
	}
	switch c := value[0]; {
	case c == '"' || c == 't' || c == 'f' || c == '-' || '0' <= c && c <= '9':
		return true
	case c == '[':
		return stringArray(value)
	}
	return false
}

// stringArray reports whether a valid JSON array holds only strings.
func stringArray(value []byte) bool {
	s := jsonScanner{data: value, pos: 1} // past '['
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		return true
	}
	for {
		if s.pos >= len(s.data) || s.data[s.pos] != '"' || !s.str() {
			return false
		}
		s.skipSpace()
		if s.pos >= len(s.data) {
			return false
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
			s.skipSpace()
		case ']':
			return s.pos == len(s.data)-1
		default:
			return false
		}
	}
}
