package matcher

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// Requests are built from raw targets so that the escaped path the matcher
// reads is exactly what a client sent.
func TestMatchRouteShapes(t *testing.T) {
	all := MatchTrigger{}
	tests := []struct {
		name   string
		method string
		target string
		want   bool
	}{
		{"pipeline numeric id", "POST", "/api/v4/projects/9/trigger/pipeline", true},
		{"pipeline with query", "POST", "/api/v4/projects/9/trigger/pipeline?token=t&ref=main", true},
		{"pipeline encoded path", "POST", "/api/v4/projects/group%2Fproject/trigger/pipeline", true},
		{"pipeline lowercase escape", "POST", "/api/v4/projects/group%2fproject/trigger/pipeline", true},
		{"pipeline nested groups", "POST", "/api/v4/projects/a%2Fb%2Fc/trigger/pipeline", true},
		{"method is not matched", "GET", "/api/v4/projects/9/trigger/pipeline", true},
		{"webhook plain ref", "POST", "/api/v4/projects/9/ref/main/trigger/pipeline?token=t", true},
		{"webhook encoded ref", "POST", "/api/v4/projects/9/ref/feature%2Fx/trigger/pipeline", true},
		{"webhook ref with plain slashes", "POST", "/api/v4/projects/9/ref/feature/x/y/trigger/pipeline", true},
		{"webhook encoded project and ref", "POST", "/api/v4/projects/group%2Fproject/ref/release%2F1.0/trigger/pipeline", true},
		{"artifacts", "GET", "/api/v4/projects/9/jobs/artifacts/main/download?job=build", true},
		{"artifacts ref with slashes", "GET", "/api/v4/projects/group%2Fproject/jobs/artifacts/feature/x/download", true},
		{"artifacts encoded ref", "GET", "/api/v4/projects/9/jobs/artifacts/feature%2Fx/download", true},

		{"no prefix", "POST", "/projects/9/trigger/pipeline", false},
		{"other api version", "POST", "/api/v3/projects/9/trigger/pipeline", false},
		{"prefix glued to more", "POST", "/api/v4x/projects/9/trigger/pipeline", false},
		{"prefix not at start", "POST", "/gitlab/api/v4/projects/9/trigger/pipeline", false},
		{"double slash after prefix", "POST", "/api/v4//projects/9/trigger/pipeline", false},
		{"encoded slash in prefix", "POST", "/api%2Fv4/projects/9/trigger/pipeline", false},
		{"projects list", "GET", "/api/v4/projects", false},
		{"project page", "GET", "/api/v4/projects/9", false},
		{"empty project", "POST", "/api/v4/projects//trigger/pipeline", false},
		{"project path with plain slash", "POST", "/api/v4/projects/group/project/trigger/pipeline", false},
		{"trailing slash", "POST", "/api/v4/projects/9/trigger/pipeline/", false},
		{"trailing segment", "POST", "/api/v4/projects/9/trigger/pipeline/extra", false},
		{"suffix on last segment", "POST", "/api/v4/projects/9/trigger/pipelines", false},
		{"encoded structural slash", "POST", "/api/v4/projects/9/trigger%2Fpipeline", false},
		{"management list", "GET", "/api/v4/projects/9/triggers", true},
		{"management create", "POST", "/api/v4/projects/group%2Fproject/triggers", true},
		{"management item", "PUT", "/api/v4/projects/9/triggers/12", true},
		{"management item not an integer", "GET", "/api/v4/projects/9/triggers/abc", true},
		{"management trailing slash", "GET", "/api/v4/projects/9/triggers/", false},
		{"management extra segment", "POST", "/api/v4/projects/9/triggers/12/take_ownership", false},
		{"management without prefix", "GET", "/projects/9/triggers", false},
		{"management singular", "GET", "/api/v4/projects/9/trigger", false},
		{"management empty project", "GET", "/api/v4/projects//triggers", false},
		{"webhook empty ref", "POST", "/api/v4/projects/9/ref//trigger/pipeline", false},
		{"webhook ref with empty segment", "POST", "/api/v4/projects/9/ref/a//b/trigger/pipeline", false},
		{"webhook without ref", "POST", "/api/v4/projects/9/ref/trigger/pipeline", false},
		{"artifacts without ref", "GET", "/api/v4/projects/9/jobs/artifacts/download", false},
		{"artifacts trailing junk", "GET", "/api/v4/projects/9/jobs/artifacts/main/download/x", false},
		{"artifacts of a job id", "GET", "/api/v4/projects/9/jobs/42/artifacts", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.target, nil)
			got, panicked, err := matchNoPanic(all, r)
			if panicked != nil {
				t.Fatalf("MatchWithError(%s %s) panicked: %v", tt.method, tt.target, panicked)
			}
			if err != nil {
				t.Fatalf("MatchWithError(%s %s) error: %v", tt.method, tt.target, err)
			}
			if got != tt.want {
				t.Errorf("MatchWithError(%s %s) = %v, want %v", tt.method, tt.target, got, tt.want)
			}
			if m := all.Match(r); m != got {
				t.Errorf("Match = %v, MatchWithError = %v", m, got)
			}
		})
	}
}

