package triggerapi

import (
	"encoding/json"
	"mime"
	"strings"
)

// Request is a trigger request's parameters, whatever form the caller used.
type Request struct {
	// Token is the caller's trigger token or CI job token.
	Token string
	// Ref is the branch or tag, as the caller sent it (the URL's ref for
	// the webhook route); not yet normalized.
	Ref string
	// Variables are the pipeline variables, sorted by name, each name once
	// (the last value sent for it).
	Variables Variables
	// Inputs are pipeline inputs, as JSON values: strings, numbers, booleans
	// or arrays of strings (form values become JSON strings).
	Inputs map[string]json.RawMessage
	// Payload holds the other top-level fields of a JSON body (a webhook's
	// event), passed on unchanged so the pipeline's TRIGGER_PAYLOAD has them.
	Payload map[string]json.RawMessage
}

// Parse reads a trigger request from its query string and body, in any
// form GitLab accepts: multipart/form-data, application/x-www-form-urlencoded,
// a JSON body, or the query string alone. Body fields win over query fields
// of the same name, as in Rack; the route's ref (webhook URL) wins over both.
func Parse(route Route, contentType, rawQuery string, body []byte) (*Request, *Error) {
	req := new(Request)
	if err := ParseInto(req, route, contentType, rawQuery, body); err != nil {
		return nil, err
	}
	return req, nil
}

// ParseInto is Parse into a Request the caller provides, which it fills
// only when it returns no error: the request path keeps its Request with
// the rest of the request's state, in one allocation.
func ParseInto(req *Request, route Route, contentType, rawQuery string, body []byte) *Error {
	var p params
	if err := p.parseURLEncoded(rawQuery); err != nil {
		return err
	}
	if len(body) > 0 {
		mediaType, mediaParams, err := parseMediaType(contentType)
		switch {
		case err != nil && contentType != "":
			return ErrMediaType
		case mediaType == "application/json" || strings.HasSuffix(mediaType, "+json"):
			if err := p.parseJSON(body); err != nil {
				return err
			}
		case mediaType == "application/x-www-form-urlencoded" || contentType == "":
			// Rack parses a POST body without a Content-Type as a form.
			if err := p.parseURLEncoded(string(body)); err != nil {
				return err
			}
		case mediaType == "multipart/form-data":
			if err := p.parseMultipart(body, mediaParams["boundary"]); err != nil {
				return err
			}
		default:
			return ErrMediaType
		}
	}
	if route.Ref != "" {
		p.ref = field{value: route.Ref, set: true}
	}
	return p.request(req)
}

// parseMediaType is mime.ParseMediaType, without its parameter map for the
// two media types trigger clients send bare: most requests need no parse.
func parseMediaType(contentType string) (string, map[string]string, error) {
	switch contentType {
	case "application/json", "application/x-www-form-urlencoded":
		return contentType, nil, nil
	}
	return mime.ParseMediaType(contentType)
}

// field is one scalar parameter: absent, a string, or of the wrong type.
type field struct {
	value   string
	set     bool
	invalid bool
}

// params gathers parameters from several sources before validation.
type params struct {
	token, ref field
	variables  Variables // in the order sent, until request settles them
	// expectedVariables is the room to make for them (expectVariables).
	expectedVariables int
	inputs            map[string]json.RawMessage
	payload           map[string]json.RawMessage
	badVars, badIns   bool
	// caseVariant is the first, in byte order, of the caller's field names
	// that differ only in case from token, ref, variables or inputs.
	caseVariant string
}

// noteField records a field name that is not one of the parameters, in
// case it differs from one only in case.
func (p *params) noteField(name string) {
	if caseVariantOf(name) != "" && (p.caseVariant == "" || name < p.caseVariant) {
		p.caseVariant = name
	}
}

