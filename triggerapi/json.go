package triggerapi

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// parseJSON reads a JSON object body. token and ref must be strings,
// variables a map of strings, inputs a map of JSON values (their types are
// checked with the form's); every other field is kept as the webhook
// payload, unless it differs only in case from one of those four. As with encoding/json decoding into
// a map, the last of members with the same name is the one that counts.
func (p *params) parseJSON(body []byte) *Error {
	var buffer [16]jsonMember // a push event has about 15 members: no allocation
	members, ok := jsonObjectMembers(buffer[:0], body)
	if !ok {
		return ErrBadBody
	}
	j := jsonBody{data: body}
	token, ref, variables, inputs := -1, -1, -1, -1 // the members that count, by index
	for i, m := range members {
		switch name := j.key(m); name {
		case "token":
			token = i
		case "ref":
			ref = i
		case "variables":
			variables = i
		case "inputs":
			inputs = i
		default:
			p.noteField(name)
			if p.payload == nil {
				p.payload = make(map[string]json.RawMessage, len(members))
			}
			p.payload[name] = j.keep(m.value)
		}
	}
	if token >= 0 {
		p.token = j.scalar(members[token].value)
	}
	if ref >= 0 {
		p.ref = j.scalar(members[ref].value)
	}
	// An optional parameter sent as null is absent.
	if variables >= 0 && !isJSONNull(j.raw(members[variables].value)) {
		p.variables, p.badVars = j.variables(members[variables].value)
	}
	if inputs >= 0 && !isJSONNull(j.raw(members[inputs].value)) {
		p.inputs, p.badIns = j.rawMap(members[inputs].value)
	}
	return nil
}

// jsonBody reads the values of a body jsonObjectMembers has validated.
type jsonBody struct {
	data []byte
	// kept is one copy of data, made when a value must outlive the
	// request: data is the handler's buffer, reused after it.
	kept []byte
	// text is one copy of data as a string, made for the same reason:
	// the strings read from the body are cut from it, one allocation for
	// all of them.
	text string
}

func (j *jsonBody) raw(span jsonSpan) []byte { return j.data[span.start:span.end] }

// keep returns the value at span, sliced from the body's one copy.
func (j *jsonBody) keep(span jsonSpan) json.RawMessage {
	if j.kept == nil {
		j.kept = bytes.Clone(j.data)
	}
	return j.kept[span.start:span.end:span.end]
}

// key is a member's name, as encoding/json decodes it.
func (j *jsonBody) key(m jsonMember) string {
	literal := j.raw(m.key)
	// Names without escapes need no decoding, nor an allocation to compare.
	switch string(literal) {
	case `"token"`:
		return "token"
	case `"ref"`:
		return "ref"
	case `"variables"`:
		return "variables"
	case `"inputs"`:
		return "inputs"
	}
	name, _ := j.str(m.key) // a validated key is a string literal
	return name
}

// str is the string a JSON value at span stands for (jsonString): cut
// from the body's one string copy when it needs no decoding.
func (j *jsonBody) str(span jsonSpan) (string, bool) {
	literal := j.raw(span)
	if len(literal) < 2 || literal[0] != '"' {
		return "", false
	}
	if inner := literal[1 : len(literal)-1]; bytes.IndexByte(inner, '\\') >= 0 || !utf8.Valid(inner) {
		return jsonString(literal)
	}
	if len(j.text) != len(j.data) {
		j.text = string(j.data)
	}
	return j.text[span.start+1 : span.end-1], true
}

// members returns the members of the object at span, with spans relative
// to the body; ok is false when the value is not an object.
func (j *jsonBody) members(dst []jsonMember, span jsonSpan) ([]jsonMember, bool) {
	if j.data[span.start] != '{' {
		return nil, false
	}
	members, _ := jsonObjectMembers(dst, j.raw(span)) // validated with the body
	for i := range members {
		members[i].key.start += span.start
		members[i].key.end += span.start
		members[i].value.start += span.start
		members[i].value.end += span.start
	}
	return members, true
}

// variables reads an object of strings; bad is true when it is not an
// object or the value that counts for some name (its last) is not a
// string. The variables are in the order of the members.
func (j *jsonBody) variables(span jsonSpan) (values Variables, bad bool) {
	var buffer [16]jsonMember // most requests' variables: no allocation
	members, ok := j.members(buffer[:0], span)
	if !ok {
		return nil, true
	}
	var lastIsString map[string]bool // made once a value is not a string
	for _, m := range members {
		name := j.key(m)
		s, ok := j.str(m.value)
		if !ok && lastIsString == nil {
			lastIsString = make(map[string]bool)
			for _, v := range values {
				lastIsString[v.Name] = true
			}
		}
		if lastIsString != nil {
			lastIsString[name] = ok
		}
		if ok {
			if values == nil {
				values = make(Variables, 0, len(members))
			}
			values = append(values, Variable{name, s})
		}
	}
	for _, isString := range lastIsString {
		if !isString {
			return nil, true
		}
	}
	return values, false
}

// rawMap reads an object of any values; bad is true when it is not an object.
func (j *jsonBody) rawMap(span jsonSpan) (values map[string]json.RawMessage, bad bool) {
	var buffer [16]jsonMember
	members, ok := j.members(buffer[:0], span)
	if !ok {
		return nil, true
	}
	for _, m := range members {
		if values == nil {
			values = make(map[string]json.RawMessage, len(members))
		}
		values[j.key(m)] = j.keep(m.value)
	}
	return values, false
}

// scalar reads token or ref: a string, null (absent) or anything else (invalid).
func (j *jsonBody) scalar(span jsonSpan) field {
	if isJSONNull(j.raw(span)) {
		return field{} // null is as good as absent
	}
	s, ok := j.str(span)
	if !ok {
		return field{set: true, invalid: true}
	}
	return field{value: s, set: true}
}

func isJSONNull(raw []byte) bool {
	return string(raw) == "null"
}
