package integration

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// policyVariables is the variable policy of the integration tests: the
// gateway's rules, and project 9's merged over them.
const policyVariables = `
	variables {
		deny SECRET_*
		protected DEPLOY_KEY
		set BUILD_BY gateway
		default LOG_LEVEL info
		rename ENV ENVIRONMENT
		pattern VERSION "v[0-9]+[.][0-9]+"
		max_count 4
		max_value_size 64
	}
	project 9 {
		variables {
			allow ENV VERSION APP_*
			set TARGET production
			default LOG_LEVEL debug
		}
	}`

// The variable policy against the real binary: every rule refuses with
// 400 naming the variable (never its value) and forwards nothing; accepted
// variables reach the upstream exactly as the rules rewrite them, whatever
// form the caller used.
func TestVariablePolicy(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{Gateway: policyVariables})
	alice := g.addTrigger(t, addOpts{Project: "9", Description: "project 9", Owner: "alice"})
	bob := g.addTrigger(t, addOpts{Project: "10", Description: "project 10", Owner: "bob"})
	const p9, p10 = "/api/v4/projects/9/trigger/pipeline", "/api/v4/projects/10/trigger/pipeline"
	jsonVars := func(tr triggerObj, vars map[string]string) reqBody {
		return jsonBody(map[string]any{"token": tr.Token, "ref": "main", "variables": vars})
	}

	t.Run("refusals", func(t *testing.T) {
		query := func(tr triggerObj, name, value string) string {
			return "?token=" + tr.Token + "&ref=main&" + url.QueryEscape("variables["+name+"]") + "=" + url.QueryEscape(value)
		}
		tests := []struct {
			name string
			// request builds the request around a fresh variable value v.
			request func(v string) (path string, body reqBody)
			// mention must all be in the answer's message; v never. v is
			// one of the values the log scan hunts, in the URL too: the
			// documented log filter redacts variables[...] there.
			mention []string
		}{
			{"CI_* by default, form", func(v string) (string, reqBody) {
				return p10, urlencoded("token", bob.Token, "ref", "main", "variables[CI_JOB_TOKEN]", v)
			}, []string{"CI_JOB_TOKEN", "CI_*"}},
			{"GITLAB_* by default, JSON", func(v string) (string, reqBody) {
				return p10, jsonVars(bob, map[string]string{"OK": "1", "GITLAB_USER_ID": v})
			}, []string{"GITLAB_USER_ID", "GITLAB_*"}},
			{"configured protected name, query string", func(v string) (string, reqBody) {
				return p10 + query(bob, "DEPLOY_KEY", v), reqBody{}
			}, []string{"DEPLOY_KEY"}},
			{"denied name, multipart", func(v string) (string, reqBody) {
				return p10, multipartForm("token", bob.Token, "ref", "main", "variables[SECRET_API]", v)
			}, []string{"SECRET_API", "SECRET_*"}},
			{"value outside the pattern", func(v string) (string, reqBody) {
				return p10, jsonVars(bob, map[string]string{"VERSION": v})
			}, []string{"VERSION"}},
			{"value matching the pattern only in part", func(v string) (string, reqBody) {
				return p10, jsonVars(bob, map[string]string{"VERSION": "v1.2-" + v})
			}, []string{"VERSION"}},
			{"too many variables", func(v string) (string, reqBody) {
				return p10, jsonVars(bob, map[string]string{"A": "1", "B": "2", "C": "3", "D": "4", "E": v})
			}, []string{"5 given", "at most 4"}},
			{"value too long", func(v string) (string, reqBody) {
				return p10, jsonVars(bob, map[string]string{"LONG": v + strings.Repeat("x", 60)})
			}, []string{"LONG", "64 bytes"}},
			{"a name and another renamed to it", func(v string) (string, reqBody) {
				return p10, jsonVars(bob, map[string]string{"ENV": v, "ENVIRONMENT": "x"})
			}, []string{"ENV", "ENVIRONMENT"}},
			{"project 9: name outside its allow list", func(v string) (string, reqBody) {
				return p9, jsonVars(alice, map[string]string{"OTHER": v})
			}, []string{"OTHER", "APP_*"}},
			{"project 9: the gateway's deny list", func(v string) (string, reqBody) {
				return p9, jsonVars(alice, map[string]string{"SECRET_APP": v})
			}, []string{"SECRET_APP", "SECRET_*"}},
			{"project 9: webhook with a variable in the query", func(v string) (string, reqBody) {
				return "/api/v4/projects/9/ref/main/trigger/pipeline" + query(alice, "CI_DEBUG_TRACE", v), rawJSON(`{"object_kind":"push"}`)
			}, []string{"CI_DEBUG_TRACE"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				value := g.varValue()
				path, body := tt.request(value)
				resp := g.post(t, path, body)
				assertNothingForwarded(t, g.up)
				if resp.Status != 400 {
					t.Fatalf("got %s, want 400", resp)
				}
				var answer map[string]string
				if err := json.Unmarshal(resp.Body, &answer); err != nil || len(answer) != 1 || answer["message"] == "" {
					t.Fatalf("answer %s is not GitLab's {\"message\": ...}", resp.Body)
				}
				for _, m := range tt.mention {
					if !strings.Contains(answer["message"], m) {
						t.Errorf("message %q does not say %q", answer["message"], m)
					}
				}
				if bytes.Contains(resp.Body, []byte(value)) {
					t.Errorf("the answer echoes the variable's value")
				}
			})
		}
	})

	t.Run("rewritten exactly", func(t *testing.T) {
		staging, web, mine := g.varValue(), g.varValue(), g.varValue()
		tests := []struct {
			name     string
			tr       triggerObj
			path     string
			body     reqBody
			payload  map[string]any
			wantVars map[string]string
		}{
			{"gateway rules: rename, pattern, default, set", bob, p10,
				jsonVars(bob, map[string]string{"ENV": staging, "VERSION": "v1.2"}), nil,
				map[string]string{"ENVIRONMENT": staging, "VERSION": "v1.2", "LOG_LEVEL": "info", "BUILD_BY": "gateway"}},
			{"set replaces the caller's value; default yields to the caller's", bob, p10,
				urlencoded("token", bob.Token, "ref", "main", "variables[BUILD_BY]", mine, "variables[LOG_LEVEL]", "warn"), nil,
				map[string]string{"BUILD_BY": "gateway", "LOG_LEVEL": "warn"}},
			{"no variables: the defaults and sets", bob, p10,
				multipartForm("token", bob.Token, "ref", "main"), nil,
				map[string]string{"LOG_LEVEL": "info", "BUILD_BY": "gateway"}},
			{"project 9 merged over the gateway", alice, p9,
				jsonVars(alice, map[string]string{"APP_NAME": web, "ENV": staging}), nil,
				map[string]string{"APP_NAME": web, "ENVIRONMENT": staging, "LOG_LEVEL": "debug", "BUILD_BY": "gateway", "TARGET": "production"}},
			{"project 9 webhook: payload kept, variables added", alice, "/api/v4/projects/9/ref/main/trigger/pipeline?token=" + alice.Token,
				rawJSON(pushEvent), payloadWithout(t, pushEvent, "ref"),
				map[string]string{"LOG_LEVEL": "debug", "BUILD_BY": "gateway", "TARGET": "production"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp := g.post(t, tt.path, tt.body)
				assertForwarded(t, resp, g.up.take(), forwarded{
					Project: tt.tr.Project, Token: tt.tr.Token, Ref: "main", Variables: tt.wantVars, Payload: tt.payload, Trigger: tt.tr,
				})
			})
		}
	})
}
