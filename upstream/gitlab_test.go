package upstream

import (
	"net/http"
	"testing"
)

// The gitlab module sends contract §5's canonical request (gitlabhq
// lib/api/ci/triggers.rb: POST /projects/:id/trigger/pipeline).
func TestGitLabBuild(t *testing.T) {
	m := &GitLab{}
	got, err := m.Build(tokenTrigger())
	if err != nil {
		t.Fatal(err)
	}
	checkRequest(t, got, &Request{
		Method: http.MethodPost,
		Path:   "/api/v4/projects/9/trigger/pipeline",
		Header: http.Header{"Content-Type": {"application/json"}, "X-Trigger-Source": {"trigger"},
			"X-Trigger-Id": {"42"}, "X-Trigger-Token-Prefix": {"glptt-01234567"}},
		Body: []byte(`{"token":"` + callerToken + `","ref":"feature/x","variables":{"DEPLOY":"yes","ref":"ignored"},"inputs":{"replicas":3}}`),
	})
	job, _ := m.Build(jobTrigger())
	if job.RawPath != "/projects/group%2Fapp/trigger/pipeline" || job.Header.Get("X-Trigger-Source-Job") != "6789" {
		t.Errorf("job token request: %q %v", job.RawPath, job.Header)
	}
	if err := unmarshal(t, &GitLab{}, "gitlab {\n token x\n}"); err == nil {
		t.Error("a setting parsed")
	}
	if err := unmarshal(t, &GitLab{}, "gitlab"); err != nil {
		t.Error(err)
	}
}

func TestGitLabRead(t *testing.T) {
	m := &GitLab{}
	got, err := m.Read(&Answer{Status: 201, Body: []byte(`{"id":4242,"web_url":"https://gitlab.example.com/g/p/-/pipelines/4242"}`)})
	checkStarted(t, got, err, Started{ID: int64p(4242), WebURL: "https://gitlab.example.com/g/p/-/pipelines/4242"}, 0)
	got, err = m.Read(&Answer{Status: 201, Body: []byte(`{}`)})
	checkStarted(t, got, err, Started{}, 0)
	got, err = m.Read(&Answer{Status: 404, Body: []byte(`{"message":"404 Not Found"}`)})
	checkStarted(t, got, err, Started{}, 404)
}
