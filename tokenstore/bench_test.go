package tokenstore

import (
	"context"
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// benchStore returns a store holding one trigger whose token is cached.
func benchStore(b *testing.B) (*Store, string) {
	b.Helper()
	s := newTestStore(b, &certmagic.FileStorage{Path: b.TempDir()}, Config{Observer: &countingObserver{}})
	_, token := mustCreate(b, s, CreateRequest{Project: "9", Description: "bench"})
	if _, err := s.Authenticate(context.Background(), token); err != nil {
		b.Fatal(err)
	}
	return s, token
}

func BenchmarkAuthenticateCached(b *testing.B) {
	s, token := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Authenticate(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAuthenticateParallel(b *testing.B) {
	s, token := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		now := time.Now()
		for pb.Next() {
			cred, err := s.Authenticate(ctx, token)
			if err != nil {
				b.Error(err)
				return
			}
			cred.RecordUse(now)
		}
	})
}

func BenchmarkRecordUse(b *testing.B) {
	s, token := benchStore(b)
	cred, err := s.Authenticate(context.Background(), token)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		cred.RecordUse(now)
	}
}

func BenchmarkAuthenticateNegative(b *testing.B) {
	s, _ := benchStore(b)
	ctx := context.Background()
	const unknown = "glptt-ffffffffffffffffffffffffffffffffffffffff"
	if _, err := s.Authenticate(ctx, unknown); !errors.Is(err, ErrNotFound) {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Authenticate(ctx, unknown); !errors.Is(err, ErrNotFound) {
			b.Fatal(err)
		}
	}
}

// BenchmarkFlush is one usage flush after each of 1,000 triggers was used,
// on the file system storage (each write fsync'd, as in production).
func BenchmarkFlush(b *testing.B) {
	const triggers = 1000
	ctx := context.Background()
	s := newTestStore(b, &certmagic.FileStorage{Path: b.TempDir()}, Config{Observer: &countingObserver{}})
	creds := make([]*Credential, triggers)
	for i := range creds {
		_, token := mustCreate(b, s, CreateRequest{Project: "9", Description: "bench"})
		cred, err := s.Authenticate(ctx, token)
		if err != nil {
			b.Fatal(err)
		}
		creds[i] = cred
	}
	b.ReportAllocs()
	for b.Loop() {
		now := time.Now()
		for _, cred := range creds {
			cred.RecordUse(now)
		}
		if err := s.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticateMiss is a token cache miss: two valid tokens in
// turn with a cache of one, so that each lookup reads and decodes the
// token's record from the file system storage (in the page cache).
func BenchmarkAuthenticateMiss(b *testing.B) {
	s := newTestStore(b, &certmagic.FileStorage{Path: b.TempDir()}, Config{Observer: &countingObserver{}, CacheSize: 1})
	var tokens [2]string
	for i := range tokens {
		_, tokens[i] = mustCreate(b, s, CreateRequest{Project: "9", Description: "bench", Owner: "bench"})
	}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Authenticate(ctx, tokens[i%2]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	if hits := s.observer.(*countingObserver).hits.Load(); hits > 0 {
		b.Fatalf("%d cache hits, want none", hits)
	}
}

// BenchmarkFlushManyShards is one usage flush after each of 100,000
// triggers (98 usage shards) was used and started a pipeline since the
// last, as in the load script's case (d): every flush rewrites every
// shard. The storage is in tmpfs where there is one, so that the figure
// is the store's work, not the disk's.
func BenchmarkFlushManyShards(b *testing.B) {
	const triggers = 100_000
	dir := benchDir(b)
	ctx := context.Background()
	s := newTestStore(b, &certmagic.FileStorage{Path: dir}, Config{})
	counters := make([]*usageCounter, triggers)
	for i := range counters {
		counters[i] = s.counter(int64(i + 1))
	}
	use := func() {
		now := time.Now()
		for i, u := range counters {
			u.record(now)
			u.recordPipeline(&Pipeline{ID: int64(i + 1), WebURL: "https://ci.example/p/" + strconv.Itoa(i+1), TriggeredAt: now})
		}
	}
	use()
	if err := s.Flush(ctx); err != nil { // the records exist from here on
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		use()
		b.StartTimer()
		if err := s.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// benchDir is a folder for a benchmark's file storage: in tmpfs where
// there is one, so that the figures are the store's work, not the disk's.
func benchDir(b *testing.B) string {
	b.Helper()
	shm, err := os.MkdirTemp("/dev/shm", "tokenstore-bench-")
	if err != nil {
		return b.TempDir()
	}
	b.Cleanup(func() { os.RemoveAll(shm) })
	return shm
}
