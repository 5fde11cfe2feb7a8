package caddymodule

import (
	"encoding/json"
	"fmt"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
)

// cliAdminAddress is the admin address 'caddy trigger' talks to, found as
// 'caddy reload' finds it: --address; else the admin address of the
// config, --config (with --adapter) or else the Caddyfile in the current
// directory; else localhost:2019. A config that turns the admin API off
// is an error: the default address would reach another Caddy, if any.
func cliAdminAddress(address, configFile, adapter string) (string, error) {
	if address != "" {
		return address, nil
	}
	config, loadedFile, _, err := caddycmd.LoadConfig(configFile, adapter)
	if err != nil {
		return "", err
	}
	if loadedFile == "" {
		return caddy.DefaultAdminListen, nil
	}
	var admin struct {
		Admin caddy.AdminConfig `json:"admin"`
	}
	if err := json.Unmarshal(config, &admin); err != nil {
		return "", fmt.Errorf("reading the admin address of %s: %v", loadedFile, err)
	}
	if admin.Admin.Disabled {
		return "", fmt.Errorf("%s turns the admin API off (admin off), which this command needs: "+
			"give the running Caddy's admin address with --address", loadedFile)
	}
	return caddycmd.DetermineAdminAPIAddress("", config, loadedFile, adapter)
}
