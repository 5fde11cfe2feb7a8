package caddymodule

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// What GitLab's clients read before they manage triggers, answered by the
// gateway when management tokens are configured: python-gitlab's auth()
// and Terraform's early authentication check read GET /user, and
// python-gitlab's projects.get(id) reads GET /projects/:id before
// projects.get(id).triggers.list(). Any other path under path_prefix gets
// GitLab's JSON 404 saying what the gateway serves, rather than Caddy's
// empty one.

// Actions of the management API on these resources, for logs.
const (
	actionUser    = "user"
	actionProject = "project"
)

// readAction names what a method does on /user or /projects/:id: only
// GET and HEAD read them; "" for any other method.
func readAction(resource triggerapi.Resource, method string) string {
	switch {
	case method != http.MethodGet && method != http.MethodHead:
		return ""
	case resource == triggerapi.ResourceUser:
		return actionUser
	}
	return actionProject
}

// headerForwardedProto is the scheme a trusted proxy was addressed with,
// in canonical form (see headerValue).
const headerForwardedProto = "X-Forwarded-Proto"

// allowRead is the Allow header of /user and /projects/:id.
const allowRead = "GET, HEAD"

// newManagementProject describes the canonical project, with the path of
// its project block's first alias with a slash, if any.
func (h *Handler) newManagementProject(project string) triggerapi.Project {
	var aliases []string
	if p := h.Projects[project]; p != nil {
		aliases = p.Aliases
	}
	return triggerapi.NewProject(project, aliases)
}

// unservedPathError is the 404 of a path under prefix that the gateway does
// not serve. GitLab answers an unknown API route {"error":"404 Not Found"}
// (lib/api/api.rb's catch-all route); the message goes on to say what this
// server is, for whoever pointed a GitLab client at it.
func unservedPathError(prefix string) *triggerapi.Error {
	p := strings.TrimSuffix(prefix, "/")
	return triggerapi.UnknownRouteError("unserved_path",
		"404 Not Found: this is a GitLab trigger gateway; under "+p+" it serves only "+
			"POST /projects/:id/trigger/pipeline, POST /projects/:id/ref/:ref/trigger/pipeline, "+
			"GET /projects/:id/jobs/artifacts/:ref/download, /projects/:id/triggers[/:trigger_id], "+
			"GET /projects/:id and GET /user")
}

// requestURL is the request's URL as the client addressed it, absolute,
// for the pagination links: GitLab builds them from the request. Behind a
// rewrite it is the original URL; behind a trusted proxy
// (Caddy's trusted_proxies) the scheme is X-Forwarded-Proto's.
func requestURL(r *http.Request) *url.URL {
	u := r.URL
	if orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && orig.URL != nil {
		u = orig.URL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool); trusted {
		proto, _, _ := strings.Cut(headerValue(r.Header, headerForwardedProto), ",")
		if proto = strings.ToLower(strings.TrimSpace(proto)); proto == "http" || proto == "https" {
			scheme = proto
		}
	}
	return &url.URL{Scheme: scheme, Host: r.Host, Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}
}
