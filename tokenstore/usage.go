package tokenstore

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// usageCounter counts one trigger's uses on this instance. The request path
// only touches the atomics; mu guards the flush state and is held across
// the storage I/O of that trigger's flush, which the request path never waits on.
type usageCounter struct {
	id    int64
	owner *Store

	pending  atomic.Int64 // uses not yet written to storage; retiredMark once retired
	lastUsed atomic.Int64 // latest use seen by this instance, unix nanos; 0 = none
	// handedOut is when a cache entry last got this counter, unix nanos:
	// no cache entry refers to it once the cache TTL has passed since.
	handedOut atomic.Int64

	// flushedLast mirrors what storage holds for lastUsed, readable without mu
	// so Flush can skip clean counters cheaply.
	flushedLast atomic.Int64
	// dropped is set when the trigger is revoked: the counter is never
	// written again, so no usage record outlives the trigger.
	dropped atomic.Bool

	mu     sync.Mutex
	loaded bool  // own usage record read from storage
	total  int64 // this instance's absolute total in storage
}

// retiredMark is the pending count of a retired counter: far enough below
// zero that no number of late uses brings it back up.
const retiredMark = math.MinInt64 / 2

// RecordUse counts one use of the credential's trigger at the given time.
// It only updates memory (the flush loop writes it to storage), takes no
// lock and does not allocate.
func (c *Credential) RecordUse(at time.Time) {
	if c == nil || c.counter == nil {
		return
	}
	c.counter.record(at)
}

func (u *usageCounter) record(at time.Time) {
	if u.pending.Add(1) < 0 {
		// Retired while a request still held it (see retireIdleCounters):
		// the use goes to the trigger's live counter instead.
		u.owner.counter(u.id).record(at)
		return
	}
	if at.IsZero() {
		return
	}
	n := at.UnixNano()
	for {
		old := u.lastUsed.Load()
		if n <= old || u.lastUsed.CompareAndSwap(old, n) {
			return
		}
	}
}

// dirty reports whether the counter has something storage lacks.
func (u *usageCounter) dirty() bool {
	return !u.dropped.Load() && (u.pending.Load() > 0 || u.lastUsed.Load() > u.flushedLast.Load())
}

// counter returns the trigger's counter, creating it on first use. A cache
// entry rebuilt after eviction gets the same counter, so no use is lost.
func (s *Store) counter(id int64) *usageCounter {
	s.countersMu.Lock()
	defer s.countersMu.Unlock()
	u, ok := s.counters[id]
	if !ok {
		u = &usageCounter{id: id, owner: s}
		s.counters[id] = u
	}
	u.handedOut.Store(s.now().UnixNano())
	return u
}

// retireIdleCounters bounds the counters to the triggers used lately: a
// counter with nothing to flush, handed to no cache entry for longer than
// the cache TTL, is dropped from the map. Its uses are all in storage, so
// a counter made afresh later reads its total from there. A request that
// took the credential just before it expired and records its use after
// the retirement finds the pending count retired and counts the use on the
// live counter instead.
func (s *Store) retireIdleCounters(now time.Time) {
	idleSince := now.Add(-s.retireAfter).UnixNano()
	s.countersMu.Lock()
	defer s.countersMu.Unlock()
	for id, u := range s.counters {
		if u.dropped.Load() || u.dirty() || u.handedOut.Load() > idleSince {
			continue
		}
		// A counter being flushed may put uses back if its write fails:
		// leave it for the next round rather than wait for the I/O.
		if !u.mu.TryLock() {
			continue
		}
		if u.pending.CompareAndSwap(0, retiredMark) {
			delete(s.counters, id)
		}
		u.mu.Unlock()
	}
}

// existingCounter returns the trigger's counter or nil.
func (s *Store) existingCounter(id int64) *usageCounter {
	s.countersMu.Lock()
	defer s.countersMu.Unlock()
	return s.counters[id]
}

// dropCounter stops the trigger's usage from ever being written again. The
// counter stays in the map, marked, so a lookup that raced the revocation
// cannot create a fresh one that would be flushed.
func (s *Store) dropCounter(id int64) {
	u := s.counter(id)
	u.mu.Lock() // waits for a flush of this counter in progress
	u.dropped.Store(true)
	u.mu.Unlock()
}

// usageRecord is what usage/<id>/<instance> holds: the instance's absolute
// totals. Instance lets readers tell a record from a storage's temporary
// file in the same directory.
type usageRecord struct {
	UseCount int64      `json:"use_count"`
	LastUsed *time.Time `json:"last_used,omitempty"`
	Instance string     `json:"instance"`
}

// usageSum accumulates usage over records.
type usageSum struct {
	count int64
	last  int64 // unix nanos, 0 = never
}

func (a *usageSum) add(count, last int64) {
	a.count += count
	a.last = max(a.last, last)
}

func (a *usageSum) usage() Usage {
	u := Usage{UseCount: a.count}
	if a.last > 0 {
		t := time.Unix(0, a.last).UTC()
		u.LastUsed = &t
	}
	return u
}

