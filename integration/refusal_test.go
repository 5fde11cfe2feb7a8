package integration

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

const (
	tokenMissing = `{"error":"token is missing"}`
	refMissing   = `{"error":"ref is missing"}`
	notFound     = `{"message":"404 Not Found"}`
	badVariables = `{"message":"variables needs to be a map of key-valued strings"}`
)

// Every refusal answers in GitLab's shape and forwards nothing.
func TestRefusals(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{Gateway: `
		legacy_triggers deny
		max_body 1KiB`})
	alice := g.addTrigger(t, addOpts{Project: "9", Description: "deploys", Owner: "alice"})
	bob := g.addTrigger(t, addOpts{Project: "10", Description: "project 10", Owner: "bob"})
	legacy := g.addTrigger(t, addOpts{Project: "9", Description: "pre-9.0 trigger"})
	if !legacy.Legacy || alice.Legacy {
		t.Errorf("legacy flags: created without owner %v, with owner %v; want true, false", legacy.Legacy, alice.Legacy)
	}
	unknown := g.glpttToken()
	ciValue, gitlabValue, padding := g.varValue(), g.varValue(), g.varValue()+strings.Repeat("x", 2048)

	const pipeline = "/api/v4/projects/9/trigger/pipeline"
	// A push event small enough for max_body 1KiB.
	const smallPush = `{"object_kind":"push","ref":"refs/heads/main","checkout_sha":"da1560886d4f094c3e6c9ef40349f7d38b5d27d7","total_commits_count":1}`
	tests := []struct {
		name    string
		path    string
		body    reqBody
		headers []string
		chunked bool // send the body without a Content-Length
		status  int
		// wantBody is the exact JSON answer; empty to check the status only.
		wantBody string
		// wantMessage asks for a JSON answer with a non-empty "message".
		wantMessage bool
		// mention must be in the answer, hidden must not.
		mention, hidden string
	}{
		{name: "no token, form", path: pipeline, body: urlencoded("ref", "main"), status: 400, wantBody: tokenMissing},
		{name: "no token, JSON", path: pipeline, body: jsonBody(map[string]string{"ref": "main"}), status: 400, wantBody: tokenMissing},
		{name: "no token, webhook", path: "/api/v4/projects/9/ref/main/trigger/pipeline", body: rawJSON(smallPush), status: 400, wantBody: tokenMissing},
		{name: "no ref, form", path: pipeline, body: urlencoded("token", alice.Token), status: 400, wantBody: refMissing},
		{name: "no ref, multipart", path: pipeline, body: multipartForm("token", alice.Token), status: 400, wantBody: refMissing},
		{name: "no ref, query", path: pipeline + "?token=" + alice.Token, status: 400, wantBody: refMissing},

		{name: "unknown token", path: pipeline, body: urlencoded("token", unknown, "ref", "main"), status: 404, wantBody: notFound},
		{name: "another project's token", path: pipeline, body: urlencoded("token", bob.Token, "ref", "main"), status: 404, wantBody: notFound},
		{name: "legacy trigger denied", path: pipeline, body: urlencoded("token", legacy.Token, "ref", "main"), status: 404, wantBody: notFound},

		{name: "full commit SHA", path: pipeline, body: urlencoded("token", alice.Token, "ref", "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"), status: 400, wantMessage: true},
		{name: "short SHA, 7 hex", path: pipeline, body: urlencoded("token", alice.Token, "ref", "da15608"), status: 400, wantMessage: true},
		{name: "short SHA, 8 hex", path: pipeline, body: jsonBody(map[string]string{"token": alice.Token, "ref": "da156088"}), status: 400, wantMessage: true},
		{name: "short SHA unqualified", path: pipeline, body: urlencoded("token", alice.Token, "ref", "deadbeefcafe"), status: 400, wantMessage: true},
		{name: "full SHA as a tag: git reads it as the commit", path: pipeline, body: urlencoded("token", alice.Token, "ref", "refs/tags/da1560886d4f094c3e6c9ef40349f7d38b5d27d7"), status: 400, wantMessage: true},
		{name: "SHA in the webhook URL", path: "/api/v4/projects/9/ref/da1560886d4f094c3e6c9ef40349f7d38b5d27d7/trigger/pipeline?token=" + alice.Token, body: rawJSON(smallPush), status: 400, wantMessage: true},

		{name: "variables: number value", path: pipeline, body: rawJSON(`{"token":"` + alice.Token + `","ref":"main","variables":{"A":1}}`), status: 400, wantBody: badVariables},
		{name: "variables: nested object", path: pipeline, body: rawJSON(`{"token":"` + alice.Token + `","ref":"main","variables":{"A":{"B":"c"}}}`), status: 400, wantBody: badVariables},
		{name: "variables: array", path: pipeline, body: rawJSON(`{"token":"` + alice.Token + `","ref":"main","variables":["A"]}`), status: 400, wantBody: badVariables},
		{name: "variables: string", path: pipeline, body: rawJSON(`{"token":"` + alice.Token + `","ref":"main","variables":"A=b"}`), status: 400, wantBody: badVariables},
		{name: "variables=x, form", path: pipeline, body: urlencoded("token", alice.Token, "ref", "main", "variables", "x"), status: 400, wantBody: badVariables},
		{name: "variables=x, multipart", path: pipeline, body: multipartForm("token", alice.Token, "ref", "main", "variables", "x"), status: 400, wantBody: badVariables},

		{name: "pipeline event loop", path: pipeline, body: urlencoded("token", alice.Token, "ref", "main"), headers: []string{"X-Gitlab-Event", "Pipeline Hook"}, status: 403, wantBody: `{"message":"403 Forbidden"}`},
		{name: "pipeline event to the webhook URL", path: "/api/v4/projects/9/ref/main/trigger/pipeline?token=" + alice.Token, body: rawJSON(`{"object_kind":"pipeline"}`), headers: []string{"X-Gitlab-Event", "Pipeline Hook"}, status: 403, wantBody: `{"message":"403 Forbidden"}`},

		{name: "body over max_body", path: pipeline, body: jsonBody(map[string]any{"token": alice.Token, "ref": "main", "variables": map[string]string{"PAD": padding}}), status: 413},
		{name: "chunked body over max_body", path: pipeline, body: jsonBody(map[string]any{"token": alice.Token, "ref": "main", "variables": map[string]string{"PAD": padding}}), chunked: true, status: 413},

		{name: "CI_ variable, form", path: pipeline, body: urlencoded("token", alice.Token, "ref", "main", "variables[CI_FOO]", ciValue), status: 400, mention: "CI_FOO", hidden: ciValue},
		{name: "GITLAB_ variable, JSON", path: pipeline, body: jsonBody(map[string]any{"token": alice.Token, "ref": "main", "variables": map[string]string{"OK": "fine", "GITLAB_X": gitlabValue}}), status: 400, mention: "GITLAB_X", hidden: gitlabValue},

		{name: "not a trigger route", path: "/api/v4/projects/9/pipeline?ref=main", body: urlencoded("token", alice.Token), status: 404},
		{name: "not the API at all", path: "/index.html", status: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp response
			if tt.chunked {
				resp = g.postChunked(t, tt.path, tt.body, tt.headers...)
			} else {
				resp = g.post(t, tt.path, tt.body, tt.headers...)
			}
			switch {
			case tt.wantBody != "":
				assertJSONAnswer(t, resp, tt.status, tt.wantBody)
			case resp.Status != tt.status:
				t.Errorf("status = %d, want %d (body %s)", resp.Status, tt.status, bytes.TrimSpace(resp.Body))
			}
			if tt.wantMessage {
				var m map[string]any
				if err := json.Unmarshal(resp.Body, &m); err != nil || m["message"] == nil || m["message"] == "" {
					t.Errorf("answer %q has no JSON \"message\"", resp.Body)
				}
			}
			if tt.mention != "" && !bytes.Contains(resp.Body, []byte(tt.mention)) {
				t.Errorf("answer %q does not name the variable %s", resp.Body, tt.mention)
			}
			if tt.hidden != "" && bytes.Contains(resp.Body, []byte(tt.hidden)) {
				t.Errorf("answer echoes the variable's value")
			}
			assertNothingForwarded(t, g.up)
		})
	}

	// The limits refuse only what they should: the same requests, within
	// bounds, are accepted.
	t.Run("control: body under max_body with ordinary variables", func(t *testing.T) {
		v := g.varValue() + strings.Repeat("y", 500)
		resp := g.post(t, pipeline, jsonBody(map[string]any{"token": alice.Token, "ref": "main", "variables": map[string]string{"PAD": v, "MY_CI_FOO": "x"}}))
		assertForwarded(t, resp, g.up.take(), forwarded{
			Project: "9", Token: alice.Token, Ref: "main", Variables: map[string]string{"PAD": v, "MY_CI_FOO": "x"}, Trigger: alice,
		})
	})
	t.Run("control: other project's token on its own project", func(t *testing.T) {
		resp := g.post(t, "/api/v4/projects/10/trigger/pipeline", urlencoded("token", bob.Token, "ref", "main"))
		assertForwarded(t, resp, g.up.take(), forwarded{
			Project: "10", Token: bob.Token, Ref: "main", Variables: map[string]string{}, Trigger: bob,
		})
	})
}

// postChunked sends a POST whose body has no declared length.
func (g *gateway) postChunked(t *testing.T, path string, body reqBody, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, g.base()+path, io.NopCloser(bytes.NewReader(body.Data)))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1
	req.Header.Set("Content-Type", body.ContentType)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return g.do(t, req)
}
