package matcher

import (
	"slices"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// UnmarshalCaddyfile sets up the matcher from Caddyfile tokens. Syntax:
//
//	trigger [pipeline|webhook|artifacts|management ...] {
//		project     <id|full/path ...>
//		path_prefix <prefix>
//	}
//
// Caddy hands every trigger line of one named matcher to the same matcher,
// so the loop merges them: kinds and projects accumulate, path_prefix may
// be given once.
func (m *MatchTrigger) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	for d.Next() { // matcher name
		for d.NextArg() {
			if err := checkKind(d.Val()); err != nil {
				return d.Err(err.Error())
			}
			m.Kinds = appendNew(m.Kinds, d.Val())
		}
		for nesting := d.Nesting(); d.NextBlock(nesting); {
			switch d.Val() {
			case "project":
				args := d.RemainingArgs()
				if len(args) == 0 {
					return d.ArgErr()
				}
				for _, p := range args {
					if err := checkProject(p); err != nil {
						return d.Err(err.Error())
					}
					m.Projects = appendNew(m.Projects, p)
				}
			case "path_prefix":
				if !d.NextArg() {
					return d.ArgErr()
				}
				prefix := d.Val()
				if d.NextArg() {
					return d.ArgErr()
				}
				if err := checkPathPrefix(prefix); err != nil || prefix == "" {
					return d.Errf("path_prefix %q must be a URL path starting with '/'", prefix)
				}
				if m.PathPrefix != "" && m.PathPrefix != prefix {
					return d.Errf("path_prefix set twice (%q and %q) in one trigger matcher", m.PathPrefix, prefix)
				}
				m.PathPrefix = prefix
			default:
				return d.Errf("unrecognized trigger matcher option %q", d.Val())
			}
		}
	}
	return nil
}

// appendNew appends v unless list holds it already, so merged lines do not
// repeat values in the JSON config.
func appendNew(list []string, v string) []string {
	if slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}
