package tokenstore

import (
	"cmp"
	"strings"
	"sync"
	"unsafe"
)

// This instance's own deliveries records, kept in memory between flushes.
// The instance is the only writer of deliveries/<id>/<instance> (as of its
// usage records, usage_own.go), so the record it last wrote (or read, the
// first time it needed the trigger's since it started) is what storage
// holds. A flush merges the new deliveries into it and writes it without
// reading and decoding it again; reads of this instance's share
// (ownDeliveries) use it too. Like usage, deliveries are written only
// while the instance's name lease holds (instance_lease.go), and the
// records are forgotten when the name changes (switchInstance).
//
// A write reported failed may still have reached storage. The record in
// memory stays as it was before that write, and its deliveries go back to
// the queue: the next write holds them once and replaces whatever the
// failed one left. A record dropped from memory meanwhile is read from
// storage again, and the flush's merge leaves out the deliveries already
// there (Delivery.same), as it did before records were kept; so any record
// may be dropped, whatever its last write did, and none is pinned.

// maxOwnDeliveryBytes bounds the memory of the records kept, as
// deliverySize estimates it: about 5 KiB for a trigger whose record is
// full (20 deliveries with a ref, two variable names and a pipeline URL),
// so some 1,600 such triggers, or 24,000 used once each. Past it the
// records used longest ago are dropped, or the newest when the flush under
// way used every other (see keep), and read from storage again when their
// trigger is next flushed or read. The largest record possible (20
// deliveries of 100 variable names of 255 bytes) is about 600 KiB; one
// alone over the bound is kept while the others are older than the flush.
const maxOwnDeliveryBytes = 8 << 20

// ownDeliveryOverhead is what keeping a record costs beyond its
// deliveries: the ownDelivery and its map slot.
const ownDeliveryOverhead = int(unsafe.Sizeof(ownDelivery{})) + 32

// deliverySize estimates the memory a kept delivery holds beyond its place
// in the record's slice: its texts and variable names.
func deliverySize(d *Delivery) int {
	n := len(d.Source) + len(d.Ref) + len(d.Outcome) + len(d.WebURL) +
		len(d.Variables)*int(unsafe.Sizeof(""))
	for _, name := range d.Variables {
		n += len(name)
	}
	if d.PipelineID != nil {
		n += 8
	}
	return n
}

// ownDelivery is this instance's record of a trigger's deliveries.
type ownDelivery struct {
	trigger int64
	// deliveries are as storage holds them, newest first. They are never
	// modified: a flush keeps a new slice once written, and readers copy
	// what they hand out.
	deliveries []Delivery
	size       int    // estimated: the slice, each deliverySize, ownDeliveryOverhead
	round      uint64 // ownDeliveryRecords.round when last used
	// newer and older link the records from the one used last to the one
	// used longest ago.
	newer, older *ownDelivery
}

// ownDeliveryRecords holds the ownDeliveries by trigger, least recently
// used first out. Its lock guards everything in it; the trigger's
// deliveryLock, held by callers across their read, merge and write of a
// trigger's record, keeps one trigger's flushes and reads in turn.
type ownDeliveryRecords struct {
	mu             sync.Mutex
	byTrigger      map[int64]*ownDelivery
	newest, oldest *ownDelivery
	size           int // of the records kept
	limit          int // 0: maxOwnDeliveryBytes
	// round counts the flushes (beginRound); 0 before the first.
	round uint64
}

// beginRound marks the start of a flush: the records used from now on are
// this flush's (see keep).
func (r *ownDeliveryRecords) beginRound() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.round++
}

// get returns the trigger's record, if kept, and makes it the one used
// last. The caller holds the trigger's deliveryLock and does not modify
// the deliveries.
func (r *ownDeliveryRecords) get(trigger int64) ([]Delivery, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.byTrigger[trigger]
	if rec == nil {
		return nil, false
	}
	r.unlink(rec)
	r.pushNewest(rec)
	rec.round = r.round
	return rec.deliveries, true
}

