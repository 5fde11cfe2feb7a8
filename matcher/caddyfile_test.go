package matcher

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    MatchTrigger
		wantErr string
	}{
		{name: "no argument", input: `trigger`, want: MatchTrigger{}},
		{name: "one kind", input: `trigger webhook`, want: MatchTrigger{Kinds: []string{"webhook"}}},
		{
			name:  "all kinds",
			input: `trigger pipeline webhook artifacts management`,
			want:  MatchTrigger{Kinds: []string{"pipeline", "webhook", "artifacts", "management"}},
		},
		{
			name: "management of some projects",
			input: `trigger management {
				project 9 group/project
			}`,
			want: MatchTrigger{Kinds: []string{"management"}, Projects: []string{"9", "group/project"}},
		},
		{
			name: "kinds and block",
			input: `trigger pipeline webhook {
				project 9 group/project
				path_prefix /gitlab/api/v4
			}`,
			want: MatchTrigger{
				Kinds:      []string{"pipeline", "webhook"},
				Projects:   []string{"9", "group/project"},
				PathPrefix: "/gitlab/api/v4",
			},
		},
		{
			name: "block without kinds, project repeated",
			input: `trigger {
				project 9
				project group/project 12
			}`,
			want: MatchTrigger{Projects: []string{"9", "group/project", "12"}},
		},
		{
			name: "empty block",
			input: `trigger pipeline {
			}`,
			want: MatchTrigger{Kinds: []string{"pipeline"}},
		},
		{
			name: "lines merge",
			input: `trigger pipeline
			trigger webhook pipeline {
				project 9
				path_prefix /api/v4
			}
			trigger {
				project 9 12
				path_prefix /api/v4
			}`,
			want: MatchTrigger{
				Kinds:      []string{"pipeline", "webhook"},
				Projects:   []string{"9", "12"},
				PathPrefix: "/api/v4",
			},
		},
		{name: "unknown kind", input: `trigger pipeline pipelines`, wantErr: `"pipelines"`},
		{name: "project without id", input: "trigger {\nproject\n}", wantErr: "wrong argument count"},
		{name: "empty project", input: "trigger {\nproject \"\"\n}", wantErr: "empty project"},
		{name: "encoded project", input: "trigger {\nproject group%2Fproject\n}", wantErr: "URL-encoded"},
		{name: "path_prefix without value", input: "trigger {\npath_prefix\n}", wantErr: "wrong argument count"},
		{name: "path_prefix with two values", input: "trigger {\npath_prefix /a /b\n}", wantErr: "wrong argument count"},
		{name: "relative path_prefix", input: "trigger {\npath_prefix api/v4\n}", wantErr: "must be a URL path"},
		{name: "empty path_prefix", input: "trigger {\npath_prefix \"\"\n}", wantErr: "must be a URL path"},
		{
			name:    "conflicting path_prefix across lines",
			input:   "trigger {\npath_prefix /a\n}\ntrigger {\npath_prefix /b\n}",
			wantErr: "path_prefix set twice",
		},
		{name: "unknown option", input: "trigger {\nprojects 9\n}", wantErr: `unrecognized trigger matcher option "projects"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m MatchTrigger
			err := m.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("UnmarshalCaddyfile: %v", err)
			}
			if !reflect.DeepEqual(m, tt.want) {
				t.Errorf("got %+v, want %+v", m, tt.want)
			}
		})
	}
}

// TestCaddyfileAdapt runs whole Caddyfiles through Caddy's adapter, which
// is what splits named matchers into per-module token segments.
func TestCaddyfileAdapt(t *testing.T) {
	tests := []struct {
		name    string
		site    string
		want    map[string]any // the route's first matcher set
		wantErr string
	}{
		{
			name: "bare",
			site: `@t trigger
				respond @t 200`,
			want: map[string]any{"trigger": map[string]any{}},
		},
		{
			name: "kinds with block",
			site: `@t trigger pipeline webhook {
					project 9 group/project
				}
				respond @t 200`,
			want: map[string]any{"trigger": map[string]any{
				"kinds":    []any{"pipeline", "webhook"},
				"projects": []any{"9", "group/project"},
			}},
		},
		{
			name: "lines merge in a matcher block",
			site: `@t {
					trigger pipeline
					trigger artifacts {
						path_prefix /gitlab/api/v4
					}
					method POST
				}
				respond @t 200`,
			want: map[string]any{
				"trigger": map[string]any{"kinds": []any{"pipeline", "artifacts"}, "path_prefix": "/gitlab/api/v4"},
				"method":  []any{"POST"},
			},
		},
		{
			name: "management kind",
			site: `@t trigger management
				respond @t 200`,
			want: map[string]any{"trigger": map[string]any{"kinds": []any{"management"}}},
		},
		{
			name: "expression",
			site: "@t `trigger('webhook') && method('POST')`\n\t\t\t\trespond @t 200",
			want: map[string]any{"expression": map[string]any{"expr": "trigger('webhook') && method('POST')", "name": "t"}},
		},
		{
			name: "unknown kind names its line",
			site: `@t trigger pipline
				respond @t 200`,
			wantErr: `unknown trigger route kind "pipline" (want pipeline, webhook, artifacts or management), at Caddyfile:5`,
		},
		{
			// Caddy's parser forbids tokens after '{' on the same line, so the
			// block form of the matcher is always written over several lines.
			name: "one-line block is a Caddyfile syntax error",
			site: `@t trigger pipeline { project 9 }
				respond @t 200`,
			wantErr: "Unexpected next token after '{' on same line",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			input := "{\n\tadmin off\n}\n:8080 {\n\t\t\t\t" + tt.site + "\n}\n"
			out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(input), nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Adapt error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Adapt: %v", err)
			}
			var cfg struct {
				Apps struct {
					HTTP struct {
						Servers map[string]struct {
							Routes []struct {
								Match []map[string]any `json:"match"`
							} `json:"routes"`
						} `json:"servers"`
					} `json:"http"`
				} `json:"apps"`
			}
			if err := json.Unmarshal(out, &cfg); err != nil {
				t.Fatal(err)
			}
			srv, ok := cfg.Apps.HTTP.Servers["srv0"]
			if !ok || len(srv.Routes) == 0 || len(srv.Routes[0].Match) == 0 {
				t.Fatalf("no matcher in adapted config: %s", out)
			}
			if got := srv.Routes[0].Match[0]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("matcher set = %#v, want %#v\nconfig: %s", got, tt.want, out)
			}
		})
	}
}
