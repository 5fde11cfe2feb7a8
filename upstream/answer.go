package upstream

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// answerObject reads a CI's answer body as a JSON object, its members by
// their exact names (encoding/json would match "NUMBER" to a field
// "number": a CI's id comes only from the member it documents). ok is
// false for anything else, and for a body longer than MaxAnswer, which is
// not looked into.
func answerObject(body []byte) (members map[string]json.RawMessage, ok bool) {
	if len(body) > MaxAnswer {
		return nil, false
	}
	if err := json.Unmarshal(body, &members); err != nil || members == nil {
		return nil, false
	}
	return members, true
}

// readBuild is Read for a CI that answers a 2xx with a JSON object naming
// the build it started: its id in the member idName, its page in the
// member webURLName ("" when the module builds the page's URL itself).
// Any other status is a refusal; a 2xx it cannot read, a build with nulls.
func readBuild(a *Answer, idName, webURLName string) (Started, error) {
	if !success(a.Status) {
		return refused(a)
	}
	build, ok := answerObject(a.Body)
	if !ok {
		return Started{}, nil
	}
	started := Started{ID: positiveID(build[idName])}
	if webURLName != "" {
		started.WebURL = webURLMember(build[webURLName])
	}
	return started, nil
}

// positiveID reads a JSON integer from 1 up that fits in an int64,
// written without sign, fraction or exponent; nil for anything else.
func positiveID(raw json.RawMessage) *int64 {
	if len(raw) == 0 || raw[0] < '1' || raw[0] > '9' {
		return nil
	}
	var n int64
	for _, c := range raw {
		if c < '0' || c > '9' {
			return nil
		}
		digit := int64(c - '0')
		if n > (1<<63-1-digit)/10 {
			return nil
		}
		n = n*10 + digit
	}
	return &n
}

// positiveIDText is positiveID for an id written as text (a URL's part).
func positiveIDText(s string) *int64 { return positiveID(json.RawMessage(s)) }

// webURLMember reads a JSON string that is a web page's URL the gateway
// may pass on (triggerapi.IsPipelineWebURL); "" for anything else.
func webURLMember(raw json.RawMessage) string {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil || !triggerapi.IsPipelineWebURL(s) {
		return ""
	}
	return s
}

// checkWebURLBase refuses a configured web_url (the base of the pages an
// answer names) that is not an http(s) URL without user info, query or
// fragment; it returns the URL without a trailing slash.
func checkWebURLBase(setting, s string) (string, error) {
	if s == "" {
		return "", nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" || !triggerapi.IsPipelineWebURL(s) {
		return "", fmt.Errorf("%s must be an http or https URL without user info, query or fragment", setting)
	}
	return strings.TrimRight(s, "/"), nil
}

// pageURL is base followed by tail, if that is a web_url the gateway may
// pass on; "" without a base.
func pageURL(base, tail string) string {
	if base == "" || !triggerapi.IsPipelineWebURL(base+tail) {
		return ""
	}
	return base + tail
}
