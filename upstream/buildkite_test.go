package upstream

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// Requests and answers checked against buildkite.com/docs/apis/rest-api/
// builds#create-a-build (POST /v2/organizations/{org.slug}/pipelines/
// {pipeline.slug}/builds, Bearer token with write_builds; commit, branch,
// message, env, meta_data; 201 with the build's id, number, url, web_url).
func TestBuildkiteBuild(t *testing.T) {
	t.Setenv("BUILDKITE_TEST_TOKEN", "bkua_0123456789")
	header := http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"},
		"Authorization": {"Bearer bkua_0123456789"}}
	tests := []struct {
		name    string
		module  Buildkite
		trigger *Trigger
		want    *Request
	}{
		{
			name:    "trigger token",
			module:  Buildkite{Organization: "acme", Pipeline: "deploy", Token: "{env.BUILDKITE_TEST_TOKEN}"},
			trigger: tokenTrigger(),
			want: &Request{
				Method: http.MethodPost,
				Path:   "/v2/organizations/acme/pipelines/deploy/builds",
				Header: header,
				Secret: []string{"Authorization"},
				Body: []byte(`{"commit":"HEAD","branch":"feature/x","message":"triggered through the GitLab trigger API",` +
					`"env":{"DEPLOY":"yes","TRIGGER_ID":"42","TRIGGER_SOURCE":"trigger","TRIGGER_TOKEN_PREFIX":"glptt-01234567",` +
					`"ref":"ignored","replicas":"3"}}`),
			},
		},
		{
			name: "job token, payload as meta-data, slugs escaped",
			module: Buildkite{Organization: "acme;x", Pipeline: "deploy", Token: "{env.BUILDKITE_TEST_TOKEN}",
				Commit: "main", Message: "from GitLab", Facts: &Facts{SourceJob: "UPSTREAM_JOB"}},
			trigger: jobTrigger(),
			want: &Request{
				Method:  http.MethodPost,
				Path:    "/v2/organizations/acme;x/pipelines/deploy/builds",
				RawPath: "/v2/organizations/acme%3Bx/pipelines/deploy/builds",
				Header:  header,
				Secret:  []string{"Authorization"},
				Body: []byte(`{"commit":"main","branch":"main","message":"from GitLab","env":{"A":"1","UPSTREAM_JOB":"6789"},` +
					`"meta_data":{"after":"{\"id\":1}","object_kind":"push"}}`),
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

func TestBuildkiteRead(t *testing.T) {
	const page = "https://buildkite.com/acme/deploy/builds/42"
	tests := []struct {
		name    string
		status  int
		body    string
		want    Started
		refused int
	}{
		{"201 and the build", 201, `{"id":"f8d2a3c4-1b5e-4d6a-9c0d-2f1e8b3d4567","number":42,"state":"scheduled",` +
			`"url":"https://api.buildkite.com/v2/organizations/acme/pipelines/deploy/builds/42","web_url":"` + page + `"}`,
			Started{ID: int64p(42), WebURL: page}, 0},
		{"the UUID is not the id", 201, `{"id":"f8d2a3c4","web_url":"` + page + `"}`, Started{WebURL: page}, 0},
		{"number zero", 201, `{"number":0}`, Started{}, 0},
		{"not JSON", 201, `ok`, Started{}, 0},
		{"web_url not http", 201, `{"number":42,"web_url":"data:text/html,x"}`, Started{ID: int64p(42)}, 0},
		{"401", 401, `{"message":"Authentication required"}`, Started{}, 401},
		{"403 scope", 403, `{"message":"Forbidden"}`, Started{}, 403},
		{"404", 404, `{"message":"No pipeline found"}`, Started{}, 404},
		{"422", 422, `{"message":"Validation failed"}`, Started{}, 422},
		{"503", 503, ``, Started{}, 503},
	}
	m := &Buildkite{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := m.Read(&Answer{Status: tt.status, Body: []byte(tt.body)})
			checkStarted(t, got, err, tt.want, tt.refused)
		})
	}
}

func TestBuildkiteCaddyfile(t *testing.T) {
	var got Buildkite
	err := unmarshal(t, &got, `buildkite {
		organization acme
		pipeline deploy
		token {env.BUILDKITE_TOKEN}
		commit main
		message "from GitLab callers"
	}`)
	if err != nil {
		t.Fatal(err)
	}
	want := Buildkite{Organization: "acme", Pipeline: "deploy", Token: "{env.BUILDKITE_TOKEN}", Commit: "main", Message: "from GitLab callers"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if err := unmarshal(t, &Buildkite{}, "buildkite {\n org acme\n}"); err == nil {
		t.Error("an unknown subdirective parsed")
	}
}

func TestBuildkiteSettings(t *testing.T) {
	t.Setenv("BUILDKITE_TEST_EMPTY", "")
	tests := []struct {
		name   string
		module Buildkite
		want   string
	}{
		{"empty token", Buildkite{Organization: "a", Pipeline: "p", Token: "{env.BUILDKITE_TEST_EMPTY}"},
			"upstream buildkite: token: {env.BUILDKITE_TEST_EMPTY} resolved to an empty value"},
		{"no token", Buildkite{Organization: "a", Pipeline: "p"}, "token is required"},
		{"no organization", Buildkite{Pipeline: "p", Token: "t"}, "organization is required"},
		{"pipeline with a slash", Buildkite{Organization: "a", Pipeline: "p/q", Token: "t"}, "must not hold a '/'"},
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
