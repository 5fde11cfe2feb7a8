package caddymodule

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

func TestUnmarshalCaddyfileJobToken(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    string // the handler's JSON
		wantErr string
	}{
		{
			name: "every job_token subdirective",
			input: `trigger_gateway {
				job_token {
					jwks_url https://gitlab.example.com/oauth/discovery/keys
					issuer https://gitlab.example.com
					audience https://ci.example.com
					leeway 1m
					refresh_interval 30m
					min_refresh_interval 500ms
					cache_size 500
					claims {
						project_id namespace_project_id
						project_path namespace_path
						pipeline_id ci_pipeline
						job_id ci_job
						ref git_ref
						user login
					}
					artifacts_credential PRIVATE-TOKEN {env.CI_READ_TOKEN}
				}
			}`,
			want: `{"job_token":{"jwks_url":"https://gitlab.example.com/oauth/discovery/keys",` +
				`"issuer":"https://gitlab.example.com","audience":"https://ci.example.com",` +
				`"leeway":60000000000,"refresh_interval":1800000000000,"min_refresh_interval":500000000,"cache_size":500,` +
				`"claims":{"project_id":"namespace_project_id","project_path":"namespace_path","pipeline_id":"ci_pipeline",` +
				`"job_id":"ci_job","ref":"git_ref","user":"login"},` +
				`"artifacts_header":"PRIVATE-TOKEN","artifacts_credential":"{env.CI_READ_TOKEN}"}}`,
		},
		{
			name: "jwks_file, partial claims",
			input: `trigger_gateway {
				job_token {
					jwks_file /etc/caddy/jwks.json
					issuer https://gitlab.example.com
					audience https://ci.example.com
					claims {
						project_id pid
					}
				}
			}`,
			want: `{"job_token":{"jwks_file":"/etc/caddy/jwks.json","issuer":"https://gitlab.example.com",` +
				`"audience":"https://ci.example.com","claims":{"project_id":"pid"}}}`,
		},
		{
			name:  "empty job_token block",
			input: "trigger_gateway {\n\tjob_token\n}",
			want:  `{"job_token":{}}`,
		},
		{
			name: "project subdirectives",
			input: `trigger_gateway {
				project 9 {
					alias group/project
					job_token_allow 12 group/*
					job_token_allow tools/**
					artifacts_credential Authorization "Bearer {env.READ_9}"
				}
			}`,
			want: `{"projects":{"9":{"aliases":["group/project"],"job_token_allow":["12","group/*","tools/**"],` +
				`"artifacts_header":"Authorization","artifacts_credential":"Bearer {env.READ_9}"}}}`,
		},
		{name: "job_token argument", input: "trigger_gateway {\n\tjob_token https://gitlab.example.com\n}", wantErr: "wrong argument count"},
		{name: "job_token twice", input: "trigger_gateway {\n\tjob_token\n\tjob_token\n}", wantErr: "job_token is configured twice"},
		{name: "unknown job_token subdirective", input: "trigger_gateway {\n\tjob_token {\n\t\tjwks https://x\n\t}\n}",
			wantErr: "unrecognized job_token subdirective 'jwks'"},
		{name: "jwks_url without value", input: "trigger_gateway {\n\tjob_token {\n\t\tjwks_url\n\t}\n}", wantErr: "wrong argument count"},
		{name: "two issuers on a line", input: "trigger_gateway {\n\tjob_token {\n\t\tissuer a b\n\t}\n}", wantErr: "wrong argument count"},
		{name: "bad leeway", input: "trigger_gateway {\n\tjob_token {\n\t\tleeway a-bit\n\t}\n}", wantErr: "is not a duration"},
		{name: "bad refresh_interval", input: "trigger_gateway {\n\tjob_token {\n\t\trefresh_interval hourly\n\t}\n}", wantErr: "is not a duration"},
		{name: "bad cache_size", input: "trigger_gateway {\n\tjob_token {\n\t\tcache_size -5\n\t}\n}", wantErr: "is not a count"},
		{name: "claims argument", input: "trigger_gateway {\n\tjob_token {\n\t\tclaims gitlab\n\t}\n}", wantErr: "wrong argument count"},
		{name: "unknown claim", input: "trigger_gateway {\n\tjob_token {\n\t\tclaims {\n\t\t\tnamespace_id nid\n\t\t}\n\t}\n}",
			wantErr: "unrecognized claims subdirective 'namespace_id'"},
		{name: "claim without name", input: "trigger_gateway {\n\tjob_token {\n\t\tclaims {\n\t\t\tproject_id\n\t\t}\n\t}\n}",
			wantErr: "wrong argument count"},
		{name: "artifacts_credential without value", input: "trigger_gateway {\n\tjob_token {\n\t\tartifacts_credential PRIVATE-TOKEN\n\t}\n}",
			wantErr: "wrong argument count"},
		{name: "artifacts_credential with three values", input: "trigger_gateway {\n\tjob_token {\n\t\tartifacts_credential Authorization Bearer x\n\t}\n}",
			wantErr: "wrong argument count"},
		{name: "empty job_token_allow", input: "trigger_gateway {\n\tproject 9 {\n\t\tjob_token_allow\n\t}\n}", wantErr: "wrong argument count"},
		{name: "project artifacts_credential without value", input: "trigger_gateway {\n\tproject 9 {\n\t\tartifacts_credential X-Token\n\t}\n}",
			wantErr: "wrong argument count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkUnmarshal(t, tt.input, tt.want, tt.wantErr) })
	}
}

// The contract's Caddyfile (§7) adapts, and the handler it gives provisions
// and accepts a job token from an allowlisted project.
func TestAdaptContractJobTokenCaddyfile(t *testing.T) {
	jwks := writeJWKS(t)
	input := `:8080 {
		trigger_gateway {
			job_token {
				jwks_file ` + jwks + `
				issuer ` + testIssuer + `
				audience ` + testAudience + `
			}
			project 9 {
				alias group/project
				job_token_allow 12 group/*
			}
		}
		reverse_proxy localhost:9000
	}`
	out, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(input), nil)
	if err != nil {
		t.Fatalf("Adapt: %v (warnings %v)", err, warnings)
	}
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Routes []struct {
						Handle []json.RawMessage `json:"handle"`
					} `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	var h *Handler
	for _, srv := range cfg.Apps.HTTP.Servers {
		for _, route := range srv.Routes {
			for _, raw := range route.Handle {
				if strings.Contains(string(raw), `"handler":"trigger_gateway"`) {
					h = new(Handler)
					if err := json.Unmarshal(raw, h); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	if h == nil {
		t.Fatalf("no trigger_gateway handler in %s", out)
	}
	provisionHandler(t, h, "")
	for _, tt := range []struct {
		projectID, projectPath string
		want                   int
	}{
		{"12", "infra/deployer", 201},
		{"40", "group/sibling", 201},
		{"41", "elsewhere/project", 404},
	} {
		target := "/api/v4/projects/group%2Fproject/trigger/pipeline?ref=main&token=" + jobToken(t, tt.projectID, tt.projectPath)
		next := new(recorder)
		if w, _, err := serve(h, httptest.NewRequest(http.MethodPost, target, nil), next); err != nil || w.Code != tt.want {
			t.Errorf("job of %s: %v, status %d, want %d", tt.projectPath, err, w.Code, tt.want)
		}
	}
}
