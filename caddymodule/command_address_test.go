package caddymodule

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The CLI finds the admin address as 'caddy reload' does, and refuses a
// config that turns the admin API off rather than trying the default.
func TestCLIAdminAddress(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	unixJSON := write("unix.json", `{"admin":{"listen":"unix//run/caddy/admin.sock"}}`)
	offJSON := write("off.json", `{"admin":{"disabled":true}}`)
	noAdminJSON := write("none.json", `{"apps":{}}`)
	offCaddyfile := write("off.caddyfile", "{\n\tadmin off\n}\n")
	adjacent := t.TempDir()
	if err := os.WriteFile(filepath.Join(adjacent, "Caddyfile"), []byte("{\n\tadmin localhost:2999\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name                     string
		dir                      string // the working directory
		address, config, adapter string
		want                     string
		errHas                   string
	}{
		{name: "--address wins", dir: adjacent, address: "127.0.0.1:3000", config: offJSON, want: "127.0.0.1:3000"},
		{name: "--config with a unix socket", dir: dir, config: unixJSON, want: "unix//run/caddy/admin.sock"},
		{name: "--config without admin", dir: dir, config: noAdminJSON, want: "localhost:2019"},
		{name: "the adjacent Caddyfile", dir: adjacent, want: "localhost:2999"},
		{name: "no config at all", dir: dir, want: "localhost:2019"},
		{name: "--config with admin disabled", dir: dir, config: offJSON, errHas: offJSON + " turns the admin API off"},
		{name: "--config Caddyfile with admin off", dir: dir, config: offCaddyfile, adapter: "caddyfile", errHas: "--address"},
		{name: "--config named like a Caddyfile, no --adapter", dir: dir, config: offCaddyfile, errHas: "admin off"},
		{name: "--config not JSON, no --adapter", dir: dir, config: write("Caddy.conf", "{\n\tadmin off\n}\n"), errHas: "--adapter caddyfile"},
		{name: "--config with an unknown adapter", dir: dir, config: unixJSON, adapter: "yaml-nope", errHas: "unrecognized config adapter"},
		{name: "--config missing", dir: dir, config: filepath.Join(dir, "missing"), errHas: "no such file"},
		{name: "--adapter without --config", dir: dir, adapter: "caddyfile", errHas: "--config"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Chdir(tc.dir)
			got, err := cliAdminAddress(tc.address, tc.config, tc.adapter)
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("address %q, error %v; want an error mentioning %q", got, err, tc.errHas)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("address %q, error %v; want %q", got, err, tc.want)
			}
		})
	}
}
