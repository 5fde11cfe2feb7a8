package caddymodule

import (
	"encoding/json"
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"

	"github.com/triggergate/caddy-trigger-gateway/tokenstore"
)

// ownStorage returns a handle on storage that lives as long as the token
// store rather than the configuration that provisioned it, and the
// function that releases it once the store is closed.
//
// The store outlives configurations: a reload hands it to the next one,
// and the last handler's cleanup flushes usage to storage. But a storage
// module may close its connections in its own Cleanup (caddy.storage.redis
// does), which Caddy runs when the configuration is unloaded, in no set
// order with the handler's and before a reloaded configuration stops using
// the store. So a storage module with a Cleanup is loaded once more, from
// its own settings, into a context that only the release function
// cancels. Storages without a Cleanup (file_system) are used as they are.
func ownStorage(ctx caddy.Context, storage certmagic.Storage) (certmagic.Storage, func(), error) {
	_, cleansUp := storage.(caddy.CleanerUpper)
	module, isModule := storage.(caddy.Module)
	if !cleansUp || !isModule {
		return storage, func() {}, nil
	}
	settings, err := json.Marshal(storage)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the storage's settings: %v", err)
	}
	ownCtx, release := caddy.NewContext(ctx)
	value, err := ownCtx.LoadModuleByID(string(module.CaddyModule().ID), settings)
	if err != nil {
		release()
		return nil, nil, fmt.Errorf("loading the token store's own storage: %v", err)
	}
	converter, ok := value.(caddy.StorageConverter)
	if !ok {
		release()
		return nil, nil, fmt.Errorf("module %s is not a storage", module.CaddyModule().ID)
	}
	own, err := converter.CertMagicStorage()
	if err != nil {
		release()
		return nil, nil, fmt.Errorf("creating the token store's own storage: %v", err)
	}
	return own, release, nil
}

var _ tokenstore.StorageObserver = storeObserver{}
