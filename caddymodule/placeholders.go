package caddymodule

import (
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/triggergate/caddy-trigger-gateway/jobtoken"
)

// setPlaceholders makes the decision available to the rest of the route
// (rewrite, header_up, logs) as {http.trigger.*}. No placeholder holds a
// token beyond its prefix, nor a variable value. The values are looked up
// when a placeholder is used, from a copy of the decision's facts: one
// allocation per request rather than one per value.
func setPlaceholders(r *http.Request, d *decision) {
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return
	}
	p := &d.state().placeholders
	*p = triggerPlaceholders{
		route:       d.route.Kind.String(),
		project:     d.project,
		ref:         d.ref,
		source:      d.source,
		tokenPrefix: d.tokenPrefix,
		triggerID:   d.triggerID,
		pipelineID:  d.pipeline.ID, // a replay's, from the first answer; a forwarded request's is set by account
		identity:    d.identity,
	}
	p.outcome, _ = d.outcome()
	if d.settings != nil {
		p.upstream = d.settings.upstream.name
	}
	// A request the handler sees twice (invoke, error routes) keeps one
	// provider, updated: the replacer asks its providers in order, so a
	// second one would never be reached.
	if prev, ok := caddyhttp.GetVar(r.Context(), placeholdersVar).(*triggerPlaceholders); ok {
		*prev = *p
		d.placeholders = prev
		return
	}
	caddyhttp.SetVar(r.Context(), placeholdersVar, p)
	repl.Map(p.get)
	d.placeholders = p
}

// placeholdersVar names the request variable holding the request's
// triggerPlaceholders.
const placeholdersVar = "trigger_gateway.placeholders"

const placeholderPrefix = "http.trigger."

// triggerPlaceholders holds the facts behind {http.trigger.*}.
type triggerPlaceholders struct {
	route, project, ref, source, tokenPrefix, outcome, upstream string
	triggerID                                                   int64
	pipelineID                                                  int64 // set once the upstream answered
	identity                                                    *jobtoken.Identity
}

// get is a caddy.ReplacerFunc for the http.trigger. namespace.
func (p *triggerPlaceholders) get(key string) (any, bool) {
	name, ok := strings.CutPrefix(key, placeholderPrefix)
	if !ok {
		return nil, false
	}
	switch name {
	case "route":
		return p.route, true
	case "project":
		return p.project, true
	case "ref":
		return p.ref, true
	case "source":
		return p.source, true
	case "token_prefix":
		return p.tokenPrefix, true
	case "outcome":
		return p.outcome, true
	case "upstream":
		return p.upstream, p.upstream != ""
	case "id":
		return p.triggerID, p.triggerID != 0
	case "pipeline_id":
		return p.pipelineID, p.pipelineID != 0
	}
	id := p.identity
	if id == nil {
		return nil, false
	}
	switch name {
	case "source_project":
		return id.ProjectID, true
	case "source_project_path":
		return id.ProjectPath, true
	case "source_pipeline":
		return id.PipelineID, true
	case "source_job":
		return id.JobID, true
	}
	return nil, false
}
