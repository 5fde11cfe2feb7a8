package triggerapi_test

import (
	"bytes"
	"encoding/json"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// integerID is the only way an id may be written.
var integerID = regexp.MustCompile(`^[1-9][0-9]*$`)

// A CI's answer is input too: ParsePipeline must read the id exactly as
// encoding/json does, name no pipeline for anything else, and keep only a
// web_url that is a bounded http or https URL of URI characters, with a
// host and no user info.
func FuzzParsePipeline(f *testing.F) {
	for _, s := range []string{
		gitlabPipelineAnswer, `{"id":7}`, `{"id":"7"}`, `{"id":0}`, `{"id":-1}`, `{"id":1e3}`, `{"id":1.0}`,
		`{"id":9223372036854775807}`, `{"id":9223372036854775808}`, `{"id":7,"id":8}`, `{"\u0069d":7}`,
		`{"id":7,"web_url":"javascript:alert(1)"}`, `{"id":7,"web_url":"https:\/\/x\/y"}`,
		`{"id":7,"web_url":"http://@/x"}`, `{"id":7,"web_url":"https://a:b@c:1/d?e#f"}`,
		`{"id":7,"web_url":"https://x/\u0000"}`, `{"id":7,"web_url":"https://x/\ud800"}`,
		`{"a":{"id":7}}`, `[7]`, `{"id":7`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, answer []byte) {
		got, ok := triggerapi.ParsePipeline(answer)

		var members map[string]json.RawMessage
		isObject := bytes.HasPrefix(bytes.TrimLeft(answer, " \t\r\n"), []byte("{"))
		valid := len(answer) <= triggerapi.MaxPipelineAnswer && isObject && json.Unmarshal(answer, &members) == nil
		raw, hasID := members["id"]
		wantID, idErr := strconv.ParseInt(string(raw), 10, 64)
		wantOK := valid && hasID && integerID.Match(raw) && idErr == nil
		if ok != wantOK || (ok && got.ID != wantID) {
			t.Fatalf("ParsePipeline(%q) = %+v, %v; encoding/json reads id %s (valid object: %v)", answer, got, ok, raw, valid)
		}
		if !ok {
			if got != (triggerapi.Pipeline{}) {
				t.Fatalf("ParsePipeline(%q) = %+v with ok false", answer, got)
			}
			return
		}
		if got.WebURL == "" {
			return
		}
		var decoded string
		if err := json.Unmarshal(members["web_url"], &decoded); err != nil || decoded != got.WebURL {
			t.Fatalf("web_url %q, encoding/json reads %q (%v)", got.WebURL, decoded, err)
		}
		lower := strings.ToLower(got.WebURL)
		if len(got.WebURL) > triggerapi.MaxPipelineWebURL ||
			!(strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://")) ||
			strings.ContainsFunc(got.WebURL, func(r rune) bool {
				return r <= ' ' || r >= 0x7f || strings.ContainsRune(`"<>\^`+"`{|}", r)
			}) {
			t.Fatalf("web_url %q kept: not a bounded http(s) URL of URI characters", got.WebURL)
		}
		if u, err := url.Parse(got.WebURL); err != nil || u.Host == "" || u.User != nil {
			t.Fatalf("web_url %q kept: no URL parser reads it, or it has no host or user info (%v)", got.WebURL, err)
		}
	})
}
