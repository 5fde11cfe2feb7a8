package caddymodule

import (
	"slices"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

func TestStoreSettingsDifferences(t *testing.T) {
	defaults := &Handler{}
	defaults.applyDefaults()
	inUse := defaults.storeSettings()

	cases := []struct {
		name    string
		handler Handler
		want    []string
	}{
		{"defaults", Handler{}, nil},
		{"defaults spelled out", Handler{CacheSize: 10000, ChangePollInterval: caddy.Duration(500 * time.Millisecond),
			StorageTimeout: caddy.Duration(2 * time.Second)}, nil},
		{"every store setting", Handler{CacheSize: 5, CacheTTL: caddy.Duration(time.Second),
			NegativeCacheTTL: caddy.Duration(2 * time.Second), UsageFlushInterval: caddy.Duration(3 * time.Second),
			ChangePollInterval: caddy.Duration(time.Second), StorageTimeout: caddy.Duration(5 * time.Second)},
			[]string{"cache_size 5 (in use: 10000)", "cache_ttl 1s (in use: 1m0s)", "negative_cache_ttl 2s (in use: 10s)",
				"usage_flush_interval 3s (in use: 10s)", "change_poll_interval 1s (in use: 500ms)", "storage_timeout 5s (in use: 2s)"}},
		{"handler settings are not store settings", Handler{MaxBody: 5, FailedAuthLimit: 3}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.handler
			h.applyDefaults()
			if got := inUse.differences(h.storeSettings()); !slices.Equal(got, tc.want) {
				t.Errorf("differences = %q, want %q", got, tc.want)
			}
		})
	}
}
