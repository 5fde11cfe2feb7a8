package jobtoken

import (
	"fmt"
	"strings"
)

// Allowlist is a target project's list of source projects whose job tokens
// it accepts. The zero value and nil allow nothing (default deny). It is
// immutable and safe for concurrent use.
//
// Paths compare case-insensitively, as GitLab's project routes do (two
// projects cannot differ only by case).
type Allowlist struct {
	ids         map[string]struct{} // canonical decimal project IDs
	paths       map[string]struct{} // lower-case exact paths
	children    []string            // lower-case "group/" of "group/*"
	descendants []string            // lower-case "group/" of "group/**"
}

// NewAllowlist parses allowlist entries. Each entry is one of:
//
//	12                a numeric project ID
//	group/project     a project's exact full path
//	group/*           every project directly in group
//	group/**          every project in group or any of its subgroups
//
// A wildcard is only allowed as the whole last segment and after at least
// one literal segment; any other form, an empty entry or an invalid path
// segment is an error.
func NewAllowlist(entries []string) (*Allowlist, error) {
	a := &Allowlist{ids: map[string]struct{}{}, paths: map[string]struct{}{}}
	for _, raw := range entries {
		e := strings.TrimSpace(raw)
		if isDigits(e) {
			id := canonicalID(e)
			if id == "0" || len(id) > maxIDLength {
				return nil, fmt.Errorf("jobtoken: allowlist entry %q: invalid project ID", raw)
			}
			a.ids[id] = struct{}{}
			continue
		}
		segs := strings.Split(strings.ToLower(e), "/")
		last := segs[len(segs)-1]
		literal := segs
		if last == "*" || last == "**" {
			literal = segs[:len(segs)-1]
		}
		if len(literal) == 0 {
			return nil, fmt.Errorf("jobtoken: allowlist entry %q: a wildcard needs a group before it, e.g. group/*", raw)
		}
		for _, s := range literal {
			if !validSegment(s) {
				return nil, fmt.Errorf("jobtoken: allowlist entry %q: expected a project ID, group/project, group/* or group/**", raw)
			}
		}
		prefix := strings.Join(literal, "/")
		switch last {
		case "*":
			a.children = append(a.children, prefix+"/")
		case "**":
			a.descendants = append(a.descendants, prefix+"/")
		default:
			a.paths[prefix] = struct{}{}
		}
	}
	return a, nil
}

// Allows reports whether a job token from the project with this ID and full
// path may act on the allowlist's project. Either argument may be empty.
func (a *Allowlist) Allows(projectID, projectPath string) bool {
	if a == nil {
		return false
	}
	if isDigits(projectID) {
		if _, ok := a.ids[canonicalID(projectID)]; ok {
			return true
		}
	}
	if projectPath == "" || !validPath(projectPath) {
		return false
	}
	p := strings.ToLower(projectPath) // no allocation when already lower-case
	if _, ok := a.paths[p]; ok {
		return true
	}
	for _, g := range a.children {
		if rest, ok := strings.CutPrefix(p, g); ok && !strings.Contains(rest, "/") {
			return true
		}
	}
	for _, g := range a.descendants {
		if strings.HasPrefix(p, g) {
			return true
		}
	}
	return false
}

// canonicalID strips leading zeros from a decimal string.
func canonicalID(s string) string {
	if s = strings.TrimLeft(s, "0"); s == "" {
		return "0"
	}
	return s
}

// validPath reports whether p is a sequence of valid segments, so that
// "group/../other" or "group//x" can never match a glob.
func validPath(p string) bool {
	for {
		seg, rest, more := strings.Cut(p, "/")
		if !validSegment(seg) {
			return false
		}
		if !more {
			return true
		}
		p = rest
	}
}

// validSegment accepts a GitLab namespace or project path segment: letters,
// digits, '_', '-' and '.', not starting with '-', and not "." or "..".
func validSegment(s string) bool {
	if s == "" || s == "." || s == ".." || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '_' || b == '-' || b == '.') {
			return false
		}
	}
	return true
}
