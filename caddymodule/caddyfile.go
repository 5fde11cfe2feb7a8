package caddymodule

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"

	"github.com/triggergate/caddy-trigger-gateway/policy"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("trigger_gateway", parseCaddyfile)
	// The gateway rewrites accepted triggers for the proxy behind it, so it
	// must run before reverse_proxy; ordering it here spares users a
	// global `order` option.
	httpcaddyfile.RegisterDirectiveOrder("trigger_gateway", httpcaddyfile.Before, "reverse_proxy")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	handler := new(Handler)
	err := handler.UnmarshalCaddyfile(h.Dispenser)
	return handler, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	trigger_gateway {
//		path_prefix          <prefix>
//		legacy_triggers      allow|deny
//		upstream_token       <token>
//		max_body             <size>
//		read_body_timeout    <duration>
//		management_token     <name> <token> [<project...>]
//		max_variables        <count>
//		max_variable_size    <size>
//		upstream             <module> { ... }
//		storage              <module> { ... }
//		cache_size           <count>
//		cache_ttl            <duration>
//		negative_cache_ttl   <duration>
//		usage_flush_interval <duration>
//		change_poll_interval <duration>
//		storage_timeout      <duration>
//		idempotency_window   <duration>|off
//		failed_auth_limit    <count> [<window>]|off
//		variables { ... }    # see unmarshalVariables
//		refs                 <glob...>
//		job_token {
//			jwks_url             <url>      # or: jwks_file <path>
//			issuer               <iss>
//			audience             <aud>
//			leeway               <duration>
//			refresh_interval     <duration>
//			min_refresh_interval <duration>
//			cache_size           <count>
//			claims {
//				project_id   <claim>
//				project_path <claim>
//				pipeline_id  <claim>
//				job_id       <claim>
//				ref          <claim>
//				user         <claim>
//			}
//			artifacts_credential <header> <value>
//		}
//		project <id> {
//			alias                <path...>
//			upstream_token       <token>
//			upstream             <module> { ... }
//			job_token_allow      <project id or path glob...>
//			artifacts_credential <header> <value>
//			variables { ... }
//			refs                 <glob...>
//			webhook_gitlab_token  <secret>
//			webhook_github_secret <secret>
//		}
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "path_prefix":
			err = oneArg(d, &h.PathPrefix)
		case "legacy_triggers":
			err = oneArg(d, &h.LegacyTriggers)
			if err == nil && h.LegacyTriggers != "allow" && h.LegacyTriggers != "deny" {
				err = d.Errf("legacy_triggers must be allow or deny, not %q", h.LegacyTriggers)
			}
		case "upstream_token":
			err = secretArg(d, &h.UpstreamToken)
		case "upstream":
			err = onlyOnce(d, h.UpstreamRaw)
			if err == nil {
				h.UpstreamRaw, err = unmarshalUpstream(d)
			}
		case "management_token":
			err = h.unmarshalManagementToken(d)
		case "max_body":
			h.MaxBody, err = sizeArg(d)
		case "read_body_timeout":
			h.ReadBodyTimeout, err = signedDurationArg(d)
			if err == nil && h.ReadBodyTimeout <= 0 {
				err = d.Errf("read_body_timeout must be a positive duration")
			}
		case "max_variables":
			h.MaxVariables, err = intArg(d)
		case "max_variable_size":
			var size int64
			size, err = sizeArg(d)
			h.MaxVariableSize = int(size)
		case "storage":
			err = onlyOnce(d, h.StorageRaw)
			if err == nil {
				h.StorageRaw, err = storageArg(d)
			}
		case "cache_size":
			h.CacheSize, err = intArg(d)
		case "cache_ttl":
			h.CacheTTL, err = durationArg(d)
		case "negative_cache_ttl":
			// A negative one turns negative caching off.
			h.NegativeCacheTTL, err = signedDurationArg(d)
		case "usage_flush_interval":
			h.UsageFlushInterval, err = durationArg(d)
		case "change_poll_interval":
			// A negative one turns the change feed off.
			h.ChangePollInterval, err = signedDurationArg(d)
		case "storage_timeout":
			h.StorageTimeout, err = durationArg(d)
		case "idempotency_window":
			var window string
			if err = oneArg(d, &window); err == nil {
				if window == "off" {
					h.DisableIdempotency = true
				} else {
					var dur time.Duration
					dur, err = caddy.ParseDuration(window)
					if err != nil || dur < time.Second {
						err = d.Errf("idempotency_window: %q is neither off nor a duration of at least 1s", window)
					}
					h.IdempotencyWindow = caddy.Duration(dur)
				}
			}
		case "failed_auth_limit":
			err = h.unmarshalFailedAuthLimit(d)
		case "variables":
			h.Variables, err = unmarshalVariables(d, h.Variables)
		case "refs":
			err = globArgs(d, &h.Refs)
		case "job_token":
			err = h.unmarshalJobTokens(d)
		case "project":
			err = h.unmarshalProject(d)
		default:
			return d.Errf("unrecognized trigger_gateway subdirective '%s'", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// storageArg reads a storage module and its settings, as Caddy's global
// storage option does: storage <module> [<args...>] [{ ... }].
func storageArg(d *caddyfile.Dispenser) (json.RawMessage, error) {
	if !d.NextArg() {
		return nil, d.ArgErr()
	}
	name := d.Val()
	unm, err := caddyfile.UnmarshalModule(d, "caddy.storage."+name)
	if err != nil {
		return nil, err
	}
	storage, ok := unm.(caddy.StorageConverter)
	if !ok {
		return nil, d.Errf("module caddy.storage.%s is not a caddy.StorageConverter", name)
	}
	return caddyconfig.JSONModuleObject(storage, "module", name, nil), nil
}

func (h *Handler) unmarshalProject(d *caddyfile.Dispenser) error {
	var id string
	if err := oneArg(d, &id); err != nil { // its block, if any, follows
		return err
	}
	if h.Projects == nil {
		h.Projects = make(map[string]*Project)
	}
	if _, dup := h.Projects[id]; dup {
		return d.Errf("project %s is configured twice", id)
	}
	project := new(Project)
	h.Projects[id] = project
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "alias":
			aliases := d.RemainingArgs()
			if len(aliases) == 0 {
				return d.ArgErr()
			}
			project.Aliases = append(project.Aliases, aliases...)
		case "upstream_token":
			if err := secretArg(d, &project.UpstreamToken); err != nil {
				return err
			}
		case "upstream":
			if err := onlyOnce(d, project.UpstreamRaw); err != nil {
				return err
			}
			var err error
			if project.UpstreamRaw, err = unmarshalUpstream(d); err != nil {
				return err
			}
		case "variables":
			var err error
			if project.Variables, err = unmarshalVariables(d, project.Variables); err != nil {
				return err
			}
		case "refs":
			if err := globArgs(d, &project.Refs); err != nil {
				return err
			}
		case "job_token_allow":
			sources := d.RemainingArgs()
			if len(sources) == 0 {
				return d.ArgErr()
			}
			project.JobTokenAllow = append(project.JobTokenAllow, sources...)
		case "artifacts_credential":
			if err := headerValueArgs(d, &project.ArtifactsHeader, &project.ArtifactsCredential); err != nil {
				return err
			}
		case "webhook_gitlab_token":
			if err := secretArg(d, &project.WebhookGitLabToken); err != nil {
				return err
			}
		case "webhook_github_secret":
			if err := secretArg(d, &project.WebhookGitHubSecret); err != nil {
				return err
			}
		default:
			return d.Errf("unrecognized project subdirective '%s'", d.Val())
		}
	}
	return nil
}

