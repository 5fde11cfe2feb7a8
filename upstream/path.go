package upstream

import (
	"fmt"
	"net/url"
	"strings"
)

// pathBuilder writes a request path of fixed parts and single segments
// (a job name, a repository's owner...), keeping its escaped form beside
// it: a segment is escaped whole, so that a '/', ';', '?' or '%' in it
// stays inside it instead of reaching the CI as a path separator, a path
// parameter, a query or an escape.
type pathBuilder struct{ path, raw strings.Builder }

// fixed appends a fixed part of the path, escaped as url.URL would.
func (b *pathBuilder) fixed(s string) {
	b.path.WriteString(s)
	b.raw.WriteString((&url.URL{Path: s}).EscapedPath())
}

// segment appends one segment, escaped whole.
func (b *pathBuilder) segment(s string) {
	b.path.WriteString(s)
	b.raw.WriteString(url.PathEscape(s))
}

// result is the path and, when it differs from what url.URL would write
// for the path, its escaped form (url.URL.RawPath's rule).
func (b *pathBuilder) result() (path, rawPath string) {
	path, rawPath = b.path.String(), b.raw.String()
	if rawPath == (&url.URL{Path: path}).EscapedPath() {
		return path, ""
	}
	return path, rawPath
}

// checkSegment refuses a setting that must be one path segment and is
// not: empty, "." or ".." (which a proxy or the CI would resolve into
// another path), or holding a '/' or a control character.
func checkSegment(setting, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%s is required", setting)
	case s == "." || s == "..":
		return fmt.Errorf("%s must not be %q", setting, s)
	case strings.Contains(s, "/"):
		return fmt.Errorf("%s %q must not hold a '/'", setting, s)
	case hasControl(s):
		return fmt.Errorf("%s must not hold a control character", setting)
	}
	return nil
}

// checkSegments refuses a slash-separated setting (a Jenkins job in
// folders, a repository owner/name) with an empty, "." or ".." part.
func checkSegments(setting, s string) ([]string, error) {
	if s == "" {
		return nil, fmt.Errorf("%s is required", setting)
	}
	parts := strings.Split(s, "/")
	for _, part := range parts {
		if err := checkSegment(setting+" "+s+": each part", part); err != nil {
			return nil, err
		}
	}
	return parts, nil
}

// checkPathPrefix refuses a path prefix (GitHub's api_prefix) that is not
// empty or an absolute path of plain segments.
func checkPathPrefix(setting, s string) error {
	if s == "" {
		return nil
	}
	if !strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") {
		return fmt.Errorf("%s %q must start with '/' and not end with one", setting, s)
	}
	if strings.ContainsAny(s, "?#%") {
		return fmt.Errorf("%s %q must be a plain path, without '?', '#' or '%%'", setting, s)
	}
	_, err := checkSegments(setting, s[1:])
	return err
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}
