package upstream

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// Requests checked against Jenkins' "Remote access API" page
// (wiki.jenkins.io/display/JENKINS/Remote+access+API, "Submitting jobs":
// POST JENKINS_URL/job/JOB_NAME/buildWithParameters, parameters as form
// data, --user USER:TOKEN) and answers against JENKINS-23235 (201 with
// Location: <jenkins>/queue/item/<N>/; 302 before Jenkins 1.519).
func TestJenkinsBuild(t *testing.T) {
	t.Setenv("JENKINS_TEST_TOKEN", "11e0c4bd9d5f1c1e2a6d5b4a3f2e1d0c9b")
	auth := "Basic " + "Y2ktYm90OjExZTBjNGJkOWQ1ZjFjMWUyYTZkNWI0YTNmMmUxZDBjOWI=" // ci-bot:11e0c4bd9d5f1c1e2a6d5b4a3f2e1d0c9b
	empty := ""
	tests := []struct {
		name    string
		module  Jenkins
		trigger *Trigger
		want    *Request
	}{
		{
			name:    "trigger token, job in a folder, API token",
			module:  Jenkins{Job: "folder/deploy-app", User: "ci-bot", APIToken: "{env.JENKINS_TEST_TOKEN}"},
			trigger: tokenTrigger(),
			want: &Request{
				Method: http.MethodPost,
				Path:   "/job/folder/job/deploy-app/buildWithParameters",
				Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Authorization": {auth}},
				Secret: []string{"Authorization"},
				// the ref wins over the variable "ref"; the input's JSON 3 is the text 3
				Body: []byte("DEPLOY=yes&TRIGGER_ID=42&TRIGGER_SOURCE=trigger&TRIGGER_TOKEN_PREFIX=glptt-01234567&ref=feature%2Fx&replicas=3"),
			},
		},
		{
			name:    "job token, payload, named ref parameter, no credentials",
			module:  Jenkins{Job: "deploy", RefParameter: "GIT_REF"},
			trigger: jobTrigger(),
			want: &Request{
				Method: http.MethodPost,
				Path:   "/job/deploy/buildWithParameters",
				Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
				Body: []byte("A=1&GIT_REF=main" +
					"&TRIGGER_PAYLOAD=%7B%22after%22%3A%7B%22id%22%3A1%7D%2C%22object_kind%22%3A%22push%22%7D" +
					"&TRIGGER_SOURCE=pipeline&TRIGGER_SOURCE_JOB=6789&TRIGGER_SOURCE_PIPELINE=345" +
					"&TRIGGER_SOURCE_PROJECT=12&TRIGGER_SOURCE_PROJECT_PATH=group%2Flib"),
			},
		},
		{
			name:    "facts and payload off",
			module:  Jenkins{Job: "deploy", PayloadParameter: &empty, Facts: &Facts{Source: "WHO"}},
			trigger: jobTrigger(),
			want: &Request{
				Method: http.MethodPost,
				Path:   "/job/deploy/buildWithParameters",
				Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
				Body:   []byte("A=1&WHO=pipeline&ref=main"),
			},
		},
		{
			name:    "job names escaped whole: ';' is no path parameter, '?' no query",
			module:  Jenkins{Job: "team;a/deploy app?x/100%"},
			trigger: &Trigger{Ref: "main", Source: "trigger", Token: callerToken},
			want: &Request{
				Method:  http.MethodPost,
				Path:    "/job/team;a/job/deploy app?x/job/100%/buildWithParameters",
				RawPath: "/job/team%3Ba/job/deploy%20app%3Fx/job/100%25/buildWithParameters",
				Header:  http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
				Body:    []byte("TRIGGER_SOURCE=trigger&ref=main"),
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

// A variable and an input of the same name would become one parameter:
// refused with GitLab's 400 shape before anything is sent.
func TestJenkinsBuildNameClash(t *testing.T) {
	m := provisioned(t, &Jenkins{Job: "deploy"})
	trigger := tokenTrigger()
	trigger.Variables = append(trigger.Variables, triggerapi.Variable{Name: "replicas", Value: "2"}) // sorted: after "ref"
	req, err := m.Build(trigger)
	if req != nil || err == nil || err.Status != http.StatusBadRequest ||
		string(err.Body) != `{"message":"replicas is both a variable and an input: the CI server takes one parameter of each name"}` {
		t.Fatalf("Build = %v, %+v; want a 400", req, err)
	}
}

// A variable or input named as a request parameter buildWithParameters
// reads for itself (delay would postpone the build) is refused with
// GitLab's 400 shape before anything is sent; the same names in another
// case are ordinary parameters (Stapler's names are case-sensitive).
func TestJenkinsBuildReservedParameters(t *testing.T) {
	m := provisioned(t, &Jenkins{Job: "deploy"})
	tests := []struct {
		name     string
		variable string
		input    string
		refused  string // the name the refusal gives; "" when accepted
	}{
		{"delay as a variable", "delay", "", "delay"},
		{"token as a variable", "token", "", "token"},
		{"cause as an input", "", "cause", "cause"},
		{"DELAY is the job's own", "DELAY", "", ""},
		{"delayed is the job's own", "delayed", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trigger := tokenTrigger()
			if tt.variable != "" {
				trigger.Variables = triggerapi.VariablesOf(map[string]string{"DEPLOY": "yes", tt.variable: "86400sec"})
			}
			if tt.input != "" {
				trigger.Inputs = map[string]json.RawMessage{tt.input: json.RawMessage(`"86400sec"`)}
			}
			req, err := m.Build(trigger)
			if tt.refused == "" {
				if err != nil {
					t.Fatalf("refused: %s", err.Body)
				}
				return
			}
			want := `{"message":"` + tt.refused + ` is a parameter Jenkins reads for itself (buildWithParameters), not a build parameter"}`
			if req != nil || err == nil || err.Status != http.StatusBadRequest || string(err.Body) != want {
				t.Fatalf("Build = %v, %+v; want a 400 %s", req, err, want)
			}
		})
	}
}

func TestJenkinsRead(t *testing.T) {
	const item = "https://jenkins.example.com/queue/item/3901/"
	location := func(l string) http.Header { return http.Header{"Location": {l}} }
	tests := []struct {
		name    string
		status  int
		header  http.Header
		want    Started
		refused int
	}{
		{"201 and the queue item", 201, location(item), Started{ID: int64p(3901), WebURL: item}, 0},
		{"Jenkins under a path", 201, location("http://ci.example.com/jenkins/queue/item/39/"),
			Started{ID: int64p(39), WebURL: "http://ci.example.com/jenkins/queue/item/39/"}, 0},
		{"without the trailing slash", 201, location("https://j.example/queue/item/7"),
			Started{ID: int64p(7), WebURL: "https://j.example/queue/item/7"}, 0},
		{"302 and the queue item (before 1.519)", 302, location(item), Started{ID: int64p(3901), WebURL: item}, 0},
		{"relative Location: id only", 201, location("/queue/item/7/"), Started{ID: int64p(7)}, 0},
		{"user info never passed on", 201, location("https://admin:secret@jenkins.example.com/queue/item/5/"), Started{ID: int64p(5)}, 0},
		{"javascript: no page, no id", 201, location("javascript:alert(1)//queue/item/5/"), Started{}, 0},
		{"no Location", 201, nil, Started{}, 0},
		{"Location to the job", 201, location("https://jenkins.example.com/job/deploy/"), Started{}, 0},
		{"leading zero", 201, location("https://j.example/queue/item/07/"), Started{}, 0},
		{"id out of range", 201, location("https://j.example/queue/item/99999999999999999999/"), Started{}, 0},
		{"query", 201, location("https://j.example/queue/item/7/?x=1"), Started{}, 0},
		{"302 to a login page", 302, location("https://jenkins.example.com/login?from=%2F"), Started{}, 302},
		{"302 without Location", 302, nil, Started{}, 302},
		{"401", 401, nil, Started{}, 401},
		{"403 no crumb", 403, nil, Started{}, 403},
		{"404 no such job", 404, location(item), Started{}, 404},
		{"500", 500, nil, Started{}, 500},
	}
	m := provisioned(t, &Jenkins{Job: "deploy"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := m.Read(&Answer{Status: tt.status, Header: tt.header})
			checkStarted(t, got, err, tt.want, tt.refused)
		})
	}
}

func TestJenkinsCaddyfile(t *testing.T) {
	var got Jenkins
	err := unmarshal(t, &got, `jenkins {
		job folder/deploy-app
		ref_parameter GIT_REF
		payload_parameter off
		facts {
			source BUILD_SOURCE
			trigger_id off
		}
		user ci-bot
		api_token {env.JENKINS_API_TOKEN}
	}`)
	if err != nil {
		t.Fatal(err)
	}
	facts := DefaultFacts
	facts.Source, facts.TriggerID = "BUILD_SOURCE", ""
	empty := ""
	want := Jenkins{Job: "folder/deploy-app", RefParameter: "GIT_REF", PayloadParameter: &empty, Facts: &facts,
		User: "ci-bot", APIToken: "{env.JENKINS_API_TOKEN}"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	for _, bad := range []string{
		"jenkins extra",
		"jenkins {\n job\n}",
		"jenkins {\n job a b\n}",
		"jenkins {\n jobs a\n}",
		"jenkins {\n facts on\n}",
		"jenkins {\n facts {\n sauce X\n }\n}",
	} {
		if err := unmarshal(t, &Jenkins{}, bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestJenkinsSettings(t *testing.T) {
	t.Setenv("JENKINS_TEST_EMPTY", "")
	t.Setenv("JENKINS_TEST_SET", "s3cr3t-token-value")
	t.Setenv("JENKINS_TEST_COLON", "ci:bot")
	tests := []struct {
		name   string
		module Jenkins
		want   string // in the error
	}{
		{"empty API token", Jenkins{Job: "a", User: "u", APIToken: "{env.JENKINS_TEST_EMPTY}"},
			"upstream jenkins: api_token: {env.JENKINS_TEST_EMPTY} resolved to an empty value"},
		{"no job", Jenkins{}, "upstream jenkins: job is required"},
		{"dot-dot folder", Jenkins{Job: "a/../script"}, `must not be ".."`},
		{"empty folder", Jenkins{Job: "a//b"}, "is required"},
		{"token without user", Jenkins{Job: "a", APIToken: "{env.JENKINS_TEST_SET}"}, "user and api_token go together"},
		{"user without token", Jenkins{Job: "a", User: "u"}, "user and api_token go together"},
		{"empty user", Jenkins{Job: "a", User: "{env.JENKINS_TEST_EMPTY}", APIToken: "{env.JENKINS_TEST_SET}"},
			"upstream jenkins: user: {env.JENKINS_TEST_EMPTY} resolved to an empty value"},
		{"user resolving to a colon", Jenkins{Job: "a", User: "{env.JENKINS_TEST_COLON}", APIToken: "{env.JENKINS_TEST_SET}"},
			"user must not hold ':'"},
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

// The user, like the API token, may come from a placeholder: the request
// carries what it resolves to, not the placeholder's text.
func TestJenkinsUserFromPlaceholder(t *testing.T) {
	t.Setenv("JENKINS_TEST_USER", "ci-bot")
	t.Setenv("JENKINS_TEST_TOKEN", "s3cr3t-token-value")
	j := Jenkins{Job: "deploy", User: "{env.JENKINS_TEST_USER}", APIToken: "{env.JENKINS_TEST_TOKEN}"}
	if err := j.Provision(caddyContext()); err != nil {
		t.Fatal(err)
	}
	if err := j.Validate(); err != nil {
		t.Fatal(err)
	}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("ci-bot:s3cr3t-token-value"))
	if j.authorization != want {
		t.Errorf("Authorization %q, want %q", j.authorization, want)
	}
}
