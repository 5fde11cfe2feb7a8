package caddymodule

import (
	"encoding/json"
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/triggergate/caddy-trigger-gateway/upstream"
)

// defaultUpstream is the module of a project that configures none: GitLab,
// sent the canonical request of contract §5.
const defaultUpstream = "gitlab"

// unmarshalUpstream parses `upstream <module> { ... }`: the module's own
// Caddyfile block, loaded as reverse_proxy loads `transport <name> { ... }`,
// into the JSON that names the module.
func unmarshalUpstream(d *caddyfile.Dispenser) (json.RawMessage, error) {
	if !d.NextArg() {
		return nil, d.ArgErr()
	}
	name := d.Val()
	unm, err := caddyfile.UnmarshalModule(d, upstream.Namespace+"."+name)
	if err != nil {
		return nil, err
	}
	return caddyconfig.JSONModuleObject(unm, "module", name, nil), nil
}

// loadUpstream loads the upstream module configured in holder's UpstreamRaw
// field (the handler or a project block); ok is false when none is.
// Loading provisions and validates it: its credentials are resolved then,
// and one that resolves to nothing stops the config.
func loadUpstream(ctx caddy.Context, holder any, raw json.RawMessage) (module upstream.Module, name string, ok bool, err error) {
	if raw == nil {
		return nil, "", false, nil
	}
	loaded, err := ctx.LoadModule(holder, "UpstreamRaw")
	if err != nil {
		return nil, "", false, err
	}
	module, isModule := loaded.(upstream.Module)
	if !isModule {
		return nil, "", false, fmt.Errorf("module %T is not an upstream module", loaded)
	}
	return module, moduleName(loaded.(caddy.Module)), true, nil
}

// moduleName is the last label of a module's ID: "jenkins" for
// http.trigger_gateway.upstreams.jenkins.
func moduleName(m caddy.Module) string {
	return m.CaddyModule().ID.Name()
}

// provisionUpstreams loads the gateway's upstream module and each project's,
// into the compiled rules: a project without its own gets the gateway's.
// The gitlab module keeps the canonical request's own path, so it is
// recorded by name only (rules.ci stays nil).
func (h *Handler) provisionUpstreams(ctx caddy.Context) error {
	module, name, ok, err := loadUpstream(ctx, h, h.UpstreamRaw)
	if err != nil {
		return fmt.Errorf("loading upstream module: %v", err)
	}
	if !ok {
		name = defaultUpstream
	}
	gateway := upstreamRules{name: name, ci: ciModule(module, name)}
	h.gatewayRules.upstream = gateway
	for _, rules := range h.projects { // a project's aliases find its rules again: harmless
		rules.upstream = gateway
	}
	for id, project := range h.Projects {
		if project == nil || project.UpstreamRaw == nil {
			continue
		}
		module, name, _, err := loadUpstream(ctx, project, project.UpstreamRaw)
		if err != nil {
			return fmt.Errorf("project %s: loading upstream module: %v", id, err)
		}
		_, rules := h.rulesFor(id)
		rules.upstream = upstreamRules{name: name, ci: ciModule(module, name)}
	}
	return nil
}

// ciModule is the module that builds a request other than the canonical
// one: nil for gitlab, whose request the gateway builds on its own path.
func ciModule(module upstream.Module, name string) upstream.Module {
	if name == defaultUpstream {
		return nil
	}
	return module
}

// upstreamRules is a project's upstream module, in its compiled rules.
type upstreamRules struct {
	// name is the module's name, for {http.trigger.upstream}, the metrics
	// and explain.
	name string
	// ci builds the CI's request and reads its answer; nil for gitlab,
	// sent the canonical request and passed GitLab's answer as it is.
	ci upstream.Module
}
