package triggerapi_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// jsonModel decodes a JSON body with encoding/json into plain values and
// applies GitLab's rules: token and ref must be strings, variables a map
// of strings, inputs a map of strings, numbers, booleans or arrays of
// strings; null is absent; every other field is payload, and must not
// differ only in case from those four.
// ok is false when the body is not a JSON object.
func jsonModel(body []byte) (m model, ok bool) {
	if !json.Valid(body) {
		return m, false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // keeps numbers out of float64 range decodable, as raw JSON is
	var top map[string]any
	if dec.Decode(&top) != nil || top == nil {
		return m, false
	}
	scalar := func(v any) (scalarState, string) {
		switch s := v.(type) {
		case nil:
			return stateAbsent, ""
		case string:
			return stateString, s
		}
		return stateInvalid, ""
	}
	for name, v := range top {
		switch name {
		case "token":
			m.token, m.tokenVal = scalar(v)
		case "ref":
			m.ref, m.refVal = scalar(v)
		case "variables":
			if v == nil {
				continue
			}
			vars, isMap := v.(map[string]any)
			if !isMap {
				m.badVars = true
				continue
			}
			m.variables = map[string]string{}
			for k, value := range vars {
				s, isString := value.(string)
				if !isString {
					m.badVars = true
				}
				m.variables[k] = s
			}
			if len(vars) == 0 {
				m.variables = nil
			}
		case "inputs":
			if v == nil {
				continue
			}
			inputs, isMap := v.(map[string]any)
			if !isMap {
				m.badIns = true
				continue
			}
			for k, value := range inputs {
				if m.inputs == nil {
					m.inputs = map[string]json.RawMessage{}
				}
				m.inputs[k], _ = json.Marshal(value)
				if !typedInput(value) {
					m.badInputs = append(m.badInputs, k)
				}
			}
		default:
			m.noteField(name)
			m.payload = append(m.payload, name)
		}
	}
	return m, true
}

// FuzzParseJSON checks the JSON body form against encoding/json and the
// model; a body that is not a JSON object is refused as malformed.
func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{
		`{"token":"T","ref":"main","variables":{"A":"1","B":"two words"}}`,
		`{"token":"T","ref":"refs/heads/main","variables":null,"inputs":{"n":1,"s":"x","o":{"a":[1]}}}`,
		`{"token":"T","ref":"main","object_kind":"push","commits":[{"id":"x"}],"user":{"name":"a"}}`,
		`{"token":1,"ref":["main"]}`,
		`{"token":null,"ref":" "}`,
		`{"token":"T","ref":"main","variables":{"A":1}}`,
		`{"token":"T","ref":"main","variables":["A"],"inputs":"x"}`,
		`{"\u0074oken":"T","ref":"main","token":"U","variables":{"A":"1","A":"2"}}`,
		`{"token":"T","ref":"main","n":1e999}`,
		`{"token":"T","ref":"main","Ref":"production","Variables":{"CI_DEBUG_TRACE":"true"}}`,
		`{"token":"T","ref":"main","to\u212aen":"U","variable\u017fs":{},"INPUTS":null}`,
		`{"token":"T","ref":"main","variables":{"a":"1","A":"2","b":"3"},"inputs":{"X":1,"x":2}}`,
		`{"token":"T","ref":"main","inputs":{"i":1,"f":-2.5e3,"b":true,"s":"x","a":["x","y"],"e":[]}}`,
		`{"token":"T","ref":"main","inputs":{"n":null,"o":{},"m":[["x"]],"l":[1],"z":"ok"}}`,
		`[]`, `null`, `"token"`, `{"token":"T"`, "{\"token\":\"\xff\",\"ref\":\"m\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, perr := triggerapi.Parse(pipelineRoute, ctJSON, "", body)
		if len(body) == 0 {
			// No body: only the (empty) query string counts.
			(&model{}).check(t, got, perr)
			return
		}
		m, ok := jsonModel(body)
		if !ok {
			if perr == nil || string(perr.Body) != bodyBadBody {
				t.Fatalf("Parse(%q) = %+v, %v; want %s", body, got, perr, bodyBadBody)
			}
			return
		}
		m.check(t, got, perr)
	})
}
