package caddymodule

import (
	"crypto/sha256"
	"encoding/binary"
	"net/http"
	"net/url"
	"strconv"
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

// headerForwardedProto is the scheme a trusted proxy was addressed with,
// in canonical form (see headerValue).
const headerForwardedProto = "X-Forwarded-Proto"

// allowRead is the Allow header of /user and /projects/:id.
const allowRead = "GET, HEAD"

// managementUser is the management token's identity as GitLab's user
// entity shows it, reduced to what the gateway knows: its name.
type managementUser struct {
	ID        int64   `json:"id"`
	Username  string  `json:"username"`
	Name      string  `json:"name"`
	State     string  `json:"state"`
	Locked    bool    `json:"locked"`
	Bot       bool    `json:"bot"`
	AvatarURL *string `json:"avatar_url"`
}

// managementUserID is the user ID of a management token: 31 bits of the
// SHA-256 of its name. It depends on the name alone, so that it stays the
// same across restarts, reloads, reordered configs, token rotations and
// every instance of a cluster; it fits in 31 bits, as GitLab's user IDs
// do, so that clients decoding it into a 32-bit integer read it whole.
// provisionManagement refuses two names with the same ID.
func managementUserID(name string) int64 {
	sum := sha256.Sum256([]byte(name))
	id := int64(binary.BigEndian.Uint32(sum[:4]) & 0x7fffffff)
	return max(id, 1) // GitLab's IDs start at 1
}

func newManagementUser(cred *managementCredential) managementUser {
	return managementUser{
		ID:       managementUserID(cred.name),
		Username: cred.name,
		Name:     cred.name,
		State:    "active",
		Bot:      true, // a machine credential, as GitLab's project and group access tokens' users are
	}
}

// managementProject is a project as GitLab's project entity shows it,
// reduced to what the gateway knows. ID is a number for a project known by
// its numeric ID, and the project's path for one known only by its path:
// python-gitlab builds the URLs of projects.get(id).triggers from this id,
// so null would send it to /projects/None/triggers. The path fields are
// null when the gateway knows no path for the project (no alias with a
// slash in its project block).
type managementProject struct {
	ID                any     `json:"id"`
	Name              *string `json:"name"`
	Path              *string `json:"path"`
	PathWithNamespace *string `json:"path_with_namespace"`
}

// newManagementProject describes the canonical project.
func (h *Handler) newManagementProject(project string) managementProject {
	var out managementProject
	fullPath := ""
	// Numeric only in its canonical spelling: "009" is not project 9 to the
	// store, and the client would take the id for the project's name.
	if id, err := strconv.ParseInt(project, 10, 64); err == nil && id > 0 && strconv.FormatInt(id, 10) == project {
		out.ID = id
		if p := h.Projects[project]; p != nil {
			for _, alias := range p.Aliases {
				if strings.Contains(alias, "/") {
					fullPath = alias
					break
				}
			}
		}
	} else {
		out.ID = project
		fullPath = project
	}
	if fullPath != "" {
		path := fullPath[strings.LastIndexByte(fullPath, '/')+1:]
		out.Name, out.Path, out.PathWithNamespace = &path, &path, &fullPath
	}
	return out
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
