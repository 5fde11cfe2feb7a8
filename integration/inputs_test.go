package integration

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// Pipeline inputs reach the upstream in the canonical body as
// "inputs": {...} (contract §5), whatever form the caller used: form values
// as strings, JSON values with their types (string, number, boolean, array
// of strings, as GitLab takes them; anything else is refused). They get the
// max_variables and max_variable_size limits, counted apart from the
// variables.
func TestTriggerInputs(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{Gateway: `
		max_variables 2
		max_variable_size 64`})
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "inputs", Owner: "alice"})
	env, v := g.varValue(), g.varValue()
	const pipeline = "/api/v4/projects/9/trigger/pipeline"

	accepted := []struct {
		name       string
		body       reqBody
		wantVars   map[string]string
		wantInputs map[string]any
	}{
		{"urlencoded, two inputs and two variables",
			urlencoded("token", tr.Token, "ref", "main", "inputs[environment]", env, "inputs[replicas]", "3",
				"variables[A]", v, "variables[B]", v),
			map[string]string{"A": v, "B": v}, map[string]any{"environment": env, "replicas": "3"}},
		{"multipart",
			multipartForm("token", tr.Token, "ref", "main", "inputs[environment]", env),
			map[string]string{}, map[string]any{"environment": env}},
		{"JSON inputs keep their types",
			rawJSON(`{"token":"` + tr.Token + `","ref":"main","inputs":{"replicas":3,"regions":["eu","us"]},"variables":{"A":"` + v + `"}}`),
			map[string]string{"A": v}, map[string]any{"replicas": json.Number("3"), "regions": []any{"eu", "us"}}},
		{"JSON float and boolean inputs",
			rawJSON(`{"token":"` + tr.Token + `","ref":"main","inputs":{"ratio":-0.25e1,"debug":false}}`),
			map[string]string{}, map[string]any{"ratio": json.Number("-0.25e1"), "debug": false}},
		{"JSON string and empty array inputs",
			rawJSON(`{"token":"` + tr.Token + `","ref":"main","inputs":{"env":"` + env + `","regions":[]}}`),
			map[string]string{}, map[string]any{"env": env, "regions": []any{}}},
	}
	for _, tt := range accepted {
		t.Run(tt.name, func(t *testing.T) {
			resp := g.post(t, pipeline, tt.body)
			assertForwarded(t, resp, g.up.take(), forwarded{Project: "9", Token: tr.Token, Ref: "main",
				Variables: tt.wantVars, Payload: map[string]any{"inputs": tt.wantInputs}, Trigger: tr})
		})
	}

	refused := []struct {
		name string
		body reqBody
		want string
	}{
		{"three inputs, max_variables 2",
			urlencoded("token", tr.Token, "ref", "main", "inputs[a]", env, "inputs[b]", env, "inputs[c]", env),
			`{"message":"inputs: 3 given, at most 2 allowed"}`},
		{"an input over max_variable_size",
			jsonBody(map[string]any{"token": tr.Token, "ref": "main", "inputs": map[string]string{"environment": strings.Repeat(env, 4)}}),
			`{"message":"inputs: the value of environment is longer than 64 bytes"}`},
		{"an array of strings over max_variable_size",
			jsonBody(map[string]any{"token": tr.Token, "ref": "main", "inputs": map[string]any{"regions": []string{env, env, env}}}),
			`{"message":"inputs: the value of regions is longer than 64 bytes"}`},
	}
	// Types inputs do not take are refused naming the input, never its value.
	for name, value := range map[string]string{"null": `null`, "an object": `{"a":"` + env + `"}`,
		"a nested array": `[["` + env + `"]]`, "an array of numbers": `[1,2]`, "a mixed array": `["` + env + `",true]`} {
		refused = append(refused, struct {
			name string
			body reqBody
			want string
		}{"an input of " + name, rawJSON(`{"token":"` + tr.Token + `","ref":"main","inputs":{"ok":"x","bad":` + value + `}}`),
			`{"message":"inputs: the value of bad must be a string, a number, a boolean or an array of strings"}`})
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			resp := g.post(t, pipeline, tt.body)
			assertJSONAnswer(t, resp, http.StatusBadRequest, tt.want)
			assertNothingForwarded(t, g.up)
		})
	}
}
