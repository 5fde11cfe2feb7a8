package caddymodule

import (
	"fmt"
	"strings"
	"time"

	"github.com/triggergate/caddy-trigger-gateway/tokenstore"
)

// storeSettings are the settings of the token store itself. Handlers that
// use one storage share one store, kept across reloads until no handler
// uses it any more: the cache settings of the last handler provisioned
// apply to it, the others stay those of the handler that opened it.
type storeSettings struct {
	cacheSize          int
	cacheTTL           time.Duration
	negativeCacheTTL   time.Duration
	usageFlushInterval time.Duration
	changePollInterval time.Duration
	storageTimeout     time.Duration
}

// storeSettings are the handler's store settings, defaults applied: the
// token store is opened with them.
func (h *Handler) storeSettings() storeSettings {
	orDefault := func(d, def time.Duration) time.Duration {
		if d == 0 {
			return def
		}
		return d
	}
	return storeSettings{
		cacheSize:          h.CacheSize,
		cacheTTL:           time.Duration(h.CacheTTL),
		negativeCacheTTL:   time.Duration(h.NegativeCacheTTL),
		usageFlushInterval: time.Duration(h.UsageFlushInterval),
		changePollInterval: orDefault(time.Duration(h.ChangePollInterval), tokenstore.DefaultChangePollInterval),
		storageTimeout:     orDefault(time.Duration(h.StorageTimeout), tokenstore.DefaultStorageTimeout),
	}
}

// settingChange is one store setting a handler wants other than the store has.
type settingChange struct {
	name          string
	wanted, inUse any
}

// cacheSetting reports whether an open store takes the setting
// (tokenstore.Store.SetCache); the others hold until the store is opened
// anew.
func (c settingChange) cacheSetting() bool {
	switch c.name {
	case "cache_size", "cache_ttl", "negative_cache_ttl":
		return true
	}
	return false
}

// changes lists the settings of want that the running store (s) does not
// have, in config order.
func (s storeSettings) changes(want storeSettings) []settingChange {
	var out []settingChange
	add := func(name string, wanted, inUse any) {
		if wanted != inUse {
			out = append(out, settingChange{name: name, wanted: wanted, inUse: inUse})
		}
	}
	add("cache_size", want.cacheSize, s.cacheSize)
	add("cache_ttl", want.cacheTTL, s.cacheTTL)
	add("negative_cache_ttl", want.negativeCacheTTL, s.negativeCacheTTL)
	add("usage_flush_interval", want.usageFlushInterval, s.usageFlushInterval)
	add("change_poll_interval", want.changePollInterval, s.changePollInterval)
	add("storage_timeout", want.storageTimeout, s.storageTimeout)
	return out
}

// describeChanges formats changes as "cache_size 5 (<note>: 10000), ...".
func describeChanges(changes []settingChange, note string) string {
	parts := make([]string, len(changes))
	for i, c := range changes {
		parts[i] = fmt.Sprintf("%s %v (%s: %v)", c.name, c.wanted, note, c.inUse)
	}
	return strings.Join(parts, ", ")
}

// applySettings brings the shared store to want as far as an open store
// can change: the cache's size and TTLs apply at once, to the tokens
// cached already; the other changes are returned, to be reported. The
// caller holds g.membersMu.
func (g *gateway) applySettings(want storeSettings) (applied, notApplied []settingChange, err error) {
	for _, c := range g.settings.changes(want) {
		if c.cacheSetting() {
			applied = append(applied, c)
		} else {
			notApplied = append(notApplied, c)
		}
	}
	if len(applied) == 0 {
		return nil, notApplied, nil
	}
	if err := g.store.SetCache(want.cacheSize, want.cacheTTL, want.negativeCacheTTL); err != nil {
		return nil, nil, err
	}
	g.settings.cacheSize, g.settings.cacheTTL, g.settings.negativeCacheTTL =
		want.cacheSize, want.cacheTTL, want.negativeCacheTTL
	return applied, notApplied, nil
}
