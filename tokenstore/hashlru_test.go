package tokenstore

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// lruKey is a hash whose first 8 bytes (the index key) are prefix and
// whose last byte is tail: two keys of one prefix collide in the index.
func lruKey(prefix, tail byte) *[32]byte {
	var k [32]byte
	k[0], k[31] = prefix, tail
	return &k
}

func TestHashLRU(t *testing.T) {
	type op struct {
		do           string // add, get, remove, resize
		prefix, tail byte
		n            int // the value added, the size of a resize
	}
	tests := []struct {
		name string
		size int
		ops  []op
		// want: prefix and tail of each key expected cached, with its value;
		// gone: keys expected missing.
		want [][3]int
		gone [][2]byte
	}{
		{"least recently used goes first", 2,
			[]op{{"add", 1, 0, 10}, {"add", 2, 0, 20}, {"get", 1, 0, 0}, {"add", 3, 0, 30}},
			[][3]int{{1, 0, 10}, {3, 0, 30}}, [][2]byte{{2, 0}}},
		{"adding again replaces the value", 2,
			[]op{{"add", 1, 0, 10}, {"add", 1, 0, 11}, {"add", 2, 0, 20}},
			[][3]int{{1, 0, 11}, {2, 0, 20}}, nil},
		{"an index collision replaces, never answers the other hash", 4,
			[]op{{"add", 1, 1, 10}, {"add", 1, 2, 20}},
			[][3]int{{1, 2, 20}}, [][2]byte{{1, 1}}},
		{"a removed entry's room is reused", 2,
			[]op{{"add", 1, 0, 10}, {"add", 2, 0, 20}, {"remove", 1, 0, 0}, {"add", 3, 0, 30}, {"add", 4, 0, 40}},
			[][3]int{{3, 0, 30}, {4, 0, 40}}, [][2]byte{{1, 0}, {2, 0}}},
		{"removing an unknown or colliding hash changes nothing", 2,
			[]op{{"add", 1, 1, 10}, {"remove", 1, 2, 0}, {"remove", 9, 0, 0}},
			[][3]int{{1, 1, 10}}, nil},
		{"shrinking keeps the most recently used", 4,
			[]op{{"add", 1, 0, 10}, {"add", 2, 0, 20}, {"add", 3, 0, 30}, {"get", 1, 0, 0}, {"resize", 0, 0, 2}, {"add", 4, 0, 40}},
			[][3]int{{1, 0, 10}, {4, 0, 40}}, [][2]byte{{2, 0}, {3, 0}}},
		{"growing keeps everything", 1,
			[]op{{"add", 1, 0, 10}, {"resize", 0, 0, 3}, {"add", 2, 0, 20}, {"add", 3, 0, 30}},
			[][3]int{{1, 0, 10}, {2, 0, 20}, {3, 0, 30}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newHashLRU[int](tt.size)
			for _, o := range tt.ops {
				switch o.do {
				case "add":
					c.add(lruKey(o.prefix, o.tail), o.n, int64(o.n))
				case "get":
					c.get(lruKey(o.prefix, o.tail))
				case "remove":
					c.remove(lruKey(o.prefix, o.tail))
				case "resize":
					c.resize(o.n)
				}
			}
			for _, w := range tt.want {
				v, added, ok := c.get(lruKey(byte(w[0]), byte(w[1])))
				if !ok || v != w[2] || added != int64(w[2]) {
					t.Errorf("get(%d/%d) = %d, %d, %v; want %d", w[0], w[1], v, added, ok, w[2])
				}
			}
			for _, g := range tt.gone {
				if v, _, ok := c.get(lruKey(g[0], g[1])); ok {
					t.Errorf("get(%d/%d) = %d, want nothing", g[0], g[1], v)
				}
			}
			if c.Len() != len(tt.want) {
				t.Errorf("Len() = %d, want %d", c.Len(), len(tt.want))
			}
		})
	}
}

// An expired entry is dropped only if it is still the one read: a fresher
// entry cached meanwhile stays.
func TestHashLRURemoveIfAdded(t *testing.T) {
	c := newHashLRU[int](2)
	k := lruKey(1, 0)
	c.add(k, 1, 100)
	c.add(k, 2, 200)
	c.removeIfAdded(k, 100)
	if v, _, ok := c.get(k); !ok || v != 2 {
		t.Fatalf("get = %d, %v; want the fresher entry", v, ok)
	}
	c.removeIfAdded(k, 200)
	if _, _, ok := c.get(k); ok {
		t.Fatal("the expired entry is still cached")
	}
}

// maxCachedTokenBytes is the heap a cached token may cost: its cache
// entry, its credential and its usage counter.
const maxCachedTokenBytes = 300

// cachedTokenHeap caches n tokens as cache misses do (their records as
// Create writes them, with a description and an owner) and returns the
// live heap (HeapAlloc) and the heap in use (HeapInuse) they added, per
// token, after a full collection.
func cachedTokenHeap(tb testing.TB, n int) (alloc, inuse float64) {
	s := newTestStore(tb, &certmagic.FileStorage{Path: tb.TempDir()}, Config{CacheSize: n})
	created := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	records := make([][]byte, n)
	sums := make([][32]byte, n)
	for i := range n {
		token := fmt.Sprintf("%s%040x", NewTokenPrefix, i)
		sums[i] = HashToken(token)
		data, err := json.Marshal(&Trigger{
			ID: int64(i + 1), TokenHash: hex.EncodeToString(sums[i][:]), TokenPrefix: TokenPrefix(token),
			Project: "group/project", Description: "deploys the staging environment nightly", Owner: "alice",
			CreatedAt: created,
		})
		if err != nil {
			tb.Fatal(err)
		}
		records[i] = data
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		if _, err := s.cacheRecord(&sums[i], records[i], s.cache.generation()); err != nil {
			tb.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if got := s.cache.pos.Len(); got != n {
		tb.Fatalf("%d tokens cached, want %d", got, n)
	}
	runtime.KeepAlive(records)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n), float64(after.HeapInuse-before.HeapInuse) / float64(n)
}

// A cached token costs at most maxCachedTokenBytes of heap: the cache
// keeps what the request path reads, not the record.
func TestCachedTokenMemory(t *testing.T) {
	alloc, inuse := cachedTokenHeap(t, 50_000)
	t.Logf("per cached token: %.0f B live heap (HeapAlloc), %.0f B heap in use (HeapInuse)", alloc, inuse)
	if alloc > maxCachedTokenBytes {
		t.Errorf("a cached token costs %.0f bytes of heap, want at most %d", alloc, maxCachedTokenBytes)
	}
}

// BenchmarkCachedTokenMemory reports the heap per cached token (see
// cachedTokenHeap) for 100,000 tokens.
func BenchmarkCachedTokenMemory(b *testing.B) {
	var alloc, inuse float64
	for b.Loop() {
		alloc, inuse = cachedTokenHeap(b, 100_000)
	}
	b.ReportMetric(alloc, "HeapAlloc-B/token")
	b.ReportMetric(inuse, "HeapInuse-B/token")
}
