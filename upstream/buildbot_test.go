package upstream

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// Requests and answers checked against buildbot master/buildbot/data/
// forceschedulers.py (ForceSchedulerEndpoint.control "force"),
// master/buildbot/www/rest.py (decodeJsonRPC2, renderJsonRpc,
// handleErrors: a JSON-RPC error is answered 400/403/404/500/501) and
// master/buildbot/schedulers/base.py ((bsid, {builderid: brid})).
func TestBuildbotBuild(t *testing.T) {
	t.Setenv("BUILDBOT_TEST_PASSWORD", "pa55word")
	tests := []struct {
		name    string
		module  Buildbot
		trigger *Trigger
		want    *Request
	}{
		{
			name:    "trigger token, two builders, defaults",
			module:  Buildbot{Scheduler: "force", Builders: []string{"runtests", "lint"}},
			trigger: tokenTrigger(),
			want: &Request{
				Method: http.MethodPost,
				Path:   "/api/v2/forceschedulers/force",
				Header: http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}},
				Body: []byte(`{"id":1,"jsonrpc":"2.0","method":"force","params":{"DEPLOY":"yes","TRIGGER_ID":"42",` +
					`"TRIGGER_SOURCE":"trigger","TRIGGER_TOKEN_PREFIX":"glptt-01234567","branch":"feature/x",` +
					`"builderNames":["runtests","lint"],"reason":"triggered through the GitLab trigger API","ref":"ignored","replicas":"3"}}`),
			},
		},
		{
			name: "job token, payload, reason, Basic auth, the gateway's branch wins",
			module: Buildbot{Scheduler: "deploy now", Builders: []string{"deploy"}, Reason: "deploy",
				User: "bot", Password: "{env.BUILDBOT_TEST_PASSWORD}", Facts: &Facts{Source: "source"}},
			trigger: func() *Trigger {
				tr := jobTrigger()
				tr.Variables = triggerapi.VariablesOf(map[string]string{"branch": "evil", "builderNames": "all", "A": "1"})
				return tr
			}(),
			want: &Request{
				Method: http.MethodPost,
				Path:   "/api/v2/forceschedulers/deploy now",
				Header: http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"},
					"Authorization": {"Basic Ym90OnBhNTV3b3Jk"}},
				Secret: []string{"Authorization"},
				Body: []byte(`{"id":1,"jsonrpc":"2.0","method":"force","params":{"A":"1",` +
					`"TRIGGER_PAYLOAD":"{\"after\":{\"id\":1},\"object_kind\":\"push\"}","branch":"main",` +
					`"builderNames":["deploy"],"reason":"deploy","source":"pipeline"}}`),
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

func TestBuildbotRead(t *testing.T) {
	withPage := provisioned(t, &Buildbot{Scheduler: "force", Builders: []string{"b"}, WebURL: "https://buildbot.example.com/"})
	withoutPage := provisioned(t, &Buildbot{Scheduler: "force", Builders: []string{"b"}})
	tests := []struct {
		name    string
		m       *Buildbot
		status  int
		body    string
		want    Started
		refused int
	}{
		{"the force result", withPage, 200, `{"id":1,"jsonrpc":"2.0","result":[7,{"1":12}]}`,
			Started{ID: int64p(7), WebURL: "https://buildbot.example.com/#/buildrequests/12"}, 0},
		{"no web_url configured", withoutPage, 200, `{"id":1,"jsonrpc":"2.0","result":[7,{"1":12}]}`, Started{ID: int64p(7)}, 0},
		{"two builders: the lowest builder id's request", withPage, 200, `{"result":[7,{"10":30,"2":31}]}`,
			Started{ID: int64p(7), WebURL: "https://buildbot.example.com/#/buildrequests/31"}, 0},
		{"no build requests", withPage, 200, `{"result":[7,{}]}`, Started{ID: int64p(7)}, 0},
		{"bsid only", withPage, 200, `{"result":[7]}`, Started{ID: int64p(7)}, 0},
		{"bsid a string", withPage, 200, `{"result":["7",{"1":12}]}`, Started{}, 0},
		{"brid not a number", withPage, 200, `{"result":[7,{"1":"12"}]}`, Started{ID: int64p(7)}, 0},
		{"result null", withPage, 200, `{"result":null}`, Started{}, 0},
		{"not JSON", withPage, 200, `Internal Server Error`, Started{}, 0},
		{"a JSON-RPC error in a 200", withPage, 200, `{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"x"}}`, Started{}, 200},
		{"invalid params (400)", withPage, 400, `{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"{'p': 'bad'}"}}`, Started{}, 400},
		{"forbidden (403)", withPage, 403, `{"error":{"code":-32600,"message":"you need to have role 'admins'"}}`, Started{}, 403},
		{"no such scheduler (404)", withPage, 404, `{"error":{"code":-32600,"message":"invalid path"}}`, Started{}, 404},
		{"builderNames not supported (500)", withPage, 500, `{"error":{"code":-32603,"message":"KeyError(...)"}}`, Started{}, 500},
		{"401 behind auth", withPage, 401, ``, Started{}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.m.Read(&Answer{Status: tt.status, Body: []byte(tt.body)})
			checkStarted(t, got, err, tt.want, tt.refused)
		})
	}
}

