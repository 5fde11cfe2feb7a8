package caddymodule

import (
	"net/http"
	"slices"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func TestExplainSite(t *testing.T) {
	tests := []struct {
		url, hostHeader string
		host            string
		port            uint
		named           bool
	}{
		{url: "/api/v4/projects/9/trigger/pipeline"},
		{url: "https://ci.example.com/api/v4/x", host: "ci.example.com", port: 443, named: true},
		{url: "http://ci.example.com/api/v4/x", host: "ci.example.com", port: 80, named: true},
		{url: "http://ci.example.com:8080/api/v4/x", host: "ci.example.com", port: 8080, named: true},
		{url: "http://[::1]:8080/api/v4/x", host: "::1", port: 8080, named: true},
		{url: "/api/v4/x", hostHeader: "localhost:2015", host: "localhost", port: 2015, named: true},
		{url: "/api/v4/x", hostHeader: "localhost", host: "localhost", port: 80, named: true},
		{url: "https://a.example.com/x", hostHeader: "b.example.com", host: "a.example.com", port: 443, named: true}, // the URL's own host wins
	}
	for _, tt := range tests {
		r, err := http.NewRequest(http.MethodPost, tt.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tt.hostHeader != "" {
			r.Header.Set("Host", tt.hostHeader)
		}
		host, port, named := explainSite(r)
		if host != tt.host || port != tt.port || named != tt.named {
			t.Errorf("explainSite(%s, Host %q) = %q, %d, %v; want %q, %d, %v", tt.url, tt.hostHeader, host, port, named, tt.host, tt.port, tt.named)
		}
	}
}

// The handlers a request for a host reaches, through the routes the
// Caddyfile makes of site blocks (a host-matched subroute each) and of
// handle blocks inside them.
func TestAppendReachable(t *testing.T) {
	siteA, siteB, anyHost, inHandle := new(Handler), new(Handler), new(Handler), new(Handler)
	hostRoute := func(hosts ...string) caddyhttp.MatcherSets {
		m := caddyhttp.MatchHost(hosts)
		return caddyhttp.MatcherSets{{&m, caddyhttp.MatchPath{"/*"}}}
	}
	routes := caddyhttp.RouteList{
		{MatcherSets: hostRoute("a.example.com", "*.a.example.com"), Handlers: []caddyhttp.MiddlewareHandler{
			&caddyhttp.Subroute{Routes: caddyhttp.RouteList{{Handlers: []caddyhttp.MiddlewareHandler{siteA}}}},
		}},
		{MatcherSets: hostRoute("b.example.com"), Handlers: []caddyhttp.MiddlewareHandler{
			&caddyhttp.Subroute{Routes: caddyhttp.RouteList{
				{MatcherSets: caddyhttp.MatcherSets{{caddyhttp.MatchPath{"/team/*"}}}, Handlers: []caddyhttp.MiddlewareHandler{
					&caddyhttp.Subroute{Routes: caddyhttp.RouteList{{Handlers: []caddyhttp.MiddlewareHandler{inHandle}}}},
				}},
				{Handlers: []caddyhttp.MiddlewareHandler{siteB}},
			}},
		}},
		{Handlers: []caddyhttp.MiddlewareHandler{anyHost}},
	}
	tests := []struct {
		host string
		want []*Handler
	}{
		{"a.example.com", []*Handler{siteA, anyHost}},
		{"ci.a.example.com", []*Handler{siteA, anyHost}},
		{"B.example.com", []*Handler{inHandle, siteB, anyHost}}, // path matchers are not judged
		{"c.example.com", []*Handler{anyHost}},
	}
	for _, tt := range tests {
		w := routeWalk{probe: hostProbe(tt.host)}
		if got := w.appendReachable(nil, routes); !slices.Equal(got, tt.want) {
			t.Errorf("%s reaches %d handlers %p, want %d %p", tt.host, len(got), got, len(tt.want), tt.want)
		}
	}
	all := routeWalk{}
	if got := all.appendReachable(nil, routes); len(got) != 4 {
		t.Errorf("no site named: %d handlers, want all 4", len(got))
	}
}

// A handler in a named route is reached through invoke, once however many
// times it is invoked, and a route that invokes itself ends the walk.
func TestAppendReachableNamedRoutes(t *testing.T) {
	inNamed := new(Handler)
	named := map[string]*caddyhttp.Route{
		"gateway": {Handlers: []caddyhttp.MiddlewareHandler{inNamed}},
		"loop":    {Handlers: []caddyhttp.MiddlewareHandler{&caddyhttp.Invoke{Name: "loop"}}},
	}
	routes := caddyhttp.RouteList{
		{Handlers: []caddyhttp.MiddlewareHandler{&caddyhttp.Invoke{Name: "loop"}}},
		{Handlers: []caddyhttp.MiddlewareHandler{&caddyhttp.Invoke{Name: "gateway"}, &caddyhttp.Invoke{Name: "gateway"}}},
		{Handlers: []caddyhttp.MiddlewareHandler{&caddyhttp.Invoke{Name: "no-such-route"}}},
	}
	w := routeWalk{probe: hostProbe("ci.example.com"), named: named, invoked: map[string]bool{}}
	if got := w.appendReachable(nil, routes); !slices.Equal(got, []*Handler{inNamed}) {
		t.Errorf("reached %p, want the named route's handler once", got)
	}
}

func TestListensOn(t *testing.T) {
	tests := []struct {
		listen []string
		port   uint
		want   bool
	}{
		{[]string{":443"}, 443, true},
		{[]string{":443"}, 80, false},
		{[]string{"127.0.0.1:8000-8010"}, 8005, true},
		{[]string{":80", ":8080"}, 8080, true},
		{[]string{"unix//run/caddy.sock"}, 443, true}, // no port to rule it out
	}
	for _, tt := range tests {
		if got := listensOn(&caddyhttp.Server{Listen: tt.listen}, tt.port); got != tt.want {
			t.Errorf("listensOn(%q, %d) = %v, want %v", tt.listen, tt.port, got, tt.want)
		}
	}
}
