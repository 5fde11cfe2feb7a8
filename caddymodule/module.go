// Package caddymodule is the Caddy glue of the trigger gateway: the
// trigger_gateway HTTP handler, its Caddyfile syntax, the admin API, the
// `caddy trigger` command and the metrics. The rules themselves live in
// triggerapi, gitref, policy and tokenstore.
package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/triggergate/caddy-trigger-gateway/idempotency"
	"github.com/triggergate/caddy-trigger-gateway/jobtoken"
	_ "github.com/triggergate/caddy-trigger-gateway/matcher" // the trigger request matcher
	"github.com/triggergate/caddy-trigger-gateway/policy"
	"github.com/triggergate/caddy-trigger-gateway/tokenstore"
	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Defaults of the handler's settings.
const (
	DefaultMaxBody            = 1 << 20
	DefaultReadBodyTimeout    = 10 * time.Second
	DefaultCacheSize          = 100000
	DefaultCacheTTL           = time.Minute
	DefaultNegativeCacheTTL   = 10 * time.Second
	DefaultUsageFlushInterval = 10 * time.Second
)

// Handler puts GitLab's pipeline-trigger API in front of a CI server. It
// accepts trigger requests in every form GitLab does, authenticates their
// trigger tokens, applies the ref and variable rules, and hands the next
// handler (normally reverse_proxy) one canonical request per accepted
// trigger. Refused requests are answered in GitLab's JSON shape and never
// reach the next handler. Requests that are not trigger API requests get a
// 404: put the handler behind the `trigger` matcher or on its own route.
//
// Trigger tokens live in Caddy's storage (or the one configured here) and
// are managed through the admin API (/trigger_gateway/) or `caddy trigger`.
type Handler struct {
	// PathPrefix is where the trigger API is served. Default: /api/v4.
	PathPrefix string `json:"path_prefix,omitempty"`

	// LegacyTriggers says whether legacy triggers (tokens without an
	// owner) are accepted: "allow" (default) or "deny". Like GitLab's,
	// they only ever work on their own project.
	LegacyTriggers string `json:"legacy_triggers,omitempty"`

	// UpstreamToken is the token sent upstream in place of the caller's,
	// for projects without their own. Placeholders such as {env.X} or
	// {file./path} are resolved when the config loads; a value that is
	// empty, or a placeholder that resolves to nothing, stops the config
	// from loading. Default (not configured): the caller's own token is
	// forwarded.
	UpstreamToken *string `json:"upstream_token,omitempty"`

	// UpstreamRaw is the upstream module: which CI server the accepted
	// triggers go to, in that CI's own API (namespace
	// http.trigger_gateway.upstreams: gitlab, jenkins, github_actions,
	// buildbot, buildkite, woodpecker, json), for every project without
	// its own. The request still goes to the next handler, normally
	// reverse_proxy pointed at the CI; the caller gets GitLab's answer
	// whatever the CI. Default: gitlab, sent the canonical request of
	// contract §5 and its answer passed back as it is.
	UpstreamRaw json.RawMessage `json:"upstream,omitempty" caddy:"namespace=http.trigger_gateway.upstreams inline_key=module"`

	// MaxBody is the largest request body accepted, in bytes; larger ones
	// get 413. Default: 1 MiB.
	MaxBody int64 `json:"max_body,omitempty"`

	// ReadBodyTimeout is how long the gateway waits for a request's body
	// to arrive in full, from when it starts serving the request (its
	// headers read); a body still incomplete then, trickled or shorter
	// than its Content-Length, gets 408 and the connection is closed.
	// Caddy's own idle timeout is reset by every byte, so without this a
	// trickle holds its connection and buffer indefinitely. The server's
	// read_body timeout, when shorter, still applies. Default: 10s.
	ReadBodyTimeout caddy.Duration `json:"read_body_timeout,omitempty"`

	// ManagementTokens enable GitLab's trigger-management API on the
	// handler's path_prefix (GET/POST /projects/:id/triggers,
	// GET/PUT/DELETE /projects/:id/triggers/:trigger_id), so that scripts
	// and Terraform's gitlab_pipeline_trigger manage the gateway's trigger
	// tokens as GitLab's: a request authenticates with one of these in the
	// PRIVATE-TOKEN header (or Authorization: Bearer). Without any, those
	// routes are answered 404 like any other non-trigger request.
	// Default: none, the management API is off.
	ManagementTokens []*ManagementToken `json:"management_tokens,omitempty"`

	// MaxVariables is the most variables one request may set. Default: 100.
	MaxVariables int `json:"max_variables,omitempty"`

	// MaxVariableSize is the longest value a variable may have, in bytes.
	// Default: 10 KiB.
	MaxVariableSize int `json:"max_variable_size,omitempty"`

	// Variables are the rules on the variables callers set, for every
	// project: allowed and denied names, protected names (CI_* and
	// GITLAB_* always are), values set, defaulted or renamed by the
	// gateway, patterns values must match. A project's own rules are
	// merged over these. Default: none beyond the protected names and the
	// max_variables and max_variable_size limits.
	Variables *policy.VariableRules `json:"variables,omitempty"`

	// Refs are the ref globs every trigger is limited to (e.g. main and
	// v*); empty allows every branch and tag. Projects and trigger tokens
	// may narrow them further: a ref must pass every level. Default: none,
	// every ref.
	Refs []string `json:"refs,omitempty"`

	// StorageRaw is where trigger tokens and usage are kept. Default:
	// Caddy's configured storage. Handlers that use the same storage share
	// their tokens, cache and usage counters: one token store, kept across
	// reloads. The store settings (cache_size, cache_ttl,
	// negative_cache_ttl, usage_flush_interval, change_poll_interval,
	// storage_timeout) of the last handler provisioned apply to it, so a
	// reload changes them, and a reload that fails leaves the running
	// config's; only turning the change feed on or off (a negative
	// change_poll_interval) waits for a restart, with a warning.
	StorageRaw json.RawMessage `json:"storage,omitempty" caddy:"namespace=caddy.storage inline_key=module"`

	// CacheSize is how many tokens are cached in memory, at most: the
	// cache grows to it as tokens are used, about 230 bytes of heap a
	// token. Default: 100000 (about 23 MB when full).
	CacheSize int `json:"cache_size,omitempty"`

	// CacheTTL is how long a known token is trusted without reading
	// storage. Default: 1m.
	CacheTTL caddy.Duration `json:"cache_ttl,omitempty"`

	// NegativeCacheTTL is how long an unknown token is refused without
	// reading storage again; a negative value turns this off, every
	// unknown token reading storage. Default: 10s. Tokens created through
	// this instance are usable at once regardless.
	NegativeCacheTTL caddy.Duration `json:"negative_cache_ttl,omitempty"`

	// UsageFlushInterval is how often usage (last used time, use count) is
	// written to storage; it is also written when the store shuts down.
	// Default: 10s.
	UsageFlushInterval caddy.Duration `json:"usage_flush_interval,omitempty"`

	// ChangePollInterval is how often the gateway checks storage for
	// triggers revoked (or created) through other Caddy instances sharing
	// it. A revocation made on any instance is refused here at most this
	// long, plus one storage round trip, after it was acknowledged,
	// whatever cache_ttl is. A negative value turns the change feed off
	// (for a storage no other instance uses). Default: 500ms, so that a
	// revocation reaches every instance within a second.
	ChangePollInterval caddy.Duration `json:"change_poll_interval,omitempty"`

	// StorageTimeout bounds every storage operation of the token store. A
	// token that is not cached and cannot be looked up in time is refused
	// with 503, so requests never hang on an unreachable storage; cached
	// tokens keep working until cache_ttl. Default: 2s.
	StorageTimeout caddy.Duration `json:"storage_timeout,omitempty"`

	// IdempotencyWindow is how long a request repeated with the same
	// Idempotency-Key header, or a webhook delivery repeated with the same
	// X-Gitlab-Event-UUID or X-GitHub-Delivery, answers as the first did
	// without triggering again. Repeats are recognised across every
	// instance sharing the storage. Default: 24h.
	IdempotencyWindow caddy.Duration `json:"idempotency_window,omitempty"`

	// DisableIdempotency forwards repeated requests like any other.
	// Default: false, repeats are recognised.
	DisableIdempotency bool `json:"disable_idempotency,omitempty"`

	// FailedAuthLimit is how many refused tokens a client IP may send in
	// FailedAuthWindow; past it the client gets 429 with Retry-After until
	// the window ends, without any token lookup. The client IP honours the
	// server's trusted_proxies; IPv6 clients are counted by their /64, as
	// one host holds a whole /64. Default: 20.
	FailedAuthLimit int `json:"failed_auth_limit,omitempty"`

	// FailedAuthWindow is the window of FailedAuthLimit. Default: 1m.
	FailedAuthWindow caddy.Duration `json:"failed_auth_window,omitempty"`

	// DisableFailedAuthLimit turns the failed-authentication limit off.
	// Default: false, the limit applies.
	DisableFailedAuthLimit bool `json:"disable_failed_auth_limit,omitempty"`

	// JobTokens enables CI job tokens ($CI_JOB_TOKEN, JWTs signed by the
	// CI server) for multi-project pipelines and artifact downloads.
	// Default: none, only trigger tokens are accepted.
	JobTokens *JobTokens `json:"job_token,omitempty"`

	// Projects holds per-project settings, keyed by the project's
	// canonical ID (usually its numeric ID). Default: none, every project
	// has the gateway's settings.
	Projects map[string]*Project `json:"projects,omitempty"`

	gateway         *gateway
	poolKey         string
	logger          *zap.Logger
	denyLegacy      bool
	upstreamToken   string
	globalVariables *policy.VariablePolicy
	variableSecrets []string // set and default values resolved from placeholders
	globalRefs      *policy.RefPolicy
	// projects finds a project's compiled rules by its folded ID or
	// alias; gatewayRules are those of a project without a block (see
	// rulesFor).
	projects     map[string]*projectRules
	gatewayRules *projectRules

	verifier        *jobtoken.Verifier
	verifierKey     string
	artifactsSecret string                 // resolved global artifacts credential
	management      []managementCredential // resolved management tokens
	unservedPath    *triggerapi.Error      // the 404 of other paths under PathPrefix, with management tokens
	limiter         *failedAuthLimiter     // nil when disabled
	repeats         *idempotency.Store     // nil when idempotency is off
	repeatsKey      string
	limiterKey      string
}

