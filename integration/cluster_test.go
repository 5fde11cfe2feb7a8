package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"
)

// revocationBound is what docs/cluster.md promises for a revocation made on
// another instance: change_poll_interval (500ms by default) plus one read
// of the feed, within a second.
const revocationBound = time.Second

// firstStatus sends trigger requests for tr to g every 10ms until one gets
// want, and returns how long that took. Accepted requests reaching the
// upstream meanwhile are discarded.
func (g *gateway) firstStatus(t *testing.T, tr triggerObj, want int, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	defer g.up.take()
	for {
		status, err := g.triggerStatus(context.Background(), tr)
		g.siteRequests++
		if err != nil {
			t.Fatal(err)
		}
		if status == want {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("trigger %d on %s: still %d after %s, want %d", tr.ID, g.base(), status, timeout, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// summarize returns the minimum, median and maximum of ds.
func summarize(ds []time.Duration) (lo, median, hi time.Duration) {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[0], s[len(s)/2], s[len(s)-1]
}

// Triggers created through any instance work on every instance at once,
// imports clear other instances' negative caches, a reload keeps the
// store's storage working, and a revocation made through one instance is
// refused by the others within the documented bound, whatever their cache
// TTL.
func TestClusterSharesTriggersAndRevocations(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, "cache_ttl 1h\nnegative_cache_ttl 1h\nfailed_auth_limit off", nil)
	a, b := c.nodes[0], c.nodes[1]

	// B has never seen the token: its cache miss reads storage.
	tr := a.addTrigger(t, addOpts{Project: "9", Description: "created on A", Owner: "alice"})
	b.triggerOK(t, tr)

	// B refuses an unknown token and remembers it for an hour; A imports it.
	imported := triggerObj{Token: "imported-" + randomHex(12), Project: "9"}
	c.secrets.addToken(imported.Token)
	b.firstStatus(t, imported, http.StatusNotFound, time.Second)
	imp := a.addTrigger(t, addOpts{Project: "9", Description: "imported on A", Owner: "bob", Token: imported.Token})
	took := b.firstStatus(t, imp, http.StatusCreated, 3*time.Second)
	if took > revocationBound {
		t.Errorf("an import took %s to clear another instance's negative cache, want at most %s", took, revocationBound)
	}

	// A reload gives A a new configuration; its store must keep a working
	// storage (Caddy cleans up the old configuration's Redis client).
	a.reload(t, config{Gateway: c.gatewayCfg, Site: "header X-Generation 2"})
	fresh := b.addTrigger(t, addOpts{Project: "9", Description: "created on B after A's reload", Owner: "carol"})
	a.triggerOK(t, fresh)

	// Revocations through B, measured from the CLI returning to A's first 404.
	const revocations = 5
	var latencies []time.Duration
	for i := range revocations {
		tr := a.addTrigger(t, addOpts{Project: "9", Description: fmt.Sprintf("revoked %d", i), Owner: "alice"})
		a.triggerOK(t, tr) // cached on A for an hour
		// Spread the revocations over the phase of A's poll ticker: each
		// round takes about as long, which would otherwise sample one phase.
		time.Sleep(time.Duration(i) * time.Second / revocations)
		if res := b.revokeTrigger(t, tr.ID); res.ExitCode != 0 {
			t.Fatalf("caddy trigger revoke on B: exit %d: %s", res.ExitCode, res.Stderr)
		}
		revoked := time.Now()
		if status, err := b.triggerStatus(context.Background(), tr); err != nil || status != http.StatusNotFound {
			t.Fatalf("the revoking instance answered %d, %v", status, err)
		}
		b.siteRequests++
		a.firstStatus(t, tr, http.StatusNotFound, 5*time.Second)
		latencies = append(latencies, time.Since(revoked))
	}
	lo, median, hi := summarize(latencies)
	t.Logf("revocation on B refused by A after: min %s, median %s, max %s (%d revocations, default change_poll_interval)",
		lo.Round(time.Millisecond), median.Round(time.Millisecond), hi.Round(time.Millisecond), revocations)
	if hi > revocationBound {
		t.Errorf("a revocation took %s to reach the other instance, want at most %s", hi, revocationBound)
	}
}

// Usage from all instances adds up exactly while they serve and flush
// concurrently, last_used is the latest of all, and a process started
// with a copy of another's instance ID takes a new one for good.
func TestClusterUsageAddsUp(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3, "usage_flush_interval 100ms", map[int]int{1: 0})
	if c.nodes[0].instanceID(t) == c.nodes[1].instanceID(t) {
		t.Fatal("node 1, started with a copy of node 0's instance ID file, kept that ID")
	}
	main := c.nodes[0].addTrigger(t, addOpts{Project: "9", Description: "busy", Owner: "alice"})
	side := c.nodes[2].addTrigger(t, addOpts{Project: "9", Description: "side", Owner: "bob"})

	const mainPerNode, sidePerNode = 150, 40
	start := time.Now()
	results := make([][2]*statusCounts, len(c.nodes))
	done := make(chan int)
	for i, g := range c.nodes {
		go func() {
			results[i][0] = g.hammer(t, main, 4, mainPerNode)
			done <- i
		}()
		go func() {
			results[i][1] = g.hammer(t, side, 2, sidePerNode)
			done <- i
		}()
	}
	for range 2 * len(c.nodes) {
		<-done
	}
	var forwarded int
	for i, g := range c.nodes {
		for j, want := range []int64{mainPerNode, sidePerNode} {
			if got := results[i][j].get(http.StatusCreated); got != want || results[i][j].total() != want {
				t.Errorf("node %d trigger %d: %d of %d accepted (%+v)", i, j, got, want, results[i][j].counts)
			}
		}
		forwarded += len(g.up.take())
	}
	if want := len(c.nodes) * (mainPerNode + sidePerNode); forwarded != want {
		t.Errorf("upstreams received %d requests, want %d", forwarded, want)
	}

	// The latest use of main is on node 2, after every other.
	time.Sleep(20 * time.Millisecond)
	latest := time.Now()
	c.nodes[2].triggerOK(t, main)

	wantMain, wantSide := int64(len(c.nodes)*mainPerNode+1), int64(len(c.nodes)*sidePerNode)
	for i, g := range c.nodes {
		eventually(t, 10*time.Second, func() string {
			list := g.listTriggers(t, "9")
			gotMain, gotSide := findTrigger(t, list, main.ID), findTrigger(t, list, side.ID)
			if gotMain.UseCount != wantMain || gotSide.UseCount != wantSide {
				return fmt.Sprintf("node %d shows use_count %d and %d, want %d and %d",
					i, gotMain.UseCount, gotSide.UseCount, wantMain, wantSide)
			}
			last, err := time.Parse(time.RFC3339, *gotMain.LastUsed)
			if err != nil || last.Before(latest.Truncate(time.Second)) || last.Before(start) {
				return fmt.Sprintf("node %d shows last_used %s (%v), want the latest use, at %s", i, *gotMain.LastUsed, err, latest)
			}
			return ""
		})
	}

	// One usage record per process: node 1, started with a copy of node
	// 0's instance ID, renewed it (in its file) and says why.
	id0, id1, id2 := c.nodes[0].instanceID(t), c.nodes[1].instanceID(t), c.nodes[2].instanceID(t)
	want := []string{id0, id1, id2}
	slices.Sort(want)
	if got := c.usageWriters(t, main); !slices.Equal(got, want) {
		t.Errorf("usage records of the busy trigger: %q, want %q", got, want)
	}
	renewed := regexp.MustCompile(`a live gateway elsewhere uses this instance ID.*"instance_id":"` +
		regexp.QuoteMeta(id0) + `".*"new_instance_id":"` + regexp.QuoteMeta(id1) + `"`)
	if len(c.nodes[1].logLines(t, renewed)) != 1 {
		t.Error("node 1 did not log that it took a new instance ID")
	}
}

// storedUseCount reads one instance's use count of the trigger straight
// from Redis: its usage record of the trigger's shard.
func (c *cluster) storedUseCount(t *testing.T, tr triggerObj, instance string) int64 {
	t.Helper()
	rec, ok := c.storedUsageShard(t, tr, instance)
	if !ok {
		t.Fatalf("no usage record of %s for trigger %d", instance, tr.ID)
	}
	entry, ok := rec.Triggers[tr.idString()]
	if !ok {
		t.Fatalf("the usage record of %s has no entry for trigger %d", instance, tr.ID)
	}
	return entry.UseCount
}

// usageShardSize is the tokenstore's number of trigger IDs per usage record.
const usageShardSize = 1024

// usageShardRecord is what an instance's usage record of a shard holds.
type usageShardRecord struct {
	Instance string `json:"instance"`
	Triggers map[string]struct {
		UseCount int64 `json:"use_count"`
	} `json:"triggers"`
}

// storedUsageShard reads an instance's usage record of the trigger's
// shard from Redis (through the Redis storage module's value envelope).
func (c *cluster) storedUsageShard(t *testing.T, tr triggerObj, instance string) (usageShardRecord, bool) {
	t.Helper()
	key := redisKeyPrefix + "/trigger_gateway/instance_usage/" + url.PathEscape(instance) + "/" +
		strconv.FormatInt(tr.ID/usageShardSize, 10)
	v, err := c.redis.command("GET", key)
	if err != nil {
		t.Fatalf("usage record of %s: %v", instance, err)
	}
	raw, ok := v.(string)
	if !ok {
		return usageShardRecord{}, false
	}
	var envelope struct {
		Value []byte `json:"value"`
	}
	var rec usageShardRecord
	if err := json.Unmarshal([]byte(raw), &envelope); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(envelope.Value, &rec); err != nil {
		t.Fatal(err)
	}
	return rec, true
}