func (h *Handler) unmarshalJobTokens(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	if h.JobTokens != nil {
		return d.Err("job_token is configured twice")
	}
	jt := new(JobTokens)
	h.JobTokens = jt
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "jwks_url":
			err = oneArg(d, &jt.JWKSURL)
		case "jwks_file":
			err = oneArg(d, &jt.JWKSFile)
		case "issuer":
			err = oneArg(d, &jt.Issuer)
		case "audience":
			err = oneArg(d, &jt.Audience)
		case "leeway":
			jt.Leeway, err = durationArg(d)
		case "refresh_interval":
			jt.RefreshInterval, err = durationArg(d)
		case "min_refresh_interval":
			jt.MinRefreshInterval, err = durationArg(d)
		case "cache_size":
			jt.CacheSize, err = intArg(d)
		case "claims":
			err = unmarshalClaims(d, jt)
		case "artifacts_credential":
			err = headerValueArgs(d, &jt.ArtifactsHeader, &jt.ArtifactsCredential)
		default:
			return d.Errf("unrecognized job_token subdirective '%s'", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func unmarshalClaims(d *caddyfile.Dispenser, jt *JobTokens) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	if jt.Claims != nil {
		return d.Err("claims is given twice")
	}
	claims := new(JobTokenClaims)
	jt.Claims = claims
	fields := map[string]*string{
		"project_id":   &claims.ProjectID,
		"project_path": &claims.ProjectPath,
		"pipeline_id":  &claims.PipelineID,
		"job_id":       &claims.JobID,
		"ref":          &claims.Ref,
		"user":         &claims.User,
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		field, ok := fields[d.Val()]
		if !ok {
			return d.Errf("unrecognized claims subdirective '%s'", d.Val())
		}
		if err := oneArg(d, field); err != nil {
			return err
		}
	}
	return nil
}

// unmarshalFailedAuthLimit reads "failed_auth_limit <count> [<window>]" or
// "failed_auth_limit off".
func (h *Handler) unmarshalFailedAuthLimit(d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	switch {
	case len(args) == 1 && args[0] == "off":
		h.DisableFailedAuthLimit = true
		return nil
	case len(args) < 1 || len(args) > 2:
		return d.ArgErr()
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n <= 0 {
		return d.Errf("failed_auth_limit: %q is neither off nor a positive count", args[0])
	}
	h.FailedAuthLimit = n
	if len(args) == 2 {
		window, err := caddy.ParseDuration(args[1])
		if err != nil || window <= 0 {
			return d.Errf("failed_auth_limit: %q is not a duration", args[1])
		}
		h.FailedAuthWindow = caddy.Duration(window)
	}
	return nil
}

// unmarshalVariables reads a variables block:
//
//	variables {
//		allow          <name glob...>
//		deny           <name glob...>
//		protected      <name glob...>
//		set            <name> <value>
//		default        <name> <value>
//		rename         <from> <to>
//		pattern        <name> <regexp>
//		max_count      <count>
//		max_value_size <size>
//	}
func unmarshalVariables(d *caddyfile.Dispenser, rules *policy.VariableRules) (*policy.VariableRules, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	if rules == nil {
		rules = new(policy.VariableRules)
	}
	pairs := map[string]*map[string]string{
		"set": &rules.Set, "default": &rules.Default, "rename": &rules.Rename, "pattern": &rules.Pattern,
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch name := d.Val(); name {
		case "allow":
			err = globArgs(d, &rules.Allow)
		case "deny":
			err = globArgs(d, &rules.Deny)
		case "protected":
			err = globArgs(d, &rules.Protected)
		case "set", "default", "rename", "pattern":
			var key, value string
			if err = headerValueArgs(d, &key, &value); err == nil {
				m := pairs[name]
				if *m == nil {
					*m = make(map[string]string)
				}
				if _, dup := (*m)[key]; dup {
					err = d.Errf("variables: %s %s is given twice", name, key)
				}
				(*m)[key] = value
			}
		case "max_count":
			rules.MaxCount, err = intArg(d)
		case "max_value_size":
			var size int64
			size, err = sizeArg(d)
			rules.MaxValueBytes = int(size)
		default:
			return nil, d.Errf("unrecognized variables subdirective '%s'", name)
		}
		if err != nil {
			return nil, err
		}
	}
	return rules, nil
}

// onlyOnce refuses a module subdirective (storage, upstream) given again
// in the same block: the second would silently replace the first, as
// reverse_proxy refuses a second transport.
func onlyOnce(d *caddyfile.Dispenser, configured json.RawMessage) error {
	if configured != nil {
		return d.Errf("%s is given twice", d.Val())
	}
	return nil
}

// globArgs appends one or more arguments to a list.
func globArgs(d *caddyfile.Dispenser, list *[]string) error {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.ArgErr()
	}
	*list = append(*list, args...)
	return nil
}

// headerValueArgs reads "<header> <value>".
func headerValueArgs(d *caddyfile.Dispenser, header, value *string) error {
	args := d.RemainingArgs()
	if len(args) != 2 {
		return d.ArgErr()
	}
	*header, *value = args[0], args[1]
	return nil
}

// secretArg reads a secret setting's one argument. An empty one ("") is
// kept as configured, not taken for a setting left out: Provision refuses
// it with the setting's name, as it refuses a placeholder resolving to
// nothing.
func secretArg(d *caddyfile.Dispenser, dst **string) error {
	var value string
	if err := oneArg(d, &value); err != nil {
		return err
	}
	*dst = &value
	return nil
}

// oneArg reads exactly one argument on the subdirective's line, leaving
// a block after it alone.
func oneArg(d *caddyfile.Dispenser, dst *string) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// intArg reads a count: the subdirective's one argument, 0 or more. The
// error names the subdirective, read before its argument.
func intArg(d *caddyfile.Dispenser) (int, error) {
	subdirective := d.Val()
	var s string
	if err := oneArg(d, &s); err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, d.Errf("%s: %q is not a count", subdirective, s)
	}
	return n, nil
}

func sizeArg(d *caddyfile.Dispenser) (int64, error) {
	var s string
	if err := oneArg(d, &s); err != nil {
		return 0, err
	}
	size, err := humanize.ParseBytes(s)
	if err != nil || size == 0 || size > 1<<40 {
		return 0, d.Errf("%q is not a size such as 1MiB", s)
	}
	return int64(size), nil
}

// durationArg reads a duration, 0 or more: only negative_cache_ttl and
// change_poll_interval (signedDurationArg) have a meaning for a negative
// one. The error names the subdirective, read before its argument.
func durationArg(d *caddyfile.Dispenser) (caddy.Duration, error) {
	subdirective := d.Val()
	dur, err := signedDurationArg(d)
	if err == nil && dur < 0 {
		err = d.Errf("%s: %q must not be negative", subdirective, d.Val())
	}
	return dur, err
}

// signedDurationArg reads a duration, negative ones included.
func signedDurationArg(d *caddyfile.Dispenser) (caddy.Duration, error) {
	var s string
	if err := oneArg(d, &s); err != nil {
		return 0, err
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil {
		return 0, d.Errf("%q is not a duration: %v", s, err)
	}
	return caddy.Duration(dur), nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
