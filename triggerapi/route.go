// Package triggerapi knows GitLab's pipeline-trigger API: which paths it has,
// how callers send their parameters, and the error shapes GitLab answers with.
// It is plain Go with no dependency on Caddy, so it can be tested and fuzzed alone.
package triggerapi

import (
	"net/url"
	"strings"
)

// DefaultPathPrefix is where GitLab serves its REST API.
const DefaultPathPrefix = "/api/v4"

// Kind is one of the trigger API's routes.
type Kind uint8

// The routes of the trigger API.
const (
	// KindPipeline is POST /projects/:id/trigger/pipeline.
	KindPipeline Kind = iota + 1
	// KindWebhook is POST /projects/:id/ref/:ref/trigger/pipeline.
	KindWebhook
	// KindArtifacts is GET /projects/:id/jobs/artifacts/:ref/download.
	KindArtifacts
	// KindManagement is GitLab's trigger-management API,
	// /projects/:id/triggers[/:trigger_id] (see ParseManagementRoute;
	// ParseRoute never returns it).
	KindManagement
)

// String returns the name used for the kind in configuration, logs and metrics.
func (k Kind) String() string {
	switch k {
	case KindPipeline:
		return "pipeline"
	case KindWebhook:
		return "webhook"
	case KindArtifacts:
		return "artifacts"
	case KindManagement:
		return "management"
	}
	return "unknown"
}

// ParseKind is the inverse of Kind.String.
func ParseKind(s string) (Kind, bool) {
	for _, k := range []Kind{KindPipeline, KindWebhook, KindArtifacts, KindManagement} {
		if k.String() == s {
			return k, true
		}
	}
	return 0, false
}

// Method is the HTTP method GitLab serves the route on. KindManagement
// has several: see ManagementRoute.Allow.
func (k Kind) Method() string {
	if k == KindArtifacts {
		return "GET"
	}
	return "POST"
}

// Route is what the URL path alone says about a trigger API request.
type Route struct {
	Kind Kind
	// Project is the project as the URL names it, unescaped: a numeric ID
	// such as "9" or a full path such as "group/project".
	Project string
	// Ref is the ref named in the URL, unescaped (webhook and artifacts
	// routes only).
	Ref string
}

// ParseRoute recognizes a trigger API path under prefix. It takes the
// escaped path (url.URL.EscapedPath) because a project path or a ref with
// slashes arrives URL-encoded ("group%2Fproject", "feature%2Fx") and the
// encoding is what tells those slashes from the path's own.
//
// Percent-encoded unreserved characters are decoded first (RFC 3986 makes
// "%70rojects" and "projects" the same path), so that no spelling of a
// trigger route slips past the gateway to an upstream that decodes it.
func ParseRoute(prefix, escapedPath string) (Route, bool) {
	if strings.IndexByte(escapedPath, '%') >= 0 {
		escapedPath = decodeUnreserved(escapedPath)
	}
	rest, ok := strings.CutPrefix(escapedPath, strings.TrimSuffix(prefix, "/"))
	if !ok {
		return Route{}, false
	}
	rest, ok = strings.CutPrefix(rest, "/projects/")
	if !ok {
		return Route{}, false
	}
	rawProject, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return Route{}, false
	}
	project, ok := unescapeSegment(rawProject)
	if !ok {
		return Route{}, false
	}

	if rest == "trigger/pipeline" {
		return Route{Kind: KindPipeline, Project: project}, true
	}
	// GitLab's route is ":id/(ref/:ref/)trigger/pipeline" with ref matching /.+/,
	// so a ref may arrive encoded ("feature%2Fx") or with plain slashes.
	kind := KindWebhook
	rawRef, ok := between(rest, "ref/", "/trigger/pipeline")
	if !ok {
		kind = KindArtifacts
		rawRef, ok = between(rest, "jobs/artifacts/", "/download")
	}
	if !ok {
		return Route{}, false
	}
	ref, ok := unescapeRef(rawRef)
	if !ok {
		return Route{}, false
	}
	return Route{Kind: kind, Project: project, Ref: ref}, true
}

