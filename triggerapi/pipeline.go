package triggerapi

import (
	"bytes"
	"net/url"
	"strings"
)

// Pipeline is what the gateway keeps of the CI's answer to an accepted
// trigger: the pipeline it started. GitLab answers 201 with the pipeline
// object, {"id": 123, "web_url": "https://...", ...}.
type Pipeline struct {
	// ID is the pipeline's ID, from 1 up.
	ID int64
	// WebURL is the pipeline's page; "" when the answer has none that is
	// an http or https URL of at most MaxPipelineWebURL bytes.
	WebURL string
}

// Bounds of what is read from the CI's answer: GitLab's pipeline object is
// about 1.5 KB; anything longer is not looked into at all.
const (
	// MaxPipelineAnswer is the largest answer ParsePipeline reads.
	MaxPipelineAnswer = 8 << 10
	// MaxPipelineWebURL is the longest web_url kept.
	MaxPipelineWebURL = 2048
)

// ParsePipeline reads the pipeline from the CI's answer to a trigger: the
// members id (a JSON integer from 1 up that fits in 63 bits, written
// without fraction or exponent) and web_url (see Pipeline.WebURL) of a JSON
// object. ok is false, and nothing is read, unless the answer is a whole
// valid JSON object of at most MaxPipelineAnswer bytes with such an id: a
// truncated answer names no pipeline. As with encoding/json, the last of
// members with the same name counts. Only web_url's string is allocated.
func ParsePipeline(answer []byte) (p Pipeline, ok bool) {
	if len(answer) > MaxPipelineAnswer {
		return Pipeline{}, false
	}
	var buffer [32]jsonMember // GitLab's pipeline object has about 25 members: no allocation
	members, valid := jsonObjectMembers(buffer[:0], answer)
	if !valid {
		return Pipeline{}, false
	}
	j := jsonBody{data: answer}
	id, webURL := -1, -1
	for i, m := range members {
		switch pipelineKey(j.raw(m.key)) {
		case "id":
			id = i
		case "web_url":
			webURL = i
		}
	}
	if id < 0 {
		return Pipeline{}, false
	}
	if p.ID, ok = pipelineID(j.raw(members[id].value)); !ok {
		return Pipeline{}, false
	}
	if webURL >= 0 {
		p.WebURL = pipelineWebURL(j.raw(members[webURL].value))
	}
	return p, true
}

// pipelineKey is a member's name as encoding/json decodes it, without an
// allocation for the names looked for when written plainly.
func pipelineKey(literal []byte) string {
	switch string(literal) {
	case `"id"`:
		return "id"
	case `"web_url"`:
		return "web_url"
	}
	if bytes.IndexByte(literal, '\\') < 0 {
		return "" // another name: no decoding needed to know it
	}
	name, _ := jsonString(literal)
	return name
}

// pipelineID reads a positive JSON integer that fits in an int64.
func pipelineID(raw []byte) (int64, bool) {
	if len(raw) == 0 || raw[0] < '1' || raw[0] > '9' {
		return 0, false // negative, zero, a leading zero or not a number
	}
	var n int64
	for _, c := range raw {
		if c < '0' || c > '9' {
			return 0, false // a fraction or an exponent
		}
		digit := int64(c - '0')
		if n > (1<<63-1-digit)/10 {
			return 0, false // out of range
		}
		n = n*10 + digit
	}
	return n, true
}

// pipelineWebURL is the web_url string if it is an http or https URL of at
// most MaxPipelineWebURL bytes made only of the characters RFC 3986 allows
// in a URI (no space, quote, angle bracket or control character); else "".
func pipelineWebURL(raw []byte) string {
	if len(raw) < 2 || raw[0] != '"' {
		return "" // not a string
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		if !isWebURL(inner) {
			return ""
		}
		return string(inner)
	}
	s, ok := jsonString(raw) // escaped, as some encoders write "\/": rare
	if !ok || !isWebURL([]byte(s)) {
		return ""
	}
	return s
}

// isWebURL reports whether u is an absolute http or https URL with a host
// and no user info, of URI characters only, at most MaxPipelineWebURL
// bytes long.
func isWebURL(u []byte) bool {
	if len(u) > MaxPipelineWebURL {
		return false
	}
	var rest []byte
	switch {
	case hasPrefixFold(u, "https://"):
		rest = u[len("https://"):]
	case hasPrefixFold(u, "http://"):
		rest = u[len("http://"):]
	default:
		return false // javascript:, data:, a relative URL...
	}
	authority := rest
	if end := bytes.IndexAny(rest, "/?#"); end >= 0 {
		authority = rest[:end]
	}
	if bytes.IndexByte(authority, '@') >= 0 {
		return false // user info: a CI's credentials, never to be stored or shown
	}
	if len(authority) == 0 || authority[0] == ':' {
		return false // no host
	}
	for i, c := range u {
		switch {
		case !uriChar[c]:
			return false
		case c == '%' && (i+2 >= len(u) || !isHex(u[i+1]) || !isHex(u[i+2])):
			return false // not a percent-encoding: no URL parser would read it
		}
	}
	// A port, an IPv6 literal or an escape in the host: rare in a web_url,
	// and the URL must read as one, as every client will parse it. The
	// common URL needs no parse (and no allocation).
	if bytes.IndexByte(authority, ':') >= 0 || bytes.IndexByte(authority, '%') >= 0 || bytes.ContainsAny(u, "[]") {
		parsed, err := url.Parse(string(u))
		return err == nil && parsed.User == nil && parsed.Host != ""
	}
	return true
}

// hasPrefixFold is bytes.HasPrefix ignoring ASCII case; prefix is lower case.
func hasPrefixFold(s []byte, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := range len(prefix) {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

// uriChar marks the characters of a URI (RFC 3986): unreserved, reserved
// and the percent sign of percent-encoding.
var uriChar = func() (ok [256]bool) {
	for c := range 256 {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			ok[c] = true
		}
	}
	for _, c := range []byte("-._~:/?#[]@!$&'()*+,;=%") {
		ok[c] = true
	}
	return ok
}()

// IsJSONContentType reports whether a Content-Type header names JSON
// (application/json or a +json type, any parameters), without allocating.
func IsJSONContentType(contentType string) bool {
	mediaType, _, _ := strings.Cut(contentType, ";")
	mediaType = strings.TrimSpace(mediaType)
	const suffix = "+json"
	return strings.EqualFold(mediaType, "application/json") ||
		len(mediaType) > len(suffix) && strings.EqualFold(mediaType[len(mediaType)-len(suffix):], suffix)
}
