package triggerapi

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/url"
	"strings"
)

// parseURLEncoded reads "a=1&b=2" pairs without building url.Values: the
// request path reads each pair once, straight into params.
func (p *params) parseURLEncoded(s string) *Error {
	p.expectVariables(strings.Count(s, "[")) // each variables[KEY] has one
	for s != "" {
		var pair string
		pair, s, _ = strings.Cut(s, "&")
		if pair == "" {
			continue
		}
		key, value, _ := strings.Cut(pair, "=")
		if encoded(pair) { // url.QueryUnescape returns a part with nothing to decode as it is
			var err error
			if key, err = url.QueryUnescape(key); err != nil {
				return ErrBadBody
			}
			if value, err = url.QueryUnescape(value); err != nil {
				return ErrBadBody
			}
		}
		p.set(key, value, false)
	}
	return nil
}

// maxExpectedVariables bounds the room made for the variables a form's
// text announces: a count from the raw text may be too high, and more
// variables than that grow the slice as they come.
const maxExpectedVariables = 32

// expectVariables notes that about n variables may come, so that a
// request's variables take one allocation, made with the first of them.
func (p *params) expectVariables(n int) {
	p.expectedVariables = min(n, maxExpectedVariables)
}

// encoded reports whether a form pair has anything to decode. Most have
// not (tokens, refs, plain variables): they skip url.QueryUnescape's work,
// and its allocation.
func encoded(pair string) bool {
	return strings.IndexByte(pair, '%') >= 0 || strings.IndexByte(pair, '+') >= 0
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
