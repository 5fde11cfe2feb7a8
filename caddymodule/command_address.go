package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
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
	config, loadedFile, err := loadCLIConfig(configFile, adapter)
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
		return "", fmt.Errorf("reading the admin address of %s: %v; is it a Caddyfile? then add --adapter caddyfile", loadedFile, err)
	}
	if admin.Admin.Disabled {
		return "", fmt.Errorf("%s turns the admin API off (admin off), which this command needs: "+
			"give the running Caddy's admin address with --address", loadedFile)
	}
	return caddycmd.DetermineAdminAPIAddress("", config, loadedFile, adapter)
}

// loadCLIConfig reads the config as caddycmd.LoadConfig does (--config,
// "-" for standard input, else an adjacent Caddyfile; adapted with
// --adapter, or with the Caddyfile adapter for a file named like one)
// but writes no log lines: the command's standard error holds its one
// error line and nothing else. The file is "" when there is no config.
func loadCLIConfig(configFile, adapter string) (config []byte, file string, err error) {
	switch {
	case adapter != "" && configFile == "":
		return nil, "", errors.New("cannot adapt config without config file (use --config)")
	case configFile == "-":
		if config, err = io.ReadAll(os.Stdin); err != nil {
			return nil, "", fmt.Errorf("reading config from stdin: %v", err)
		}
	case configFile != "":
		if config, err = os.ReadFile(configFile); err != nil {
			return nil, "", fmt.Errorf("reading config from file: %v", err)
		}
	default:
		config, err = os.ReadFile("Caddyfile")
		if errors.Is(err, fs.ErrNotExist) {
			return nil, "", nil
		}
		if err != nil {
			return nil, "", fmt.Errorf("reading default Caddyfile: %v", err)
		}
		configFile = "Caddyfile"
	}
	if adapter == "" && namedLikeCaddyfile(configFile) {
		adapter = "caddyfile"
	}
	if adapter == "" {
		return config, configFile, nil
	}
	cfgAdapter := caddyconfig.GetAdapter(adapter)
	if cfgAdapter == nil {
		return nil, "", fmt.Errorf("unrecognized config adapter: %s", adapter)
	}
	adapted, _, err := cfgAdapter.Adapt(config, map[string]any{"filename": configFile})
	if err != nil {
		return nil, "", fmt.Errorf("adapting config using %s: %v", adapter, err)
	}
	return adapted, configFile, nil
}

// namedLikeCaddyfile is Caddy's rule for a config file given without
// --adapter: a name starting with "caddyfile" or ending in ".caddyfile",
// in any case, and not ending in ".json", is a Caddyfile.
func namedLikeCaddyfile(configFile string) bool {
	base := strings.ToLower(filepath.Base(configFile))
	if filepath.Ext(base) == ".json" {
		return false
	}
	return strings.HasPrefix(base, "caddyfile") || strings.HasSuffix(base, ".caddyfile")
}
