package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth" // basic_auth
)

func TestUnmarshalUICaddyfile(t *testing.T) {
	for _, tc := range []struct {
		name, input, want, wantErr string
	}{
		{"no block", `trigger_gateway_ui`, `{}`, ""},
		{"every subdirective", `trigger_gateway_ui {
			maintainers alice bob
			maintainers carol
			allow_anonymous
			gateway_url https://ci.example.com
		}`, `{"maintainers":["alice","bob","carol"],"allow_anonymous":true,"gateway_url":"https://ci.example.com"}`, ""},
		{"a storage", "trigger_gateway_ui {\n storage file_system /var/lib/triggers\n}",
			`{"storage":{"module":"file_system","root":"/var/lib/triggers"}}`, ""},
		{"a storage with its block", "trigger_gateway_ui {\n storage file_system {\n root /var/lib/triggers\n }\n}",
			`{"storage":{"module":"file_system","root":"/var/lib/triggers"}}`, ""},
		{"two storages", "trigger_gateway_ui {\n storage file_system /a\n storage file_system /b\n}", "", "storage is given twice"},
		{"a storage without its module", "trigger_gateway_ui {\n storage\n}", "", "wrong argument count"},
		{"an unknown storage module", "trigger_gateway_ui {\n storage floppy\n}", "", "floppy"},
		{"an argument", `trigger_gateway_ui 9`, "", "wrong argument count"},
		{"maintainers without users", "trigger_gateway_ui {\n maintainers\n}", "", "wrong argument count"},
		{"allow_anonymous with an argument", "trigger_gateway_ui {\n allow_anonymous yes\n}", "", "wrong argument count"},
		{"two gateway URLs", "trigger_gateway_ui {\n gateway_url https://a https://b\n}", "", "wrong argument count"},
		{"unknown subdirective", "trigger_gateway_ui {\n admins alice\n}", "", `unrecognized trigger_gateway_ui subdirective "admins"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h UIHandler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(h)
			if string(got) != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestUIValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		h       UIHandler
		wantErr string
	}{
		{"default", UIHandler{}, ""},
		{"maintainers and URL", UIHandler{Maintainers: []string{"alice"}, GatewayURL: "https://ci.example.com/"}, ""},
		{"empty maintainer", UIHandler{Maintainers: []string{""}}, "not a user name"},
		{"maintainer with a space", UIHandler{Maintainers: []string{"al ice"}}, "not a user name"},
		{"relative URL", UIHandler{GatewayURL: "/api"}, "gateway_url"},
		{"URL with a query", UIHandler{GatewayURL: "https://ci.example.com/?token=x"}, "gateway_url"},
		{"URL with credentials", UIHandler{GatewayURL: "https://u:p@ci.example.com"}, "gateway_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.h.Validate()
			if (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("Validate: %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// The page's directive is ordered by the plugin before trigger_gateway
// (which answers 404 to anything but the trigger API) and after
// basic_auth, so one site holds both with no global `order` option.
func TestAdaptOrdersTheUIBeforeTheGateway(t *testing.T) {
	input := `:8080 {
		reverse_proxy localhost:9000
		trigger_gateway
		trigger_gateway_ui /triggers/* {
			maintainers alice
		}
		basic_auth /triggers/* {
			alice $2a$14$Zkx19XLiW6VYouLHR5NmfOFU0z2GTNmpkT/5qqR7hx4IjWJPDhjvG
		}
	}`
	out, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(input), nil)
	if err != nil {
		t.Fatalf("Adapt: %v (warnings %v)", err, warnings)
	}
	config := string(out)
	auth := strings.Index(config, `"handler":"authentication"`)
	ui := strings.Index(config, `"handler":"trigger_gateway_ui"`)
	gateway := strings.Index(config, `"handler":"trigger_gateway"`)
	if auth < 0 || ui < 0 || gateway < 0 || auth > ui || ui > gateway {
		t.Errorf("want basic_auth, then trigger_gateway_ui, then trigger_gateway:\n%s", config)
	}
}
