package triggerapi_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

func TestCanonicalBody(t *testing.T) {
	tests := []struct {
		name      string
		token     string
		ref       string
		variables map[string]string
		inputs    map[string]json.RawMessage
		payload   map[string]json.RawMessage
		want      string
	}{
		{name: "no variables", token: "glptt-abc", ref: "main",
			want: `{"token":"glptt-abc","ref":"main","variables":{}}`},
		{name: "empty variables", token: "T", ref: "main", variables: map[string]string{},
			inputs: map[string]json.RawMessage{}, payload: map[string]json.RawMessage{},
			want: `{"token":"T","ref":"main","variables":{}}`},
		{name: "sorted variables", token: "T", ref: "feature/x",
			variables: map[string]string{"Z": "26", "A": "1", "M_1": "", "M": "13"},
			want:      `{"token":"T","ref":"feature/x","variables":{"A":"1","M":"13","M_1":"","Z":"26"}}`},
		{name: "escaping", token: `to"k\en`, ref: "ré/f",
			variables: map[string]string{"Q": "say \"hi\"\n\ttab", "U": "é ✓ 😀", "C": "\x00\x1f"},
			want:      `{"token":"to\"k\\en","ref":"ré/f","variables":{"C":"\u0000\u001f","Q":"say \"hi\"\n\ttab","U":"é ✓ 😀"}}`},
		{name: "inputs sorted", token: "T", ref: "main",
			inputs: map[string]json.RawMessage{"b": json.RawMessage(`[1,2]`), "a": json.RawMessage(`"x"`)},
			want:   `{"token":"T","ref":"main","variables":{},"inputs":{"a":"x","b":[1,2]}}`},
		{name: "payload after", token: "T", ref: "main", variables: map[string]string{"A": "1"},
			payload: map[string]json.RawMessage{
				"object_kind": json.RawMessage(`"push"`),
				"commits":     json.RawMessage(`[{"id":"b656","added":["CHANGELOG"]}]`),
				"project":     json.RawMessage("{\n  \"id\": 15\n}"),
				"draft":       json.RawMessage(`null`),
			},
			want: "{\"token\":\"T\",\"ref\":\"main\",\"variables\":{\"A\":\"1\"}," +
				"\"commits\":[{\"id\":\"b656\",\"added\":[\"CHANGELOG\"]}],\"draft\":null," +
				"\"object_kind\":\"push\",\"project\":{\n  \"id\": 15\n}}"},
		{name: "payload key escaped", token: "T", ref: "main",
			payload: map[string]json.RawMessage{`we"ird`: json.RawMessage(`1`)},
			want:    `{"token":"T","ref":"main","variables":{},"we\"ird":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := triggerapi.CanonicalBody(tt.token, tt.ref, triggerapi.VariablesOf(tt.variables), tt.inputs, tt.payload)
			if string(got) != tt.want {
				t.Errorf("CanonicalBody() =\n%s\nwant\n%s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Fatalf("not valid JSON: %s", got)
			}
			// A JSON decoder reads back exactly what was given.
			var back struct {
				Token     string            `json:"token"`
				Ref       string            `json:"ref"`
				Variables map[string]string `json:"variables"`
			}
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatal(err)
			}
			if back.Token != tt.token || back.Ref != tt.ref {
				t.Errorf("decoded token, ref = %q, %q", back.Token, back.Ref)
			}
			if len(back.Variables) != len(tt.variables) || (len(tt.variables) > 0 && !reflect.DeepEqual(back.Variables, tt.variables)) {
				t.Errorf("decoded variables = %v, want %v", back.Variables, tt.variables)
			}
		})
	}
}

// TestCanonicalBodyStable checks that equal requests forward equal bytes
// whatever the maps' iteration order.
func TestCanonicalBodyStable(t *testing.T) {
	vars := map[string]string{}
	payload := map[string]json.RawMessage{}
	for _, k := range []string{"A", "B", "C", "D", "E", "F", "G", "H", "I", "J"} {
		vars[k] = k + k
		payload["p"+k] = json.RawMessage(`"` + k + `"`)
	}
	first := string(triggerapi.CanonicalBody("T", "main", triggerapi.VariablesOf(vars), nil, payload))
	for range 50 {
		if got := string(triggerapi.CanonicalBody("T", "main", triggerapi.VariablesOf(vars), nil, payload)); got != first {
			t.Fatalf("CanonicalBody() changed between calls:\n%s\n%s", first, got)
		}
	}
}

// TestParseThenCanonical follows a form request and its JSON twin to the
// upstream: whatever the caller's form, the upstream sees the same body.
func TestParseThenCanonical(t *testing.T) {
	ct, mp := multipartBody(t,
		mpField{name: "token", value: "T"}, mpField{name: "ref", value: "main"},
		mpField{name: "variables[B]", value: "2"}, mpField{name: "variables[A]", value: "1 1"})
	forms := []struct{ contentType, query, body string }{
		{"", "token=T&ref=main&variables[B]=2&variables[A]=1+1", ""},
		{ctForm, "", "variables[A]=1%201&token=T&variables[B]=2&ref=main"},
		{ct, "", mp},
		{ctJSON, "", `{"variables":{"B":"2","A":"1 1"},"ref":"main","token":"T"}`},
	}
	const want = `{"token":"T","ref":"main","variables":{"A":"1 1","B":"2"}}`
	for _, f := range forms {
		req, err := triggerapi.Parse(pipelineRoute, f.contentType, f.query, []byte(f.body))
		if err != nil {
			t.Fatalf("Parse(%q) error = %s", f.contentType, err.Body)
		}
		got := triggerapi.CanonicalBody(req.Token, req.Ref, req.Variables, req.Inputs, req.Payload)
		if string(got) != want {
			t.Errorf("%q: CanonicalBody() = %s, want %s", f.contentType, got, want)
		}
	}
}
