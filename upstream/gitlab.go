package upstream

import (
	"net/http"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

func init() {
	caddy.RegisterModule(GitLab{})
}

// GitLab sends GitLab's own trigger request (contract §5), the default
// upstream: POST {path_prefix}/projects/{id}/trigger/pipeline with the
// JSON body {"token","ref","variables","inputs",...payload} and the
// X-Trigger-* headers. It has no settings. The gateway keeps its own fast
// path for it and passes GitLab's answer through untouched.
//
// Source: gitlabhq lib/api/ci/triggers.rb (POST
// /projects/:id/trigger/pipeline), doc/ci/triggers/_index.md.
type GitLab struct{}

// CaddyModule returns the Caddy module information.
func (GitLab) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  Namespace + ".gitlab",
		New: func() caddy.Module { return new(GitLab) },
	}
}

// UnmarshalCaddyfile parses `upstream gitlab`, which takes no settings.
func (g *GitLab) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		return d.Errf("upstream gitlab takes no settings, not '%s'", d.Val())
	}
	return nil
}

// Build returns the canonical request: t.Token (the configured upstream
// token, or the caller's own) in the body, as GitLab takes it.
func (g *GitLab) Build(t *Trigger) (*Request, *triggerapi.Error) {
	path, rawPath := triggerapi.PipelinePath(t.PathPrefix, t.Project)
	header := http.Header{"Content-Type": {"application/json"}, "X-Trigger-Source": {t.Source}}
	if t.TriggerID != 0 {
		header["X-Trigger-Id"] = []string{strconv.FormatInt(t.TriggerID, 10)}
		header["X-Trigger-Token-Prefix"] = []string{t.TokenPrefix}
	}
	if j := t.Job; j != nil {
		header["X-Trigger-Source-Project"] = []string{j.ProjectID}
		header["X-Trigger-Source-Project-Path"] = []string{j.ProjectPath}
		header["X-Trigger-Source-Pipeline"] = []string{j.PipelineID}
		header["X-Trigger-Source-Job"] = []string{j.JobID}
	}
	return &Request{
		Method:  http.MethodPost,
		Path:    path,
		RawPath: rawPath,
		Header:  header,
		Body:    triggerapi.CanonicalBody(t.Token, t.Ref, t.Variables, t.Inputs, t.Payload),
	}, nil
}

// Read reads GitLab's answer, 201 and the pipeline object
// (Entities::Ci::Pipeline): its id and web_url (triggerapi.ParsePipeline).
// The gateway passes GitLab's answer on as it is; this serves explain and
// tests.
func (g *GitLab) Read(a *Answer) (Started, error) {
	if !success(a.Status) {
		return refused(a)
	}
	p, ok := triggerapi.ParsePipeline(a.Body)
	if !ok {
		return Started{}, nil
	}
	id := p.ID
	return Started{ID: &id, WebURL: p.WebURL}, nil
}

// Interface guards
var (
	_ Module                = (*GitLab)(nil)
	_ caddyfile.Unmarshaler = (*GitLab)(nil)
)
