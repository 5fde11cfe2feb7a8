package caddymodule

import (
	"fmt"
	"time"

	"github.com/triggergate/caddy-trigger-gateway/tokenstore"
)

// storeSettings are the settings of the token store itself. Handlers that
// use one storage share one store, which keeps the settings of the handler
// that opened it, across reloads, until no handler uses it any more.
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

// differences names the settings of want that the running store (s) does
// not have, as "cache_size 100000 (in use: 10000)", in config order.
func (s storeSettings) differences(want storeSettings) []string {
	var out []string
	add := func(name string, wanted, inUse any) {
		if wanted != inUse {
			out = append(out, fmt.Sprintf("%s %v (in use: %v)", name, wanted, inUse))
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
