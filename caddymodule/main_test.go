package caddymodule

import (
	"os"
	"testing"
)

// TestMain keeps Caddy's data (the instance ID, default storage) out of the
// user's home when the tests run without ./xcaddy.sh test.
func TestMain(m *testing.M) {
	if os.Getenv("XDG_DATA_HOME") == "" {
		dir, err := os.MkdirTemp("", "trigger-gateway-test-")
		if err != nil {
			panic(err)
		}
		os.Setenv("XDG_DATA_HOME", dir+"/data")
		os.Setenv("XDG_CONFIG_HOME", dir+"/config")
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}
