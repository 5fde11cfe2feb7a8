package upstream

import (
	"net/http"
	"reflect"
	"testing"
)

// The json module's document is contract §8's; Tekton's EventListener
// answers 202 and Argo Events' webhook 200, neither naming a run.
func TestJSONBuild(t *testing.T) {
	tests := []struct {
		name    string
		trigger *Trigger
		body    string
	}{
		{"trigger token", tokenTrigger(),
			`{"project":"9","ref":"feature/x","variables":{"DEPLOY":"yes","ref":"ignored"},"inputs":{"replicas":3},` +
				`"source":"trigger","trigger_id":42,"token_prefix":"glptt-01234567","payload":null}`},
		{"job token and payload", jobTrigger(),
			`{"project":"group/app","ref":"main","variables":{"A":"1"},"source":"pipeline","trigger_id":null,` +
				`"token_prefix":null,"job":{"project_id":"12","project_path":"group/lib","pipeline_id":"345","job_id":"6789"},` +
				`"payload":{"after":{"id":1},"object_kind":"push"}}`},
	}
	m := provisioned(t, &JSON{Path: "/hooks/deploy"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := m.Build(tt.trigger)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			checkRequest(t, got, &Request{Method: http.MethodPost, Path: "/hooks/deploy",
				Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(tt.body)})
			checkNoCallerToken(t, got, tt.trigger.Token)
		})
	}
}

func TestJSONRead(t *testing.T) {
	m := &JSON{}
	for _, tt := range []struct {
		status  int
		body    string
		refused int
	}{
		{202, `{"eventListener":"listener","namespace":"default","eventListenerUID":"u","eventID":"e"}`, 0},
		{200, `success`, 0},
		{204, ``, 0},
		{400, `{"error":"x"}`, 400},
		{500, ``, 500},
	} {
		got, err := m.Read(&Answer{Status: tt.status, Body: []byte(tt.body)})
		checkStarted(t, got, err, Started{}, tt.refused)
	}
}

func TestJSONSettings(t *testing.T) {
	var got JSON
	if err := unmarshal(t, &got, "json {\n path /hooks/deploy\n}"); err != nil || !reflect.DeepEqual(got, JSON{Path: "/hooks/deploy"}) {
		t.Fatalf("got %+v, %v", got, err)
	}
	provisioned(t, &JSON{Path: "/hooks/"})
	if m := provisioned(t, &JSON{}); m.Path != "/" {
		t.Errorf("default path %q", m.Path)
	}
	for _, bad := range []string{"hooks", "/hooks/../admin", "/hooks?x=1", "/hooks//"} {
		m := &JSON{Path: bad}
		if err := m.Provision(caddyContext()); err == nil && m.Validate() == nil {
			t.Errorf("path %q accepted", bad)
		}
	}
}