// between returns what s holds between prefix and suffix. They must not
// overlap: in "ref/trigger/pipeline" the slash after "ref" cannot also
// start "/trigger/pipeline".
func between(s, prefix, suffix string) (string, bool) {
	if len(s) < len(prefix)+len(suffix) || !strings.HasPrefix(s, prefix) || !strings.HasSuffix(s, suffix) {
		return "", false
	}
	return s[len(prefix) : len(s)-len(suffix)], true
}

// unescapeSegment decodes one path segment; empty segments name nothing.
func unescapeSegment(s string) (string, bool) {
	if s == "" {
		return "", false
	}
	if !strings.ContainsRune(s, '%') {
		return s, true
	}
	u, err := url.PathUnescape(s)
	if err != nil || u == "" {
		return "", false
	}
	return u, true
}

// unescapeRef decodes a ref that may span several segments.
func unescapeRef(s string) (string, bool) {
	if s == "" || strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") || strings.Contains(s, "//") {
		return "", false
	}
	return unescapeSegment(s)
}

// PipelinePath returns the path of the canonical pipeline endpoint for
// project under prefix, the path the upstream receives, as url.URL's Path
// and RawPath: rawPath is set when the project needs escaping
// ("group%2Fproject"), and is empty otherwise.
func PipelinePath(prefix, project string) (path, rawPath string) {
	return projectPath(prefix, project, "/trigger/pipeline", "/trigger/pipeline")
}

// IsPipelinePath reports whether path is already PipelinePath's path for
// prefix and project, with no RawPath needed: the request path then keeps
// the caller's path instead of building the same string again.
func IsPipelinePath(prefix, project, path string) bool {
	rest, ok := strings.CutPrefix(path, strings.TrimSuffix(prefix, "/"))
	if !ok {
		return false
	}
	if rest, ok = strings.CutPrefix(rest, "/projects/"); !ok {
		return false
	}
	if rest, ok = strings.CutPrefix(rest, project); !ok {
		return false
	}
	return rest == "/trigger/pipeline" && !needsPathEscape(project)
}

// needsPathEscape reports whether url.PathEscape would change s; a name
// of letters, digits and "-._~", as most projects' are, is told without
// building its escaped form.
func needsPathEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return url.PathEscape(s) != s
		}
	}
	return false
}

// ArtifactsPath is the path of the artifacts download of ref's job in
// project, as url.URL's Path and RawPath; a ref with slashes stays one
// segment ("feature%2Fx"), as GitLab documents it.
func ArtifactsPath(prefix, project, ref string) (path, rawPath string) {
	return projectPath(prefix, project,
		"/jobs/artifacts/"+ref+"/download",
		"/jobs/artifacts/"+url.PathEscape(ref)+"/download")
}

// projectPath joins prefix, the project and a tail, with rawPath set when
// something needs escaping.
func projectPath(prefix, project, tail, escapedTail string) (path, rawPath string) {
	prefix = strings.TrimSuffix(prefix, "/")
	path = prefix + "/projects/" + project + tail
	escaped := url.PathEscape(project)
	if escaped == project && escapedTail == tail {
		return path, ""
	}
	// The prefix is escaped too: url.URL ignores a RawPath that is not a
	// valid encoding, and would then send the project's slashes unescaped.
	escapedPrefix := (&url.URL{Path: prefix}).EscapedPath()
	return path, escapedPrefix + "/projects/" + escaped + escapedTail
}

// decodeUnreserved replaces %XX escapes of unreserved characters (letters,
// digits, '-', '.', '_', '~') with the characters themselves and leaves
// every other escape, "%2F" above all, as it is.
func decodeUnreserved(path string) string {
	var b strings.Builder
	b.Grow(len(path))
	for i := 0; i < len(path); i++ {
		if path[i] == '%' && i+2 < len(path) {
			if c, ok := unhex2(path[i+1], path[i+2]); ok && isUnreserved(c) {
				b.WriteByte(c)
				i += 2
				continue
			}
		}
		b.WriteByte(path[i])
	}
	return b.String()
}

func unhex2(hi, lo byte) (byte, bool) {
	h, ok1 := unhex(hi)
	l, ok2 := unhex(lo)
	return h<<4 | l, ok1 && ok2
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
