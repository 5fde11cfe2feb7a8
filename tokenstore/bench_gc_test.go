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

// BenchmarkGCCachedTokens measures what a full token cache costs the
// garbage collector, which marks it on every collection: the time of one
// collection with 100,000 tokens cached as a cache miss caches them, and
// the live heap per cached token.
func BenchmarkGCCachedTokens(b *testing.B) {
	const n = 100_000
	s := newTestStore(b, &certmagic.FileStorage{Path: b.TempDir()}, Config{CacheSize: n})
	created := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		token := fmt.Sprintf("%s%040x", NewTokenPrefix, i)
		sum := HashToken(token)
		data, err := json.Marshal(&Trigger{
			ID: int64(i + 1), TokenHash: hex.EncodeToString(sum[:]), TokenPrefix: TokenPrefix(token),
			Project: "9", Description: "load test token", Owner: "bench", CreatedAt: created,
		})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.cacheRecord(&sum, data, s.cache.generation()); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if got := s.cache.pos.Len(); got != n {
		b.Fatalf("%d tokens cached, want %d", got, n)
	}
	for b.Loop() {
		runtime.GC()
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/token")
}
