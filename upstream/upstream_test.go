package upstream

import (
	"net/http"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

func TestPipelineObject(t *testing.T) {
	now := time.Date(2026, 12, 5, 9, 40, 12, 345e6, time.FixedZone("CET", 3600))
	tests := []struct {
		name    string
		trigger *Trigger
		started Started
		want    string
	}{
		{"numeric project, id and page", tokenTrigger(), Started{ID: int64p(3901), WebURL: "https://j.example/queue/item/3901/"},
			`{"id":3901,"iid":null,"project_id":9,"ref":"feature/x","sha":null,"status":"created","source":"trigger",` +
				`"created_at":"2026-12-05T08:40:12.345Z","updated_at":"2026-12-05T08:40:12.345Z","web_url":"https://j.example/queue/item/3901/"}`},
		{"project by path, nothing named", jobTrigger(), Started{},
			`{"id":null,"iid":null,"project_id":null,"ref":"main","sha":null,"status":"created","source":"pipeline",` +
				`"created_at":"2026-12-05T08:40:12.345Z","updated_at":"2026-12-05T08:40:12.345Z","web_url":null}`},
		{"a leading zero is no project id", &Trigger{Project: "09", Ref: "main", Source: "trigger"}, Started{},
			`{"id":null,"iid":null,"project_id":null,"ref":"main","sha":null,"status":"created","source":"trigger",` +
				`"created_at":"2026-12-05T08:40:12.345Z","updated_at":"2026-12-05T08:40:12.345Z","web_url":null}`},
	}
	for _, tt := range tests {
		if got := string(PipelineObject(tt.trigger, tt.started, now)); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}

func TestCIRefusal(t *testing.T) {
	err := CIRefusal(401)
	if err.Status != http.StatusBadGateway || err.Reason != "ci_refused" ||
		string(err.Body) != `{"message":"502 Bad Gateway: the CI server answered 401"}` {
		t.Errorf("CIRefusal(401) = %d %s %s", err.Status, err.Reason, err.Body)
	}
	if got := (&RefusedError{Status: 503}).Error(); got != "the CI server answered 503" {
		t.Errorf("RefusedError = %q", got)
	}
}

// Every module is registered in the namespace under its contract name.
func TestModulesRegistered(t *testing.T) {
	for _, name := range []string{"gitlab", "jenkins", "github_actions", "buildbot", "buildkite", "woodpecker", "json"} {
		info, err := caddy.GetModule(Namespace + "." + name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if _, ok := info.New().(Module); !ok {
			t.Errorf("%s is not a Module", name)
		}
	}
}
