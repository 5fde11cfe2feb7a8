package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    string // the handler's JSON
		wantErr string
	}{
		{
			name:  "no block",
			input: `trigger_gateway`,
			want:  `{}`,
		},
		{
			name: "every subdirective",
			input: `trigger_gateway {
				path_prefix /gitlab/api/v4
				legacy_triggers deny
				upstream_token {env.CI_TRIGGER_TOKEN}
				max_body 2MiB
				read_body_timeout 5s
				max_variables 20
				max_variable_size 4KiB
				storage file_system /var/lib/triggers
				cache_size 500
				cache_ttl 30s
				negative_cache_ttl 5s
				usage_flush_interval 1m
				project 9 {
					alias group/project group/old-name
					upstream_token {file./etc/caddy/token-9}
				}
				project 12
			}`,
			want: `{"path_prefix":"/gitlab/api/v4","legacy_triggers":"deny","upstream_token":"{env.CI_TRIGGER_TOKEN}",` +
				`"max_body":2097152,"read_body_timeout":5000000000,"max_variables":20,"max_variable_size":4096,` +
				`"storage":{"module":"file_system","root":"/var/lib/triggers"},"cache_size":500,` +
				`"cache_ttl":30000000000,"negative_cache_ttl":5000000000,"usage_flush_interval":60000000000,` +
				`"projects":{"12":{},"9":{"aliases":["group/project","group/old-name"],"upstream_token":"{file./etc/caddy/token-9}"}}}`,
		},
		{name: "unknown subdirective", input: "trigger_gateway {\n\tbogus 1\n}", wantErr: "unrecognized trigger_gateway subdirective 'bogus'"},
		{name: "bad legacy value", input: "trigger_gateway {\n\tlegacy_triggers maybe\n}", wantErr: "legacy_triggers must be allow or deny"},
		{name: "bad size", input: "trigger_gateway {\n\tmax_body lots\n}", wantErr: "is not a size"},
		{name: "bad duration", input: "trigger_gateway {\n\tcache_ttl soon\n}", wantErr: "is not a duration"},
		// Refused where the Caddyfile says so, with its line, rather than
		// by the token store or the key set when the config loads.
		{name: "negative cache_ttl", input: "trigger_gateway {\n\tcache_ttl -1s\n}", wantErr: `cache_ttl: "-1s" must not be negative, at Testfile:2`},
		{name: "negative storage_timeout", input: "trigger_gateway {\n\tstorage_timeout -1s\n}", wantErr: `storage_timeout: "-1s" must not be negative`},
		{name: "negative job_token leeway", input: "trigger_gateway {\n\tjob_token {\n\t\tleeway -1s\n\t}\n}", wantErr: `leeway: "-1s" must not be negative`},
		{
			name:  "negative negative_cache_ttl turns negative caching off",
			input: "trigger_gateway {\n\tnegative_cache_ttl -1s\n}",
			want:  `{"negative_cache_ttl":-1000000000}`,
		},
		{
			name:  "negative change_poll_interval turns the change feed off",
			input: "trigger_gateway {\n\tchange_poll_interval -1s\n}",
			want:  `{"change_poll_interval":-1000000000}`,
		},
		{name: "read_body_timeout not a duration", input: "trigger_gateway {\n\tread_body_timeout soon\n}", wantErr: "is not a duration"},
		{name: "read_body_timeout zero", input: "trigger_gateway {\n\tread_body_timeout 0s\n}", wantErr: "read_body_timeout must be a positive duration"},
		{name: "read_body_timeout negative", input: "trigger_gateway {\n\tread_body_timeout -1s\n}", wantErr: "read_body_timeout must be a positive duration"},
		{name: "read_body_timeout without a duration", input: "trigger_gateway {\n\tread_body_timeout\n}", wantErr: "wrong argument count"},
		{name: "bad count", input: "trigger_gateway {\n\tmax_variables -1\n}", wantErr: "is not a count"},
		{name: "bad count names the subdirective", input: "trigger_gateway {\n\tmax_variables -1\n}", wantErr: `max_variables: "-1" is not a count`},
		{name: "bad cache_size names the subdirective", input: "trigger_gateway {\n\tcache_size many\n}", wantErr: `cache_size: "many" is not a count`},
		{name: "bad job_token cache_size names the subdirective", input: "trigger_gateway {\n\tjob_token {\n\t\tcache_size -5\n\t}\n}", wantErr: `cache_size: "-5" is not a count`},
		{name: "bad variables max_count names the subdirective", input: "trigger_gateway {\n\tvariables {\n\t\tmax_count -1\n\t}\n}", wantErr: `max_count: "-1" is not a count`},
		{name: "missing argument", input: "trigger_gateway {\n\tpath_prefix\n}", wantErr: "wrong argument count"},
		{name: "extra argument", input: "trigger_gateway {\n\tpath_prefix /a /b\n}", wantErr: "wrong argument count"},
		{name: "inline argument", input: "trigger_gateway /api", wantErr: "wrong argument count"},
		{name: "project with two IDs", input: "trigger_gateway {\n\tproject 9 12 {\n\t}\n}", wantErr: "wrong argument count or unexpected line ending after '12', at Testfile:2"},
		{name: "duplicate project", input: "trigger_gateway {\n\tproject 9\n\tproject 9\n}", wantErr: "project 9 is configured twice"},
		{name: "unknown project subdirective", input: "trigger_gateway {\n\tproject 9 {\n\t\tcolour blue\n\t}\n}", wantErr: "unrecognized project subdirective 'colour'"},
		{
			name:  "failed_auth_limit with a window",
			input: "trigger_gateway {\n\tfailed_auth_limit 5 30s\n}",
			want:  `{"failed_auth_limit":5,"failed_auth_window":30000000000}`,
		},
		{
			name:  "failed_auth_limit off",
			input: "trigger_gateway {\n\tfailed_auth_limit off\n}",
			want:  `{"disable_failed_auth_limit":true}`,
		},
		{name: "failed_auth_limit zero", input: "trigger_gateway {\n\tfailed_auth_limit 0\n}", wantErr: "neither off nor a positive count"},
		{name: "failed_auth_limit bad window", input: "trigger_gateway {\n\tfailed_auth_limit 5 soon\n}", wantErr: "is not a duration"},
		{name: "unknown storage module", input: "trigger_gateway {\n\tstorage nowhere\n}", wantErr: "caddy.storage.nowhere"},
		// A second block of a module or of claims would silently replace
		// the first, as the Triggers page's storage does not.
		{name: "storage twice", input: "trigger_gateway {\n\tstorage file_system /a\n\tstorage file_system /b\n}", wantErr: "storage is given twice"},
		{name: "claims twice", input: "trigger_gateway {\n\tjob_token {\n\t\tclaims {\n\t\t\tuser login\n\t\t}\n\t\tclaims {\n\t\t\tref r\n\t\t}\n\t}\n}", wantErr: "claims is given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkUnmarshal(t, tt.input, tt.want, tt.wantErr) })
	}
}

