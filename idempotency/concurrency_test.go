package idempotency

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// outcome tallies what concurrent Begin calls got.
type outcome struct {
	claims, replays atomic.Int64
	mu              sync.Mutex
	bodies          map[string]int
	errs            []error
}

func (o *outcome) replayed(a *Answer) {
	o.replays.Add(1)
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.bodies == nil {
		o.bodies = map[string]int{}
	}
	o.bodies[string(a.Body)]++
}

func (o *outcome) failed(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.errs = append(o.errs, err)
}

// storm runs n Begin calls per store at once on key. A claimer holds its
// claim for hold, then calls finish (save or release) with the claim
// number, 1 for the first.
func storm(t *testing.T, stores []*Store, n int, key string, hold time.Duration, finish func(c *Claim, nth int64)) *outcome {
	t.Helper()
	var o outcome
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, s := range stores {
		for range n {
			wg.Go(func() {
				<-start
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				a, c, err := s.Begin(ctx, Request{Key: key})
				switch {
				case err != nil:
					o.failed(err)
				case c != nil:
					nth := o.claims.Add(1)
					time.Sleep(hold)
					finish(c, nth)
				default:
					o.replayed(a)
				}
			})
		}
	}
	close(start)
	wg.Wait()
	if len(o.errs) > 0 {
		t.Fatalf("Begin errors: %v", o.errs)
	}
	return &o
}

func saveAll(t *testing.T) func(c *Claim, nth int64) {
	return func(c *Claim, nth int64) {
		if err := c.Save(context.Background(), answer("first")); err != nil {
			t.Errorf("Save: %v", err)
		}
	}
}

// TestConcurrentDuplicatesOneStore: many identical requests at once on one
// instance give exactly one claim; the others wait in memory (never on the
// storage lock) and replay its answer.
func TestConcurrentDuplicatesOneStore(t *testing.T) {
	const n = 50
	st := newFaultyStorage(t)
	s, rec := newTestStore(t, st, newClock(t0))
	key := Key("9", SourceHeader, "storm")

	o := storm(t, []*Store{s}, n, key, 100*time.Millisecond, saveAll(t))
	if o.claims.Load() != 1 || o.replays.Load() != n-1 || o.bodies["first"] != n-1 {
		t.Fatalf("claims %d, replays %d (%v); want 1 and %d of \"first\"", o.claims.Load(), o.replays.Load(), o.bodies, n-1)
	}
	if got := st.count("lock"); got != 1 {
		t.Fatalf("storage Lock called %d times, want 1", got)
	}
	if rec.replayed.Load() != n-1 || rec.saved.Load() != 1 {
		t.Fatalf("observer: replayed %d saved %d", rec.replayed.Load(), rec.saved.Load())
	}
	if len(s.flights) != 0 {
		t.Fatalf("flights left: %d", len(s.flights))
	}
}

// TestReleaseLetsNextClaim: when the first releases, exactly one waiter
// claims next, and the rest replay its answer.
func TestReleaseLetsNextClaim(t *testing.T) {
	const n = 30
	st := newFaultyStorage(t)
	s, _ := newTestStore(t, st, newClock(t0))
	key := Key("9", SourceHeader, "retry")

	o := storm(t, []*Store{s}, n, key, 50*time.Millisecond, func(c *Claim, nth int64) {
		if nth == 1 {
			c.Release() // e.g. the upstream answered 502
			return
		}
		if err := c.Save(context.Background(), answer("second")); err != nil {
			t.Errorf("Save: %v", err)
		}
	})
	if o.claims.Load() != 2 || o.replays.Load() != n-2 || o.bodies["second"] != n-2 {
		t.Fatalf("claims %d, replays %d (%v); want 2 and %d", o.claims.Load(), o.replays.Load(), o.bodies, n-2)
	}
}