func nanos(t *time.Time) int64 {
	if t == nil || t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// Flush writes the pending usage of every trigger now. A trigger whose write
// fails keeps its pending usage for the next flush; the failures are
// reported to the Observer and the log and summed up in the error.
func (s *Store) Flush(ctx context.Context) error {
	s.idMu.RLock()
	defer s.idMu.RUnlock()
	instance := s.instance

	s.countersMu.Lock()
	dirty := make([]*usageCounter, 0, len(s.counters))
	for _, u := range s.counters {
		if u.dirty() {
			dirty = append(dirty, u)
		}
	}
	s.countersMu.Unlock()

	var failed int
	var first error
	for _, u := range dirty {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%w: flushing usage: %w", ErrUnavailable, err)
		}
		if err := s.flushCounter(ctx, u, instance); err != nil {
			failed++
			if first == nil {
				first = err
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("flushing usage of %d triggers: %w", failed, first)
	}
	s.retireIdleCounters(s.now())
	return nil
}

// flushCounter writes one trigger's new absolute total for this instance.
func (s *Store) flushCounter(ctx context.Context, u *usageCounter, instance string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.dropped.Load() {
		return nil
	}
	if err := s.loadOwnUsage(ctx, u, instance); err != nil {
		return err
	}
	p := u.pending.Swap(0)
	last := max(u.flushedLast.Load(), u.lastUsed.Load())
	if p == 0 && last == u.flushedLast.Load() {
		return nil
	}
	rec := usageRecord{UseCount: u.total + p, Instance: instance}
	if last > 0 {
		t := time.Unix(0, last).UTC()
		rec.LastUsed = &t
	}
	data, err := json.Marshal(rec)
	if err == nil {
		err = s.storage.Store(ctx, usageKey(u.id, instance), data)
	}
	if err != nil {
		u.pending.Add(p) // nothing lost: the next flush retries
		return s.unavailable(ctx, "store", "storing usage", err, zap.Int64("id", u.id))
	}
	u.total = rec.UseCount
	u.flushedLast.Store(last)
	return nil
}

// loadOwnUsage reads this instance's usage record of the trigger once; from
// then on the counter knows the total, being the record's only writer.
// The caller holds u.mu and s.idMu (for reading).
func (s *Store) loadOwnUsage(ctx context.Context, u *usageCounter, instance string) error {
	if u.loaded {
		return nil
	}
	rec, found, err := s.loadUsage(ctx, usageKey(u.id, instance))
	if err != nil {
		return err
	}
	if found {
		u.total = rec.UseCount
		u.flushedLast.Store(max(u.flushedLast.Load(), nanos(rec.LastUsed)))
	}
	u.loaded = true
	return nil
}

// loadUsage reads one usage record. found is false for a missing key and
// for a value that is not this instance-named usage record (a storage's
// temporary file, or a corrupt record, which is logged).
func (s *Store) loadUsage(ctx context.Context, key string) (rec usageRecord, found bool, err error) {
	data, err := s.storage.Load(ctx, key)
	if isNotExist(err) {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, s.unavailable(ctx, "load", "loading usage", err, zap.String("key", key))
	}
	if err := json.Unmarshal(data, &rec); err != nil || url.PathEscape(rec.Instance) != path.Base(key) {
		s.logger.Warn("ignoring a value that is not a usage record", zap.String("key", key))
		return usageRecord{}, false, nil
	}
	return rec, true, nil
}

// usageOf sums the trigger's usage over every instance's record, taking
// this instance's share from memory so that it includes what is not flushed.
func (s *Store) usageOf(ctx context.Context, id int64) (Usage, error) {
	s.idMu.RLock()
	defer s.idMu.RUnlock()
	instance := s.instance

	keys, err := s.storage.List(ctx, usageDir(id), false)
	if err != nil && !isNotExist(err) {
		return Usage{}, s.unavailable(ctx, "list", "listing usage", err, zap.Int64("id", id))
	}
	own := s.existingCounter(id)
	ownName := url.PathEscape(instance)
	var sum usageSum
	for _, key := range keys {
		if own != nil && path.Base(key) == ownName {
			continue
		}
		rec, found, err := s.loadUsage(ctx, key)
		if err != nil {
			return Usage{}, err
		}
		if found {
			sum.add(rec.UseCount, nanos(rec.LastUsed))
		}
	}
	if own != nil {
		count, last, err := s.ownUsage(ctx, own, instance)
		if err != nil {
			return Usage{}, err
		}
		sum.add(count, last)
	}
	return sum.usage(), nil
}

// ownUsage is this instance's usage of the trigger: flushed plus pending.
// Holding u.mu means no flush is half done.
func (s *Store) ownUsage(ctx context.Context, u *usageCounter, instance string) (count, last int64, err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := s.loadOwnUsage(ctx, u, instance); err != nil {
		return 0, 0, err
	}
	return u.total + u.pending.Load(), max(u.flushedLast.Load(), u.lastUsed.Load()), nil
}

// flushLoop flushes pending usage every interval until Close.
func (s *Store) flushLoop(ctx context.Context) {
	defer s.loops.Done()
	ticker := time.NewTicker(s.interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			// Failures are reported per trigger inside Flush and retried next tick.
			_ = s.Flush(ctx)
		}
	}
}
