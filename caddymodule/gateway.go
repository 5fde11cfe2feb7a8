package caddymodule

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"

	"github.com/triggergate/caddy-trigger-gateway/tokenstore"
)

// gateways holds the token stores of the running configuration, keyed by
// the identity of their storage. Handlers that use the same storage share
// one store; a config reload finds the store still there (the new handler
// takes a reference before the old one drops its own), so the cache and the
// usage not yet flushed survive it. The admin API, which Caddy builds anew on
// every load and never from the handler's config, finds the stores here.
var gateways = caddy.NewUsagePool()

// gateway is the state shared by every handler that uses one storage.
type gateway struct {
	key     string
	store   *tokenstore.Store
	storage certmagic.Storage // the storage the store uses, for idempotency stores
	// members are the provisioned handlers using the store, oldest first:
	// the last one's aliases and cache settings are in force (see join).
	// settings are the store's: those it was opened with, and the cache
	// settings of the last member.
	membersMu sync.Mutex
	members   []*Handler
	settings  storeSettings

	mu      sync.RWMutex
	aliases map[string]*projectRules // folded alias or project ID -> the project's rules
}

// Destruct closes the store when the last handler using it is cleaned up:
// pending usage is flushed to storage.
func (g *gateway) Destruct() error { return g.store.Close() }

// join makes h the member whose project aliases and cache settings are in
// force: the latest provisioned handler wins, which is what a reload
// wants. It returns the store settings h wanted that were applied, and
// those an open store cannot take.
func (g *gateway) join(h *Handler) (applied, notApplied []settingChange, err error) {
	g.membersMu.Lock()
	defer g.membersMu.Unlock()
	applied, notApplied, err = g.applySettings(h.storeSettings())
	if err != nil {
		return nil, nil, err
	}
	g.members = append(g.members, h)
	g.setAliases(h.projects)
	return applied, notApplied, nil
}

// leave removes h from the members. If h was the latest, its predecessor's
// aliases and cache settings apply again: the handlers of a config whose
// load failed are cleaned up while the running config goes on, and must
// not leave their settings behind.
func (g *gateway) leave(h *Handler) {
	g.membersMu.Lock()
	defer g.membersMu.Unlock()
	i := slices.Index(g.members, h)
	if i < 0 {
		return
	}
	wasLatest := i == len(g.members)-1
	g.members = slices.Delete(g.members, i, i+1)
	if !wasLatest || len(g.members) == 0 {
		return
	}
	latest := g.members[len(g.members)-1]
	// Its settings were valid when it joined.
	_, _, _ = g.applySettings(latest.storeSettings())
	g.setAliases(latest.projects)
}

// setAliases replaces the alias table.
func (g *gateway) setAliases(aliases map[string]*projectRules) {
	g.mu.Lock()
	g.aliases = aliases
	g.mu.Unlock()
}

// canonicalProject maps an alias (group/project) to the project it names,
// as Handler.canonicalProject does: case-insensitively.
func (g *gateway) canonicalProject(project string) string {
	g.mu.RLock()
	defer g.mu.RUnlock()
	canonical, _ := lookupProject(g.aliases, nil, project)
	return canonical
}

// listProject lists a project's triggers, named by its ID or any alias:
// those recorded under the canonical name and those recorded under one of
// its aliases (created before the alias was configured, or imported so),
// which belong to it too, ordered by ID. An empty project lists every
// trigger. revoked lists the revoked triggers instead of the others.
func (g *gateway) listProject(ctx context.Context, project string, revoked bool) ([]tokenstore.TriggerUsage, error) {
	list := g.store.List
	if revoked {
		list = g.store.ListRevoked
	}
	if project == "" {
		return list(ctx, "")
	}
	canonical := g.canonicalProject(project)
	// The store lists case-insensitively: one listing per folded name.
	names := []string{tokenstore.FoldProject(canonical)}
	g.mu.RLock()
	for alias, target := range g.aliases {
		if target.id == canonical && !slices.Contains(names, alias) {
			names = append(names, alias)
		}
	}
	g.mu.RUnlock()
	var all []tokenstore.TriggerUsage
	for _, name := range names {
		found, err := list(ctx, name)
		if err != nil {
			return nil, err
		}
		all = append(all, found...)
	}
	slices.SortFunc(all, func(a, b tokenstore.TriggerUsage) int { return cmp.Compare(a.Trigger.ID, b.Trigger.ID) })
	return slices.CompactFunc(all, func(a, b tokenstore.TriggerUsage) bool { return a.Trigger.ID == b.Trigger.ID }), nil
}

// findGateway returns the gateway an admin request is about. With one
// storage in use (the usual case) that is the only one; with several, the
// request names it with ?storage=<key>, the keys being listed in the error
// (a severalStoragesError, which a page facing others than operators
// keeps to its log). A storage named but not in use is refused, even with
// one storage in use: the request is not about that one.
func findGateway(r *http.Request) (*gateway, error) {
	found := runningGateways()
	if len(found) == 0 {
		return nil, caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: errNoGateway}
	}
	want := r.URL.Query().Get("storage")
	if want == "" && len(found) == 1 {
		return found[0], nil
	}
	for _, g := range found {
		if g.key == want {
			return g, nil
		}
	}
	return nil, caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: severalStoragesError{keys: gatewayKeys(found), named: want}}
}

var errNoGateway = errors.New("no trigger_gateway handler is configured")

// runningGateways lists the gateway of every storage in use.
func runningGateways() []*gateway {
	var found []*gateway
	gateways.Range(func(_, value any) bool {
		found = append(found, value.(*gateway))
		return true
	})
	return found
}

// gatewayKeys lists the gateways' storage keys, sorted.
func gatewayKeys(list []*gateway) []string {
	keys := make([]string, len(list))
	for i, g := range list {
		keys[i] = g.key
	}
	sort.Strings(keys)
	return keys
}

// severalStoragesError is findGateway's refusal of a request that names
// none of the storages in use. Its message lists their keys, which the
// admin API's caller (an operator) needs to choose; a key can name a Redis
// host or a path, so the site's Triggers page keeps them to its log.
type severalStoragesError struct {
	keys  []string
	named string // the storage the request named, if any
}

func (e severalStoragesError) Error() string {
	if e.named != "" {
		return fmt.Sprintf("no trigger_gateway uses the storage %q; in use: %s", e.named, strings.Join(e.keys, ", "))
	}
	return "several trigger_gateway storages are in use; choose one with ?storage=: " + strings.Join(e.keys, ", ")
}

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