// request validates the gathered parameters the way Grape validates
// GitLab's declared params: ref first, then token. A field that is a case
// variant of one of them is refused before, as it leaves unclear which
// one the caller meant; names differing only in case are refused after
// the shapes of variables and inputs.
func (p *params) request(req *Request) *Error {
	if p.caseVariant != "" {
		return caseVariantError(p.caseVariant)
	}
	if err := p.validate(); err != nil {
		return err
	}
	switch {
	case p.badVars:
		return ErrVariablesShape
	case p.badIns:
		return ErrInputsShape
	}
	if name, bad := badInput(p.inputs); bad {
		return inputTypeError(name)
	}
	p.variables = p.variables.settled()
	if first, second, found := p.variables.caseCollision(); found {
		return nameCaseError("variables", first, second)
	}
	if first, second, found := caseCollision(p.inputs); found {
		return nameCaseError("inputs", first, second)
	}
	*req = Request{
		Token:     p.token.value,
		Ref:       p.ref.value,
		Variables: p.variables,
		Inputs:    p.inputs,
		Payload:   p.payload,
	}
	return nil
}

// validate answers as Grape does: it checks every declared parameter and
// joins their errors in declaration order, ref before token
// ("ref is empty, token is missing").
func (p *params) validate() *Error {
	var refMsg, tokenMsg string
	var refErr, tokenErr *Error
	switch {
	case p.ref.invalid:
		refMsg, refErr = msgRefInvalid, ErrRefInvalidParam
	case !p.ref.set:
		refMsg, refErr = msgRefMissing, ErrRefMissing
	case strings.TrimSpace(p.ref.value) == "": // blank, as ActiveSupport's blank? sees it
		refMsg, refErr = msgRefEmpty, ErrRefEmpty
	}
	switch {
	case p.token.invalid:
		tokenMsg, tokenErr = msgTokenInvalid, ErrTokenInvalid
	case !p.token.set:
		tokenMsg, tokenErr = msgTokenMissing, ErrTokenMissing
	}
	switch {
	case refErr == nil:
		return tokenErr
	case tokenErr == nil:
		return refErr
	case refErr == ErrRefMissing && tokenErr == ErrTokenMissing:
		return ErrRefAndTokenMissing
	}
	return ValidationError(refErr.Reason, refMsg, tokenMsg)
}

// keyShape is how a form key addresses a parameter, in Rack's nested syntax.
type keyShape uint8

const (
	shapeScalar keyShape = iota // name
	shapeEntry                  // name[key]
	shapeOther                  // name[], name[a][b], or unbalanced brackets
)

// splitKey splits a form key such as "variables[KEY]" into its base name,
// the entry key and its shape.
func splitKey(key string) (base, entry string, shape keyShape) {
	open := strings.IndexByte(key, '[')
	if open < 0 {
		return key, "", shapeScalar
	}
	base, rest := key[:open], key[open+1:]
	closing := strings.IndexByte(rest, ']')
	if closing <= 0 || closing != len(rest)-1 {
		return base, "", shapeOther
	}
	return base, rest[:closing], shapeEntry
}

// set records one form value (file parts are never strings).
func (p *params) set(key, value string, isFile bool) {
	base, entry, shape := splitKey(key)
	switch base {
	case "token":
		p.token = scalar(value, shape == shapeScalar && !isFile)
	case "ref":
		p.ref = scalar(value, shape == shapeScalar && !isFile)
	case "variables":
		if shape != shapeEntry || isFile {
			p.badVars = true
			return
		}
		if p.variables == nil {
			p.variables = make(Variables, 0, p.expectedVariables)
		}
		p.variables = append(p.variables, Variable{entry, value})
	case "inputs":
		if shape != shapeEntry || isFile {
			p.badIns = true
			return
		}
		if p.inputs == nil {
			p.inputs = make(map[string]json.RawMessage)
		}
		encoded, _ := json.Marshal(value)
		p.inputs[entry] = encoded
	default:
		p.noteField(base)
	}
}

func scalar(value string, ok bool) field {
	if !ok {
		return field{set: true, invalid: true}
	}
	return field{value: value, set: true}
}
