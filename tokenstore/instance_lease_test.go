package tokenstore

import (
	"context"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// Two stores started from one instance ID, the first paused (or cut off)
// long enough for the second to take its name: no use either counts is
// lost, however their flushes, heartbeats and closes interleave.
func TestUsageSurvivesANameTakenOver(t *testing.T) {
	// The lease holds for stale/2 after each renewal: the first store's
	// first flush must come within it, which 50ms did not always give on
	// a loaded machine (CI, 12th session).
	const stale = time.Second
	tests := []struct {
		name string
		// between runs once the second store has flushed its uses; it
		// returns the store to read the total from.
		between func(t *testing.T, first, second *Store) *Store
	}{
		{"the first flushes before its heartbeat notices", func(t *testing.T, first, second *Store) *Store {
			first.counter(1).record(time.Now())
			if err := first.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			second.counter(1).record(time.Now())
			if err := second.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			return second
		}},
		{"the second closes and the first takes its name back", func(t *testing.T, first, second *Store) *Store {
			if err := second.Close(); err != nil {
				t.Fatal(err)
			}
			first.heartbeat(context.Background())
			if got := first.InstanceID(); got != "node" {
				t.Fatalf("the first store writes as %q after the second closed, want node", got)
			}
			first.counter(1).record(time.Now())
			first.counter(1).record(time.Now())
			if err := first.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			return first
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			files := &certmagic.FileStorage{Path: t.TempDir()}
			// The first never renews its name by itself (its heartbeat is an
			// hour away): paused, as far as the second can tell.
			first := newTestStore(t, files, Config{InstanceID: "node", staleAfter: stale, heartbeatEvery: time.Hour})
			for range 5 {
				first.counter(1).record(time.Now())
			}
			if err := first.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * stale)
			second := newTestStore(t, files, Config{InstanceID: "node", staleAfter: stale, heartbeatEvery: time.Hour})
			if got := second.InstanceID(); got != "node" {
				t.Fatalf("the second store writes as %q, want node (the first's, stale)", got)
			}
			for range 3 {
				second.counter(1).record(time.Now())
			}
			if err := second.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			reader := tt.between(t, first, second)
			u, err := reader.usageOf(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			if u.UseCount != 10 {
				t.Errorf("%d uses counted, want 10", u.UseCount)
			}
		})
	}
}

// A store writing under a suffixed name whose last write failed, though it
// may have landed, keeps that name until the write is made again: moving
// back to its own name then would write the uses pending again under it,
// and count them twice if the failed write had landed.
func TestSuffixedNameKeptWhileAWriteIsUncertain(t *testing.T) {
	ctx := context.Background()
	files := &certmagic.FileStorage{Path: t.TempDir()}
	holder := newTestStore(t, files, Config{InstanceID: "node", heartbeatEvery: time.Hour})
	landed := &landedStorage{Storage: files, prefix: usageDir("node-2")}
	s := newTestStore(t, landed, Config{InstanceID: "node", heartbeatEvery: time.Hour})
	if got := s.InstanceID(); got != "node-2" {
		t.Fatalf("the second store writes as %q, want node-2", got)
	}
	for range 5 {
		s.counter(1).record(time.Now())
	}
	landed.armed.Store(true)
	if err := s.Flush(ctx); err == nil {
		t.Fatal("the flush whose write was reported failed gave no error")
	}
	landed.armed.Store(false)
	if err := holder.Close(); err != nil { // node is free
		t.Fatal(err)
	}

	s.heartbeat(ctx)
	if got := s.InstanceID(); got != "node-2" {
		t.Errorf("with a write uncertain, the store moved to %q, want it to stay node-2", got)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	s.heartbeat(ctx)
	if got := s.InstanceID(); got != "node" {
		t.Errorf("once the write was made again, the store writes as %q, want node", got)
	}
	s.counter(1).record(time.Now())
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if u, err := s.usageOf(ctx, 1); err != nil || u.UseCount != 6 {
		t.Errorf("%d uses counted (%v), want 6", u.UseCount, err)
	}
}
