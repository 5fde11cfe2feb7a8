package upstream

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// Requests and answers checked against docs.github.com/en/rest/actions/
// workflows#create-a-workflow-dispatch-event (POST /repos/{owner}/{repo}/
// actions/workflows/{workflow_id}/dispatches; ref, inputs (at most 25),
// return_run_details; 200 {"workflow_run_id","run_url","html_url"} with
// return_run_details, 204 without) and the changelog of 2026-02-19
// (github.blog/changelog/2026-02-19-workflow-dispatch-api-now-returns-run-ids).
func TestGitHubActionsBuild(t *testing.T) {
	t.Setenv("GITHUB_TEST_TOKEN", "github_pat_11AAAAAAA0123456789")
	header := http.Header{
		"Content-Type":         {"application/json"},
		"Accept":               {"application/vnd.github+json"},
		"X-Github-Api-Version": {"2022-11-28"},
		"Authorization":        {"Bearer github_pat_11AAAAAAA0123456789"},
	}
	off := false
	defaults := DefaultFacts
	tests := []struct {
		name    string
		module  GitHubActions
		trigger *Trigger
		want    *Request
	}{
		{
			name:    "github.com, variables and inputs as string inputs",
			module:  GitHubActions{Repository: "acme/app", Workflow: "deploy.yml", Token: "{env.GITHUB_TEST_TOKEN}"},
			trigger: tokenTrigger(),
			want: &Request{
				Method: http.MethodPost,
				Path:   "/repos/acme/app/actions/workflows/deploy.yml/dispatches",
				Header: header,
				Secret: []string{"Authorization"},
				Body:   []byte(`{"ref":"feature/x","inputs":{"DEPLOY":"yes","ref":"ignored","replicas":"3"},"return_run_details":true}`),
			},
		},
		{
			name: "Gitea, names escaped, facts and payload opted in, no run details",
			module: GitHubActions{Repository: "acme/app;1", Workflow: "12345", Token: "{env.GITHUB_TEST_TOKEN}",
				APIPrefix: "/api/v1", ReturnRunDetails: &off, PayloadInput: "payload", Facts: &defaults},
			trigger: jobTrigger(),
			want: &Request{
				Method:  http.MethodPost,
				Path:    "/api/v1/repos/acme/app;1/actions/workflows/12345/dispatches",
				RawPath: "/api/v1/repos/acme/app%3B1/actions/workflows/12345/dispatches",
				Header:  header,
				Secret:  []string{"Authorization"},
				Body: []byte(`{"ref":"main","inputs":{"A":"1","TRIGGER_SOURCE":"pipeline","TRIGGER_SOURCE_JOB":"6789",` +
					`"TRIGGER_SOURCE_PIPELINE":"345","TRIGGER_SOURCE_PROJECT":"12","TRIGGER_SOURCE_PROJECT_PATH":"group/lib",` +
					`"payload":"{\"after\":{\"id\":1},\"object_kind\":\"push\"}"}}`),
			},
		},
		{
			// GitHub answers 422 "For 'additionalProperties', true is not a
			// string"; Gitea and Forgejo decode inputs as map[string]string.
			name:   "every GitLab input type as a string input",
			module: GitHubActions{Repository: "acme/app", Workflow: "deploy.yml", Token: "{env.GITHUB_TEST_TOKEN}"},
			trigger: &Trigger{Project: "9", Ref: "main", Source: "trigger", Token: callerToken, Inputs: map[string]json.RawMessage{
				"name": json.RawMessage(`"app \u00e9"`), "replicas": json.RawMessage(`3`), "ratio": json.RawMessage(`0.5`),
				"dry_run": json.RawMessage(`true`), "regions": json.RawMessage(`["eu","us"]`)}},
			want: &Request{
				Method: http.MethodPost,
				Path:   "/repos/acme/app/actions/workflows/deploy.yml/dispatches",
				Header: header,
				Secret: []string{"Authorization"},
				Body: []byte(`{"ref":"main","inputs":{"dry_run":"true","name":"app é","ratio":"0.5",` +
					`"regions":"[\"eu\",\"us\"]","replicas":"3"},"return_run_details":true}`),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := provisioned(t, &tt.module)
			before := *tt.trigger
			got, err := m.Build(tt.trigger)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			checkRequest(t, got, tt.want)
			checkNoCallerToken(t, got, tt.trigger.Token)
			if !reflect.DeepEqual(before, *tt.trigger) {
				t.Error("Build modified the trigger")
			}
		})
	}
}

