// Package matcher provides the Caddy request matcher http.matchers.trigger,
// which recognizes the routes of GitLab's pipeline-trigger API (and of its
// trigger-management API) so that a Caddyfile can send them, and only them,
// to the trigger gateway.
package matcher

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/triggergate/caddy-trigger-gateway/internal/projectname"
	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

func init() {
	caddy.RegisterModule(MatchTrigger{})
}

// MatchTrigger matches requests whose path is a route of GitLab's
// pipeline-trigger API under a path prefix:
//
//	pipeline   POST {path_prefix}/projects/:id/trigger/pipeline
//	webhook    POST {path_prefix}/projects/:id/ref/:ref/trigger/pipeline
//	artifacts  GET  {path_prefix}/projects/:id/jobs/artifacts/:ref/download
//	management GET, POST {path_prefix}/projects/:id/triggers
//	           GET, PUT, DELETE {path_prefix}/projects/:id/triggers/:trigger_id
//
// Only the path is matched, never the method: a GET to a pipeline route is
// still a trigger route, and the gateway answers it with 405 as GitLab does.
// The path is read in its escaped form, so a project or ref with slashes
// may arrive URL-encoded (group%2Fproject, feature%2Fx).
//
// Caddyfile syntax (no kind: every trigger route):
//
//	trigger [pipeline|webhook|artifacts|management ...] {
//		project    <id|full/path ...>
//		path_prefix <prefix>
//	}
//
// Several trigger lines in one named matcher merge into one matcher: their
// kinds and projects are combined into one list each (a line without kinds
// adds none), and path_prefix may be set only once.
//
// In CEL expressions the matcher is the trigger function; its arguments must
// be literals:
//
//	trigger()                                  every trigger route
//	trigger('pipeline', 'webhook')             only those kinds
//	trigger({'kinds': ['webhook'], 'projects': ['9', 'group/project'], 'path_prefix': '/api/v4'})
//
// The map form takes the keys kinds, projects and path_prefix, each a string
// or a list of strings, with the meaning of the JSON fields of the same
// name; an empty map matches every trigger route.
type MatchTrigger struct {
	// Kinds are the trigger routes to match: pipeline, webhook, artifacts
	// and/or management (GitLab's /projects/:id/triggers API, served when
	// the gateway has management tokens). Empty matches all four.
	Kinds []string `json:"kinds,omitempty"`

	// Projects, when not empty, limit the match to these projects, compared
	// with the project as the URL names it after unescaping as GitLab
	// compares them: a full path ("group/project") in any case, a numeric
	// ID ("9") with any leading zeros ("009"). A project reached by both
	// its ID and its path is listed under both. Empty matches every project.
	Projects []string `json:"projects,omitempty"`

	// PathPrefix is where the API is served, as it appears in the request's
	// escaped path. Default: /api/v4. Set it to the trigger_gateway
	// handler's path_prefix when that is changed.
	PathPrefix string `json:"path_prefix,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (MatchTrigger) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.matchers.trigger",
		New: func() caddy.Module { return new(MatchTrigger) },
	}
}

// Provision fills in the default path prefix.
func (m *MatchTrigger) Provision(caddy.Context) error {
	m.setDefaults()
	return nil
}

func (m *MatchTrigger) setDefaults() {
	if m.PathPrefix == "" {
		m.PathPrefix = triggerapi.DefaultPathPrefix
	}
}

// Validate rejects kinds the trigger API does not have, project names that
// could never match, and a path prefix that is not a path.
func (m *MatchTrigger) Validate() error {
	for _, k := range m.Kinds {
		if err := checkKind(k); err != nil {
			return err
		}
	}
	for _, p := range m.Projects {
		if err := checkProject(p); err != nil {
			return err
		}
	}
	return checkPathPrefix(m.PathPrefix)
}

// Match returns true if r's path is one of the matcher's trigger routes.
func (m MatchTrigger) Match(r *http.Request) bool {
	match, _ := m.MatchWithError(r)
	return match
}

// MatchWithError returns true if r's path is one of the matcher's trigger
// routes. It never fails: a path that is not a trigger route simply does
// not match.
func (m MatchTrigger) MatchWithError(r *http.Request) (bool, error) {
	prefix := m.PathPrefix
	if prefix == "" {
		prefix = triggerapi.DefaultPathPrefix
	}
	route, ok := triggerapi.ParseRoute(prefix, r.URL.EscapedPath())
	if !ok {
		mr, isManagement := triggerapi.ParseManagementRoute(prefix, r.URL.EscapedPath())
		if !isManagement {
			return false, nil
		}
		route = triggerapi.Route{Kind: triggerapi.KindManagement, Project: mr.Project}
	}
	if len(m.Kinds) > 0 && !slices.Contains(m.Kinds, route.Kind.String()) {
		return false, nil
	}
	if len(m.Projects) > 0 && !slices.ContainsFunc(m.Projects, func(p string) bool { return projectname.Equal(p, route.Project) }) {
		return false, nil
	}
	return true, nil
}

// checkKind accepts the kind names of triggerapi.Kind.
func checkKind(kind string) error {
	if _, ok := triggerapi.ParseKind(kind); !ok {
		return fmt.Errorf("unknown trigger route kind %q (want pipeline, webhook, artifacts or management)", kind)
	}
	return nil
}

// checkProject refuses names no request can carry once unescaped: GitLab
// project paths never contain '%', so one that does was written encoded.
func checkProject(project string) error {
	if project == "" {
		return fmt.Errorf("empty project name")
	}
	if strings.Contains(project, "%") {
		return fmt.Errorf("project %q looks URL-encoded: list it as the URL names it once decoded (e.g. group/project)", project)
	}
	return nil
}

// checkPathPrefix accepts an absolute path; "" stands for the default.
func checkPathPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if !strings.HasPrefix(prefix, "/") || strings.ContainsAny(prefix, "?# \t") {
		return fmt.Errorf("path_prefix %q must be a URL path starting with '/'", prefix)
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner                 = (*MatchTrigger)(nil)
	_ caddy.Validator                   = (*MatchTrigger)(nil)
	_ caddyhttp.RequestMatcherWithError = (*MatchTrigger)(nil)
	_ caddyfile.Unmarshaler             = (*MatchTrigger)(nil)
	_ caddyhttp.CELLibraryProducer      = (*MatchTrigger)(nil)
)
