package tokenstore

import (
	"cmp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/triggergate/caddy-trigger-gateway/internal/jsontext"
)

// This instance's own usage records, kept in memory between flushes. The
// instance is the only writer of instance_usage/<instance>/<shard>, so
// the record it last wrote (or read, the first time it needed the shard
// since it started) is what storage holds; after a write reported failed,
// it is what storage holds unless the failed write reached it, and the
// next write replaces that anyway (see flushShard). So a flush merges the
// pending uses into the record in memory and writes it, without reading
// and decoding it again: with 100,000 triggers in use, reading and
// decoding 98 records of 1,024 triggers took most of each flush's half a
// second of CPU. Reads of this instance's share (usagesOf) use the same
// record.

// maxOwnShards bounds the records kept: 256 shards of 1,024 triggers at
// 32 bytes a trigger, 8 MiB, plus each trigger's last pipeline (about 150
// bytes with its URL, shared with its usage counter while that lives).
// Past it the record used longest ago is dropped, and read from storage
// again when its shard is next flushed; a record whose last write failed
// is kept however many there are, as its uses are kept pending.
const maxOwnShards = 256

// ownEntry is one trigger's totals in this instance's record.
type ownEntry struct {
	id       int64
	count    int64
	last     int64     // unix nanos; 0 = never
	pipeline *Pipeline // nil = none; shared, never modified
}

// ownShard is this instance's record of a shard. The shard's lock
// (Store.shardLock) guards it.
type ownShard struct {
	// entries are sorted by ID. A flush builds a new slice and keeps it
	// once written, so a failed write leaves the record as it was.
	entries []ownEntry
	// size is the length of the record's last write, to size the next.
	size int
	// uncertain says the last write failed and may still have reached
	// storage: the record must not be dropped, or the next flush would
	// read back uses that are also pending again. Like entries, it is
	// read and written under the shard's lock only.
	uncertain bool
	// touched is ownRecords' clock when the record was last used.
	touched uint64
}

// find returns the entry of trigger id.
func (o *ownShard) find(id int64) (ownEntry, bool) {
	i, found := slices.BinarySearchFunc(o.entries, id, func(e ownEntry, id int64) int { return cmpInt64(e.id, id) })
	if !found {
		return ownEntry{}, false
	}
	return o.entries[i], true
}

// ownShardOf converts a record read from storage. An entry whose key is
// not the decimal ID of a trigger of the shard was never written by this
// version and is never read: it is left out.
func ownShardOf(rec usageShardRecord) *ownShard {
	own := &ownShard{entries: make([]ownEntry, 0, len(rec.Triggers))}
	for key, e := range rec.Triggers {
		id, err := strconv.ParseInt(key, 10, 64)
		if err != nil || id < 1 || usageShard(id) != rec.Shard || strconv.FormatInt(id, 10) != key {
			continue
		}
		own.entries = append(own.entries, ownEntry{id: id, count: e.UseCount, last: nanos(e.LastUsed), pipeline: e.LastPipeline})
	}
	slices.SortFunc(own.entries, func(a, b ownEntry) int { return cmpInt64(a.id, b.id) })
	return own
}

// ownRecords holds the ownShards by shard.
type ownRecords struct {
	mu     sync.Mutex
	clock  uint64
	shards map[int64]*ownShard
	// uncertainCount is how many records are uncertain (setUncertain):
	// the store keeps its name while any is (heartbeat).
	uncertainCount atomic.Int32
}

// setUncertain marks the record as its last write left it. The caller
// holds the record's shard lock.
func (r *ownRecords) setUncertain(own *ownShard, uncertain bool) {
	if own.uncertain == uncertain {
		return
	}
	own.uncertain = uncertain
	if uncertain {
		r.uncertainCount.Add(1)
	} else {
		r.uncertainCount.Add(-1)
	}
}

// get returns the shard's record, if kept. The caller holds the shard's lock.
func (r *ownRecords) get(shard int64) *ownShard {
	r.mu.Lock()
	defer r.mu.Unlock()
	own := r.shards[shard]
	if own != nil {
		r.clock++
		own.touched = r.clock
	}
	return own
}

// clear forgets every record: they were another instance name's. No
// record is in use meanwhile (the caller holds idMu).
func (r *ownRecords) clear() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.shards)
	r.uncertainCount.Store(0)
}

// keepOwnShard keeps own as this instance's record of the shard, whose
// lock the caller holds, and drops the record used longest ago if there
// are more than maxOwnShards. A record whose shard's lock is busy (a flush
// or read of it under way) or whose last write failed is not dropped.
func (s *Store) keepOwnShard(shard int64, own *ownShard) {
	r := &s.own
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shards == nil {
		r.shards = make(map[int64]*ownShard)
	}
	r.clock++
	own.touched = r.clock
	r.shards[shard] = own
	if len(r.shards) <= maxOwnShards {
		return
	}
	candidates := make([]int64, 0, len(r.shards))
	for k := range r.shards {
		if k != shard {
			candidates = append(candidates, k)
		}
	}
	slices.SortFunc(candidates, func(a, b int64) int { return cmp.Compare(r.shards[a].touched, r.shards[b].touched) })
	for _, k := range candidates {
		if len(r.shards) <= maxOwnShards {
			return
		}
		// A lock that is this shard's (the caller holds it) or busy: try
		// the next rather than wait with r.mu held. Whether a record is
		// uncertain is read under its lock, which its flush holds.
		lock := s.shardLock(k)
		if lock == s.shardLock(shard) || !lock.TryLock() {
			continue
		}
		if !r.shards[k].uncertain {
			delete(r.shards, k)
		}
		lock.Unlock()
	}
}

// unixNanoUTC is the time of unix nanoseconds n, in UTC, as usage records
// write it.
func unixNanoUTC(n int64) time.Time { return time.Unix(0, n).UTC() }

// appendOwnShard appends the record as usageShardRecord's JSON, which
// other instances' readers decode (loadShard).
func appendOwnShard(dst []byte, instance string, shard int64, entries []ownEntry) ([]byte, error) {
	dst = append(dst, `{"instance":`...)
	dst = jsontext.AppendString(dst, instance)
	dst = append(dst, `,"shard":`...)
	dst = strconv.AppendInt(dst, shard, 10)
	dst = append(dst, `,"triggers":{`...)
	var err error
	for i, e := range entries {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = strconv.AppendInt(dst, e.id, 10)
		dst = append(dst, `":{"use_count":`...)
		dst = strconv.AppendInt(dst, e.count, 10)
		if e.last > 0 {
			dst = append(dst, `,"last_used":`...)
			if dst, err = jsontext.AppendTime(dst, unixNanoUTC(e.last)); err != nil {
				return nil, err
			}
		}
		if p := e.pipeline; p != nil {
			dst = append(dst, `,"last_pipeline":{"id":`...)
			dst = strconv.AppendInt(dst, p.ID, 10)
			if p.WebURL != "" {
				dst = append(dst, `,"web_url":`...)
				dst = jsontext.AppendString(dst, p.WebURL)
			}
			dst = append(dst, `,"triggered_at":`...)
			if dst, err = jsontext.AppendTime(dst, p.TriggeredAt); err != nil {
				return nil, err
			}
			dst = append(dst, '}')
		}
		dst = append(dst, '}')
	}
	return append(dst, "}}"...), nil
}