// matchNoPanic turns a panic into a value, so one path that crashes the
// route parser fails its own case instead of aborting the whole table.
func matchNoPanic(m MatchTrigger, r *http.Request) (match bool, panicked any, err error) {
	defer func() { panicked = recover() }()
	match, err = m.MatchWithError(r)
	return match, nil, err
}

func TestMatchFilters(t *testing.T) {
	const (
		pipeline9   = "/api/v4/projects/9/trigger/pipeline"
		pipelineGP  = "/api/v4/projects/group%2Fproject/trigger/pipeline"
		webhook9    = "/api/v4/projects/9/ref/main/trigger/pipeline"
		webhookGP   = "/api/v4/projects/group%2Fproject/ref/feature%2Fx/trigger/pipeline"
		artifacts9  = "/api/v4/projects/9/jobs/artifacts/main/download"
		manage9     = "/api/v4/projects/9/triggers"
		manageGP    = "/api/v4/projects/group%2Fproject/triggers/3"
		customPipe9 = "/gitlab/api/v4/projects/9/trigger/pipeline"
		rootPipe9   = "/projects/9/trigger/pipeline"
	)
	tests := []struct {
		name    string
		m       MatchTrigger
		matches []string
		misses  []string
	}{
		{
			name:    "zero value matches every kind",
			m:       MatchTrigger{},
			matches: []string{pipeline9, pipelineGP, webhook9, webhookGP, artifacts9, manage9, manageGP},
			misses:  []string{customPipe9, rootPipe9},
		},
		{
			name:    "one kind",
			m:       MatchTrigger{Kinds: []string{"pipeline"}},
			matches: []string{pipeline9, pipelineGP},
			misses:  []string{webhook9, webhookGP, artifacts9, manage9, manageGP},
		},
		{
			name:    "two kinds",
			m:       MatchTrigger{Kinds: []string{"webhook", "artifacts"}},
			matches: []string{webhook9, webhookGP, artifacts9},
			misses:  []string{pipeline9, pipelineGP, manage9},
		},
		{
			name:    "management only",
			m:       MatchTrigger{Kinds: []string{"management"}},
			matches: []string{manage9, manageGP},
			misses:  []string{pipeline9, webhook9, artifacts9},
		},
		{
			name:    "management of one project",
			m:       MatchTrigger{Kinds: []string{"management"}, Projects: []string{"group/project"}},
			matches: []string{manageGP},
			misses:  []string{manage9, pipelineGP},
		},
		{
			name:    "numeric project",
			m:       MatchTrigger{Projects: []string{"9"}},
			matches: []string{pipeline9, webhook9, artifacts9},
			misses:  []string{pipelineGP, webhookGP},
		},
		{
			name: "a numeric ID with leading zeros is the same project, as GitLab reads it",
			m:    MatchTrigger{Projects: []string{"9"}},
			matches: []string{"/api/v4/projects/009/trigger/pipeline", "/api/v4/projects/0009/ref/main/trigger/pipeline",
				"/api/v4/projects/09/triggers"},
			misses: []string{"/api/v4/projects/90/trigger/pipeline", "/api/v4/projects/-9/trigger/pipeline"},
		},
		{
			name:    "full path project is compared unescaped",
			m:       MatchTrigger{Projects: []string{"group/project"}},
			matches: []string{pipelineGP, webhookGP},
			misses:  []string{pipeline9, webhook9, artifacts9},
		},
		{
			name:    "both spellings",
			m:       MatchTrigger{Projects: []string{"9", "group/project"}},
			matches: []string{pipeline9, pipelineGP, webhook9, webhookGP, artifacts9},
		},
		{
			name: "project paths are compared in any case",
			m:    MatchTrigger{Projects: []string{"Group/Project"}},
			matches: []string{pipelineGP, webhookGP, "/api/v4/projects/GROUP%2FPROJECT/trigger/pipeline",
				"/api/v4/projects/Group%2Fproject/triggers"},
			misses: []string{pipeline9, "/api/v4/projects/GROUP%2FPROJECTS/trigger/pipeline"},
		},
		{
			name:    "project paths fold ASCII letters only, as the handler does",
			m:       MatchTrigger{Projects: []string{"group/secret"}},
			matches: []string{"/api/v4/projects/GROUP%2FSecret/trigger/pipeline"},
			misses:  []string{"/api/v4/projects/group%2F%C5%BFecret/trigger/pipeline"}, // a long s is no s
		},
		{
			name:   "project prefix is not a match",
			m:      MatchTrigger{Projects: []string{"group"}},
			misses: []string{pipelineGP, webhookGP},
		},
		{
			name:    "kinds and projects together",
			m:       MatchTrigger{Kinds: []string{"webhook"}, Projects: []string{"group/project"}},
			matches: []string{webhookGP},
			misses:  []string{pipeline9, pipelineGP, webhook9, artifacts9},
		},
		{
			name:    "custom path prefix",
			m:       MatchTrigger{PathPrefix: "/gitlab/api/v4"},
			matches: []string{customPipe9},
			misses:  []string{pipeline9, rootPipe9},
		},
		{
			name:    "custom path prefix with trailing slash",
			m:       MatchTrigger{PathPrefix: "/gitlab/api/v4/"},
			matches: []string{customPipe9},
			misses:  []string{pipeline9},
		},
		{
			name:    "root path prefix",
			m:       MatchTrigger{PathPrefix: "/"},
			matches: []string{rootPipe9},
			misses:  []string{pipeline9, customPipe9},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, target := range tt.matches {
				if !tt.m.Match(httptest.NewRequest("POST", target, nil)) {
					t.Errorf("%+v does not match %s", tt.m, target)
				}
			}
			for _, target := range tt.misses {
				if tt.m.Match(httptest.NewRequest("POST", target, nil)) {
					t.Errorf("%+v matches %s", tt.m, target)
				}
			}
		})
	}
}

