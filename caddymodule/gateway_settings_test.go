package caddymodule

import (
	"maps"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

func TestStoreSettingsChanges(t *testing.T) {
	defaults := &Handler{}
	defaults.applyDefaults()
	inUse := defaults.storeSettings()

	cases := []struct {
		name        string
		handler     Handler
		live, fixed string // the changes an open store takes, and the others
	}{
		{"defaults", Handler{}, "", ""},
		{"defaults spelled out", Handler{CacheSize: 100000, ChangePollInterval: caddy.Duration(500 * time.Millisecond),
			StorageTimeout: caddy.Duration(2 * time.Second)}, "", ""},
		{"every store setting", Handler{CacheSize: 5, CacheTTL: caddy.Duration(time.Second),
			NegativeCacheTTL: caddy.Duration(2 * time.Second), UsageFlushInterval: caddy.Duration(3 * time.Second),
			ChangePollInterval: caddy.Duration(time.Second), StorageTimeout: caddy.Duration(5 * time.Second)},
			"cache_size 5 (was: 100000), cache_ttl 1s (was: 1m0s), negative_cache_ttl 2s (was: 10s), " +
				"usage_flush_interval 3s (was: 10s), change_poll_interval 1s (was: 500ms), storage_timeout 5s (was: 2s)", ""},
		{"the change feed turned off", Handler{ChangePollInterval: caddy.Duration(-1)}, "", "change_poll_interval -1ns (was: 500ms)"},
		{"handler settings are not store settings", Handler{MaxBody: 5, FailedAuthLimit: 3}, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.handler
			h.applyDefaults()
			var live, fixed []settingChange
			for _, c := range inUse.changes(h.storeSettings()) {
				if c.live() {
					live = append(live, c)
				} else {
					fixed = append(fixed, c)
				}
			}
			if got := describeChanges(live, "was"); got != tc.live {
				t.Errorf("changes an open store takes %q, want %q", got, tc.live)
			}
			if got := describeChanges(fixed, "was"); got != tc.fixed {
				t.Errorf("other changes %q, want %q", got, tc.fixed)
			}
		})
	}
}

// The latest handler provisioned on a store sets its aliases and cache
// settings; when it leaves first (its config failed to load), those of
// the handler before it apply again.
func TestGatewayMembersSettings(t *testing.T) {
	g, _ := testGateway(t, nil)
	handler := func(cacheSize int, alias string) *Handler {
		h := &Handler{CacheSize: cacheSize}
		h.applyDefaults()
		h.projects = projectTable(map[string]string{alias: "9"})
		return h
	}
	running, failed := handler(100, "group/running"), handler(5, "group/failed")
	g.settings = running.storeSettings() // as when running opened the store
	check := func(when string, want *Handler) {
		t.Helper()
		if g.settings != want.storeSettings() {
			t.Errorf("%s: settings %+v, want %+v", when, g.settings, want.storeSettings())
		}
		if !maps.Equal(g.aliases, want.projects) {
			t.Errorf("%s: aliases %v, want %v", when, g.aliases, want.projects)
		}
	}

	if applied, notApplied, err := g.join(running); err != nil || len(applied)+len(notApplied) != 0 {
		t.Fatalf("join of the store's opener: %v %v %v", applied, notApplied, err)
	}
	applied, _, err := g.join(failed)
	if err != nil || describeChanges(applied, "was") != "cache_size 5 (was: 100)" {
		t.Fatalf("join with another cache size: applied %q, %v", describeChanges(applied, "was"), err)
	}
	check("after the second join", failed)
	g.leave(failed)
	check("after the latest left", running)

	next := handler(7, "group/next")
	if _, _, err := g.join(next); err != nil {
		t.Fatal(err)
	}
	g.leave(running) // a reload that succeeded: the old config's handler goes
	check("after an older member left", next)
	g.leave(running) // not a member any more: nothing changes
	check("after leaving twice", next)
}