// GitHub takes at most 25 inputs: more is refused with GitLab's 400 shape
// before anything is sent; facts and the payload count.
func TestGitHubActionsInputLimit(t *testing.T) {
	t.Setenv("GITHUB_TEST_TOKEN", "t")
	trigger := func(n int) *Trigger {
		vars := map[string]string{}
		for i := range n {
			vars[fmt.Sprintf("V%02d", i)] = "x"
		}
		return &Trigger{Ref: "main", Source: "trigger", TriggerID: 1, TokenPrefix: "glptt-0", Variables: triggerapi.VariablesOf(vars)}
	}
	plain := provisioned(t, &GitHubActions{Repository: "a/b", Workflow: "w.yml", Token: "{env.GITHUB_TEST_TOKEN}"})
	withFacts := provisioned(t, &GitHubActions{Repository: "a/b", Workflow: "w.yml", Token: "{env.GITHUB_TEST_TOKEN}",
		Facts: &Facts{Source: "SOURCE"}})
	tests := []struct {
		name string
		m    *GitHubActions
		n    int
		ok   bool
	}{
		{"25 variables", plain, 25, true},
		{"26 variables", plain, 26, false},
		{"24 variables and a fact", withFacts, 24, true},
		{"25 variables and a fact", withFacts, 25, false},
	}
	for _, tt := range tests {
		req, err := tt.m.Build(trigger(tt.n))
		if tt.ok {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if req != nil || err == nil || err.Status != http.StatusBadRequest || err.Reason != "too_many_inputs" {
			t.Errorf("%s: Build = %v, %+v; want a 400", tt.name, req, err)
			continue
		}
		var body map[string]string
		if json.Unmarshal(err.Body, &body) != nil || !strings.Contains(body["message"], "at most 25 inputs") {
			t.Errorf("%s: body %s", tt.name, err.Body)
		}
	}
	clash := trigger(1)
	clash.Inputs = map[string]json.RawMessage{"V00": json.RawMessage(`true`)}
	if req, err := plain.Build(clash); req != nil || err == nil || err.Status != http.StatusBadRequest {
		t.Errorf("a name both a variable and an input: Build = %v, %+v; want a 400", req, err)
	}
}

func TestGitHubActionsRead(t *testing.T) {
	const page = "https://github.com/acme/app/actions/runs/22"
	tests := []struct {
		name    string
		status  int
		body    string
		want    Started
		refused int
	}{
		{"200 with run details", 200, `{"workflow_run_id":22,"run_url":"https://api.github.com/repos/acme/app/actions/runs/22","html_url":"` + page + `"}`,
			Started{ID: int64p(22), WebURL: page}, 0},
		{"204 without", 204, ``, Started{}, 0},
		{"200 not JSON", 200, `<html>`, Started{}, 0},
		{"200 a JSON array", 200, `[22]`, Started{}, 0},
		{"id a string", 200, `{"workflow_run_id":"22","html_url":"` + page + `"}`, Started{WebURL: page}, 0},
		{"id a float", 200, `{"workflow_run_id":22.5}`, Started{}, 0},
		{"id negative", 200, `{"workflow_run_id":-22}`, Started{}, 0},
		{"id under another case", 200, `{"Workflow_Run_Id":22}`, Started{}, 0},
		{"run_url is not the page", 200, `{"workflow_run_id":22,"run_url":"https://api.github.com/x"}`, Started{ID: int64p(22)}, 0},
		{"user info never passed on", 200, `{"workflow_run_id":22,"html_url":"https://x:y@github.com/r"}`, Started{ID: int64p(22)}, 0},
		{"not http", 200, `{"workflow_run_id":22,"html_url":"javascript:alert(1)"}`, Started{ID: int64p(22)}, 0},
		{"longer than MaxAnswer", 200, `{"workflow_run_id":22,"x":"` + strings.Repeat("a", MaxAnswer) + `"}`, Started{}, 0},
		{"401 bad token", 401, `{"message":"Bad credentials"}`, Started{}, 401},
		{"404 no such workflow", 404, ``, Started{}, 404},
		{"422 undeclared input", 422, `{"message":"Unexpected inputs provided"}`, Started{}, 422},
		{"500", 500, ``, Started{}, 500},
	}
	m := &GitHubActions{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := m.Read(&Answer{Status: tt.status, Body: []byte(tt.body)})
			checkStarted(t, got, err, tt.want, tt.refused)
		})
	}
}

