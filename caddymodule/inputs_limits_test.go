package caddymodule

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// Pipeline inputs get the max_variables and max_variable_size limits,
// counted apart from the variables: over them, 400 in GitLab's shape
// naming the limit, never the value, and nothing forwarded.
func TestServeHTTPInputLimits(t *testing.T) {
	h := provisionHandler(t, &Handler{MaxVariables: 2, MaxVariableSize: 16}, "")
	logs := watchLogs(h)
	_, token := createToken(t, h, "9", "alice")
	const pipeline = "/api/v4/projects/9/trigger/pipeline"
	long := strings.Repeat("x", 17-len(policyHiddenValue)) + policyHiddenValue // 17 bytes
	body := func(inputs map[string]any, vars map[string]string) string {
		return mustJSON(t, map[string]any{"token": token, "ref": "main", "inputs": inputs, "variables": vars})
	}
	form := func(kv ...string) string {
		v := url.Values{"token": {token}, "ref": {"main"}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	two := map[string]string{"A": "1", "B": "2"}
	runPolicyCases(t, h, logs, []policyCase{
		{name: "inputs and variables, each at the count limit", target: pipeline, contentType: "application/json",
			body:     body(map[string]any{"environment": "staging", "replicas": 3}, two),
			wantVars: two, wantExtra: map[string]any{"inputs": map[string]any{"environment": "staging", "replicas": 3}}},
		{name: "a string input at the size limit", target: pipeline, contentType: "application/x-www-form-urlencoded",
			body:      form("inputs[environment]", long[1:]),
			wantExtra: map[string]any{"inputs": map[string]any{"environment": long[1:]}}},
		{name: "JSON inputs over the count limit", target: pipeline, contentType: "application/json",
			body:       body(map[string]any{"a": 1, "b": 2, "c": 3}, nil),
			wantStatus: 400, wantOutcome: "too_many_inputs", wantMessage: []string{"inputs: 3 given, at most 2 allowed"}},
		{name: "form inputs over the count limit", target: pipeline, contentType: "application/x-www-form-urlencoded",
			body:       form("inputs[a]", "1", "inputs[b]", "2", "inputs[c]", "3"),
			wantStatus: 400, wantOutcome: "too_many_inputs", wantMessage: []string{"at most 2 allowed"}},
		{name: "a string input over the size limit", target: pipeline, contentType: "application/x-www-form-urlencoded",
			body:       form("inputs[environment]", long),
			wantStatus: 400, wantOutcome: "input_too_large", wantMessage: []string{"the value of environment is longer than 16 bytes"}},
		{name: "a JSON input over the size limit", target: pipeline, contentType: "application/json",
			body:       body(map[string]any{"list": []string{policyHiddenValue, "y"}}, nil),
			wantStatus: 400, wantOutcome: "input_too_large", wantMessage: []string{"the value of list is longer than 16 bytes"},
			wantDetail: "inputs: the value of list"},
	})

	// The answer is GitLab's {"message": ...} and nothing else.
	r := httptest.NewRequest(http.MethodPost, pipeline, strings.NewReader(body(map[string]any{"a": 1, "b": 2, "c": 3}, nil)))
	r.Header.Set("Content-Type", "application/json")
	next := new(recorder)
	w, _, err := serve(h, r, next)
	if err != nil {
		t.Fatal(err)
	}
	var answer map[string]string
	if json.Unmarshal(w.Body.Bytes(), &answer) != nil || len(answer) != 1 || answer["message"] != "inputs: 3 given, at most 2 allowed" {
		t.Errorf("answer %s, want {\"message\":\"inputs: 3 given, at most 2 allowed\"}", w.Body)
	}
}
