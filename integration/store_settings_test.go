package integration

import (
	"regexp"
	"testing"
)

// The token store of a storage is shared and kept across reloads, so its
// settings stay those it was opened with: a reload that changes them says
// so in the log, naming what is not applied, and a reload that keeps them
// says nothing.
func TestReloadWarnsOfStoreSettingsNotApplied(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{})
	notApplied := regexp.MustCompile(`token store settings not applied.*"not_applied":"cache_size 5 \(in use: 10000\), cache_ttl 30s \(in use: 1m0s\)"`)

	g.reload(t, config{Gateway: "cache_size 5\ncache_ttl 30s"})
	if n := len(g.logLines(t, notApplied)); n != 1 {
		t.Fatalf("%d warnings naming the settings not applied after the reload, want 1", n)
	}
	g.reload(t, config{Gateway: "cache_size 10000"})
	if n := len(g.logLines(t, regexp.MustCompile(`token store settings not applied`))); n != 1 {
		t.Fatalf("a reload keeping the store's settings warned too (%d warnings)", n)
	}
}
