package triggerapi_test

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/textproto"
	"reflect"
	"testing"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

const (
	ctForm = "application/x-www-form-urlencoded"
	ctJSON = "application/json"
)

var (
	pipelineRoute = triggerapi.Route{Kind: triggerapi.KindPipeline, Project: "9"}
	webhookRoute  = triggerapi.Route{Kind: triggerapi.KindWebhook, Project: "9", Ref: "feature/x"}
)

// The exact bodies GitLab answers; spelled out rather than taken from the
// package's variables so that a change to those shows here.
const (
	bodyRefAndTokenMissing = `{"error":"ref is missing, token is missing"}`
	bodyRefMissing         = `{"error":"ref is missing"}`
	bodyTokenMissing       = `{"error":"token is missing"}`
	bodyRefEmpty           = `{"error":"ref is empty"}`
	bodyRefInvalid         = `{"error":"ref is invalid"}`
	bodyTokenInvalid       = `{"error":"token is invalid"}`
	bodyVariablesShape     = `{"message":"variables needs to be a map of key-valued strings"}`
	bodyInputsShape        = `{"message":"inputs needs to be a map of named values"}`
	bodyBadBody            = `{"message":"400 Bad request - the request body could not be parsed"}`
	bodyMediaType          = `{"message":"415 Unsupported Media Type"}`
)

// wantErr is the part of an *Error a caller sees, plus its reason.
type wantErr struct {
	status int
	reason string
	body   string
}

var (
	errRefAndTokenMissing = &wantErr{400, "missing_ref", bodyRefAndTokenMissing}
	errRefMissing         = &wantErr{400, "missing_ref", bodyRefMissing}
	errTokenMissing       = &wantErr{400, "missing_token", bodyTokenMissing}
	errRefEmpty           = &wantErr{400, "missing_ref", bodyRefEmpty}
	errRefInvalid         = &wantErr{400, "invalid_ref", bodyRefInvalid}
	errTokenInvalid       = &wantErr{400, "invalid_token_param", bodyTokenInvalid}
	errVariablesShape     = &wantErr{400, "invalid_variables", bodyVariablesShape}
	errInputsShape        = &wantErr{400, "invalid_inputs", bodyInputsShape}
	errBadBody            = &wantErr{400, "malformed_body", bodyBadBody}
	errMediaType          = &wantErr{415, "unsupported_media_type", bodyMediaType}
)

// inputType is the refusal of an input whose value has a type inputs do not take.
func inputType(name string) *wantErr {
	return &wantErr{400, "invalid_input_type",
		`{"message":"inputs: the value of ` + name + ` must be a string, a number, a boolean or an array of strings"}`}
}

// mpField is one part of a multipart/form-data body.
type mpField struct {
	name, value string
	file        bool
}

