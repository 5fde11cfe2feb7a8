package caddymodule

import (
	"fmt"
	"strings"
	"time"

	"github.com/triggergate/caddy-trigger-gateway/tokenstore"
)

// storeSettings are the settings of the token store itself. Handlers that
// use one storage share one store, kept across reloads until no handler
// uses it any more: the settings of the last handler provisioned apply to
// it (see applySettings).
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

// live reports whether an open store takes the change: every setting
// does (tokenstore.Store.SetCache and SetTiming) but for turning the
// change feed on or off, which holds until the store is opened anew.
func (c settingChange) live() bool {
	if c.name == "change_poll_interval" {
		return (c.wanted.(time.Duration) > 0) == (c.inUse.(time.Duration) > 0)
	}
	return true
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
// cached already, the intervals from their next tick, the storage timeout
// to the operations that follow. What it cannot change is returned, to be
// reported. The caller holds g.membersMu.
func (g *gateway) applySettings(want storeSettings) (applied, notApplied []settingChange, err error) {
	next := want
	for _, c := range g.settings.changes(want) {
		if c.live() {
			applied = append(applied, c)
			continue
		}
		notApplied = append(notApplied, c)
		next.changePollInterval = g.settings.changePollInterval
	}
	if len(applied) == 0 {
		return nil, notApplied, nil
	}
	// Each setter changes all or nothing; if the second refuses, the first
	// is undone, so that a handler refused here leaves the store as it was.
	if err := g.store.SetTiming(next.usageFlushInterval, next.changePollInterval, next.storageTimeout); err != nil {
		return nil, nil, err
	}
	if err := g.store.SetCache(next.cacheSize, next.cacheTTL, next.negativeCacheTTL); err != nil {
		_ = g.store.SetTiming(g.settings.usageFlushInterval, g.settings.changePollInterval, g.settings.storageTimeout)
		return nil, nil, err
	}
	g.settings = next
	return applied, notApplied, nil
}