// Project is the configuration of one project.
type Project struct {
	// Aliases are other names of the project, typically its full path
	// ("group/project"), so that requests and tokens naming either reach
	// the same project. Default: none.
	Aliases []string `json:"aliases,omitempty"`

	// UpstreamToken is the token sent upstream for this project's
	// triggers, in place of the caller's. Placeholders are resolved when
	// the config loads, and must not resolve to nothing. Default: the
	// handler's upstream_token.
	UpstreamToken *string `json:"upstream_token,omitempty"`

	// UpstreamRaw is this project's upstream module (see
	// Handler.UpstreamRaw). Default: the handler's.
	UpstreamRaw json.RawMessage `json:"upstream,omitempty" caddy:"namespace=http.trigger_gateway.upstreams inline_key=module"`

	// Variables are this project's variable rules, merged over the
	// gateway's (lists add up, settings of the same name override).
	// Default: none, the gateway's apply.
	Variables *policy.VariableRules `json:"variables,omitempty"`

	// Refs are the ref globs this project's triggers are limited to, on
	// top of the gateway's. Default: none, the gateway's apply.
	Refs []string `json:"refs,omitempty"`

	// JobTokenAllow lists the source projects (numeric IDs, or path globs
	// such as group/* for direct children and group/** for any depth)
	// whose CI job tokens this project accepts. A job token may always act
	// on its own project; every other source is refused. Default: none,
	// only the project's own job tokens.
	JobTokenAllow []string `json:"job_token_allow,omitempty"`

	// ArtifactsHeader is the header the upstream receives on this
	// project's artifact downloads in place of the caller's job token,
	// with ArtifactsCredential as its value. Default: the job_token
	// block's.
	ArtifactsHeader string `json:"artifacts_header,omitempty"`

	// ArtifactsCredential is the value sent in ArtifactsHeader; required
	// with it, and refused without it. Its placeholders are resolved when
	// the config loads and must not resolve to nothing. Default: the
	// job_token block's.
	ArtifactsCredential string `json:"artifacts_credential,omitempty"`

	// WebhookGitLabToken, when set, is the secret token GitLab webhooks
	// of this project must send in X-Gitlab-Token: every request on the
	// webhook route, and every request on either route that carries a
	// forge's event header (X-Gitlab-Event, X-GitHub-Event, X-Gitea-Event,
	// X-Forgejo-Event, X-Gogs-Event), must pass one of the project's checks.
	// Placeholders are resolved when the config loads; a value that is
	// empty, or a placeholder that resolves to nothing, stops the config
	// from loading. Default (not configured): no GitLab token is checked.
	WebhookGitLabToken *string `json:"webhook_gitlab_token,omitempty"`

	// WebhookGitHubSecret, when set, is the secret GitHub webhooks of this
	// project sign their body with (X-Hub-Signature-256), required of the
	// same requests as WebhookGitLabToken. With both set, a request passing
	// either check is accepted.
	// Resolved and refused when empty as WebhookGitLabToken. Default (not
	// configured): no GitHub signature is checked.
	WebhookGitHubSecret *string `json:"webhook_github_secret,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.trigger_gateway",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision sets up the handler: defaults, secrets, the shared token store.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("registering metrics: %v", err)
	}
	h.applyDefaults()

	// Secrets and rules first: a config refused for one opens nothing.
	repl := caddy.NewReplacer()
	if err := h.provisionSecrets(repl); err != nil {
		return err
	}
	globalVariables, err := h.compilePolicies(repl)
	if err != nil {
		return err
	}
	if err := h.compileProjects(repl, globalVariables); err != nil {
		return err
	}
	if err := h.provisionUpstreams(ctx); err != nil {
		return err
	}
	if err := h.provisionManagement(repl); err != nil {
		return err
	}
	if err := h.provisionJobTokens(ctx); err != nil {
		return err
	}
	h.denyLegacy = h.LegacyTriggers == "deny"

	storage, err := h.storage(ctx)
	if err != nil {
		return err
	}
	if err := h.joinGateway(ctx, storage); err != nil {
		return err
	}
	if err := h.joinLimiter(); err != nil {
		return err
	}
	handlers.Store(h, struct{}{})
	return nil
}

func (h *Handler) applyDefaults() {
	if h.PathPrefix == "" {
		h.PathPrefix = triggerapi.DefaultPathPrefix
	}
	if h.MaxBody == 0 {
		h.MaxBody = DefaultMaxBody
	}
	if h.ReadBodyTimeout == 0 {
		h.ReadBodyTimeout = caddy.Duration(DefaultReadBodyTimeout)
	}
	if h.MaxVariables == 0 {
		h.MaxVariables = policy.DefaultMaxVariables
	}
	if h.MaxVariableSize == 0 {
		h.MaxVariableSize = policy.DefaultMaxVariableBytes
	}
	if h.CacheSize == 0 {
		h.CacheSize = DefaultCacheSize
	}
	if h.CacheTTL == 0 {
		h.CacheTTL = caddy.Duration(DefaultCacheTTL)
	}
	if h.NegativeCacheTTL == 0 {
		h.NegativeCacheTTL = caddy.Duration(DefaultNegativeCacheTTL)
	}
	if h.UsageFlushInterval == 0 {
		h.UsageFlushInterval = caddy.Duration(DefaultUsageFlushInterval)
	}
	if h.FailedAuthLimit == 0 {
		h.FailedAuthLimit = DefaultFailedAuthLimit
	}
	if h.FailedAuthWindow == 0 {
		h.FailedAuthWindow = caddy.Duration(DefaultFailedAuthWindow)
	}
	if h.IdempotencyWindow == 0 {
		h.IdempotencyWindow = caddy.Duration(DefaultIdempotencyWindow)
	}
}

// storage is the configured storage module, or Caddy's own.
func (h *Handler) storage(ctx caddy.Context) (certmagic.Storage, error) {
	return loadStorage(ctx, h, h.StorageRaw)
}

// loadStorage loads raw, the StorageRaw field of owner (a struct
// pointer), or returns Caddy's own storage when it is nil.
func loadStorage(ctx caddy.Context, owner any, raw json.RawMessage) (certmagic.Storage, error) {
	if raw == nil {
		return ctx.Storage(), nil
	}
	mod, err := ctx.LoadModule(owner, "StorageRaw")
	if err != nil {
		return nil, fmt.Errorf("loading storage module: %v", err)
	}
	storage, err := mod.(caddy.StorageConverter).CertMagicStorage()
	if err != nil {
		return nil, fmt.Errorf("creating storage value: %v", err)
	}
	return storage, nil
}

// joinGateway takes a reference to the token store of this storage,
// creating it if this is the first handler to use it.
func (h *Handler) joinGateway(ctx caddy.Context, storage certmagic.Storage) error {
	key := "trigger_gateway:" + storageIdentity(storage)
	settings := h.storeSettings()
	value, _, err := gateways.LoadOrNew(key, func() (caddy.Destructor, error) {
		idFile := identityFile()
		instance, err := loadIdentity(idFile)
		if err != nil {
			return nil, fmt.Errorf("reading the gateway's instance ID: %v", err)
		}
		storage, release, err := ownStorage(ctx, storage)
		if err != nil {
			return nil, err
		}
		store, err := tokenstore.New(tokenstore.Config{
			Storage:            storage,
			InstanceID:         instance,
			InstanceHome:       idFile,
			RenewInstanceID:    func() (string, error) { return renewIdentity(idFile) },
			CacheSize:          settings.cacheSize,
			CacheTTL:           settings.cacheTTL,
			NegativeCacheTTL:   settings.negativeCacheTTL,
			FlushInterval:      settings.usageFlushInterval,
			ChangePollInterval: settings.changePollInterval,
			StorageTimeout:     settings.storageTimeout,
			Logger:             ctx.Logger().Named("store"),
			Observer:           storeObserver{},
			// The last user of the storage closes it, after the final flush.
			OnClose: release,
		})
		if err != nil {
			release()
			return nil, err
		}
		return &gateway{key: storageIdentity(storage), store: store, storage: storage, settings: settings}, nil
	})
	if err != nil {
		return fmt.Errorf("opening token store: %v", err)
	}
	h.poolKey = key
	h.gateway = value.(*gateway)
	applied, notApplied, err := h.gateway.join(h)
	if err != nil {
		return fmt.Errorf("token store settings: %v", err)
	}
	if len(applied) > 0 {
		h.logger.Info("token store settings applied",
			zap.String("storage", h.gateway.key), zap.String("applied", describeChanges(applied, "was")))
	}
	if len(notApplied) > 0 {
		// The store, shared with the other handlers on this storage and
		// kept across reloads, reads the change feed or not as it did
		// when it opened.
		h.logger.Warn("token store settings not applied: the store of this storage is already open "+
			"(another trigger_gateway on the same storage, or a reload), and its change feed cannot be "+
			"turned on or off until Caddy restarts",
			zap.String("storage", h.gateway.key), zap.String("not_applied", describeChanges(notApplied, "in use")))
	}
	return h.joinRepeats(ctx)
}

// storageIdentity names a storage so that handlers configured with the
// same one share a store: certmagic storages describe themselves.
func storageIdentity(storage certmagic.Storage) string {
	if s, ok := storage.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprintf("%T", storage)
}

// Validate checks the configuration.
func (h *Handler) Validate() error {
	if !strings.HasPrefix(h.PathPrefix, "/") {
		return fmt.Errorf("path_prefix must start with '/': %q", h.PathPrefix)
	}
	switch h.LegacyTriggers {
	case "", "allow", "deny":
	default:
		return fmt.Errorf(`legacy_triggers must be "allow" or "deny", not %q`, h.LegacyTriggers)
	}
	if h.IdempotencyWindow != 0 && h.IdempotencyWindow < caddy.Duration(time.Second) {
		return fmt.Errorf("idempotency_window must be at least 1s")
	}
	if h.MaxBody < 0 || h.MaxVariables < 0 || h.MaxVariableSize < 0 || h.CacheSize < 0 {
		return fmt.Errorf("max_body, max_variables, max_variable_size and cache_size must not be negative")
	}
	if h.ReadBodyTimeout < 0 {
		return fmt.Errorf("read_body_timeout must not be negative")
	}
	if h.FailedAuthLimit < 0 {
		return fmt.Errorf("failed_auth_limit must not be negative")
	}
	if h.FailedAuthWindow < 0 {
		return fmt.Errorf("failed_auth_window must not be negative")
	}
	if err := h.validateManagement(); err != nil {
		return err
	}
	// Project names are case-insensitive: IDs and aliases are compared
	// folded.
	ids := make(map[string]string, len(h.Projects))
	for id := range h.Projects {
		if id == "" {
			return fmt.Errorf("a project needs an ID")
		}
		if other, dup := ids[tokenstore.FoldProject(id)]; dup {
			return fmt.Errorf("projects %q and %q differ only in case: project paths are case-insensitive", min(id, other), max(id, other))
		}
		ids[tokenstore.FoldProject(id)] = id
	}
	seen := make(map[string]string)
	for id, project := range h.Projects {
		if project == nil {
			continue
		}
		for _, alias := range project.Aliases {
			folded := tokenstore.FoldProject(alias)
			if target, isProject := ids[folded]; (isProject && target != id) || alias == "" {
				return fmt.Errorf("project %s: alias %q is empty or names another project", id, alias)
			}
			if other, dup := seen[folded]; dup && other != id {
				return fmt.Errorf("alias %q names both project %s and project %s", alias, other, id)
			}
			seen[folded] = id
		}
	}
	return nil
}

// compilePolicies compiles the gateway's variable and ref rules once, at
// load time, and returns its variable rules resolved, which each project's
// merge over (compileProjects).
func (h *Handler) compilePolicies(repl *caddy.Replacer) (policy.VariableRules, error) {
	h.variableSecrets = nil
	global := policy.VariableRules{}
	if h.Variables != nil {
		global = h.resolveProvided(repl, *h.Variables)
	}
	if global.MaxCount == 0 {
		global.MaxCount = h.MaxVariables
	}
	if global.MaxValueBytes == 0 {
		global.MaxValueBytes = h.MaxVariableSize
	}
	var err error
	if h.globalVariables, err = policy.CompileVariables(global); err != nil {
		return global, fmt.Errorf("variables: %v", err)
	}
	// Without refs there are no gateway ref rules (nil), as for a project:
	// explain then names none.
	if len(h.Refs) > 0 {
		if h.globalRefs, err = policy.CompileRefs(h.Refs); err != nil {
			return global, fmt.Errorf("refs: %v", err)
		}
	}
	return global, nil
}

// Cleanup drops this handler's reference to the token store; the last one
// closes it, which flushes the usage not yet written.
func (h *Handler) Cleanup() error {
	handlers.Delete(h)
	err := errors.Join(h.cleanupJobTokens(), h.leaveRepeats(), h.leaveLimiter())
	if h.poolKey == "" {
		return err
	}
	h.gateway.leave(h)
	_, storeErr := gateways.Delete(h.poolKey)
	h.poolKey = ""
	return errors.Join(err, storeErr)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
