package upstream

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// Requests and answers checked against woodpecker server/api/pipeline.go
// (CreatePipeline: POST /api/repos/{repo_id}/pipelines, Bearer personal
// access token, body PipelineOptions {branch, variables}; 200 with the
// pipeline, 204 when none was created) and web/src/router.ts (the page
// /repos/:repoId/pipeline/:pipelineId).
func TestWoodpeckerBuild(t *testing.T) {
	t.Setenv("WOODPECKER_TEST_TOKEN", "wp-token-0123")
	header := http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"},
		"Authorization": {"Bearer wp-token-0123"}}
	tests := []struct {
		name    string
		module  Woodpecker
		trigger *Trigger
		want    *Request
	}{
		{
			name:    "trigger token",
			module:  Woodpecker{RepositoryID: 7, Token: "{env.WOODPECKER_TEST_TOKEN}"},
			trigger: tokenTrigger(),
			want: &Request{
				Method: http.MethodPost,
				Path:   "/api/repos/7/pipelines",
				Header: header,
				Secret: []string{"Authorization"},
				Body: []byte(`{"branch":"feature/x","variables":{"DEPLOY":"yes","TRIGGER_ID":"42","TRIGGER_SOURCE":"trigger",` +
					`"TRIGGER_TOKEN_PREFIX":"glptt-01234567","ref":"ignored","replicas":"3"}}`),
			},
		},
		{
			name:    "job token and payload",
			module:  Woodpecker{RepositoryID: 7, Token: "{env.WOODPECKER_TEST_TOKEN}", Facts: &Facts{}},
			trigger: jobTrigger(),
			want: &Request{
				Method: http.MethodPost,
				Path:   "/api/repos/7/pipelines",
				Header: header,
				Secret: []string{"Authorization"},
				Body:   []byte(`{"branch":"main","variables":{"A":"1","TRIGGER_PAYLOAD":"{\"after\":{\"id\":1},\"object_kind\":\"push\"}"}}`),
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

func TestWoodpeckerRead(t *testing.T) {
	withPage := provisioned(t, &Woodpecker{RepositoryID: 7, Token: "t", WebURL: "https://ci.example.com"})
	withoutPage := provisioned(t, &Woodpecker{RepositoryID: 7, Token: "t"})
	tests := []struct {
		name    string
		m       *Woodpecker
		status  int
		body    string
		want    Started
		refused int
	}{
		{"200 and the pipeline", withPage, 200, `{"id":1234,"number":56,"status":"pending","branch":"main"}`,
			Started{ID: int64p(56), WebURL: "https://ci.example.com/repos/7/pipeline/56"}, 0},
		{"no web_url configured", withoutPage, 200, `{"id":1234,"number":56}`, Started{ID: int64p(56)}, 0},
		{"the database id is not the number", withPage, 200, `{"id":1234}`, Started{}, 0},
		{"204 no pipeline", withPage, 204, ``, Started{}, 0},
		{"not JSON", withPage, 200, `{`, Started{}, 0},
		{"400 bad options", withPage, 400, ``, Started{}, 400},
		{"401", withPage, 401, ``, Started{}, 401},
		{"404 no repository", withPage, 404, ``, Started{}, 404},
		{"500 no branch head", withPage, 500, `could not fetch branch head`, Started{}, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.m.Read(&Answer{Status: tt.status, Body: []byte(tt.body)})
			checkStarted(t, got, err, tt.want, tt.refused)
		})
	}
}

func TestWoodpeckerCaddyfile(t *testing.T) {
	var got Woodpecker
	err := unmarshal(t, &got, `woodpecker {
		repository_id 7
		token {env.WOODPECKER_TOKEN}
		web_url https://ci.example.com
		payload_variable off
	}`)
	if err != nil {
		t.Fatal(err)
	}
	empty := ""
	want := Woodpecker{RepositoryID: 7, Token: "{env.WOODPECKER_TOKEN}", WebURL: "https://ci.example.com", PayloadVariable: &empty}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	for _, bad := range []string{"woodpecker {\n repository_id acme/app\n}", "woodpecker {\n repository_id 0\n}", "woodpecker {\n repo 7\n}"} {
		if err := unmarshal(t, &Woodpecker{}, bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestWoodpeckerSettings(t *testing.T) {
	t.Setenv("WOODPECKER_TEST_EMPTY", "")
	tests := []struct {
		name   string
		module Woodpecker
		want   string
	}{
		{"empty token", Woodpecker{RepositoryID: 7, Token: "{env.WOODPECKER_TEST_EMPTY}"},
			"upstream woodpecker: token: {env.WOODPECKER_TEST_EMPTY} resolved to an empty value"},
		{"no token", Woodpecker{RepositoryID: 7}, "token is required"},
		{"no repository", Woodpecker{Token: "t"}, "repository_id is required"},
		{"web_url with a query", Woodpecker{RepositoryID: 7, Token: "t", WebURL: "https://ci.example.com/?x"}, "web_url must be"},
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
		})
	}
}
