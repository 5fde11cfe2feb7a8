package triggerapi

import "bytes"

// Multipart bodies as curl --form (GitLab's documented trigger call) and
// most HTTP clients write them: CRLF lines, no preamble, and one header per
// part, Content-Disposition: form-data; name="...". mime/multipart reads
// them through a 4 KB bufio.Reader, a header map per part and a parsed
// Content-Disposition: about 17 µs and 16 KB for a token, a ref and five
// variables. splitSimpleMultipart reads that exact shape in place; anything
// else (other headers, file parts, escapes in a name, LF-only lines,
// padding after a boundary) is left to mime/multipart, which is the judge
// of every body: FuzzMultipartFastPath checks both give the same fields.

// simpleDisposition is the only part header splitSimpleMultipart reads.
const simpleDisposition = `Content-Disposition: form-data; name="`

// formField is one multipart field, before it is set in params.
type formField struct{ name, value []byte }

// splitSimpleMultipart appends the fields of body to fields and reports
// whether body has the simple shape; when it does not, the fields it
// returns mean nothing.
func splitSimpleMultipart(fields []formField, body []byte, boundary string) ([]formField, bool) {
	rest, ok := cutBoundary(body, boundary)
	if !ok {
		return fields, false
	}
	for {
		if after, final := bytes.CutPrefix(rest, []byte("--")); final {
			// The closing boundary; mime/multipart ignores what follows it,
			// this path only an optional CRLF.
			return fields, len(after) == 0 || string(after) == "\r\n"
		}
		rest, ok = bytes.CutPrefix(rest, []byte("\r\n"))
		if !ok {
			return fields, false
		}
		var header []byte
		header, rest, ok = bytes.Cut(rest, []byte("\r\n"))
		if !ok {
			return fields, false
		}
		name, ok := simpleFieldName(header)
		if !ok {
			return fields, false
		}
		rest, ok = bytes.CutPrefix(rest, []byte("\r\n")) // the end of the part's headers
		if !ok {
			return fields, false
		}
		if _, opens := cutBoundary(rest, boundary); opens {
			// mime/multipart takes "--boundary" right after the headers as
			// the delimiter of an empty value (the CRLF before it is the
			// headers' own), then judges what follows; leave that to it.
			return fields, false
		}
		value, after, ok := cutBeforeDelimiter(rest, boundary)
		if !ok {
			return fields, false
		}
		fields = append(fields, formField{name: name, value: value})
		rest = after
	}
}

// cutBoundary cuts "--boundary" off the front of b.
func cutBoundary(b []byte, boundary string) ([]byte, bool) {
	b, ok := bytes.CutPrefix(b, []byte("--"))
	if !ok {
		return nil, false
	}
	return bytes.CutPrefix(b, []byte(boundary))
}

// cutBeforeDelimiter splits b at its first "\r\n--boundary": the part's
// value, and what follows the boundary.
func cutBeforeDelimiter(b []byte, boundary string) (value, after []byte, ok bool) {
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte("\r\n--"))
		if j < 0 {
			return nil, nil, false
		}
		at := i + j
		if rest, ok := cutBoundary(b[at+2:], boundary); ok {
			return b[:at], rest, true
		}
		i = at + 1
	}
}

// simpleFieldName reads the name of a Content-Disposition header line of
// exactly the form `Content-Disposition: form-data; name="NAME"`, where NAME
// is printable ASCII without quote or backslash, so that it needs no
// unescaping; any other line, or an empty name, is not simple.
func simpleFieldName(line []byte) ([]byte, bool) {
	rest, ok := bytes.CutPrefix(line, []byte(simpleDisposition))
	if !ok || len(rest) < 2 || rest[len(rest)-1] != '"' {
		return nil, false
	}
	name := rest[:len(rest)-1]
	for _, c := range name {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return nil, false
		}
	}
	return name, true
}
