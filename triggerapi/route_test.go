package triggerapi_test

import (
	"net/url"
	"testing"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

func TestParseRoute(t *testing.T) {
	tests := []struct {
		name   string
		prefix string
		path   string
		want   triggerapi.Route
		ok     bool
	}{
		// Pipeline route.
		{"pipeline numeric", "/api/v4", "/api/v4/projects/9/trigger/pipeline",
			triggerapi.Route{Kind: triggerapi.KindPipeline, Project: "9"}, true},
		{"pipeline encoded path", "/api/v4", "/api/v4/projects/group%2Fproject/trigger/pipeline",
			triggerapi.Route{Kind: triggerapi.KindPipeline, Project: "group/project"}, true},
		{"pipeline nested path", "/api/v4", "/api/v4/projects/a%2Fb%2Fc/trigger/pipeline",
			triggerapi.Route{Kind: triggerapi.KindPipeline, Project: "a/b/c"}, true},
		{"pipeline lowercase escape", "/api/v4", "/api/v4/projects/group%2fproject/trigger/pipeline",
			triggerapi.Route{Kind: triggerapi.KindPipeline, Project: "group/project"}, true},
		{"pipeline escaped dash and dot", "/api/v4", "/api/v4/projects/my-group%2Fmy.project/trigger/pipeline",
			triggerapi.Route{Kind: triggerapi.KindPipeline, Project: "my-group/my.project"}, true},
		{"pipeline plain slash in project", "/api/v4", "/api/v4/projects/group/project/trigger/pipeline",
			triggerapi.Route{}, false},
		{"encoded unreserved letters are the same path", "/api/v4", "/api/v4/%70rojects/9/trigger/%70ipeline",
			triggerapi.Route{Kind: triggerapi.KindPipeline, Project: "9"}, true},
		{"encoded unreserved in prefix", "/api/v4", "/%61pi/v4/projects/9/ref/m%61in/trigger/pipeline",
			triggerapi.Route{Kind: triggerapi.KindWebhook, Project: "9", Ref: "main"}, true},
		{"encoded slash stays a slash of a segment", "/api/v4", "/api/v4/projects/9/trigger%2Fpipeline",
			triggerapi.Route{}, false},
		{"truncated escape at the end", "/api/v4", "/api/v4/projects/9/trigger/pipeline%7",
			triggerapi.Route{}, false},

		// Webhook route.
		{"webhook plain ref", "/api/v4", "/api/v4/projects/9/ref/main/trigger/pipeline",
			triggerapi.Route{Kind: triggerapi.KindWebhook, Project: "9", Ref: "main"}, true},
		{"webhook encoded ref", "/api/v4", "/api/v4/projects/9/ref/feature%2Fx/trigger/pipeline",
			triggerapi.Route{Kind: triggerapi.KindWebhook, Project: "9", Ref: "feature/x"}, true},
		{"webhook plain slashes in ref", "/api/v4", "/api/v4/projects/9/ref/feature/x/y/trigger/pipeline",
			triggerapi.Route{Kind: triggerapi.KindWebhook, Project: "9", Ref: "feature/x/y"}, true},
		{"webhook mixed slashes in ref", "/api/v4", "/api/v4/projects/9/ref/a%2Fb/c/trigger/pipeline",
			triggerapi.Route{Kind: triggerapi.KindWebhook, Project: "9", Ref: "a/b/c"}, true},
		{"webhook encoded project and ref", "/api/v4", "/api/v4/projects/group%2Fproject/ref/release%2F1.0/trigger/pipeline",
			triggerapi.Route{Kind: triggerapi.KindWebhook, Project: "group/project", Ref: "release/1.0"}, true},
		{"webhook ref named like the route", "/api/v4", "/api/v4/projects/9/ref/trigger/trigger/pipeline",
			triggerapi.Route{Kind: triggerapi.KindWebhook, Project: "9", Ref: "trigger"}, true},
		{"webhook ref ending like the route", "/api/v4", "/api/v4/projects/9/ref/x/trigger/pipeline/trigger/pipeline",
			triggerapi.Route{Kind: triggerapi.KindWebhook, Project: "9", Ref: "x/trigger/pipeline"}, true},
		{"webhook ref with space", "/api/v4", "/api/v4/projects/9/ref/a%20b/trigger/pipeline",
			triggerapi.Route{Kind: triggerapi.KindWebhook, Project: "9", Ref: "a b"}, true},
		// The ref overlaps the route's own slashes: found by review, it used to panic.
		{"webhook without ref", "/api/v4", "/api/v4/projects/9/ref/trigger/pipeline", triggerapi.Route{}, false},
		{"webhook empty ref", "/api/v4", "/api/v4/projects/9/ref//trigger/pipeline", triggerapi.Route{}, false},
		{"webhook ref leading slash", "/api/v4", "/api/v4/projects/9/ref//x/trigger/pipeline", triggerapi.Route{}, false},
		{"webhook ref trailing slash", "/api/v4", "/api/v4/projects/9/ref/x//trigger/pipeline", triggerapi.Route{}, false},
		{"webhook ref double slash", "/api/v4", "/api/v4/projects/9/ref/a//b/trigger/pipeline", triggerapi.Route{}, false},
		{"webhook ref bad escape", "/api/v4", "/api/v4/projects/9/ref/a%zzb/trigger/pipeline", triggerapi.Route{}, false},
		{"webhook ref truncated escape", "/api/v4", "/api/v4/projects/9/ref/a%2/trigger/pipeline", triggerapi.Route{}, false},
		{"webhook trailing slash", "/api/v4", "/api/v4/projects/9/ref/main/trigger/pipeline/", triggerapi.Route{}, false},

		// Artifacts route.
		{"artifacts", "/api/v4", "/api/v4/projects/9/jobs/artifacts/main/download",
			triggerapi.Route{Kind: triggerapi.KindArtifacts, Project: "9", Ref: "main"}, true},
		{"artifacts encoded ref", "/api/v4", "/api/v4/projects/group%2Fproject/jobs/artifacts/feature%2Fx/download",
			triggerapi.Route{Kind: triggerapi.KindArtifacts, Project: "group/project", Ref: "feature/x"}, true},
		{"artifacts plain slashes in ref", "/api/v4", "/api/v4/projects/9/jobs/artifacts/release/v1/download",
			triggerapi.Route{Kind: triggerapi.KindArtifacts, Project: "9", Ref: "release/v1"}, true},
		// Overlapping prefix and suffix: used to panic.
		{"artifacts without ref", "/api/v4", "/api/v4/projects/9/jobs/artifacts/download", triggerapi.Route{}, false},
		{"artifacts empty ref", "/api/v4", "/api/v4/projects/9/jobs/artifacts//download", triggerapi.Route{}, false},
		{"artifacts trailing junk", "/api/v4", "/api/v4/projects/9/jobs/artifacts/main/download/x", triggerapi.Route{}, false},
		{"artifacts no download", "/api/v4", "/api/v4/projects/9/jobs/artifacts/main", triggerapi.Route{}, false},

		// Project segment.
		{"empty project", "/api/v4", "/api/v4/projects//trigger/pipeline", triggerapi.Route{}, false},
		{"bad project escape", "/api/v4", "/api/v4/projects/group%2project/trigger/pipeline", triggerapi.Route{}, false},
		{"lone percent project", "/api/v4", "/api/v4/projects/%/trigger/pipeline", triggerapi.Route{}, false},
		{"project only", "/api/v4", "/api/v4/projects/9", triggerapi.Route{}, false},
		{"projects only", "/api/v4", "/api/v4/projects/", triggerapi.Route{}, false},

		// Trailing junk and near misses.
		{"trailing slash", "/api/v4", "/api/v4/projects/9/trigger/pipeline/", triggerapi.Route{}, false},
		{"trailing segment", "/api/v4", "/api/v4/projects/9/trigger/pipeline/x", triggerapi.Route{}, false},
		{"suffix junk", "/api/v4", "/api/v4/projects/9/trigger/pipelines", triggerapi.Route{}, false},
		{"other project route", "/api/v4", "/api/v4/projects/9/triggers", triggerapi.Route{}, false},
		{"encoded route slash", "/api/v4", "/api/v4/projects/9/trigger%2Fpipeline", triggerapi.Route{}, false},
		{"double slash after prefix", "/api/v4", "/api/v4//projects/9/trigger/pipeline", triggerapi.Route{}, false},
		{"empty path", "/api/v4", "", triggerapi.Route{}, false},

		// Prefixes.
		{"wrong prefix", "/api/v4", "/api/v3/projects/9/trigger/pipeline", triggerapi.Route{}, false},
		{"prefix as word prefix", "/api/v4", "/api/v4x/projects/9/trigger/pipeline", triggerapi.Route{}, false},
		{"no prefix in path", "/api/v4", "/projects/9/trigger/pipeline", triggerapi.Route{}, false},
		{"case matters", "/api/v4", "/API/V4/projects/9/trigger/pipeline", triggerapi.Route{}, false},
		{"custom prefix", "/gitlab/api/v4", "/gitlab/api/v4/projects/9/trigger/pipeline",
			triggerapi.Route{Kind: triggerapi.KindPipeline, Project: "9"}, true},
		{"custom prefix trailing slash", "/gitlab/api/v4/", "/gitlab/api/v4/projects/9/ref/main/trigger/pipeline",
			triggerapi.Route{Kind: triggerapi.KindWebhook, Project: "9", Ref: "main"}, true},
		{"custom prefix not given", "/gitlab/api/v4", "/api/v4/projects/9/trigger/pipeline", triggerapi.Route{}, false},
		{"root prefix empty", "", "/projects/9/trigger/pipeline",
			triggerapi.Route{Kind: triggerapi.KindPipeline, Project: "9"}, true},
		{"root prefix slash", "/", "/projects/9/trigger/pipeline",
			triggerapi.Route{Kind: triggerapi.KindPipeline, Project: "9"}, true},
		{"root prefix other route", "/", "/api/v4/projects/9/trigger/pipeline", triggerapi.Route{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := triggerapi.ParseRoute(tt.prefix, tt.path)
			if ok != tt.ok || got != tt.want {
				t.Errorf("ParseRoute(%q, %q) = %+v, %v; want %+v, %v", tt.prefix, tt.path, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestParseRouteFromURL checks ParseRoute with what net/url gives a handler:
// r.URL.EscapedPath keeps the encoded slashes that r.URL.Path loses.
func TestParseRouteFromURL(t *testing.T) {
	tests := []struct {
		rawURL string
		want   triggerapi.Route
	}{
		{"https://ci.example.com/api/v4/projects/group%2Fsub%2Fproject/ref/feature%2Fx/trigger/pipeline?token=t",
			triggerapi.Route{Kind: triggerapi.KindWebhook, Project: "group/sub/project", Ref: "feature/x"}},
		{"https://ci.example.com/api/v4/projects/9/trigger/pipeline?ref=main",
			triggerapi.Route{Kind: triggerapi.KindPipeline, Project: "9"}},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.rawURL)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := triggerapi.ParseRoute(triggerapi.DefaultPathPrefix, u.EscapedPath())
		if !ok || got != tt.want {
			t.Errorf("ParseRoute(%q) = %+v, %v; want %+v", u.EscapedPath(), got, ok, tt.want)
		}
	}
}

func TestKind(t *testing.T) {
	tests := []struct {
		kind   triggerapi.Kind
		name   string
		method string
	}{
		{triggerapi.KindPipeline, "pipeline", "POST"},
		{triggerapi.KindWebhook, "webhook", "POST"},
		{triggerapi.KindArtifacts, "artifacts", "GET"},
	}
	for _, tt := range tests {
		if got := tt.kind.String(); got != tt.name {
			t.Errorf("Kind(%d).String() = %q, want %q", tt.kind, got, tt.name)
		}
		if got := tt.kind.Method(); got != tt.method {
			t.Errorf("%s.Method() = %q, want %q", tt.kind, got, tt.method)
		}
		if got, ok := triggerapi.ParseKind(tt.name); !ok || got != tt.kind {
			t.Errorf("ParseKind(%q) = %v, %v; want %v", tt.name, got, ok, tt.kind)
		}
	}
	if got := triggerapi.Kind(0).String(); got != "unknown" {
		t.Errorf("Kind(0).String() = %q, want unknown", got)
	}
	for _, name := range []string{"", "unknown", "Pipeline", "jobs"} {
		if k, ok := triggerapi.ParseKind(name); ok {
			t.Errorf("ParseKind(%q) = %v, true; want false", name, k)
		}
	}
}

func TestPipelinePath(t *testing.T) {
	tests := []struct {
		name        string
		prefix      string
		project     string
		wantPath    string
		wantRaw     string
		wantEscaped string // what url.URL sends with Path and RawPath set
	}{
		{"numeric", "/api/v4", "9",
			"/api/v4/projects/9/trigger/pipeline", "", "/api/v4/projects/9/trigger/pipeline"},
		{"full path", "/api/v4", "group/project",
			"/api/v4/projects/group/project/trigger/pipeline",
			"/api/v4/projects/group%2Fproject/trigger/pipeline",
			"/api/v4/projects/group%2Fproject/trigger/pipeline"},
		{"nested path", "/api/v4", "a/b/c",
			"/api/v4/projects/a/b/c/trigger/pipeline",
			"/api/v4/projects/a%2Fb%2Fc/trigger/pipeline",
			"/api/v4/projects/a%2Fb%2Fc/trigger/pipeline"},
		{"percent and space", "/api/v4", "a%b c",
			"/api/v4/projects/a%b c/trigger/pipeline",
			"/api/v4/projects/a%25b%20c/trigger/pipeline",
			"/api/v4/projects/a%25b%20c/trigger/pipeline"},
		{"prefix trailing slash", "/api/v4/", "group/project",
			"/api/v4/projects/group/project/trigger/pipeline",
			"/api/v4/projects/group%2Fproject/trigger/pipeline",
			"/api/v4/projects/group%2Fproject/trigger/pipeline"},
		{"root prefix", "/", "9", "/projects/9/trigger/pipeline", "", "/projects/9/trigger/pipeline"},
		{"empty prefix", "", "g/p",
			"/projects/g/p/trigger/pipeline", "/projects/g%2Fp/trigger/pipeline", "/projects/g%2Fp/trigger/pipeline"},
		// A prefix needing escapes must not make url.URL drop RawPath (and the
		// project's encoded slash with it): found by review.
		{"prefix with space", "/my api", "group/project",
			"/my api/projects/group/project/trigger/pipeline",
			"/my%20api/projects/group%2Fproject/trigger/pipeline",
			"/my%20api/projects/group%2Fproject/trigger/pipeline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, raw := triggerapi.PipelinePath(tt.prefix, tt.project)
			if path != tt.wantPath || raw != tt.wantRaw {
				t.Errorf("PipelinePath(%q, %q) = %q, %q; want %q, %q", tt.prefix, tt.project, path, raw, tt.wantPath, tt.wantRaw)
			}
			u := url.URL{Path: path, RawPath: raw}
			if got := u.EscapedPath(); got != tt.wantEscaped {
				t.Errorf("EscapedPath() = %q, want %q", got, tt.wantEscaped)
			}
			// What the upstream receives routes back to the same project.
			// ParseRoute compares the prefix with the escaped path as given.
			prefix := (&url.URL{Path: tt.prefix}).EscapedPath()
			route, ok := triggerapi.ParseRoute(prefix, u.EscapedPath())
			if !ok || route.Kind != triggerapi.KindPipeline || route.Project != tt.project {
				t.Errorf("ParseRoute(%q) = %+v, %v; want pipeline route of %q", u.EscapedPath(), route, ok, tt.project)
			}
		})
	}
}
