package triggerapi

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// A JSON reader for the request path. encoding/json reads a body into
// map[string]json.RawMessage in two passes of its byte-at-a-time scanner
// (validation, then decoding), about 120 µs for a 20 KB push event. This
// reader validates the body by the same grammar in one pass, keeping only
// where each top-level member lies, and scans string contents a run of
// bytes at a time. FuzzJSONScan checks it accepts exactly what
// json.Valid accepts, and FuzzParseJSON checks Parse against encoding/json.

// maxJSONDepth is encoding/json's nesting limit: a deeper body is invalid.
const maxJSONDepth = 10000

// jsonSpan is where a value lies in the body: data[start:end].
type jsonSpan struct{ start, end int }

// jsonMember is one member of an object: its key as a raw string literal
// (quotes included) and its value.
type jsonMember struct{ key, value jsonSpan }

// jsonScanner validates JSON text as encoding/json does.
type jsonScanner struct {
	data  []byte
	pos   int
	depth int
}

// jsonObjectMembers appends the members of the JSON object data to
// members. ok is false unless data is valid JSON (as json.Valid judges it)
// and an object.
func jsonObjectMembers(members []jsonMember, data []byte) ([]jsonMember, bool) {
	s := jsonScanner{data: data}
	s.skipSpace()
	if s.pos >= len(data) || data[s.pos] != '{' {
		// Not an object, valid JSON or not: callers refuse both alike.
		return members, false
	}
	members, ok := s.object(members, true)
	if !ok {
		return members, false
	}
	s.skipSpace()
	return members, s.pos == len(data)
}

func (s *jsonScanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// value reads one value at s.pos (no leading space).
func (s *jsonScanner) value() bool {
	if s.pos >= len(s.data) {
		return false
	}
	switch c := s.data[s.pos]; {
	case c == '"':
		return s.str()
	case c == '{':
		_, ok := s.object(nil, false)
		return ok
	case c == '[':
		return s.array()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || ('0' <= c && c <= '9'):
		return s.number()
	}
	return false
}

// object reads an object at s.pos; with keep, it appends its members.
func (s *jsonScanner) object(members []jsonMember, keep bool) ([]jsonMember, bool) {
	if s.depth++; s.depth > maxJSONDepth {
		return members, false
	}
	s.pos++ // '{'
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		s.depth--
		return members, true
	}
	for {
		keyStart := s.pos
		if s.pos >= len(s.data) || s.data[s.pos] != '"' || !s.str() {
			return members, false
		}
		key := jsonSpan{keyStart, s.pos}
		s.skipSpace()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return members, false
		}
		s.pos++
		s.skipSpace()
		valueStart := s.pos
		if !s.value() {
			return members, false
		}
		if keep {
			members = append(members, jsonMember{key: key, value: jsonSpan{valueStart, s.pos}})
		}
		s.skipSpace()
		if s.pos >= len(s.data) {
			return members, false
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
			s.skipSpace()
		case '}':
			s.pos++
			s.depth--
			return members, true
		default:
			return members, false
		}
	}
}

func (s *jsonScanner) array() bool {
	if s.depth++; s.depth > maxJSONDepth {
		return false
	}
	s.pos++ // '['
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		s.depth--
		return true
	}
	for {
		if !s.value() {
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
			s.pos++
			s.depth--
			return true
		default:
			return false
		}
	}
}

// str reads a string literal at s.pos. Bytes from 0x20 up, other than the
// quote and the backslash, stand for themselves (encoding/json does not
// check UTF-8 here either).
func (s *jsonScanner) str() bool {
	s.pos++ // '"'
	for {
		for s.pos < len(s.data) && !stringSpecial[s.data[s.pos]] {
			s.pos++
		}
		if s.pos >= len(s.data) {
			return false
		}
		switch s.data[s.pos] {
		case '"':
			s.pos++
			return true
		case '\\':
			if !s.escape() {
				return false
			}
		default:
			return false // a control character
		}
	}
}

// stringSpecial marks the bytes that end a run of plain string content.
var stringSpecial = func() (special [256]bool) {
	for c := range 0x20 {
		special[c] = true
	}
	special['"'], special['\\'] = true, true
	return special
}()

// escape reads one escape sequence at s.pos (the backslash).
func (s *jsonScanner) escape() bool {
	if s.pos+1 >= len(s.data) {
		return false
	}
	switch s.data[s.pos+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.pos += 2
		return true
	case 'u':
		if s.pos+6 > len(s.data) {
			return false
		}
		for _, h := range s.data[s.pos+2 : s.pos+6] {
			if !isHex(h) {
				return false
			}
		}
		s.pos += 6
		return true
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// number reads a number by JSON's grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *jsonScanner) number() bool {
	if s.data[s.pos] == '-' {
		s.pos++
	}
	switch {
	case s.pos >= len(s.data):
		return false
	case s.data[s.pos] == '0':
		s.pos++
	case '1' <= s.data[s.pos] && s.data[s.pos] <= '9':
		s.digits()
	default:
		return false
	}
	if s.pos < len(s.data) && s.data[s.pos] == '.' {
		s.pos++
		if !s.digits() {
			return false
		}
	}
	if s.pos < len(s.data) && (s.data[s.pos] == 'e' || s.data[s.pos] == 'E') {
		s.pos++
		if s.pos < len(s.data) && (s.data[s.pos] == '+' || s.data[s.pos] == '-') {
			s.pos++
		}
		if !s.digits() {
			return false
		}
	}
	return true
}

// digits skips one or more digits; false if there is none.
func (s *jsonScanner) digits() bool {
	start := s.pos
	for s.pos < len(s.data) && '0' <= s.data[s.pos] && s.data[s.pos] <= '9' {
		s.pos++
	}
	return s.pos > start
}

func (s *jsonScanner) literal(word string) bool {
	if !bytes.HasPrefix(s.data[s.pos:], []byte(word)) {
		return false
	}
	s.pos += len(word)
	return true
}

// jsonString is the string a valid JSON string literal stands for, as
// encoding/json decodes it; ok is false for any other value. A literal
// without escapes and in valid UTF-8 is its own content: no decoder.
func jsonString(literal []byte) (string, bool) {
	if len(literal) < 2 || literal[0] != '"' {
		return "", false
	}
	inner := literal[1 : len(literal)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), true
	}
	var s string
	if json.Unmarshal(literal, &s) != nil {
		return "", false
	}
	return s, true
}
