package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"mime/multipart"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// forwarded is what the upstream must receive for one accepted trigger
// (contract §5).
type forwarded struct {
	// Project is the project path segment as the upstream sees it, escaped
	// ("9", "other%2Frepo").
	Project string
	// Token is the token the body must carry: the upstream token when one is
	// configured, else the caller's.
	Token string
	// Ref is the normalized ref.
	Ref string
	// Variables are the variables the body must carry, exactly.
	Variables map[string]string
	// Payload holds the caller's other JSON body fields, passed on unchanged.
	Payload map[string]any
	// Trigger is the trigger that authorized the request.
	Trigger triggerObj
}

// assertForwarded checks that the upstream received exactly one canonical
// request for the accepted trigger, and that the caller got the upstream's
// answer as it was.
func assertForwarded(t *testing.T, resp response, got []upstreamRequest, want forwarded) {
	t.Helper()
	if len(got) != 1 {
		t.Fatalf("upstream received %d requests, want exactly 1 (caller got %s)", len(got), resp)
	}
	up := got[0]
	if up.Method != "POST" {
		t.Errorf("upstream method = %s, want POST", up.Method)
	}
	if wantPath := "/api/v4/projects/" + want.Project + "/trigger/pipeline"; up.EscapedPath != wantPath {
		t.Errorf("upstream path = %s, want %s", up.EscapedPath, wantPath)
	}
	if q, err := url.ParseQuery(up.RawQuery); err != nil || q.Has("token") {
		t.Errorf("upstream query still has the caller's token (or is malformed: %v)", err)
	}
	if mt, _, err := mime.ParseMediaType(up.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		t.Errorf("upstream Content-Type = %q, want application/json", up.Header.Get("Content-Type"))
	}
	for name, value := range map[string]string{
		"X-Trigger-Source":       "trigger",
		"X-Trigger-Id":           want.Trigger.idString(),
		"X-Trigger-Token-Prefix": want.Trigger.TokenPrefix,
	} {
		if got := up.Header.Values(name); len(got) != 1 || got[0] != value {
			t.Errorf("upstream header %s = %q, want [%q]", name, got, value)
		}
	}

	if tok := want.Trigger.Token; want.Trigger.TokenPrefix != tok[:displayPrefixLen(tok)] {
		t.Errorf("token_prefix = %q, want the token's first %d characters", want.Trigger.TokenPrefix, displayPrefixLen(tok))
	}

	// Trigger tokens get exactly these X-Trigger-* headers; whatever the
	// caller sent under that prefix is not the gateway's word.
	for name := range up.Header {
		if strings.HasPrefix(name, "X-Trigger-") && name != "X-Trigger-Source" && name != "X-Trigger-Id" && name != "X-Trigger-Token-Prefix" {
			t.Errorf("upstream received header %s: %q", name, up.Header.Values(name))
		}
	}

	body := decodeObject(t, "upstream body", up.Body)
	if tok, _ := body["token"].(string); tok != want.Token {
		t.Errorf("upstream body token is %s, want %s", describeToken(tok), describeToken(want.Token))
	}
	if ref, ok := body["ref"].(string); !ok || ref != want.Ref {
		t.Errorf("upstream body ref = %#v, want %q", body["ref"], want.Ref)
	}
	wantVars := map[string]any{}
	for k, v := range want.Variables {
		wantVars[k] = v
	}
	if vars, ok := body["variables"].(map[string]any); !ok || !reflect.DeepEqual(vars, wantVars) {
		t.Errorf("upstream body variables = %#v, want %#v", body["variables"], wantVars)
	}
	rest := map[string]any{}
	for k, v := range body {
		if k != "token" && k != "ref" && k != "variables" {
			rest[k] = v
		}
	}
	wantRest := want.Payload
	if wantRest == nil {
		wantRest = map[string]any{}
	}
	if !reflect.DeepEqual(rest, wantRest) {
		t.Errorf("upstream body's other fields differ from the caller's:\n got  %s\n want %s", mustJSON(rest), mustJSON(wantRest))
	}

	// The caller's own token goes nowhere else, and nowhere at all when an
	// upstream token replaces it.
	caller := want.Trigger.Token
	if strings.Contains(up.EscapedPath+"?"+up.RawQuery, caller) {
		t.Errorf("caller's token is in the upstream URL")
	}
	for name, vals := range up.Header {
		if strings.Contains(strings.Join(vals, " "), caller) {
			t.Errorf("caller's token is in upstream header %s", name)
		}
	}
	if caller != want.Token && bytes.Contains(up.Body, []byte(caller)) {
		t.Errorf("caller's token reached the upstream although an upstream token replaces it")
	}

	if resp.Status != 201 {
		t.Errorf("caller got %s, want the upstream's 201", resp)
	}
	if !bytes.Equal(resp.Body, up.Response) {
		t.Errorf("caller got body %q, want the upstream's answer %q", resp.Body, up.Response)
	}
	if resp.Header.Get("X-Upstream") != "gitlab-stand-in" {
		t.Errorf("caller's answer lacks the upstream's headers: %v", resp.Header)
	}
}

// assertNothingForwarded checks that a refused request reached no upstream.
func assertNothingForwarded(t *testing.T, up *upstream) {
	t.Helper()
	if got := up.take(); len(got) != 0 {
		t.Errorf("upstream received %d requests for a refused trigger, first: %s %s", len(got), got[0].Method, got[0].EscapedPath)
	}
}

// describeToken names a token by its display prefix, for failure messages.
func describeToken(tok string) string {
	if tok == "" {
		return "empty"
	}
	n := displayPrefixLen(tok)
	if len(tok) <= n {
		return "a short value"
	}
	return fmt.Sprintf("%s… (%d chars)", tok[:n], len(tok))
}

// decodeObject decodes a JSON object, keeping numbers as written.
func decodeObject(t *testing.T, what string, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("%s is not a JSON object: %v: %q", what, err, b)
	}
	return m
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// assertJSONAnswer checks a gateway answer's status and its JSON body.
func assertJSONAnswer(t *testing.T, resp response, status int, wantBody string) {
	t.Helper()
	if resp.Status != status {
		t.Errorf("status = %d, want %d (body %s)", resp.Status, status, bytes.TrimSpace(resp.Body))
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", resp.Header.Get("Content-Type"))
	}
	got := decodeObject(t, "answer", resp.Body)
	want := decodeObject(t, "wanted answer", []byte(wantBody))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("body = %s, want %s", bytes.TrimSpace(resp.Body), wantBody)
	}
}

// reqBody is a request body with its content type.
type reqBody struct {
	ContentType string
	Data        []byte
}

// urlencoded builds an application/x-www-form-urlencoded body from name, value pairs.
func urlencoded(kv ...string) reqBody {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return reqBody{"application/x-www-form-urlencoded", []byte(v.Encode())}
}

// multipartForm builds a multipart/form-data body, as curl --form sends.
func multipartForm(kv ...string) reqBody {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for i := 0; i+1 < len(kv); i += 2 {
		if err := w.WriteField(kv[i], kv[i+1]); err != nil {
			panic(err)
		}
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
	return reqBody{w.FormDataContentType(), buf.Bytes()}
}

// jsonBody builds an application/json body.
func jsonBody(v any) reqBody {
	return reqBody{"application/json", []byte(mustJSON(v))}
}

// rawJSON is an application/json body as written.
func rawJSON(s string) reqBody {
	return reqBody{"application/json", []byte(s)}
}
