package tokenstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"path"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// Usage in storage. Each instance writes its own records only, one per
// shard of usageShardSize consecutive trigger IDs:
// instance_usage/<instance>/<shard> holds the instance's absolute totals
// for every trigger of the shard it has counted. A flush reads and
// rewrites each shard that has new uses, so its cost grows with the shards
// in use, not with the triggers: one write per shard and interval, where a
// record per trigger took one write (and one fsync) per trigger used.
// Readers sum the records of every instance name ever used.

// usageShardSize is how many consecutive trigger IDs share a usage record:
// a record stays under about 100 KB however many triggers there are.
const usageShardSize = 1024

// shardLockCount is the number of locks the shards are spread over.
const shardLockCount = 64

func usageShard(id int64) int64 { return id / usageShardSize }

// shardLock is the lock of a shard's flush state: held across the shard's
// read and write in storage, and by readers of this instance's share.
func (s *Store) shardLock(shard int64) *sync.Mutex {
	return &s.shardLocks[uint64(shard)%shardLockCount]
}

// usageEntry is one trigger's totals on one instance.
type usageEntry struct {
	UseCount     int64      `json:"use_count"`
	LastUsed     *time.Time `json:"last_used,omitempty"`
	LastPipeline *Pipeline  `json:"last_pipeline,omitempty"`
}

// usageShardRecord is what instance_usage/<instance>/<shard> holds.
// Instance and Shard let readers tell a record from anything else stored
// there (a storage's temporary file, a damaged write).
type usageShardRecord struct {
	Instance string                `json:"instance"`
	Shard    int64                 `json:"shard"`
	Triggers map[string]usageEntry `json:"triggers"`
}

// usageSum accumulates usage over records.
type usageSum struct {
	count    int64
	last     int64     // unix nanos, 0 = never
	pipeline *Pipeline // the newest, nil = none
}

func (a *usageSum) add(count, last int64, pipeline *Pipeline) {
	a.count += count
	a.last = max(a.last, last)
	if pipeline != nil && pipeline.newerThan(a.pipeline) {
		a.pipeline = pipeline
	}
}

func (a *usageSum) usage() Usage {
	u := Usage{UseCount: a.count}
	if a.last > 0 {
		t := unixNanoUTC(a.last)
		u.LastUsed = &t
	}
	if a.pipeline != nil {
		p := *a.pipeline // the caller's copy
		p.TriggeredAt = p.TriggeredAt.UTC()
		u.LastPipeline = &p
	}
	return u
}