// TestLoadModule goes through Caddy's module loader, which is how a config
// reaches the matcher: JSON decoding, Provision, then Validate.
func TestLoadModule(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		want    MatchTrigger
		wantErr string
	}{
		{name: "empty", json: `{}`, want: MatchTrigger{PathPrefix: "/api/v4"}},
		{
			name: "all fields",
			json: `{"kinds":["pipeline","webhook"],"projects":["9","group/project"],"path_prefix":"/gitlab/api/v4"}`,
			want: MatchTrigger{Kinds: []string{"pipeline", "webhook"}, Projects: []string{"9", "group/project"}, PathPrefix: "/gitlab/api/v4"},
		},
		{
			name: "management kind",
			json: `{"kinds":["management"],"projects":["9"]}`,
			want: MatchTrigger{Kinds: []string{"management"}, Projects: []string{"9"}, PathPrefix: "/api/v4"},
		},
		{name: "unknown kind", json: `{"kinds":["pipeline","pipelines"]}`, wantErr: `"pipelines"`},
		{name: "triggers is not a kind", json: `{"kinds":["triggers"]}`, wantErr: `"triggers"`},
		{name: "kind in wrong case", json: `{"kinds":["Webhook"]}`, wantErr: `"Webhook"`},
		{name: "empty project", json: `{"projects":[""]}`, wantErr: "empty project"},
		{name: "encoded project", json: `{"projects":["group%2Fproject"]}`, wantErr: "URL-encoded"},
		{name: "relative prefix", json: `{"path_prefix":"api/v4"}`, wantErr: "path_prefix"},
		{name: "prefix with query", json: `{"path_prefix":"/api?x=1"}`, wantErr: "path_prefix"},
		{name: "unknown field", json: `{"kind":["pipeline"]}`, wantErr: "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := caddy.NewContext(caddy.Context{Context: t.Context()})
			defer cancel()
			mod, err := ctx.LoadModuleByID("http.matchers.trigger", json.RawMessage(tt.json))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadModuleByID(%s) error = %v, want one containing %s", tt.json, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadModuleByID(%s): %v", tt.json, err)
			}
			got, ok := mod.(*MatchTrigger)
			if !ok {
				t.Fatalf("module is %T, want *MatchTrigger", mod)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("loaded %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestJSONRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		m    MatchTrigger
		json string
	}{
		{"empty", MatchTrigger{}, `{}`},
		{"kinds", MatchTrigger{Kinds: []string{"artifacts"}}, `{"kinds":["artifacts"]}`},
		{"management", MatchTrigger{Kinds: []string{"management"}}, `{"kinds":["management"]}`},
		{
			"everything",
			MatchTrigger{Kinds: []string{"pipeline", "webhook"}, Projects: []string{"9", "group/project"}, PathPrefix: "/gitlab/api/v4"},
			`{"kinds":["pipeline","webhook"],"projects":["9","group/project"],"path_prefix":"/gitlab/api/v4"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.m)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.json {
				t.Errorf("Marshal = %s, want %s", b, tt.json)
			}
			var back MatchTrigger
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, tt.m) {
				t.Errorf("round trip = %+v, want %+v", back, tt.m)
			}
		})
	}
}

func TestModuleRegistered(t *testing.T) {
	info, err := caddy.GetModule("http.matchers.trigger")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := info.New().(*MatchTrigger); !ok {
		t.Errorf("module constructor returns %T, want *MatchTrigger", info.New())
	}
}