func TestGitHubActionsCaddyfile(t *testing.T) {
	var got GitHubActions
	err := unmarshal(t, &got, `github_actions {
		repository acme/app
		workflow deploy.yml
		token {env.GITHUB_TOKEN}
		api_prefix /api/v3
		return_run_details off
		payload_input payload
		facts
	}`)
	if err != nil {
		t.Fatal(err)
	}
	off, facts := false, DefaultFacts
	want := GitHubActions{Repository: "acme/app", Workflow: "deploy.yml", Token: "{env.GITHUB_TOKEN}", APIPrefix: "/api/v3",
		ReturnRunDetails: &off, PayloadInput: "payload", Facts: &facts}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	for _, bad := range []string{
		"github_actions {\n return_run_details maybe\n}",
		"github_actions {\n repository\n}",
		"github_actions {\n owner acme\n}",
	} {
		if err := unmarshal(t, &GitHubActions{}, bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestGitHubActionsSettings(t *testing.T) {
	t.Setenv("GITHUB_TEST_EMPTY", "")
	t.Setenv("GITHUB_TEST_SET", "s3cr3t")
	tests := []struct {
		name   string
		module GitHubActions
		want   string
	}{
		{"empty token", GitHubActions{Repository: "a/b", Workflow: "w", Token: "{env.GITHUB_TEST_EMPTY}"},
			"upstream github_actions: token: {env.GITHUB_TEST_EMPTY} resolved to an empty value"},
		{"no token", GitHubActions{Repository: "a/b", Workflow: "w"}, "token is required"},
		{"no repository", GitHubActions{Workflow: "w", Token: "{env.GITHUB_TEST_SET}"}, "repository is required"},
		{"repository without owner", GitHubActions{Repository: "app", Workflow: "w", Token: "{env.GITHUB_TEST_SET}"}, "must be owner/name"},
		{"repository of three parts", GitHubActions{Repository: "a/b/c", Workflow: "w", Token: "{env.GITHUB_TEST_SET}"}, "must be owner/name"},
		{"dot-dot repository", GitHubActions{Repository: "a/..", Workflow: "w", Token: "{env.GITHUB_TEST_SET}"}, `must not be ".."`},
		{"no workflow", GitHubActions{Repository: "a/b", Token: "{env.GITHUB_TEST_SET}"}, "workflow is required"},
		{"workflow with a slash", GitHubActions{Repository: "a/b", Workflow: ".github/workflows/w.yml", Token: "{env.GITHUB_TEST_SET}"}, "must not hold a '/'"},
		{"api_prefix without a slash", GitHubActions{Repository: "a/b", Workflow: "w", Token: "{env.GITHUB_TEST_SET}", APIPrefix: "api/v3"}, "must start with '/'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.module.Provision(caddyContext())
			if err == nil {
				err = tt.module.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}
