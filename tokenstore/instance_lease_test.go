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
	const stale = 100 * time.Millisecond
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
