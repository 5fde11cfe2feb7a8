package integration

import (
	"regexp"
	"strings"
	"testing"
)

// The token store of a storage is shared and kept across reloads. A reload
// applies the new store settings to it, the cache's to the tokens already
// cached; turning the change feed off, which an open store cannot do, is
// named in a warning. A reload that fails leaves the running config's
// settings in force.
func TestReloadAppliesStoreSettings(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{})
	a := g.addTrigger(t, addOpts{Project: "9", Description: "a", Owner: "alice"})
	b := g.addTrigger(t, addOpts{Project: "9", Description: "b", Owner: "alice"})
	misses := func() float64 {
		return g.metricValue(t, "caddy_trigger_gateway_token_cache_total", "result", "miss")
	}
	missesOf := func(triggers ...triggerObj) float64 {
		t.Helper()
		before := misses()
		for _, tr := range triggers {
			g.triggerOK(t, tr)
		}
		return misses() - before
	}
	missesOf(a, b)
	if n := missesOf(a, b, a); n != 0 {
		t.Fatalf("%v cache misses with both tokens cached, want 0", n)
	}

	g.reload(t, config{Gateway: "cache_size 1\ncache_ttl 30s"})
	applied := regexp.MustCompile(`token store settings applied.*"applied":"cache_size 1 \(was: 100000\), cache_ttl 30s \(was: 1m0s\)"`)
	if n := len(g.logLines(t, applied)); n != 1 {
		t.Fatalf("%d log lines naming the cache settings applied by the reload, want 1", n)
	}
	// One token fits: b, a and b again each evict the other.
	if n := missesOf(b, a, b); n != 3 {
		t.Fatalf("%v cache misses alternating two tokens in a cache of one, want 3", n)
	}

	g.reload(t, config{Gateway: "cache_size 1\ncache_ttl 30s\nusage_flush_interval 3s\nchange_poll_interval -1s"})
	flushApplied := regexp.MustCompile(`token store settings applied.*"applied":"usage_flush_interval 3s \(was: 10s\)"`)
	if n := len(g.logLines(t, flushApplied)); n != 1 {
		t.Fatalf("%d log lines naming usage_flush_interval as applied, want 1", n)
	}
	notApplied := regexp.MustCompile(`token store settings not applied.*"not_applied":"change_poll_interval -1s \(in use: 500ms\)"`)
	if n := len(g.logLines(t, notApplied)); n != 1 {
		t.Fatalf("%d warnings naming the change feed turned off as not applied, want 1", n)
	}

	// A config whose reverse_proxy cannot provision: the reload fails after
	// the gateway of the new config joined the store with cache_size 100000.
	g.writeCaddyfile(config{Gateway: "cache_size 100000", Proxy: "transport http {\n\t\ttls_client_auth " +
		g.dir + "/missing-cert.pem " + g.dir + "/missing-key.pem\n\t}"})
	res := g.cli(t, "reload", "--config", g.caddyfile, "--adapter", "caddyfile", "--address", g.adminAddr())
	if res.ExitCode == 0 {
		t.Fatal("the reload with a client certificate that does not exist succeeded")
	}
	if !strings.Contains(res.Stderr, "missing-cert.pem") {
		t.Fatalf("the reload failed for another reason: %s", res.Stderr)
	}
	if n := missesOf(a, b, a); n != 3 {
		t.Fatalf("%v cache misses after the failed reload, want 3: the running config's cache_size 1 must be in force", n)
	}
}

// The admin API and the CLI resolve project aliases through the shared
// store, which takes them from the latest config loaded: a reload that
// fails must leave the running config's aliases in force.
func TestFailedReloadKeepsRunningAliases(t *testing.T) {
	t.Parallel()
	running := config{Gateway: "project 9 {\n\t\talias group/running\n\t}"}
	g := newGateway(t, running)
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "aliased", Owner: "alice"})
	listed := func(project string) bool {
		t.Helper()
		for _, got := range g.listTriggers(t, project) {
			if got.ID == tr.ID {
				return true
			}
		}
		return false
	}
	if !listed("group/running") {
		t.Fatal("caddy trigger list --project group/running does not list project 9's trigger")
	}

	failing := config{Gateway: "project 9 {\n\t\talias group/failed\n\t}", Proxy: "transport http {\n\t\ttls_client_auth " +
		g.dir + "/missing-cert.pem " + g.dir + "/missing-key.pem\n\t}"}
	g.writeCaddyfile(failing)
	if res := g.cli(t, "reload", "--config", g.caddyfile, "--adapter", "caddyfile", "--address", g.adminAddr()); res.ExitCode == 0 {
		t.Fatal("the reload with a client certificate that does not exist succeeded")
	}
	if !listed("group/running") || listed("group/failed") {
		t.Errorf("after the failed reload: listed under group/running %v, under group/failed %v; want the running config's alias only",
			listed("group/running"), listed("group/failed"))
	}
}
