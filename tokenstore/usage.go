package tokenstore

import (
	"context"
	"math"
	"sync/atomic"
	"time"
)

// usageCounter counts one trigger's uses on this instance. The request path
// only touches the atomics; the lock of the trigger's usage shard
// (Store.shardLock) guards the flush state and is held across the storage
// I/O of that shard's flush, which the request path never waits on.
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

	// lastPipeline is the newest pipeline this instance saw the trigger
	// start (never changed once stored); flushedPipeline is the one
	// storage holds, the same pointer once flushed.
	lastPipeline    atomic.Pointer[Pipeline]
	flushedPipeline atomic.Pointer[Pipeline]
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

// RecordPipeline keeps the pipeline that a use of the credential's trigger
// at the given time started, as the CI's answer named it, if it is the
// newest this instance has seen. Like RecordUse it only updates memory
// (the flush loop writes it with the usage) and takes no lock; it
// allocates the one small record it keeps.
func (c *Credential) RecordPipeline(at time.Time, id int64, webURL string) {
	if c == nil || c.counter == nil || id <= 0 {
		return
	}
	c.counter.recordPipeline(&Pipeline{ID: id, WebURL: webURL, TriggeredAt: at.UTC()})
}

func (u *usageCounter) recordPipeline(p *Pipeline) {
	for {
		old := u.lastPipeline.Load()
		if !p.newerThan(old) || u.lastPipeline.CompareAndSwap(old, p) {
			break
		}
	}
	if u.pending.Load() < 0 {
		// Retired while a request still held it (see retireIdleCounters):
		// the trigger's live counter keeps the pipeline instead.
		u.owner.counter(u.id).recordPipeline(p)
	}
}

// dirty reports whether the counter has something storage lacks.
func (u *usageCounter) dirty() bool {
	return u.pending.Load() > 0 || u.lastUsed.Load() > u.flushedLast.Load() ||
		u.lastPipeline.Load() != u.flushedPipeline.Load()
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
	idleSince := now.Add(-time.Duration(s.retireAfter.Load())).UnixNano()
	s.countersMu.Lock()
	defer s.countersMu.Unlock()
	for id, u := range s.counters {
		if u.dirty() || u.handedOut.Load() > idleSince {
			continue
		}
		// A counter being flushed may put uses back if its write fails:
		// leave it for the next round rather than wait for the I/O.
		lock := s.shardLock(usageShard(id))
		if !lock.TryLock() {
			continue
		}
		if u.pending.CompareAndSwap(0, retiredMark) {
			delete(s.counters, id)
			// A pipeline recorded between the dirty check and the retirement
			// is carried over to a live counter (later ones go there anyway).
			if p := u.lastPipeline.Load(); p != u.flushedPipeline.Load() {
				live := &usageCounter{id: id, owner: s}
				live.lastPipeline.Store(p)
				live.handedOut.Store(now.UnixNano())
				s.counters[id] = live
			}
		}
		lock.Unlock()
	}
}

// existingCounter returns the trigger's counter or nil.
func (s *Store) existingCounter(id int64) *usageCounter {
	s.countersMu.Lock()
	defer s.countersMu.Unlock()
	return s.counters[id]
}

// flushLoop flushes pending usage every interval until Close.
func (s *Store) flushLoop(ctx context.Context) {
	defer s.loops.Done()
	s.flushEvery.every(ctx.Done(), func() {
		// Failures are reported per trigger inside Flush and retried next tick.
		_ = s.Flush(ctx)
	})
}