// keep makes deliveries (newest first, as storage now holds them, never
// modified afterwards) the trigger's record, used last, and drops the
// records used longest ago while they are over the bound; but not one the
// current flush used: then it drops the record it was given instead. A
// flush visits the triggers in ID order, the same each time, so with more
// records than the bound holds, dropping the least recently used would
// drop every record before the next flush reaches it and keep none; this
// way the records kept first stay, and each flush finds them. The caller
// holds the trigger's deliveryLock.
func (r *ownDeliveryRecords) keep(trigger int64, deliveries []Delivery) {
	size := ownDeliveryOverhead + cap(deliveries)*int(unsafe.Sizeof(Delivery{}))
	for i := range deliveries {
		size += deliverySize(&deliveries[i])
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byTrigger == nil {
		r.byTrigger = make(map[int64]*ownDelivery)
	}
	rec := r.byTrigger[trigger]
	if rec == nil {
		rec = &ownDelivery{trigger: trigger}
		r.byTrigger[trigger] = rec
	} else {
		r.unlink(rec)
		r.size -= rec.size
	}
	rec.deliveries, rec.size, rec.round = deliveries, size, r.round
	r.size += size
	r.pushNewest(rec)
	for r.size > cmp.Or(r.limit, maxOwnDeliveryBytes) && r.oldest != rec {
		drop := r.oldest
		if r.round > 0 && drop.round == r.round {
			// The oldest, and so every record, was used in this flush.
			drop = rec
		}
		r.unlink(drop)
		r.size -= drop.size
		delete(r.byTrigger, drop.trigger)
		if drop == rec {
			return
		}
	}
}

// clear forgets every record: they were another instance name's. No
// record is in use meanwhile (the caller holds idMu).
func (r *ownDeliveryRecords) clear() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.byTrigger)
	r.newest, r.oldest, r.size = nil, nil, 0
}

// len is how many records are kept.
func (r *ownDeliveryRecords) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byTrigger)
}

func (r *ownDeliveryRecords) unlink(rec *ownDelivery) {
	if rec.newer != nil {
		rec.newer.older = rec.older
	} else {
		r.newest = rec.older
	}
	if rec.older != nil {
		rec.older.newer = rec.newer
	} else {
		r.oldest = rec.newer
	}
	rec.newer, rec.older = nil, nil
}

func (r *ownDeliveryRecords) pushNewest(rec *ownDelivery) {
	rec.older = r.newest
	if r.newest != nil {
		r.newest.newer = rec
	}
	r.newest = rec
	if r.oldest == nil {
		r.oldest = rec
	}
}

// detached is d with texts of its own, in one allocation, and a names
// slice and pipeline ID of its own. A delivery as recorded may share its
// ref and names with a copy of the caller's whole body, which holds the
// trigger token and the variables' values (caddymodule's maxSharedBody
// allows it until the write), and its web_url with the CI's answer: a
// kept record must keep none of them alive.
func detached(d Delivery) Delivery {
	texts := []*string{&d.Source, &d.Ref, &d.Outcome, &d.WebURL}
	size := 0
	for _, t := range texts {
		size += len(*t)
	}
	for _, name := range d.Variables {
		size += len(name)
	}
	var b strings.Builder
	b.Grow(size)
	for _, t := range texts {
		b.WriteString(*t)
	}
	for _, name := range d.Variables {
		b.WriteString(name)
	}
	all := b.String()
	cut := func(n int) string {
		s := all[:n]
		all = all[n:]
		return s
	}
	for _, t := range texts {
		*t = cut(len(*t))
	}
	names := make([]string, len(d.Variables))
	for i, name := range d.Variables {
		names[i] = cut(len(name))
	}
	d.Variables = names
	if d.PipelineID != nil {
		id := *d.PipelineID
		d.PipelineID = &id
	}
	return d
}
