package caddymodule

import (
	"context"
	"net"
	"net/http"
	"slices"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// siteHandlers lists, in route order, the trigger_gateway handlers of the
// running configuration's HTTP servers that a request for host and port
// could reach: the servers listening on port, and within them the routes
// whose host matchers accept host; every handler when named is false.
// Other matchers (paths, headers...) are not judged: explain's URL is the
// path as the handler sees it, after any handle_path or rewrite. ok is
// false when the running configuration has no HTTP app to read.
func siteHandlers(host string, port uint, named bool) (found []*Handler, ok bool) {
	app, err := caddy.ActiveContext().AppIfConfigured("http")
	if err != nil {
		return nil, false
	}
	httpApp, ok := app.(*caddyhttp.App)
	if !ok {
		return nil, false
	}
	// nil admits every route.
	var probe *http.Request
	if named {
		probe = hostProbe(host)
	}
	names := make([]string, 0, len(httpApp.Servers))
	for name := range httpApp.Servers {
		names = append(names, name)
	}
	slices.Sort(names) // the map's order would make ties arbitrary
	for _, name := range names {
		srv := httpApp.Servers[name]
		if named && !listensOn(srv, port) {
			continue
		}
		w := routeWalk{probe: probe, named: srv.NamedRoutes, invoked: map[string]bool{}}
		found = w.appendReachable(found, srv.Routes)
	}
	return found, true
}

// hostProbe is a request for host with what host matchers read: its Host,
// and the replacer they expand placeholders with.
func hostProbe(host string) *http.Request {
	probe := &http.Request{Host: host, Header: http.Header{}}
	return probe.WithContext(context.WithValue(context.Background(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
}

// routeWalk finds the trigger_gateway handlers of one server's routes
// that probe could reach (nil: any request).
type routeWalk struct {
	probe *http.Request
	// named are the server's named routes, which invoke runs.
	named map[string]*caddyhttp.Route
	// invoked are the named routes walked already: each once, as a route
	// that invokes itself would otherwise never end the walk.
	invoked map[string]bool
}

// appendReachable appends the trigger_gateway handlers of routes that the
// walk's probe could reach, descending into subroutes (the Caddyfile's
// site blocks, handle, handle_path, route) and named routes (invoke).
func (w *routeWalk) appendReachable(found []*Handler, routes caddyhttp.RouteList) []*Handler {
	for _, route := range routes {
		if !hostsAdmit(route.MatcherSets, w.probe) {
			continue
		}
		for _, handler := range route.Handlers {
			switch h := handler.(type) {
			case *Handler:
				found = append(found, h)
			case *caddyhttp.Subroute:
				found = w.appendReachable(found, h.Routes)
			case *caddyhttp.Invoke:
				if named, ok := w.named[h.Name]; ok && !w.invoked[h.Name] {
					w.invoked[h.Name] = true
					found = w.appendReachable(found, caddyhttp.RouteList{*named})
				}
			}
		}
	}
	return found
}

// hostsAdmit reports whether one of a route's matcher sets (which Caddy
// ORs) has host matchers that all accept probe's host; a set without host
// matchers admits every host.
func hostsAdmit(sets caddyhttp.MatcherSets, probe *http.Request) bool {
	if len(sets) == 0 || probe == nil {
		return true
	}
	for _, set := range sets {
		if hostMatchersAccept(set, probe) {
			return true
		}
	}
	return false
}

func hostMatchersAccept(set caddyhttp.MatcherSet, probe *http.Request) bool {
	for _, m := range set {
		var hosts caddyhttp.MatchHost
		switch m := m.(type) {
		case *caddyhttp.MatchHost:
			hosts = *m
		case caddyhttp.MatchHost:
			hosts = m
		default:
			continue
		}
		if match, err := hosts.MatchWithError(probe); err != nil || !match {
			return false
		}
	}
	return true
}

// listensOn reports whether srv listens on port, or may: an address
// whose port cannot be read (a placeholder, a Unix socket) is not ruled
// out.
func listensOn(srv *caddyhttp.Server, port uint) bool {
	for _, listen := range srv.Listen {
		addr, err := caddy.ParseNetworkAddress(listen)
		if err != nil || addr.IsUnixNetwork() || addr.IsFdNetwork() {
			return true
		}
		if addr.StartPort <= port && port <= addr.EndPort {
			return true
		}
	}
	return false
}

// explainSite is the host and port an explain URL names: its own
// (https://ci.example.com/...), else a Host header's. named is false for
// a bare path.
func explainSite(r *http.Request) (host string, port uint, named bool) {
	hostPort, scheme := r.URL.Host, r.URL.Scheme
	if hostPort == "" {
		hostPort, scheme = r.Header.Get("Host"), "http"
	}
	if hostPort == "" {
		return "", 0, false
	}
	host, portText, err := net.SplitHostPort(hostPort)
	if err != nil {
		host, portText = hostPort, ""
	}
	if portText == "" {
		if scheme == "https" {
			return host, 443, true
		}
		return host, 80, true
	}
	n, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return host, 0, true
	}
	return host, uint(n), true
}
