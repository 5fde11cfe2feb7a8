package triggerapi_test

import (
	"encoding/json"
	"testing"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// caseVariant is the refusal of a field that differs only in case from a
// parameter.
func caseVariant(shown, parameter string) *wantErr {
	return &wantErr{400, "case_variant_parameter",
		`{"message":"` + shown + ` differs only in case from ` + parameter + `: parameter names are case-sensitive"}`}
}

// caseNames is the refusal of two variable or input names that differ
// only in case.
func caseNames(parameter, first, second string) *wantErr {
	return &wantErr{400, "case_variant_name",
		`{"message":"` + parameter + `: ` + first + ` and ` + second + ` differ only in case"}`}
}

// A field another parser could read as token, ref, variables or inputs
// (encoding/json matches names in any case), or variable or input names it
// could merge, is refused naming the field, in every form.
func TestParseCaseVariants(t *testing.T) {
	const tr = `"token":"T","ref":"main"`
	ctMultipart, multipart := multipartBody(t,
		mpField{name: "token", value: "T"}, mpField{name: "ref", value: "main"},
		mpField{name: "Ref", value: "production"})
	ctMultipartVars, multipartVars := multipartBody(t,
		mpField{name: "token", value: "T"}, mpField{name: "ref", value: "main"},
		mpField{name: "variables[deploy]", value: "a"}, mpField{name: "variables[DEPLOY]", value: "b"})
	runParseCases(t, []parseCase{
		// The request: Ref and Variables would reach the CI as
		// payload fields that encoding/json reads as the ref and variables.
		{name: "JSON Ref and Variables", contentType: ctJSON,
			body: `{"token":"T","ref":"main","Ref":"production","Variables":{"CI_DEBUG_TRACE":"true"}}`,
			err:  caseVariant("Ref", "ref")},
		{name: "JSON Variables alone", contentType: ctJSON,
			body: `{` + tr + `,"Variables":{"CI_DEBUG_TRACE":"true"}}`, err: caseVariant("Variables", "variables")},
		{name: "JSON TOKEN", contentType: ctJSON, body: `{` + tr + `,"TOKEN":"U"}`, err: caseVariant("TOKEN", "token")},
		{name: "JSON Inputs", contentType: ctJSON, body: `{` + tr + `,"Inputs":{"a":"b"}}`, err: caseVariant("Inputs", "inputs")},
		{name: "JSON variant sent as null", contentType: ctJSON, body: `{` + tr + `,"rEf":null}`, err: caseVariant("rEf", "ref")},
		{name: "JSON escaped variant", contentType: ctJSON, body: `{` + tr + `,"\u0052ef":"x"}`, err: caseVariant("Ref", "ref")},
		// encoding/json folds by Unicode: the Kelvin sign is a k, the long s an s.
		{name: "JSON Kelvin sign", contentType: ctJSON, body: `{` + tr + `,"to\u212aen":"U"}`,
			err: caseVariant(`\"to\\u212aen\"`, "token")},
		{name: "JSON long s", contentType: ctJSON, body: `{` + tr + `,"variable\u017f":{}}`,
			err: caseVariant(`\"variable\\u017f\"`, "variables")},
		{name: "JSON first variant in byte order", contentType: ctJSON,
			body: `{` + tr + `,"Variables":{},"Ref":"x","REF":"y"}`, err: caseVariant("REF", "ref")},
		{name: "JSON variant before missing token", contentType: ctJSON,
			body: `{"Token":"T","ref":"main"}`, err: caseVariant("Token", "token")},
		{name: "JSON variant on the webhook route", route: webhookRoute, contentType: ctJSON, query: "token=T",
			body: `{"object_kind":"push","Ref":"refs/heads/production"}`, err: caseVariant("Ref", "ref")},
		{name: "JSON exact duplicate is no variant", contentType: ctJSON, body: `{"token":"T","ref":"x","ref":"main"}`,
			want: &triggerapi.Request{Token: "T", Ref: "main"}},
		{name: "JSON longer name is no variant", contentType: ctJSON, body: `{` + tr + `,"Refs":"x","ref_protected":true}`,
			want: &triggerapi.Request{Token: "T", Ref: "main", Payload: map[string]json.RawMessage{
				"Refs": raw(`"x"`), "ref_protected": raw(`true`)}}},

		{name: "query Ref", query: "token=T&ref=main&Ref=production", err: caseVariant("Ref", "ref")},
		{name: "query VARIABLES entry", query: "token=T&ref=main&VARIABLES[CI_DEBUG_TRACE]=true",
			err: caseVariant("VARIABLES", "variables")},
		{name: "query Token array", query: "token=T&ref=main&Token[]=x", err: caseVariant("Token", "token")},
		{name: "query encoded variant", query: "token=T&ref=main&%52ef=x", err: caseVariant("Ref", "ref")},
		{name: "query Kelvin sign", query: "token=T&ref=main&to%E2%84%AAen=x", err: caseVariant(`\"to\\u212aen\"`, "token")},
		{name: "form body Inputs", contentType: ctForm, body: "token=T&ref=main&Inputs[a]=1", err: caseVariant("Inputs", "inputs")},
		{name: "form variant in query, JSON body", contentType: ctJSON, query: "REF=x", body: `{` + tr + `}`,
			err: caseVariant("REF", "ref")},
		{name: "multipart Ref", contentType: ctMultipart, body: multipart, err: caseVariant("Ref", "ref")},

		// Variable and input names differing only in case.
		{name: "query variables a and A", query: "token=T&ref=main&variables[a]=1&variables[A]=2",
			err: caseNames("variables", "A", "a")},
		{name: "query and body variables", contentType: ctForm, query: "variables[Deploy]=1",
			body: "token=T&ref=main&variables[DEPLOY]=2", err: caseNames("variables", "DEPLOY", "Deploy")},
		{name: "multipart variables", contentType: ctMultipartVars, body: multipartVars,
			err: caseNames("variables", "DEPLOY", "deploy")},
		{name: "JSON variables", contentType: ctJSON, body: `{` + tr + `,"variables":{"ci_debug_trace":"1","CI_DEBUG_TRACE":"2"}}`,
			err: caseNames("variables", "CI_DEBUG_TRACE", "ci_debug_trace")},
		{name: "JSON variables, Kelvin sign", contentType: ctJSON, body: `{` + tr + `,"variables":{"K":"1","\u212a":"2"}}`,
			err: caseNames("variables", "K", `\"\\u212a\"`)},
		{name: "JSON inputs", contentType: ctJSON, body: `{` + tr + `,"inputs":{"env":"a","Env":"b"}}`,
			err: caseNames("inputs", "Env", "env")},
		{name: "form inputs", query: "token=T&ref=main&inputs[env]=a&inputs[ENV]=b", err: caseNames("inputs", "ENV", "env")},
		{name: "the first pair in byte order", query: "token=T&ref=main&variables[b]=1&variables[B]=2&variables[a]=3&variables[A]=4",
			err: caseNames("variables", "A", "a")},
		{name: "variables before inputs", query: "token=T&ref=main&inputs[x]=1&inputs[X]=2&variables[y]=1&variables[Y]=2",
			err: caseNames("variables", "Y", "y")},
		{name: "a variable and an input may share a name", query: "token=T&ref=main&variables[env]=1&inputs[ENV]=2",
			want: &triggerapi.Request{Token: "T", Ref: "main", Variables: triggerapi.VariablesOf(map[string]string{"env": "1"}),
				Inputs: map[string]json.RawMessage{"ENV": raw(`"2"`)}}},
		{name: "mixed-case names that differ otherwise", query: "token=T&ref=main&variables[Deploy]=1&variables[deploy_2]=2",
			want: &triggerapi.Request{Token: "T", Ref: "main", Variables: triggerapi.VariablesOf(map[string]string{"Deploy": "1", "deploy_2": "2"})}},
		{name: "shapes before names", query: "token=T&ref=main&variables[a]=1&variables[A]=2&variables[]=3",
			err: errVariablesShape},
		{name: "Grape's errors before names", query: "ref=main&variables[a]=1&variables[A]=2", err: errTokenMissing},
	})
}