// multipartBody builds a multipart/form-data body the way curl --form does.
func multipartBody(tb testing.TB, fields ...mpField) (contentType, body string) {
	tb.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, f := range fields {
		var err error
		if f.file {
			var fw interface{ Write([]byte) (int, error) }
			fw, err = w.CreateFormFile(f.name, "value.txt")
			if err == nil {
				_, err = fw.Write([]byte(f.value))
			}
		} else {
			err = w.WriteField(f.name, f.value)
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return w.FormDataContentType(), buf.String()
}

// unnamedPartBody is a multipart body whose first part has no field name.
func unnamedPartBody(tb testing.TB) (contentType, body string) {
	tb.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	part, err := w.CreatePart(textproto.MIMEHeader{"Content-Disposition": {"form-data"}})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := part.Write([]byte("ignored")); err != nil {
		tb.Fatal(err)
	}
	for _, kv := range [][2]string{{"token", "T"}, {"ref", "main"}} {
		if err := w.WriteField(kv[0], kv[1]); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return w.FormDataContentType(), buf.String()
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

type parseCase struct {
	name        string
	route       triggerapi.Route
	contentType string
	query       string
	body        string
	want        *triggerapi.Request
	err         *wantErr
}

func runParseCases(t *testing.T, tests []parseCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			route := tt.route
			if route.Kind == 0 {
				route = pipelineRoute
			}
			got, err := triggerapi.Parse(route, tt.contentType, tt.query, []byte(tt.body))
			if tt.err != nil {
				if err == nil {
					t.Fatalf("Parse() = %+v, nil; want error %s", got, tt.err.body)
				}
				if got != nil {
					t.Errorf("Parse() returned a request with its error: %+v", got)
				}
				if err.Status != tt.err.status || err.Reason != tt.err.reason || string(err.Body) != tt.err.body {
					t.Errorf("Parse() error = %d %s %s; want %d %s %s",
						err.Status, err.Reason, err.Body, tt.err.status, tt.err.reason, tt.err.body)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse() error = %d %s %s; want %+v", err.Status, err.Reason, err.Body, tt.want)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse() =\n%s\nwant\n%s", dump(got), dump(tt.want))
			}
		})
	}
}

// dump renders a Request readably, raw JSON values as text.
func dump(r *triggerapi.Request) string {
	b, _ := json.Marshal(r)
	return string(b)
}

func TestParseQueryString(t *testing.T) {
	runParseCases(t, []parseCase{
		{name: "token and ref", query: "token=T&ref=main",
			want: &triggerapi.Request{Token: "T", Ref: "main"}},
		{name: "variables", query: "token=T&ref=main&variables[A]=1&variables[B_2]=two",
			want: &triggerapi.Request{Token: "T", Ref: "main", Variables: triggerapi.VariablesOf(map[string]string{"A": "1", "B_2": "two"})}},
		{name: "plus is a space", query: "token=a+b&ref=main&variables[A]=x+y+z",
			want: &triggerapi.Request{Token: "a b", Ref: "main", Variables: triggerapi.VariablesOf(map[string]string{"A": "x y z"})}},
		{name: "percent decoding", query: "token=a%2Bb%3D&ref=feature%2Fx&variables%5BK%5D=%C3%A9%26%25",
			want: &triggerapi.Request{Token: "a+b=", Ref: "feature/x", Variables: triggerapi.VariablesOf(map[string]string{"K": "é&%"})}},
		{name: "encoded equals sign in value", query: "token=T&ref=main&variables[Q]=a%3Db=c",
			want: &triggerapi.Request{Token: "T", Ref: "main", Variables: triggerapi.VariablesOf(map[string]string{"Q": "a=b=c"})}},
		{name: "empty pairs", query: "&&token=T&&ref=main&",
			want: &triggerapi.Request{Token: "T", Ref: "main"}},
		{name: "last value wins", query: "token=a&ref=main&token=b&variables[A]=1&variables[A]=2",
			want: &triggerapi.Request{Token: "b", Ref: "main", Variables: triggerapi.VariablesOf(map[string]string{"A": "2"})}},
		// Rack keeps a key without "=" as present (nil): the token is then
		// looked up, empty, and not found.
		{name: "key without value", query: "token&ref=main",
			want: &triggerapi.Request{Token: "", Ref: "main"}},
		{name: "empty variable value", query: "token=T&ref=main&variables[A]=",
			want: &triggerapi.Request{Token: "T", Ref: "main", Variables: triggerapi.VariablesOf(map[string]string{"A": ""})}},
		{name: "unrelated parameters ignored", query: "token=T&ref=main&private_token=x&job=build",
			want: &triggerapi.Request{Token: "T", Ref: "main"}},
		{name: "inputs", query: "token=T&ref=main&inputs[env]=prod&inputs[q]=%22x%22",
			want: &triggerapi.Request{Token: "T", Ref: "main",
				Inputs: map[string]json.RawMessage{"env": raw(`"prod"`), "q": raw(`"\"x\""`)}}},
		{name: "bad escape in value", query: "token=%zz&ref=main", err: errBadBody},
		{name: "bad escape in key", query: "tok%en=T&ref=main", err: errBadBody},
		{name: "truncated escape", query: "token=T&ref=main%2", err: errBadBody},
		{name: "empty body ignores content type", contentType: "text/plain", query: "token=T&ref=main",
			want: &triggerapi.Request{Token: "T", Ref: "main"}},
	})
}

func TestParseValidation(t *testing.T) {
	runParseCases(t, []parseCase{
		{name: "nothing", err: errRefAndTokenMissing},
		{name: "only token", query: "token=T", err: errRefMissing},
		{name: "only ref", query: "ref=main", err: errTokenMissing},
		{name: "empty ref", query: "token=T&ref=", err: errRefEmpty},
		{name: "blank ref", query: "token=T&ref=+%09", err: errRefEmpty},
		{name: "empty token is present", query: "token=&ref=main",
			want: &triggerapi.Request{Token: "", Ref: "main"}},
		// Grape checks every declared parameter and joins their errors.
		{name: "empty ref and no token", query: "ref=",
			err: &wantErr{400, "missing_ref", `{"error":"ref is empty, token is missing"}`}},
		{name: "array ref and no token", query: "ref[]=main",
			err: &wantErr{400, "invalid_ref", `{"error":"ref is invalid, token is missing"}`}},
		{name: "no ref and array token", query: "token[]=T",
			err: &wantErr{400, "missing_ref", `{"error":"ref is missing, token is invalid"}`}},
		{name: "both invalid", query: "ref[a]=main&token[]=T",
			err: &wantErr{400, "invalid_ref", `{"error":"ref is invalid, token is invalid"}`}},
		{name: "empty ref and invalid token", query: "ref=&token[x]=T",
			err: &wantErr{400, "missing_ref", `{"error":"ref is empty, token is invalid"}`}},
		{name: "array ref", query: "token=T&ref[]=main", err: errRefInvalid},
		{name: "hash ref", query: "token=T&ref[a]=main", err: errRefInvalid},
		{name: "array token", query: "token[]=T&ref=main", err: errTokenInvalid},
		{name: "hash token", query: "token[a]=T&ref=main", err: errTokenInvalid},
		// Declared parameters are checked before the variables' shape.
		{name: "bad variables without token", query: "ref=main&variables[]=x", err: errTokenMissing},
		{name: "bad variables before bad inputs", query: "token=T&ref=main&inputs[]=x&variables[]=x", err: errVariablesShape},
	})
}

func TestParseFormShapes(t *testing.T) {
	const base = "token=T&ref=main&"
	runParseCases(t, []parseCase{
		{name: "variables array", query: base + "variables[]=x", err: errVariablesShape},
		{name: "variables nested", query: base + "variables[a][b]=x", err: errVariablesShape},
		{name: "variables scalar", query: base + "variables=x", err: errVariablesShape},
		{name: "variables unclosed", query: base + "variables[a=x", err: errVariablesShape},
		{name: "variables junk after bracket", query: base + "variables[a]x=x", err: errVariablesShape},
		{name: "variables encoded array", query: base + "variables%5B%5D=x", err: errVariablesShape},
		{name: "variables bad after good", query: base + "variables[A]=1&variables=x", err: errVariablesShape},
		{name: "inputs array", query: base + "inputs[]=x", err: errInputsShape},
		{name: "inputs scalar", query: base + "inputs=x", err: errInputsShape},
		{name: "inputs nested", query: base + "inputs[a][b]=x", err: errInputsShape},
		{name: "unrelated nested key", query: base + "other[a][b]=x",
			want: &triggerapi.Request{Token: "T", Ref: "main"}},
	})
}

func TestParseURLEncodedBody(t *testing.T) {
	runParseCases(t, []parseCase{
		{name: "body only", contentType: ctForm, body: "token=T&ref=main&variables[A]=1&variables[B]=a+b%2Fc",
			want: &triggerapi.Request{Token: "T", Ref: "main", Variables: triggerapi.VariablesOf(map[string]string{"A": "1", "B": "a b/c"})}},
		{name: "charset parameter", contentType: ctForm + "; charset=UTF-8", body: "token=T&ref=main",
			want: &triggerapi.Request{Token: "T", Ref: "main"}},
		{name: "upper case media type", contentType: "Application/X-WWW-Form-URLEncoded", body: "token=T&ref=main",
			want: &triggerapi.Request{Token: "T", Ref: "main"}},
		// Rack reads a POST body without Content-Type as a form.
		{name: "no content type", body: "token=T&ref=main",
			want: &triggerapi.Request{Token: "T", Ref: "main"}},
		{name: "body over query", contentType: ctForm, query: "token=Q&ref=q&variables[A]=q",
			body: "token=B&ref=b&variables[A]=b",
			want: &triggerapi.Request{Token: "B", Ref: "b", Variables: triggerapi.VariablesOf(map[string]string{"A": "b"})}},
		{name: "body completes query", contentType: ctForm, query: "token=Q", body: "ref=main",
			want: &triggerapi.Request{Token: "Q", Ref: "main"}},
		{name: "url ref over body and query", route: webhookRoute, contentType: ctForm,
			query: "token=T&ref=q", body: "ref=b",
			want: &triggerapi.Request{Token: "T", Ref: "feature/x"}},
		{name: "url ref over invalid body ref", route: webhookRoute, contentType: ctForm,
			query: "token=T", body: "ref[]=b",
			want: &triggerapi.Request{Token: "T", Ref: "feature/x"}},
		{name: "inputs", contentType: ctForm, body: "token=T&ref=main&inputs[a]=1&inputs[b]=%E2%9C%93",
			want: &triggerapi.Request{Token: "T", Ref: "main",
				Inputs: map[string]json.RawMessage{"a": raw(`"1"`), "b": raw(`"✓"`)}}},
		{name: "bad escape", contentType: ctForm, body: "token=T&ref=ma%in", err: errBadBody},
		{name: "shape error", contentType: ctForm, body: "token=T&ref=main&variables[a][b]=x", err: errVariablesShape},
	})
}

func TestParseMultipart(t *testing.T) {
	ct, full := multipartBody(t,
		mpField{name: "token", value: "T"},
		mpField{name: "ref", value: "main"},
		mpField{name: "variables[A]", value: "line1\nline2"},
		mpField{name: "variables[B]", value: "é \"quoted\""},
		mpField{name: "inputs[x]", value: "1"},
	)
	ctFileVar, fileVar := multipartBody(t,
		mpField{name: "token", value: "T"}, mpField{name: "ref", value: "main"},
		mpField{name: "variables[A]", value: "contents", file: true})
	ctFileToken, fileToken := multipartBody(t,
		mpField{name: "token", value: "T", file: true}, mpField{name: "ref", value: "main"})
	ctFileRef, fileRef := multipartBody(t,
		mpField{name: "token", value: "T"}, mpField{name: "ref", value: "main", file: true})
	ctFileInput, fileInput := multipartBody(t,
		mpField{name: "token", value: "T"}, mpField{name: "ref", value: "main"},
		mpField{name: "inputs[a]", value: "x", file: true})
	ctOtherFile, otherFile := multipartBody(t,
		mpField{name: "token", value: "T"}, mpField{name: "ref", value: "main"},
		mpField{name: "attachment", value: "x", file: true})
	ctArray, array := multipartBody(t,
		mpField{name: "token", value: "T"}, mpField{name: "ref", value: "main"},
		mpField{name: "variables[]", value: "x"})
	ctOverride, override := multipartBody(t,
		mpField{name: "token", value: "B"}, mpField{name: "variables[A]", value: "b"})
	ctWebhook, webhookBody := multipartBody(t,
		mpField{name: "token", value: "T"}, mpField{name: "ref", value: "main"})
	ctEmpty, empty := multipartBody(t)
	ctUnnamed, unnamed := unnamedPartBody(t)

	runParseCases(t, []parseCase{
		{name: "fields", contentType: ct, body: full,
			want: &triggerapi.Request{Token: "T", Ref: "main",
				Variables: triggerapi.VariablesOf(map[string]string{"A": "line1\nline2", "B": "é \"quoted\""}),
				Inputs:    map[string]json.RawMessage{"x": raw(`"1"`)}}},
		{name: "file variable", contentType: ctFileVar, body: fileVar, err: errVariablesShape},
		{name: "file token", contentType: ctFileToken, body: fileToken, err: errTokenInvalid},
		{name: "file ref", contentType: ctFileRef, body: fileRef, err: errRefInvalid},
		{name: "file input", contentType: ctFileInput, body: fileInput, err: errInputsShape},
		{name: "unrelated file ignored", contentType: ctOtherFile, body: otherFile,
			want: &triggerapi.Request{Token: "T", Ref: "main"}},
		{name: "variables array", contentType: ctArray, body: array, err: errVariablesShape},
		{name: "body over query", contentType: ctOverride, body: override,
			query: "token=Q&ref=main&variables[A]=q",
			want:  &triggerapi.Request{Token: "B", Ref: "main", Variables: triggerapi.VariablesOf(map[string]string{"A": "b"})}},
		{name: "url ref wins", route: webhookRoute, contentType: ctWebhook, body: webhookBody,
			want: &triggerapi.Request{Token: "T", Ref: "feature/x"}},
		{name: "no parts", contentType: ctEmpty, body: empty, query: "token=T&ref=main",
			want: &triggerapi.Request{Token: "T", Ref: "main"}},
		{name: "part without name skipped", contentType: ctUnnamed, body: unnamed,
			want: &triggerapi.Request{Token: "T", Ref: "main"}},
		{name: "missing boundary", contentType: "multipart/form-data", body: full, err: errBadBody},
		// The body ends before any boundary: NextPart wraps io.EOF, which
		// used to pass for an empty form and let the query decide.
		{name: "wrong boundary", contentType: "multipart/form-data; boundary=other", body: full,
			query: "token=T&ref=main", err: errBadBody},
		{name: "not multipart", contentType: "multipart/form-data; boundary=b", body: "token=T&ref=main",
			query: "token=T&ref=main", err: errBadBody},
		{name: "truncated", contentType: ct, body: full[:len(full)-10], err: errBadBody},
		{name: "multipart mixed", contentType: "multipart/mixed; boundary=b", body: "--b--\r\n", err: errMediaType},
	})
}

// pushEvent is a GitLab push event as a project webhook sends it.
const pushEvent = `{
  "object_kind": "push",
  "event_name": "push",
  "before": "95790bf891e76fee5e1747ab589903a6a1f80f22",
  "after": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
  "ref": "refs/heads/master",
  "ref_protected": true,
  "checkout_sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
  "user_id": 4,
  "user_name": "John Smith",
  "user_username": "jsmith",
  "user_email": "john@example.com",
  "project_id": 15,
  "project": {
    "id": 15,
    "name": "Diaspora",
    "path_with_namespace": "mike/diaspora",
    "default_branch": "master",
    "web_url": "http://example.com/mike/diaspora"
  },
  "commits": [
    {
      "id": "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327",
      "message": "Update Catalan translation to e38cb41.\n\nSee https://gitlab.com/gitlab-org/gitlab for more information",
      "title": "Update Catalan translation to e38cb41.",
      "timestamp": "2011-12-12T14:27:31+02:00",
      "author": {"name": "Jordi Mallach", "email": "jordi@softcatala.org"},
      "added": ["CHANGELOG"],
      "modified": ["app/controller/application.rb"],
      "removed": []
    }
  ],
  "total_commits_count": 4,
  "repository": {"name": "Diaspora", "homepage": "http://example.com/mike/diaspora"},
  "score": 1.5,
  "draft": null
}`

func TestParseJSON(t *testing.T) {
	const tr = `"token":"T","ref":"main"`
	runParseCases(t, []parseCase{
		{name: "token ref variables", contentType: ctJSON,
			body: `{"token":"T","ref":"main","variables":{"A":"1","B":"","C":"x\ny \"q\" \u00e9"}}`,
			want: &triggerapi.Request{Token: "T", Ref: "main",
				Variables: triggerapi.VariablesOf(map[string]string{"A": "1", "B": "", "C": "x\ny \"q\" é"})}},
		{name: "charset parameter", contentType: ctJSON + "; charset=utf-8", body: `{` + tr + `}`,
			want: &triggerapi.Request{Token: "T", Ref: "main"}},
		{name: "json suffix media type", contentType: "application/vnd.api+json", body: `{` + tr + `}`,
			want: &triggerapi.Request{Token: "T", Ref: "main"}},
		{name: "whitespace around", contentType: ctJSON, body: " \n{ " + tr + " }\n",
			want: &triggerapi.Request{Token: "T", Ref: "main"}},
		{name: "duplicate key last wins", contentType: ctJSON, body: `{"token":"a","token":"b","ref":"main"}`,
			want: &triggerapi.Request{Token: "b", Ref: "main"}},

		// Variables must be a map of strings.
		{name: "variable number", contentType: ctJSON, body: `{` + tr + `,"variables":{"A":"1","B":2}}`, err: errVariablesShape},
		{name: "variable bool", contentType: ctJSON, body: `{` + tr + `,"variables":{"A":true}}`, err: errVariablesShape},
		{name: "variable null", contentType: ctJSON, body: `{` + tr + `,"variables":{"A":null}}`, err: errVariablesShape},
		{name: "variable object", contentType: ctJSON, body: `{` + tr + `,"variables":{"A":{"b":"c"}}}`, err: errVariablesShape},
		{name: "variable array", contentType: ctJSON, body: `{` + tr + `,"variables":{"A":["x"]}}`, err: errVariablesShape},
		{name: "variables array", contentType: ctJSON, body: `{` + tr + `,"variables":["A","B"]}`, err: errVariablesShape},
		{name: "variables array of pairs", contentType: ctJSON,
			body: `{` + tr + `,"variables":[{"key":"A","value":"1"}]}`, err: errVariablesShape},
		{name: "variables string", contentType: ctJSON, body: `{` + tr + `,"variables":"A=1"}`, err: errVariablesShape},
		{name: "variables number", contentType: ctJSON, body: `{` + tr + `,"variables":1}`, err: errVariablesShape},
		{name: "variables null", contentType: ctJSON, body: `{` + tr + `,"variables":null}`,
			want: &triggerapi.Request{Token: "T", Ref: "main"}},
		{name: "variables empty", contentType: ctJSON, body: `{` + tr + `,"variables":{}}`,
			want: &triggerapi.Request{Token: "T", Ref: "main"}},

		// token and ref must be strings; null is absent.
		{name: "token number", contentType: ctJSON, body: `{"token":123,"ref":"main"}`, err: errTokenInvalid},
		{name: "token bool", contentType: ctJSON, body: `{"token":true,"ref":"main"}`, err: errTokenInvalid},
		{name: "token object", contentType: ctJSON, body: `{"token":{"a":"b"},"ref":"main"}`, err: errTokenInvalid},
		{name: "token array", contentType: ctJSON, body: `{"token":["T"],"ref":"main"}`, err: errTokenInvalid},
		{name: "ref number", contentType: ctJSON, body: `{"token":"T","ref":1}`, err: errRefInvalid},
		{name: "ref array", contentType: ctJSON, body: `{"token":"T","ref":["main"]}`, err: errRefInvalid},
		{name: "token null", contentType: ctJSON, body: `{"token":null,"ref":"main"}`, err: errTokenMissing},
		{name: "ref null", contentType: ctJSON, body: `{"token":"T","ref":null}`, err: errRefMissing},
		{name: "both null", contentType: ctJSON, body: `{"token":null,"ref":null}`, err: errRefAndTokenMissing},
		{name: "empty object", contentType: ctJSON, body: `{}`, err: errRefAndTokenMissing},
		{name: "ref empty", contentType: ctJSON, body: `{"token":"T","ref":""}`, err: errRefEmpty},
		{name: "token empty is present", contentType: ctJSON, body: `{"token":"","ref":"main"}`,
			want: &triggerapi.Request{Token: "", Ref: "main"}},
		{name: "invalid before shape", contentType: ctJSON, body: `{"token":1,"ref":"main","variables":[]}`, err: errTokenInvalid},

		// Body over query; URL ref over both.
		{name: "body over query", contentType: ctJSON, query: "token=Q&ref=q&variables[A]=q",
			body: `{"token":"B","variables":{"A":"b"}}`,
			want: &triggerapi.Request{Token: "B", Ref: "q", Variables: triggerapi.VariablesOf(map[string]string{"A": "b"})}},
		{name: "url ref over body ref", route: webhookRoute, contentType: ctJSON, query: "token=T",
			body: `{"ref":"refs/heads/other"}`,
			want: &triggerapi.Request{Token: "T", Ref: "feature/x"}},
		{name: "url ref over non-string body ref", route: webhookRoute, contentType: ctJSON, query: "token=T",
			body: `{"ref":42}`,
			want: &triggerapi.Request{Token: "T", Ref: "feature/x"}},
		{name: "body ref kept as sent", contentType: ctJSON, body: `{"token":"T","ref":"refs/tags/v1.0"}`,
			want: &triggerapi.Request{Token: "T", Ref: "refs/tags/v1.0"}},

		// Inputs are typed, as GitLab's: strings, numbers, booleans and
		// arrays of strings, kept as sent.
		{name: "inputs", contentType: ctJSON,
			body: `{` + tr + `,"inputs":{"n":1,"f":-2.5e-3,"s":"x","b":false,"t":true,"l":["a", "b\u00e9"],"e":[ ]}}`,
			want: &triggerapi.Request{Token: "T", Ref: "main", Inputs: map[string]json.RawMessage{
				"n": raw(`1`), "f": raw(`-2.5e-3`), "s": raw(`"x"`), "b": raw(`false`), "t": raw(`true`),
				"l": raw(`["a", "b\u00e9"]`), "e": raw(`[ ]`)}}},
		{name: "input null", contentType: ctJSON, body: `{` + tr + `,"inputs":{"a":"x","n":null}}`,
			err: inputType("n")},
		{name: "input object", contentType: ctJSON, body: `{` + tr + `,"inputs":{"o":{"k":"v"}}}`,
			err: inputType("o")},
		{name: "input array of numbers", contentType: ctJSON, body: `{` + tr + `,"inputs":{"l":[1, 2]}}`,
			err: inputType("l")},
		{name: "input array mixed", contentType: ctJSON, body: `{` + tr + `,"inputs":{"l":["a",1]}}`,
			err: inputType("l")},
		{name: "input nested array", contentType: ctJSON, body: `{` + tr + `,"inputs":{"l":[["a"]]}}`,
			err: inputType("l")},
		{name: "input array of null", contentType: ctJSON, body: `{` + tr + `,"inputs":{"l":[null]}}`,
			err: inputType("l")},
		{name: "first bad input in order", contentType: ctJSON, body: `{` + tr + `,"inputs":{"z":null,"b":{},"a":"ok"}}`,
			err: inputType("b")},
		{name: "last value of an input counts", contentType: ctJSON, body: `{` + tr + `,"inputs":{"a":null,"a":"x"}}`,
			want: &triggerapi.Request{Token: "T", Ref: "main", Inputs: map[string]json.RawMessage{"a": raw(`"x"`)}}},
		{name: "odd input name quoted", contentType: ctJSON, body: `{` + tr + `,"inputs":{"a b\n":{}}}`,
			err: &wantErr{400, "invalid_input_type",
				`{"message":"inputs: the value of \"a b\\n\" must be a string, a number, a boolean or an array of strings"}`}},
		{name: "inputs null", contentType: ctJSON, body: `{` + tr + `,"inputs":null}`,
			want: &triggerapi.Request{Token: "T", Ref: "main"}},
		{name: "inputs array", contentType: ctJSON, body: `{` + tr + `,"inputs":["a"]}`, err: errInputsShape},
		{name: "inputs string", contentType: ctJSON, body: `{` + tr + `,"inputs":"a"}`, err: errInputsShape},

		// Malformed bodies.
		{name: "truncated", contentType: ctJSON, body: `{"token":"T"`, err: errBadBody},
		{name: "array", contentType: ctJSON, body: `[{"token":"T","ref":"main"}]`, err: errBadBody},
		{name: "null", contentType: ctJSON, body: `null`, err: errBadBody},
		{name: "string", contentType: ctJSON, body: `"token"`, err: errBadBody},
		{name: "number", contentType: ctJSON, body: `1`, err: errBadBody},
		{name: "blank", contentType: ctJSON, body: "  \n", err: errBadBody},
		{name: "trailing data", contentType: ctJSON, body: `{` + tr + `}{}`, err: errBadBody},
		{name: "form sent as json", contentType: ctJSON, body: `token=T&ref=main`, err: errBadBody},

		// Unknown media types.
		{name: "text plain", contentType: "text/plain", body: `{` + tr + `}`, err: errMediaType},
		{name: "xml", contentType: "application/xml", body: `<token>T</token>`, err: errMediaType},
		{name: "malformed content type", contentType: "application/json; =", body: `{` + tr + `}`, err: errMediaType},
		{name: "octet stream", contentType: "application/octet-stream", body: "x", err: errMediaType},
	})
}

func TestParseWebhookPayload(t *testing.T) {
	route := triggerapi.Route{Kind: triggerapi.KindWebhook, Project: "9", Ref: "release/1.x"}
	got, err := triggerapi.Parse(route, ctJSON, "token=T&variables[DEPLOY]=yes", []byte(pushEvent))
	if err != nil {
		t.Fatalf("Parse() error = %s", err.Body)
	}
	if got.Token != "T" || got.Ref != "release/1.x" {
		t.Errorf("Parse() token, ref = %q, %q; want T, release/1.x", got.Token, got.Ref)
	}
	if !reflect.DeepEqual(got.Variables, triggerapi.VariablesOf(map[string]string{"DEPLOY": "yes"})) {
		t.Errorf("Variables = %v", got.Variables)
	}
	// Every other top-level field is kept byte for byte; token, ref,
	// variables and inputs are the request's own parameters.
	var want map[string]json.RawMessage
	if err := json.Unmarshal([]byte(pushEvent), &want); err != nil {
		t.Fatal(err)
	}
	delete(want, "ref")
	if !reflect.DeepEqual(got.Payload, want) {
		t.Errorf("Payload =\n%v\nwant\n%v", got.Payload, want)
	}
	if _, ok := got.Payload["ref"]; ok {
		t.Error("Payload holds the body's ref")
	}
	if string(got.Payload["draft"]) != "null" || string(got.Payload["score"]) != "1.5" {
		t.Errorf("Payload scalars = %s, %s", got.Payload["draft"], got.Payload["score"])
	}
	if inputs := got.Inputs; inputs != nil {
		t.Errorf("Inputs = %v, want none", inputs)
	}
}
