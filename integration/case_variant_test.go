package integration

import (
	"net/http"
	"testing"
)

// A field that differs only in case from token, ref, variables or inputs
// would reach the CI as a payload field that encoding/json (and CI servers
// built on it) reads as the ref or the variables, past the ref rules and
// the CI_* protection. It is refused with 400 naming the field, in every
// form, and nothing is forwarded; so are variable or input names that
// differ only in case.
func TestCaseVariantsRefused(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{Gateway: `
		refs main`})
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "case variants", Owner: "alice"})
	const pipeline = "/api/v4/projects/9/trigger/pipeline"
	variant := func(field, parameter string) string {
		return `{"message":"` + field + ` differs only in case from ` + parameter + `: parameter names are case-sensitive"}`
	}

	tests := []struct {
		name string
		path string
		body reqBody
		want string
	}{
		{"the issue's JSON: Ref and Variables", pipeline,
			rawJSON(`{"token":"` + tr.Token + `","ref":"main","Ref":"production","Variables":{"CI_DEBUG_TRACE":"true"}}`),
			variant("Ref", "ref")},
		{"JSON Variables", pipeline,
			rawJSON(`{"token":"` + tr.Token + `","ref":"main","Variables":{"CI_DEBUG_TRACE":"true"}}`),
			variant("Variables", "variables")},
		{"JSON TOKEN", pipeline, rawJSON(`{"token":"` + tr.Token + `","ref":"main","TOKEN":"x"}`), variant("TOKEN", "token")},
		{"JSON Inputs", pipeline, rawJSON(`{"token":"` + tr.Token + `","ref":"main","Inputs":{"a":"b"}}`), variant("Inputs", "inputs")},
		{"JSON Kelvin sign, as encoding/json folds it", pipeline,
			rawJSON(`{"token":"` + tr.Token + `","ref":"main","to\u212aen":"x"}`), variant(`\"to\\u212aen\"`, "token")},
		{"JSON on the webhook route", "/api/v4/projects/9/ref/main/trigger/pipeline?token=" + tr.Token,
			rawJSON(`{"object_kind":"push","Ref":"refs/heads/production"}`), variant("Ref", "ref")},
		{"form Ref", pipeline, urlencoded("token", tr.Token, "ref", "main", "Ref", "production"), variant("Ref", "ref")},
		{"form VARIABLES[X]", pipeline, urlencoded("token", tr.Token, "ref", "main", "VARIABLES[CI_DEBUG_TRACE]", "true"),
			variant("VARIABLES", "variables")},
		{"multipart Ref", pipeline, multipartForm("token", tr.Token, "ref", "main", "Ref", "production"), variant("Ref", "ref")},
		{"query Ref", pipeline + "?token=" + tr.Token + "&ref=main&Ref=production", reqBody{}, variant("Ref", "ref")},
		{"query VARIABLES[X]", pipeline + "?token=" + tr.Token + "&ref=main&VARIABLES[CI_DEBUG_TRACE]=true", reqBody{},
			variant("VARIABLES", "variables")},
		{"query variables[a] and variables[A]", pipeline + "?token=" + tr.Token + "&ref=main&variables[a]=1&variables[A]=2", reqBody{},
			`{"message":"variables: A and a differ only in case"}`},
		{"JSON variables ci_debug_trace and CI_DEBUG_TRACE", pipeline,
			rawJSON(`{"token":"` + tr.Token + `","ref":"main","variables":{"ci_debug_trace":"1","CI_DEBUG_TRACE":"2"}}`),
			`{"message":"variables: CI_DEBUG_TRACE and ci_debug_trace differ only in case"}`},
		{"form inputs env and ENV", pipeline, urlencoded("token", tr.Token, "ref", "main", "inputs[env]", "a", "inputs[ENV]", "b"),
			`{"message":"inputs: ENV and env differ only in case"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := g.post(t, tt.path, tt.body)
			assertJSONAnswer(t, resp, http.StatusBadRequest, tt.want)
			assertNothingForwarded(t, g.up)
		})
	}

	t.Run("control: the exact names are accepted", func(t *testing.T) {
		v := g.varValue()
		resp := g.post(t, pipeline, rawJSON(`{"token":"`+tr.Token+`","ref":"main","variables":{"DEPLOY":"`+v+`"},"refs":"x"}`))
		assertForwarded(t, resp, g.up.take(), forwarded{Project: "9", Token: tr.Token, Ref: "main",
			Variables: map[string]string{"DEPLOY": v}, Payload: map[string]any{"refs": "x"}, Trigger: tr})
	})
}
