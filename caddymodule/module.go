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
	DefaultCacheSize          = 10000
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
	// {file./path} are resolved when the config loads. Default: the
	// caller's own token is forwarded.
	UpstreamToken string `json:"upstream_token,omitempty"`

	// MaxBody is the largest request body accepted, in bytes; larger ones
	// get 413. Default: 1 MiB.
	MaxBody int64 `json:"max_body,omitempty"`

	// MaxVariables is the most variables one request may set. Default: 100.
	MaxVariables int `json:"max_variables,omitempty"`

	// MaxVariableSize is the longest value a variable may have, in bytes.
	// Default: 10 KiB.
	MaxVariableSize int `json:"max_variable_size,omitempty"`

	// StorageRaw is where trigger tokens and usage are kept. Default:
	// Caddy's configured storage. Handlers that use the same storage share
	// their tokens, cache and usage counters.
	StorageRaw json.RawMessage `json:"storage,omitempty" caddy:"namespace=caddy.storage inline_key=module"`

	// CacheSize is how many tokens are cached in memory. Default: 10000.
	CacheSize int `json:"cache_size,omitempty"`

	// CacheTTL is how long a known token is trusted without reading
	// storage. Default: 1m.
	CacheTTL caddy.Duration `json:"cache_ttl,omitempty"`

	// NegativeCacheTTL is how long an unknown token is refused without
	// reading storage again. Default: 10s. Tokens created through this
	// instance are usable at once regardless.
	NegativeCacheTTL caddy.Duration `json:"negative_cache_ttl,omitempty"`

	// UsageFlushInterval is how often usage (last used time, use count) is
	// written to storage; it is also written when the store shuts down.
	// Default: 10s.
	UsageFlushInterval caddy.Duration `json:"usage_flush_interval,omitempty"`

	// JobTokens enables CI job tokens ($CI_JOB_TOKEN, JWTs signed by the
	// CI server) for multi-project pipelines and artifact downloads.
	// Without it, only trigger tokens are accepted.
	JobTokens *JobTokens `json:"job_token,omitempty"`

	// Projects holds per-project settings, keyed by the project's
	// canonical ID (usually its numeric ID).
	Projects map[string]*Project `json:"projects,omitempty"`

	gateway        *gateway
	poolKey        string
	logger         *zap.Logger
	denyLegacy     bool
	upstreamToken  string
	projectTokens  map[string]string // canonical project -> resolved upstream token
	aliases        map[string]string // alias -> canonical project
	variablePolicy policy.Variables

	verifier            *jobtoken.Verifier
	verifierKey         string
	allowlists          map[string]*jobtoken.Allowlist // canonical project -> job_token_allow
	artifactCredentials map[string][2]string           // canonical project -> header, value
	artifactsSecret     string                         // resolved global artifacts credential
}

// Project is the configuration of one project.
type Project struct {
	// Aliases are other names of the project, typically its full path
	// ("group/project"), so that requests and tokens naming either reach
	// the same project.
	Aliases []string `json:"aliases,omitempty"`

	// UpstreamToken is the token sent upstream for this project's
	// triggers, in place of the caller's. Placeholders are resolved when
	// the config loads.
	UpstreamToken string `json:"upstream_token,omitempty"`

	// JobTokenAllow lists the source projects (numeric IDs, or path globs
	// such as group/* for direct children and group/** for any depth)
	// whose CI job tokens this project accepts. A job token may always act
	// on its own project; every other source is refused.
	JobTokenAllow []string `json:"job_token_allow,omitempty"`

	// ArtifactsHeader and ArtifactsCredential are the header the upstream
	// receives on this project's artifact downloads in place of the
	// caller's job token.
	ArtifactsHeader     string `json:"artifacts_header,omitempty"`
	ArtifactsCredential string `json:"artifacts_credential,omitempty"`
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

	repl := caddy.NewReplacer()
	h.upstreamToken = repl.ReplaceKnown(h.UpstreamToken, "")
	h.aliases = make(map[string]string)
	h.projectTokens = make(map[string]string)
	h.artifactCredentials = make(map[string][2]string)
	for id, project := range h.Projects {
		if project == nil {
			continue
		}
		for _, alias := range project.Aliases {
			h.aliases[alias] = id
		}
		if project.UpstreamToken != "" {
			h.projectTokens[id] = repl.ReplaceKnown(project.UpstreamToken, "")
		}
		if project.ArtifactsHeader != "" {
			h.artifactCredentials[id] = [2]string{project.ArtifactsHeader, repl.ReplaceKnown(project.ArtifactsCredential, "")}
		}
	}
	if h.JobTokens != nil {
		h.artifactsSecret = repl.ReplaceKnown(h.JobTokens.ArtifactsCredential, "")
	}
	if err := h.compileAllowlists(); err != nil {
		return err
	}
	if err := h.provisionJobTokens(ctx); err != nil {
		return err
	}
	h.denyLegacy = h.LegacyTriggers == "deny"
	h.variablePolicy = policy.Variables{
		MaxCount:      h.MaxVariables,
		MaxValueBytes: h.MaxVariableSize,
		Protected:     policy.DefaultProtected,
	}

	storage, err := h.storage(ctx)
	if err != nil {
		return err
	}
	return h.joinGateway(ctx, storage)
}