func nanos(t *time.Time) int64 {
	if t == nil || t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// Flush writes the pending usage of every trigger now, one record per
// shard with new uses, and the deliveries recorded since the last flush,
// one record per trigger used. A shard or trigger whose write fails keeps
// what is pending for the next flush; the failures are reported to the
// Observer and the log and summed up in the error. Nothing is written
// while the instance name's lease does not hold (instance_lease.go): the
// records kept in memory (usage_own.go, delivery_own.go) may lack what
// another store that took the name over wrote.
func (s *Store) Flush(ctx context.Context) error {
	if err := s.ensureName(ctx); err != nil {
		s.deliveryFlushMu.Lock()
		s.reportDroppedDeliveries() // the metric does not wait for storage
		s.deliveryFlushMu.Unlock()
		return err
	}
	return errors.Join(s.flushUsage(ctx), s.flushDeliveries(ctx))
}

// flushUsage is Flush's usage part.
func (s *Store) flushUsage(ctx context.Context) error {
	s.idMu.RLock()
	defer s.idMu.RUnlock()
	instance := s.instance

	dirty := make(map[int64][]*usageCounter)
	s.countersMu.Lock()
	for _, u := range s.counters {
		if u.dirty() {
			shard := usageShard(u.id)
			dirty[shard] = append(dirty[shard], u)
		}
	}
	s.countersMu.Unlock()

	var failed int
	var first error
	for _, shard := range slices.Sorted(maps.Keys(dirty)) {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%w: flushing usage: %w", ErrUnavailable, err)
		}
		if err := s.flushShard(ctx, instance, shard, dirty[shard]); err != nil {
			failed++
			if first == nil {
				first = err
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("flushing usage of %d shards: %w", failed, first)
	}
	s.retireIdleCounters(s.now())
	return nil
}

// flushShard adds the counters' pending uses to this instance's record of
// the shard. It writes nothing when nothing changed.
func (s *Store) flushShard(ctx context.Context, instance string, shard int64, counters []*usageCounter) error {
	if !s.holdsName(time.Now()) { // checked by Flush, and again for each write
		return errLeaseLapsed
	}
	own, lock, err := s.lockOwnShard(ctx, instance, shard)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	type taken struct {
		u        *usageCounter
		pending  int64
		last     int64
		pipeline *Pipeline
	}
	took := make([]taken, 0, len(counters))
	// The record after this flush, merged from the one in memory (sorted by
	// ID) and the counters (sorted here): kept only once written.
	slices.SortFunc(counters, func(a, b *usageCounter) int { return cmpInt64(a.id, b.id) })
	before := own.entries
	entries := make([]ownEntry, 0, len(before)+len(counters))
	i := 0
	for _, u := range counters {
		for i < len(before) && before[i].id < u.id {
			entries = append(entries, before[i])
			i++
		}
		entry, existed := ownEntry{id: u.id}, i < len(before) && before[i].id == u.id
		if existed {
			entry = before[i]
			i++
		}
		// Retiring takes this lock too, so a counter is either retired
		// (pending negative) or keeps its pending uses until the Swap.
		if u.pending.Load() < 0 {
			if existed {
				entries = append(entries, entry)
			}
			continue
		}
		p := u.pending.Swap(0)
		last := max(entry.last, u.lastUsed.Load())
		pipeline := u.lastPipeline.Load()
		newPipeline := pipeline != nil && pipeline.newerThan(entry.pipeline)
		if p == 0 && last == entry.last && !newPipeline {
			u.flushedLast.Store(last)
			u.flushedPipeline.Store(pipeline)
			if existed {
				entries = append(entries, entry)
			}
			continue
		}
		if newPipeline {
			entry.pipeline = pipeline
		}
		entry.count += p
		entry.last = last
		entries = append(entries, entry)
		took = append(took, taken{u, p, last, pipeline})
	}
	entries = append(entries, before[i:]...)
	if len(took) == 0 {
		return nil
	}
	// Sized from the last write, with room for the new entries (about 200
	// bytes with a pipeline) and for the others' growth; the slice is the
	// storage's once handed over, so it is not reused.
	size := own.size + own.size/8 + 256*(len(entries)-len(before)) + 64
	data, err := appendOwnShard(make([]byte, 0, size), instance, shard, entries)
	if err == nil {
		err = s.storage.Store(ctx, usageShardKey(instance, shard), data)
	}
	if err != nil {
		// A failed write may still have reached storage (a timeout after
		// the value was sent, a connection lost before the answer). So the
		// record stays as it was before this flush, marked so that it is
		// never dropped from memory, and the uses go back to pending: the
		// next flush (and any read of this instance's usage) starts from
		// that record, not from storage, and so never counts these uses
		// twice.
		for _, t := range took {
			t.u.pending.Add(t.pending) // nothing lost: the next flush retries
		}
		s.own.setUncertain(own, true)
		return s.unavailable(ctx, "store", "storing usage", err, zap.Int64("shard", shard))
	}
	own.entries, own.size = entries, len(data)
	s.own.setUncertain(own, false)
	for _, t := range took {
		t.u.flushedLast.Store(t.last)
		t.u.flushedPipeline.Store(t.pipeline)
	}
	return nil
}

// lockOwnShard takes the shard's lock and returns this instance's record
// of the shard: the one in memory, or else the one in storage, which it
// keeps in memory from then on. The caller unlocks. On error the lock is
// released.
func (s *Store) lockOwnShard(ctx context.Context, instance string, shard int64) (*ownShard, *sync.Mutex, error) {
	lock := s.shardLock(shard)
	lock.Lock()
	if own := s.own.get(shard); own != nil {
		return own, lock, nil
	}
	rec, _, err := s.loadShard(ctx, instance, shard)
	if err != nil {
		lock.Unlock()
		return nil, nil, err
	}
	own := ownShardOf(rec)
	s.keepOwnShard(shard, own)
	return own, lock, nil
}

// loadShard reads an instance's record of a shard. A missing record, and
// a value that is not that instance's record of that shard (a damaged
// write, which is logged), read as an empty record with found false.
func (s *Store) loadShard(ctx context.Context, instance string, shard int64) (rec usageShardRecord, found bool, err error) {
	empty := usageShardRecord{Instance: instance, Shard: shard, Triggers: map[string]usageEntry{}}
	key := usageShardKey(instance, shard)
	data, err := s.storage.Load(ctx, key)
	// A file where an instance's folder would be (a stray file in the
	// usage root) holds no record either.
	if isNotExist(err) || errors.Is(err, syscall.ENOTDIR) {
		return empty, false, nil
	}
	if err != nil {
		return empty, false, s.unavailable(ctx, "load", "loading usage", err, zap.String("key", key))
	}
	if err := json.Unmarshal(data, &rec); err != nil || rec.Instance != instance || rec.Shard != shard {
		s.logger.Warn("ignoring a value that is not a usage record", zap.String("key", key))
		return empty, false, nil
	}
	if rec.Triggers == nil {
		rec.Triggers = map[string]usageEntry{}
	}
	return rec, true, nil
}

// usageInstances lists the instance names that have usage records.
func (s *Store) usageInstances(ctx context.Context) ([]string, error) {
	keys, err := s.storage.List(ctx, usageRoot, false)
	if err != nil && !isNotExist(err) {
		return nil, s.unavailable(ctx, "list", "listing usage", err)
	}
	names := make([]string, 0, len(keys))
	for _, key := range keys {
		if name, err := url.PathUnescape(path.Base(key)); err == nil {
			names = append(names, name)
		}
	}
	return names, nil
}

// usageOf sums one trigger's usage over every instance.
func (s *Store) usageOf(ctx context.Context, id int64) (Usage, error) {
	usage, err := s.usagesOf(ctx, []int64{id})
	return usage[id], err
}

// usagesOf sums the triggers' usage over every instance's records, reading
// each record once, and takes this instance's share under the shard's
// lock, adding what is not flushed yet.
func (s *Store) usagesOf(ctx context.Context, ids []int64) (map[int64]Usage, error) {
	s.idMu.RLock()
	defer s.idMu.RUnlock()
	instance := s.instance

	byShard := make(map[int64][]int64)
	for _, id := range ids {
		byShard[usageShard(id)] = append(byShard[usageShard(id)], id)
	}
	names, err := s.usageInstances(ctx)
	if err != nil {
		return nil, err
	}
	sums := make(map[int64]*usageSum, len(ids))
	for _, id := range ids {
		sums[id] = new(usageSum)
	}
	for shard, shardIDs := range byShard {
		for _, name := range names {
			if name == instance {
				continue
			}
			rec, found, err := s.loadShard(ctx, name, shard)
			if err != nil {
				return nil, err
			}
			if found {
				addEntries(sums, rec, shardIDs)
			}
		}
		if err := s.addOwnUsage(ctx, instance, shard, shardIDs, sums); err != nil {
			return nil, err
		}
	}
	out := make(map[int64]Usage, len(ids))
	for id, sum := range sums {
		out[id] = sum.usage()
	}
	return out, nil
}

// addOwnUsage adds this instance's share of the shard's triggers: its
// record plus the uses not flushed yet. Holding the shard's lock means no
// flush of it is half done.
func (s *Store) addOwnUsage(ctx context.Context, instance string, shard int64, ids []int64, sums map[int64]*usageSum) error {
	own, lock, err := s.lockOwnShard(ctx, instance, shard)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	for _, id := range ids {
		if e, ok := own.find(id); ok {
			sums[id].add(e.count, e.last, e.pipeline)
		}
		if u := s.existingCounter(id); u != nil {
			sums[id].add(max(u.pending.Load(), 0), u.lastUsed.Load(), u.lastPipeline.Load())
		}
	}
	return nil
}

func addEntries(sums map[int64]*usageSum, rec usageShardRecord, ids []int64) {
	for _, id := range ids {
		if entry, ok := rec.Triggers[strconv.FormatInt(id, 10)]; ok {
			sums[id].add(entry.UseCount, nanos(entry.LastUsed), entry.LastPipeline)
		}
	}
}