// TestTwoInstances: a repeat on another instance sharing the storage waits
// for the claim held by the first instance and replays its answer.
func TestTwoInstances(t *testing.T) {
	st := newFaultyStorage(t)
	clk := newClock(t0)
	a, _ := newTestStore(t, st, clk)
	b, recB := newTestStore(t, st.over(), clk)
	key := Key("9", SourceGitHub, "delivery-1")

	claim := mustClaim(t, a, key)
	type result struct {
		a   *Answer
		c   *Claim
		err error
	}
	done := make(chan result, 1)
	go func() {
		ans, c, err := b.Begin(context.Background(), Request{Key: key})
		done <- result{ans, c, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("the other instance did not wait: %+v", r)
	case <-time.After(300 * time.Millisecond):
	}
	if err := claim.Save(context.Background(), answer(`{"id":42}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.err != nil || r.c != nil || r.a == nil || string(r.a.Body) != `{"id":42}` {
			t.Fatalf("other instance got (%v, %v, %v), want the replay", r.a, r.c, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the other instance never finished waiting")
	}
	if recB.replayed.Load() != 1 {
		t.Fatalf("replayed on B = %d", recB.replayed.Load())
	}
	// B now has it cached.
	mustReplay(t, b, key, `{"id":42}`)
}

// TestTwoInstancesRelease: a release on one instance lets the other claim.
func TestTwoInstancesRelease(t *testing.T) {
	st := newFaultyStorage(t)
	clk := newClock(t0)
	a, _ := newTestStore(t, st, clk)
	b, _ := newTestStore(t, st.over(), clk)
	key := Key("9", SourceHeader, "k")

	claim := mustClaim(t, a, key)
	done := make(chan *Claim, 1)
	go func() {
		_, c, err := b.Begin(context.Background(), Request{Key: key})
		if err != nil {
			t.Errorf("Begin on B: %v", err)
		}
		done <- c
	}()
	time.Sleep(100 * time.Millisecond)
	claim.Release()
	select {
	case c := <-done:
		if c == nil {
			t.Fatal("B did not get the claim after A released")
		}
		if err := c.Save(context.Background(), answer("from B")); err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("B never got the claim")
	}
	mustReplay(t, a, key, "from B")
}

// TestTwoInstancesStorm: identical requests at once on two instances give
// exactly one claim in all.
func TestTwoInstancesStorm(t *testing.T) {
	const n = 15
	st := newFaultyStorage(t)
	clk := newClock(t0)
	a, _ := newTestStore(t, st, clk)
	b, _ := newTestStore(t, st.over(), clk)
	key := Key("9", SourceGitLab, "uuid")

	o := storm(t, []*Store{a, b}, n, key, 50*time.Millisecond, saveAll(t))
	if o.claims.Load() != 1 || o.replays.Load() != 2*n-1 || o.bodies["first"] != 2*n-1 {
		t.Fatalf("claims %d, replays %d (%v); want 1 and %d", o.claims.Load(), o.replays.Load(), o.bodies, 2*n-1)
	}
}

// TestWaitBoundedByContext: a repeat gives up with ErrInProgress when its
// context ends first, on the same instance and on another, and the claim
// is unaffected.
func TestWaitBoundedByContext(t *testing.T) {
	st := newFaultyStorage(t)
	clk := newClock(t0)
	a, _ := newTestStore(t, st, clk)
	b, _ := newTestStore(t, st.over(), clk)
	key := Key("9", SourceHeader, "slow")
	claim := mustClaim(t, a, key)

	for name, s := range map[string]*Store{"same instance": a, "other instance": b} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			ans, c, err := s.Begin(ctx, Request{Key: key})
			if !errors.Is(err, ErrInProgress) || !errors.Is(err, context.DeadlineExceeded) || ans != nil || c != nil {
				t.Fatalf("Begin = (%v, %v, %v), want ErrInProgress wrapping DeadlineExceeded", ans, c, err)
			}
		})
	}
	if err := claim.Save(context.Background(), answer("done")); err != nil {
		t.Fatal(err)
	}
	mustReplay(t, a, key, "done")
	mustReplay(t, b, key, "done")
}

// TestLocalWaiterTakesOverLockWait: when the request waiting on another
// instance's lock gives up, a repeat queued behind it on the same instance
// takes over the wait instead of hanging or failing.
func TestLocalWaiterTakesOverLockWait(t *testing.T) {
	st := newFaultyStorage(t)
	clk := newClock(t0)
	a, _ := newTestStore(t, st, clk)
	b, _ := newTestStore(t, st.over(), clk)
	key := Key("9", SourceHeader, "handover")
	claim := mustClaim(t, b, key)

	impatient, cancel := context.WithCancel(context.Background())
	firstDone := make(chan error, 1)
	go func() {
		_, _, err := a.Begin(impatient, Request{Key: key})
		firstDone <- err
	}()
	// Let the first reach the storage lock, then queue a patient repeat.
	time.Sleep(100 * time.Millisecond)
	secondDone := make(chan *Answer, 1)
	go func() {
		ans, c, err := a.Begin(context.Background(), Request{Key: key})
		if err != nil || c != nil {
			t.Errorf("patient Begin = (%v, %v, %v)", ans, c, err)
		}
		secondDone <- ans
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	if err := <-firstDone; !errors.Is(err, ErrInProgress) || !errors.Is(err, context.Canceled) {
		t.Fatalf("impatient Begin = %v, want ErrInProgress wrapping Canceled", err)
	}
	if err := claim.Save(context.Background(), answer("from B")); err != nil {
		t.Fatal(err)
	}
	select {
	case ans := <-secondDone:
		if ans == nil || string(ans.Body) != "from B" {
			t.Fatalf("patient Begin got %v", ans)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the patient repeat never finished")
	}
}