func (h *Handler) applyDefaults() {
	if h.PathPrefix == "" {
		h.PathPrefix = triggerapi.DefaultPathPrefix
	}
	if h.MaxBody == 0 {
		h.MaxBody = DefaultMaxBody
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
}

// storage is the configured storage module, or Caddy's own.
func (h *Handler) storage(ctx caddy.Context) (certmagic.Storage, error) {
	if h.StorageRaw == nil {
		return ctx.Storage(), nil
	}
	mod, err := ctx.LoadModule(h, "StorageRaw")
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
	value, _, err := gateways.LoadOrNew(key, func() (caddy.Destructor, error) {
		instance, err := caddy.InstanceID()
		if err != nil {
			return nil, fmt.Errorf("reading instance ID: %v", err)
		}
		store, err := tokenstore.New(tokenstore.Config{
			Storage:          storage,
			InstanceID:       instance.String(),
			CacheSize:        h.CacheSize,
			CacheTTL:         time.Duration(h.CacheTTL),
			NegativeCacheTTL: time.Duration(h.NegativeCacheTTL),
			FlushInterval:    time.Duration(h.UsageFlushInterval),
			Logger:           ctx.Logger().Named("store"),
			Observer:         storeObserver{},
		})
		if err != nil {
			return nil, err
		}
		return &gateway{key: storageIdentity(storage), store: store}, nil
	})
	if err != nil {
		return fmt.Errorf("opening token store: %v", err)
	}
	h.poolKey = key
	h.gateway = value.(*gateway)
	h.gateway.setAliases(h.aliases)
	return nil
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
	if h.MaxBody < 0 || h.MaxVariables < 0 || h.MaxVariableSize < 0 || h.CacheSize < 0 {
		return fmt.Errorf("max_body, max_variables, max_variable_size and cache_size must not be negative")
	}
	seen := make(map[string]string)
	for id, project := range h.Projects {
		if id == "" {
			return fmt.Errorf("a project needs an ID")
		}
		if project == nil {
			continue
		}
		for _, alias := range project.Aliases {
			if _, isProject := h.Projects[alias]; isProject || alias == "" {
				return fmt.Errorf("project %s: alias %q is empty or names another project", id, alias)
			}
			if other, dup := seen[alias]; dup {
				return fmt.Errorf("alias %q names both project %s and project %s", alias, other, id)
			}
			seen[alias] = id
		}
	}
	return h.variablePolicy.Validate()
}

// Cleanup drops this handler's reference to the token store; the last one
// closes it, which flushes the usage not yet written.
func (h *Handler) Cleanup() error {
	err := h.cleanupJobTokens()
	if h.poolKey == "" {
		return err
	}
	_, storeErr := gateways.Delete(h.poolKey)
	h.poolKey = ""
	return errors.Join(err, storeErr)
}

// canonicalProject maps an alias to the project it names.
func (h *Handler) canonicalProject(project string) string {
	if c, ok := h.aliases[project]; ok {
		return c
	}
	return project
}

// upstreamTokenFor is the token the upstream receives for a project, or
// "" when the caller's own token is forwarded.
func (h *Handler) upstreamTokenFor(project string) string {
	if t, ok := h.projectTokens[project]; ok {
		return t
	}
	return h.upstreamToken
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