func TestBuildbotCaddyfile(t *testing.T) {
	var got Buildbot
	err := unmarshal(t, &got, `buildbot {
		scheduler force
		builder runtests lint
		builder deploy
		reason "from GitLab callers"
		web_url https://buildbot.example.com
		payload_property event
		facts off
		user bot
		password {file./etc/caddy/buildbot}
	}`)
	if err != nil {
		t.Fatal(err)
	}
	event := "event"
	want := Buildbot{Scheduler: "force", Builders: []string{"runtests", "lint", "deploy"}, Reason: "from GitLab callers",
		WebURL: "https://buildbot.example.com", PayloadProperty: &event, Facts: &Facts{}, User: "bot", Password: "{file./etc/caddy/buildbot}"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	for _, bad := range []string{"buildbot {\n builder\n}", "buildbot {\n scheduler a b\n}", "buildbot {\n branch x\n}"} {
		if err := unmarshal(t, &Buildbot{}, bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestBuildbotSettings(t *testing.T) {
	t.Setenv("BUILDBOT_TEST_EMPTY", "")
	tests := []struct {
		name   string
		module Buildbot
		want   string
	}{
		{"empty password", Buildbot{Scheduler: "f", Builders: []string{"b"}, User: "u", Password: "{env.BUILDBOT_TEST_EMPTY}"},
			"upstream buildbot: password: {env.BUILDBOT_TEST_EMPTY} resolved to an empty value"},
		{"no scheduler", Buildbot{Builders: []string{"b"}}, "scheduler is required"},
		{"no builder", Buildbot{Scheduler: "f"}, "builder is required"},
		{"web_url with user info", Buildbot{Scheduler: "f", Builders: []string{"b"}, WebURL: "https://u:p@b.example"}, "web_url must be"},
		{"web_url not http", Buildbot{Scheduler: "f", Builders: []string{"b"}, WebURL: "ftp://b.example"}, "web_url must be"},
		{"password without user", Buildbot{Scheduler: "f", Builders: []string{"b"}, Password: "literal"}, "go together"},
		{"user with a colon", Buildbot{Scheduler: "f", Builders: []string{"b"}, User: "a:b", Password: "literal"}, "must not hold ':'"},
		{"empty user", Buildbot{Scheduler: "f", Builders: []string{"b"}, User: "{env.BUILDBOT_TEST_EMPTY}", Password: "literal"},
			"upstream buildbot: user: {env.BUILDBOT_TEST_EMPTY} resolved to an empty value"},
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
