package triggerapi

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/url"
	"slices"
	"strings"
)

// parseURLEncoded reads "a=1&b=2" pairs without building url.Values: the
// request path reads each pair once, straight into params.
func (p *params) parseURLEncoded(s string) *Error {
	p.expectVariables(strings.Count(s, "variables["))
	for s != "" {
		var pair string
		pair, s, _ = strings.Cut(s, "&")
		if pair == "" {
			continue
		}
		rawKey, rawValue, _ := strings.Cut(pair, "=")
		key, err := unescapeQuery(rawKey)
		if err != nil {
			return ErrBadBody
		}
		value, err := unescapeQuery(rawValue)
		if err != nil {
			return ErrBadBody
		}
		p.set(key, value, false)
	}
	return nil
}

// maxExpectedVariables bounds the room expectVariables makes: a count
// from the raw text may be too high, and more variables than that grow
// the slice as they come.
const maxExpectedVariables = 32

// expectVariables makes room for about n more variables, so that a
// request's variables take one allocation.
func (p *params) expectVariables(n int) {
	p.variables = slices.Grow(p.variables, min(n, maxExpectedVariables))
}

// unescapeQuery skips url.QueryUnescape's work (and allocation) when there
// is nothing to decode, which is the common case for tokens and refs.
func unescapeQuery(s string) (string, error) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s, nil
	}
	return url.QueryUnescape(s)
}

// parseMultipart reads multipart/form-data fields from an already-bounded
// body. The body limit bounds the number of parts as it bounds the pairs of
// a urlencoded body (each part costs a boundary and a header), so too many
// variables are refused by the variable rules, in every form alike.
func (p *params) parseMultipart(body []byte, boundary string) *Error {
	if boundary == "" {
		return ErrBadBody
	}
	var buffer [16]formField // a token, a ref and a dozen variables, without an allocation
	if fields, ok := splitSimpleMultipart(buffer[:0], body, boundary); ok {
		p.expectVariables(len(fields))
		for _, f := range fields {
			p.set(string(f.name), string(f.value), false)
		}
		return nil
	}
	reader := multipart.NewReader(bytes.NewReader(body), boundary)
	for {
		part, err := reader.NextPart()
		// Only a bare io.EOF means the closing boundary was read: NextPart
		// wraps io.EOF when the body ends before it (a wrong boundary, a
		// truncated or non-multipart body), which Rack refuses too.
		if err == io.EOF { //nolint:errorlint // the wrapped io.EOF is an error here
			return nil
		}
		if err != nil {
			return ErrBadBody
		}
		name := part.FormName()
		if name == "" {
			continue
		}
		value, err := io.ReadAll(part)
		if err != nil {
			return ErrBadBody
		}
		p.set(name, string(value), part.FileName() != "")
	}
}
