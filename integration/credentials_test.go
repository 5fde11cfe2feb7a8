package integration

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// send sends a request to the gateway with header as given: repeated names
// stay repeated, in order.
func (g *gateway) send(t *testing.T, method, path string, body reqBody, header http.Header) response {
	t.Helper()
	req, err := http.NewRequest(method, g.base()+path, bytes.NewReader(body.Data))
	if err != nil {
		t.Fatal(err)
	}
	if body.ContentType != "" {
		req.Header.Set("Content-Type", body.ContentType)
	}
	for name, values := range header {
		for _, v := range values {
			req.Header.Add(name, v)
		}
	}
	return g.do(t, req)
}

// pairs builds a header from name, value pairs, keeping repeated names.
func pairs(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// A request carrying two different credentials of one kind is refused with
// 400 on every route, and nothing reaches the CI server: before, a
// management token second after "Authorization: Bearer x" was forwarded
// with it. The same credential given twice is one credential, and a
// management token never reaches the CI server, in any position.
func TestConflictingCredentialsRefused(t *testing.T) {
	t.Parallel()
	mgmt := "mgmt-" + randomHex(20)
	g := newGateway(t, config{
		Gateway: "management_token ops {env.CONFLICT_MGMT_TOKEN}",
		Env:     map[string]string{"CONFLICT_MGMT_TOKEN": mgmt},
	})
	g.secrets.addToken(mgmt)
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "conflicts", Owner: "alice"})
	const pipeline = "/api/v4/projects/9/trigger/pipeline"
	trigger := urlencoded("token", tr.Token, "ref", "main")
	const refused = `{"message":"400 Bad request - a credential header is given more than once with different values"}`

	tests := []struct {
		name         string
		method, path string
		body         reqBody
		header       http.Header
	}{
		{"trigger: Authorization twice, the management token second", "POST", pipeline, trigger,
			pairs("Authorization", "Bearer x", "Authorization", "Bearer "+mgmt)},
		{"trigger: Authorization twice, the management token first", "POST", pipeline, trigger,
			pairs("Authorization", "Bearer "+mgmt, "Authorization", "Bearer x")},
		{"trigger: two PRIVATE-TOKEN values", "POST", pipeline, trigger,
			pairs("PRIVATE-TOKEN", "glpat-"+randomHex(10), "PRIVATE-TOKEN", mgmt)},
		{"trigger: two JOB-TOKEN values", "POST", pipeline, trigger, pairs("JOB-TOKEN", "a", "JOB-TOKEN", "b")},
		{"webhook: two X-Gitlab-Token values", "POST", "/api/v4/projects/9/ref/main/trigger/pipeline?token=" + tr.Token, rawJSON(pushEvent),
			pairs("X-Gitlab-Event", "Push Hook", "X-Gitlab-Token", "a", "X-Gitlab-Token", "b")},
		{"artifacts: two JOB-TOKEN values", "GET", "/api/v4/projects/9/jobs/artifacts/main/download?job=build", reqBody{},
			pairs("JOB-TOKEN", "a", "JOB-TOKEN", "b")},
		{"management API: Authorization twice", "GET", "/api/v4/projects/9/triggers", reqBody{},
			pairs("Authorization", "Bearer x", "Authorization", "Bearer "+mgmt)},
		{"management API: PRIVATE-TOKEN and another bearer", "GET", "/api/v4/projects/9/triggers", reqBody{},
			pairs("PRIVATE-TOKEN", mgmt, "Authorization", "Bearer x")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := g.send(t, tt.method, tt.path, tt.body, tt.header)
			assertJSONAnswer(t, resp, 400, refused)
			assertNothingForwarded(t, g.up)
		})
	}

	t.Run("the management token twice: forwarded without it", func(t *testing.T) {
		resp := g.send(t, "POST", pipeline, trigger, pairs("Authorization", "Bearer "+mgmt, "Authorization", "Bearer "+mgmt))
		ups := g.up.take()
		assertForwarded(t, resp, ups, forwarded{Project: "9", Token: tr.Token, Ref: "main", Variables: map[string]string{}, Trigger: tr})
		for _, up := range ups {
			if got := up.Header.Values("Authorization"); len(got) != 0 {
				t.Errorf("the CI server received Authorization (%d values): the management token is the gateway's", len(got))
			}
		}
	})
	t.Run("the CI server's own Authorization passes", func(t *testing.T) {
		resp := g.send(t, "POST", pipeline, trigger, pairs("Authorization", "Basic Y2k6Y2k="))
		ups := g.up.take()
		assertForwarded(t, resp, ups, forwarded{Project: "9", Token: tr.Token, Ref: "main", Variables: map[string]string{}, Trigger: tr})
		for _, up := range ups {
			if got := strings.Join(up.Header.Values("Authorization"), ","); got != "Basic Y2k6Y2k=" {
				t.Errorf("the CI server received Authorization %q, want the caller's Basic credential", got)
			}
		}
	})
}
