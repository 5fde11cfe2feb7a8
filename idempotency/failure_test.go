package idempotency

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestStorageFailures: every storage failure in Begin gives ErrUnavailable,
// is counted once, and leaves neither the storage lock nor the in-memory
// claim behind.
func TestStorageFailures(t *testing.T) {
	key := Key("9", SourceHeader, "k")
	tests := []struct {
		name    string
		prepare func(t *testing.T, st *faultyStorage)
		op      string // storage op reported to the observer
	}{
		{"lock fails", func(t *testing.T, st *faultyStorage) { st.failOn("lock", "") }, "lock"},
		{"load fails", func(t *testing.T, st *faultyStorage) { st.failOn("load", rootDir) }, "load"},
		{"load of previous bucket fails", func(t *testing.T, st *faultyStorage) {
			st.failOn("load", bucketAt(t0, 86400).previous().dir())
		}, "load"},
		{"corrupt entry", func(t *testing.T, st *faultyStorage) {
			if err := st.Storage.Store(context.Background(), bucketAt(t0, 86400).entryKey(key), []byte("{not json")); err != nil {
				t.Fatal(err)
			}
		}, "load"},
		{"entry without status", func(t *testing.T, st *faultyStorage) {
			if err := st.Storage.Store(context.Background(), bucketAt(t0, 86400).entryKey(key), []byte(`{"body":"","saved_at":"2025-11-25T11:00:00Z"}`)); err != nil {
				t.Fatal(err)
			}
		}, "load"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newFaultyStorage(t)
			s, rec := newTestStore(t, st, newClock(t0))
			tt.prepare(t, st)

			// Several at once: the claimer's failure must wake the others,
			// which then try (and fail) for themselves.
			var wg sync.WaitGroup
			errs := make([]error, 5)
			for i := range errs {
				wg.Go(func() {
					// Bounded, so that a lock left behind fails the test
					// rather than hanging it.
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					ans, c, err := s.Begin(ctx, Request{Key: key})
					if ans != nil || c != nil {
						t.Errorf("Begin = (%v, %v), want neither", ans, c)
					}
					errs[i] = err
				})
			}
			wg.Wait()
			for _, err := range errs {
				if !errors.Is(err, ErrUnavailable) {
					t.Fatalf("Begin error = %v, want ErrUnavailable", err)
				}
			}
			seen := rec.errorsSeen()
			if len(seen) != len(errs) || slices.ContainsFunc(seen, func(op string) bool { return op != tt.op }) {
				t.Fatalf("storage errors reported %v, want %d × %q", seen, len(errs), tt.op)
			}
			if len(s.flights) != 0 {
				t.Fatal("a failed Begin left its in-memory claim")
			}

			// Healed: the lock was released, so another instance claims
			// at once rather than waiting for a stale lock.
			st.heal()
			_ = st.Storage.Delete(context.Background(), rootDir)
			other, _ := newTestStore(t, st.over(), newClock(t0))
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, c, err := other.Begin(ctx, Request{Key: key})
			if err != nil || c == nil {
				t.Fatalf("after healing, Begin = (%v, %v), want a claim", c, err)
			}
			c.Release()
		})
	}
}

// TestSaveStoreFails: when the answer cannot be stored, Save says so, the
// lock is released, this instance still replays the answer, and another
// instance (which cannot know it) claims the key.
func TestSaveStoreFails(t *testing.T) {
	st := newFaultyStorage(t)
	clk := newClock(t0)
	s, rec := newTestStore(t, st, clk)
	key := Key("9", SourceHeader, "k")

	c := mustClaim(t, s, key)
	waiter := make(chan *Answer, 1)
	go func() {
		ans, _, _ := s.Begin(context.Background(), Request{Key: key})
		waiter <- ans
	}()
	time.Sleep(50 * time.Millisecond)
	st.failOn("store", rootDir)
	if err := c.Save(context.Background(), answer("unsaved")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Save = %v, want ErrUnavailable", err)
	}
	if ans := <-waiter; ans == nil || string(ans.Body) != "unsaved" {
		t.Fatalf("waiting repeat got %v, want the answer", ans)
	}
	mustReplay(t, s, key, "unsaved")
	if got := rec.errorsSeen(); !slices.Equal(got, []string{"store"}) || rec.saved.Load() != 0 {
		t.Fatalf("storage errors %v, saved %d", got, rec.saved.Load())
	}

	other, _ := newTestStore(t, st.over(), clk)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, c2, err := other.Begin(ctx, Request{Key: key})
	if err != nil || c2 == nil {
		t.Fatalf("other instance Begin = (%v, %v), want a claim", c2, err)
	}
	c2.Release()
}

// TestUnlockFails: a failed unlock is reported but does not fail Save.
func TestUnlockFails(t *testing.T) {
	st := newFaultyStorage(t)
	s, rec := newTestStore(t, st, newClock(t0))
	key := Key("9", SourceHeader, "k")
	c := mustClaim(t, s, key)
	st.failOn("unlock", "")
	if err := c.Save(context.Background(), answer("x")); err != nil {
		t.Fatalf("Save: %v", err)
	}
	if got := rec.errorsSeen(); !slices.Equal(got, []string{"unlock"}) {
		t.Fatalf("storage errors %v, want [unlock]", got)
	}
	mustReplay(t, s, key, "x")
}

// TestSweepFailures: listing and deleting failures are reported as
// ErrUnavailable.
func TestSweepFailures(t *testing.T) {
	tests := []struct{ op string }{{"list"}, {"delete"}}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			st := newFaultyStorage(t)
			clk := newClock(t0)
			s, rec := newTestStore(t, st, clk)
			if err := mustClaim(t, s, Key("9", SourceHeader, "k")).Save(context.Background(), answer("x")); err != nil {
				t.Fatal(err)
			}
			clk.advance(3 * 24 * time.Hour)
			st.failOn(tt.op, rootDir)
			if err := s.Sweep(context.Background()); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Sweep = %v, want ErrUnavailable", err)
			}
			if got := rec.errorsSeen(); !slices.Equal(got, []string{tt.op}) {
				t.Fatalf("storage errors %v, want [%s]", got, tt.op)
			}
			st.heal()
			if err := s.Sweep(context.Background()); err != nil {
				t.Fatalf("Sweep after healing: %v", err)
			}
			if st.Exists(context.Background(), bucketAt(t0, 86400).dir()) {
				t.Fatal("expired bucket still there after healing")
			}
		})
	}
}
