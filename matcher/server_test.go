package matcher

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/filestorage"
)

// TestServerRouting loads a Caddyfile into a real Caddy server on the
// loopback interface and sends it requests, so the matcher is exercised
// where users meet it: in named matchers and CEL expressions chosen by
// Caddy's router, with the escaped path as net/http delivers it.
func TestServerRouting(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()

	caddyfileText := `{
	admin off
	persist_config off
	auto_https off
	storage file_system ` + t.TempDir() + `
	log {
		output discard
	}
}
http://127.0.0.1:` + port + ` {
	@pipeline9 trigger pipeline {
		project 9
	}
	@webhook expression ` + "`trigger('webhook') && method('POST')`" + `
	@custom trigger {
		path_prefix /gitlab/api/v4
	}
	@any trigger
	handle @pipeline9 {
		respond "pipeline9"
	}
	handle @webhook {
		respond "webhook"
	}
	handle @custom {
		respond "custom"
	}
	handle @any {
		respond "any"
	}
	respond "none" 404
}
`
	cfgJSON, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfileText), nil)
	if err != nil {
		t.Fatalf("adapting Caddyfile: %v", err)
	}
	if err := caddy.Load(cfgJSON, true); err != nil {
		t.Fatalf("loading config: %v", err)
	}
	t.Cleanup(func() {
		if err := caddy.Stop(); err != nil {
			t.Errorf("stopping Caddy: %v", err)
		}
	})

	base := "http://127.0.0.1:" + port
	tests := []struct {
		method, path string
		want         string
	}{
		{"POST", "/api/v4/projects/9/trigger/pipeline?token=x&ref=main", "pipeline9"},
		{"GET", "/api/v4/projects/9/trigger/pipeline", "pipeline9"},
		{"POST", "/api/v4/projects/group%2Fproject/trigger/pipeline", "any"},
		{"POST", "/api/v4/projects/9/ref/feature%2Fx/trigger/pipeline", "webhook"},
		{"POST", "/api/v4/projects/group%2Fproject/ref/feature/x/trigger/pipeline", "webhook"},
		{"GET", "/api/v4/projects/9/ref/main/trigger/pipeline", "any"},
		{"GET", "/api/v4/projects/9/jobs/artifacts/main/download?job=build", "any"},
		{"POST", "/gitlab/api/v4/projects/9/trigger/pipeline", "custom"},
		{"POST", "/api/v4/projects/9/trigger/pipeline/", "none"},
		{"POST", "/api/v4/projects/9/pipeline", "none"},
		{"POST", "/api/v4/projects/9/ref/trigger/pipeline", "none"},
		{"GET", "/", "none"},
	}
	client := &http.Client{}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tt.method, base+tt.path, strings.NewReader(""))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if string(body) != tt.want {
				t.Errorf("answered %d %q, want %q", resp.StatusCode, body, tt.want)
			}
		})
	}
}