// The plugin orders its directive before reverse_proxy itself, so a site
// needs no global `order` option.
func TestAdaptOrdersBeforeReverseProxy(t *testing.T) {
	input := `:8080 {
		reverse_proxy localhost:9000
		trigger_gateway
	}`
	adapter := caddyconfig.GetAdapter("caddyfile")
	out, warnings, err := adapter.Adapt([]byte(input), nil)
	if err != nil {
		t.Fatalf("Adapt: %v (warnings %v)", err, warnings)
	}
	config := string(out)
	gateway := strings.Index(config, `"handler":"trigger_gateway"`)
	proxy := strings.Index(config, `"handler":"reverse_proxy"`)
	if gateway < 0 || proxy < 0 || gateway > proxy {
		t.Errorf("trigger_gateway is not ordered before reverse_proxy:\n%s", config)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		handler Handler
		wantErr string
	}{
		{"relative prefix", Handler{PathPrefix: "api"}, "path_prefix must start with '/'"},
		{"bad legacy", Handler{PathPrefix: "/api", LegacyTriggers: "sometimes"}, "legacy_triggers"},
		{"alias names a project", Handler{PathPrefix: "/api", Projects: map[string]*Project{
			"9": {Aliases: []string{"12"}}, "12": {}}}, "names another project"},
		{"alias twice", Handler{PathPrefix: "/api", Projects: map[string]*Project{
			"9": {Aliases: []string{"g/p"}}, "10": {Aliases: []string{"g/p"}}}}, "names both project"},
		{"negative read_body_timeout", Handler{PathPrefix: "/api", ReadBodyTimeout: -1}, "read_body_timeout must not be negative"},
		// JSON configs skip the Caddyfile's checks: a negative limit would
		// refuse a client after its first failure, a negative window turn
		// the limit off.
		{"negative failed_auth_limit", Handler{PathPrefix: "/api", FailedAuthLimit: -5}, "failed_auth_limit must not be negative"},
		{"negative failed_auth_window", Handler{PathPrefix: "/api", FailedAuthWindow: -1}, "failed_auth_window must not be negative"},
		{"valid", Handler{PathPrefix: "/api", LegacyTriggers: "deny", Projects: map[string]*Project{
			"9": {Aliases: []string{"g/p"}}}}, ""},
		// Project paths are case-insensitive.
		{"projects differing in case", Handler{PathPrefix: "/api", Projects: map[string]*Project{
			"g/app": {}, "G/App": {}}}, "differ only in case"},
		{"alias names a project in another case", Handler{PathPrefix: "/api", Projects: map[string]*Project{
			"9": {Aliases: []string{"G/App"}}, "g/app": {}}}, "names another project"},
		{"aliases differing in case", Handler{PathPrefix: "/api", Projects: map[string]*Project{
			"9": {Aliases: []string{"g/p"}}, "10": {Aliases: []string{"G/P"}}}}, "names both project"},
		{"alias of its own ID in another case", Handler{PathPrefix: "/api", Projects: map[string]*Project{
			"G/App": {Aliases: []string{"g/app", "g/APP"}}}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.handler.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// checkUnmarshal parses input as a trigger_gateway block and compares the
// handler's JSON with want, or the error with wantErr when that is set.
func checkUnmarshal(t *testing.T, input, want, wantErr string) {
	t.Helper()
	var h Handler
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("error %v, want one containing %q", err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatalf("UnmarshalCaddyfile: %v", err)
	}
	got, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
