package triggerapi_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// benchToken has the shape of a real trigger token.
const benchToken = "glptt-0123456789abcdef0123456789abcdef01234567"

func benchParse(b *testing.B, contentType, query string, body []byte) {
	b.Helper()
	b.ReportAllocs()
	b.SetBytes(int64(len(query) + len(body)))
	for b.Loop() {
		req, err := triggerapi.Parse(pipelineRoute, contentType, query, body)
		if err != nil || len(req.Variables) != 5 {
			b.Fatalf("Parse() = %+v, %v", req, err)
		}
	}
}

func BenchmarkParseForm(b *testing.B) {
	body := []byte("token=" + benchToken + "&ref=main&variables[DEPLOY_ENV]=production" +
		"&variables[VERSION]=1.2.3&variables[NOTIFY]=true&variables[REGION]=eu-west-1&variables[MESSAGE]=hello+world")
	benchParse(b, ctForm, "", body)
}

func BenchmarkParseJSON(b *testing.B) {
	body := []byte(`{"token":"` + benchToken + `","ref":"main","variables":{"DEPLOY_ENV":"production",` +
		`"VERSION":"1.2.3","NOTIFY":"true","REGION":"eu-west-1","MESSAGE":"hello world"}}`)
	benchParse(b, ctJSON, "", body)
}

func BenchmarkParseMultipart(b *testing.B) {
	ct, body := multipartBody(b,
		mpField{name: "token", value: benchToken}, mpField{name: "ref", value: "main"},
		mpField{name: "variables[DEPLOY_ENV]", value: "production"}, mpField{name: "variables[VERSION]", value: "1.2.3"},
		mpField{name: "variables[NOTIFY]", value: "true"}, mpField{name: "variables[REGION]", value: "eu-west-1"},
		mpField{name: "variables[MESSAGE]", value: "hello world"})
	benchParse(b, ct, "", []byte(body))
}

func BenchmarkParseRoute(b *testing.B) {
	paths := []string{
		"/api/v4/projects/9/trigger/pipeline",
		"/api/v4/projects/group%2Fproject/ref/feature%2Fx/trigger/pipeline",
		"/api/v4/projects/9/jobs/artifacts/main/download",
		"/api/v4/users/1/projects", // not a trigger route
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range paths {
			triggerapi.ParseRoute(triggerapi.DefaultPathPrefix, p)
		}
	}
}

func BenchmarkCanonicalBody(b *testing.B) {
	vars := triggerapi.VariablesOf(map[string]string{"DEPLOY_ENV": "production", "VERSION": "1.2.3", "NOTIFY": "true",
		"REGION": "eu-west-1", "MESSAGE": "hello world"})
	payload := map[string]json.RawMessage{"object_kind": json.RawMessage(`"push"`),
		"after": json.RawMessage(`"da1560886d4f094c3e6c9ef40349f7d38b5d27d7"`)}
	b.ReportAllocs()
	for b.Loop() {
		if body := triggerapi.CanonicalBody(benchToken, "main", vars, nil, payload); len(body) == 0 {
			b.Fatal("empty body")
		}
	}
}

// pushEventBody is a GitLab push event of about 20 KB (20 commits), the
// load script's webhook body (integration/bench/wrk/webhook.lua).
func pushEventBody() []byte {
	var commits []string
	for i := 1; i <= 20; i++ {
		commits = append(commits, fmt.Sprintf(`{"id":"%040x","message":"Commit %d: %s","timestamp":"2026-12-01T10:00:00+00:00",`+
			`"url":"https://gitlab.example.com/group/project/-/commit/%040x",`+
			`"author":{"name":"Jane Doe","email":"jane@example.com"},`+
			`"added":["docs/page-%d.md"],"modified":["src/main.go","src/handler.go","README.md"],"removed":[]}`,
			i, i, strings.Repeat("a change that explains itself. ", 22), i, i))
	}
	return []byte(`{"object_kind":"push","event_name":"push","before":"` + strings.Repeat("0", 40) +
		`","after":"` + strings.Repeat("1", 40) + `","ref":"refs/heads/main","checkout_sha":"` + strings.Repeat("1", 40) +
		`","user_id":4,"user_name":"Jane Doe","user_username":"jane","project_id":15,` +
		`"project":{"id":15,"name":"project","path_with_namespace":"group/project","default_branch":"main"},` +
		`"commits":[` + strings.Join(commits, ",") + `],"total_commits_count":20,` +
		`"repository":{"name":"project","url":"git@gitlab.example.com:group/project.git"}}`)
}

func BenchmarkParseWebhook(b *testing.B) {
	route, ok := triggerapi.ParseRoute(triggerapi.DefaultPathPrefix, "/api/v4/projects/9/ref/main/trigger/pipeline")
	if !ok {
		b.Fatal("not a webhook route")
	}
	body := pushEventBody()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		req, err := triggerapi.Parse(route, ctJSON, "token="+benchToken, body)
		if err != nil || len(req.Payload) == 0 {
			b.Fatalf("Parse() = %+v, %v", req, err)
		}
	}
}
