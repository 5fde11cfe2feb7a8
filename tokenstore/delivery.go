package tokenstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"path"
	"slices"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// Deliveries in storage. Each instance writes its own record per trigger,
// deliveries/<id>/<instance>, holding the newest MaxDeliveries uses of
// the trigger it saw, newest first; no instance ever writes another's, so
// two flushes never race. A reader lists the trigger's folder, merges the
// records of every instance with what this instance has not written yet,
// and keeps the newest MaxDeliveries. An instance's older uses can never
// be among a trigger's newest MaxDeliveries (its own newer ones outnumber
// them), so keeping MaxDeliveries per instance loses nothing a reader shows.

// MaxDeliveries is how many deliveries of a trigger are kept and shown:
// its last uses, over every instance.
const MaxDeliveries = 20

// Bounds of the deliveries held in memory and of one delivery.
const (
	// maxPendingDeliveries bounds the deliveries an instance holds until
	// the next flush writes them: past it (a storage down for long, a
	// flood of uses), the oldest are dropped and counted.
	maxPendingDeliveries = 4096
	// MaxDeliveryVariables is the most variable names one delivery keeps
	// (the first ones in sorted order).
	MaxDeliveryVariables = 100
	// maxDeliveryText bounds a delivery's ref, source, outcome and each
	// variable name, in bytes; maxDeliveryURL its web_url.
	maxDeliveryText = 255
	maxDeliveryURL  = 2048
	// deliveryLockCount is the number of locks the triggers' records are
	// spread over (see deliveryLock).
	deliveryLockCount = 64
)

// Delivery is one use of a trigger, as its recent deliveries show it. It
// holds the names of the variables the caller sent, never their values
// (gitlab-ce#20422).
type Delivery struct {
	Time   time.Time `json:"time"`
	Source string    `json:"source"` // trigger | pipeline | schedule
	Ref    string    `json:"ref,omitempty"`
	// Variables are the names of the caller's variables, sorted; never
	// their values.
	Variables []string `json:"variables"`
	// Outcome is "accepted", "replayed" or the reason of the refusal (as
	// the gateway's log line and metrics name it, such as ref_not_allowed).
	Outcome string `json:"outcome"`
	// Status is the HTTP status of the answer to the forwarded request;
	// 0 when nothing was forwarded.
	Status int `json:"status,omitempty"`
	// PipelineID is the CI's pipeline, as its answer named it; nil when none.
	PipelineID *int64 `json:"pipeline_id"`
	WebURL     string `json:"web_url,omitempty"`
}

// same reports whether d and o record the same use: one request's
// delivery read back from storage is equal to it in every field.
func (d Delivery) same(o Delivery) bool {
	return d.Time.Equal(o.Time) && d.Source == o.Source && d.Ref == o.Ref && d.Outcome == o.Outcome &&
		d.Status == o.Status && d.WebURL == o.WebURL && slices.Equal(d.Variables, o.Variables) &&
		(d.PipelineID == nil) == (o.PipelineID == nil) && (d.PipelineID == nil || *d.PipelineID == *o.PipelineID)
}

// pendingDelivery is a delivery recorded but not written yet.
type pendingDelivery struct {
	trigger  int64
	delivery Delivery
}

// DeliveryObserver is an optional extension of Observer: an Observer that
// also implements it is told how many deliveries were dropped unwritten
// because more than the pending bound waited for a flush.
type DeliveryObserver interface {
	DeliveriesDropped(n int64)
}

// RecordDelivery keeps a use of the trigger for its recent deliveries.
// It only updates memory (the flush loop writes it with the usage) and
// never waits on I/O; it takes ownership of d.Variables, which it sorts
// in place. A zero d.Time is the store's now. Texts too long are cut and
// at most MaxDeliveryVariables names kept.
func (s *Store) RecordDelivery(triggerID int64, d Delivery) {
	if triggerID <= 0 {
		return
	}
	if d.Time.IsZero() {
		d.Time = s.now()
	}
	d.Time = d.Time.UTC()
	boundDelivery(&d)
	s.deliveriesMu.Lock()
	dropped := s.pendingDeliveries.push(pendingDelivery{trigger: triggerID, delivery: d})
	s.deliveriesMu.Unlock()
	if dropped {
		s.droppedDeliveries.Add(1)
	}
}

// boundDelivery cuts a delivery's texts and names to their bounds and
// sorts the names, without allocating.
func boundDelivery(d *Delivery) {
	d.Source = cutText(d.Source, maxDeliveryText)
	d.Ref = cutText(d.Ref, maxDeliveryText)
	d.Outcome = cutText(d.Outcome, maxDeliveryText)
	d.WebURL = cutText(d.WebURL, maxDeliveryURL)
	if d.Variables == nil {
		d.Variables = []string{} // an empty list in JSON, not null
	}
	if !slices.IsSorted(d.Variables) { // a request's are (triggerapi.Variables)
		slices.Sort(d.Variables)
	}
	if len(d.Variables) > MaxDeliveryVariables {
		d.Variables = d.Variables[:MaxDeliveryVariables:MaxDeliveryVariables]
	}
	for i, name := range d.Variables {
		d.Variables[i] = cutText(name, maxDeliveryText)
	}
}

// cutText is s cut to at most n bytes, at a character boundary.
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// DroppedDeliveries is how many deliveries this store dropped unwritten
// since it opened, because more than the pending bound waited for a flush.
func (s *Store) DroppedDeliveries() int64 { return s.droppedDeliveries.Load() }

// Deliveries returns the trigger's recent deliveries over every instance
// sharing the storage, newest first, at most MaxDeliveries: those in
// storage and those this store has not written yet. It does not check
// that the trigger exists; a revoked trigger's deliveries stay readable.
func (s *Store) Deliveries(ctx context.Context, triggerID int64) ([]Delivery, error) {
	if triggerID <= 0 {
		return []Delivery{}, nil
	}
	s.idMu.RLock()
	defer s.idMu.RUnlock()
	instance := s.instance

	dir := deliveriesDir(triggerID)
	keys, err := s.storage.List(ctx, dir, false)
	if err != nil && !isNotExist(err) {
		return nil, s.unavailable(ctx, "list", "listing deliveries", err, zap.Int64("trigger_id", triggerID))
	}
	var all []Delivery
	for _, key := range keys {
		name, err := url.PathUnescape(path.Base(key))
		if err != nil || name == instance {
			continue
		}
		rec, err := s.loadDeliveries(ctx, name, triggerID)
		if err != nil {
			return nil, err
		}
		all = append(all, rec.Deliveries...)
	}
	own, err := s.ownDeliveries(ctx, instance, triggerID)
	if err != nil {
		return nil, err
	}
	return newestDeliveries(withoutRepeats(append(own, all...))), nil
}

// withoutRepeats lists each use once: a store whose write under a
// suffixed name failed but reached storage writes the same deliveries
// again under its own name once it moves back (heartbeat), so two
// instances' records can hold one use.
func withoutRepeats(list []Delivery) []Delivery {
	slices.SortStableFunc(list, newestFirst)
	out := list[:0]
	for _, d := range list {
		repeat := false
		for i := len(out) - 1; i >= 0 && out[i].Time.Equal(d.Time) && !repeat; i-- {
			repeat = out[i].same(d)
		}
		if !repeat {
			out = append(out, d)
		}
	}
	return out
}

// ownDeliveries is this instance's share of the trigger's deliveries: the
// ones not written yet, then its record (kept in memory, or read and kept
// from then on), under the trigger's lock so that no flush of it is half
// done.
func (s *Store) ownDeliveries(ctx context.Context, instance string, triggerID int64) ([]Delivery, error) {
	lock := s.deliveryLock(triggerID)
	lock.Lock()
	defer lock.Unlock()
	written, err := s.ownRecordOf(ctx, instance, triggerID)
	if err != nil {
		return nil, err
	}
	s.deliveriesMu.Lock()
	unwritten := s.pendingDeliveries.of(triggerID, nil)
	flushing := s.flushingDeliveries[triggerID] // oldest first, older than the pending ones
	for i := len(flushing) - 1; i >= 0; i-- {
		unwritten = append(unwritten, flushing[i])
	}
	s.deliveriesMu.Unlock()
	for i := range unwritten {
		unwritten[i] = unwritten[i].clone() // the caller's, not the queue's
	}
	pending := len(unwritten)
	for _, d := range written {
		// A failed write that reached storage holds deliveries that are
		// pending again; they are listed once.
		if !slices.ContainsFunc(unwritten[:pending], d.same) {
			unwritten = append(unwritten, d.clone()) // nor the kept record's
		}
	}
	return unwritten, nil
}

// ownRecordOf is this instance's record of the trigger's deliveries, newest
// first: the one kept in memory, or else the one in storage, kept from
// then on. The caller holds the trigger's lock and does not modify it.
func (s *Store) ownRecordOf(ctx context.Context, instance string, triggerID int64) ([]Delivery, error) {
	if kept, ok := s.keptDeliveries.get(triggerID); ok {
		return kept, nil
	}
	rec, err := s.loadDeliveries(ctx, instance, triggerID)
	if err != nil {
		return nil, err
	}
	s.keptDeliveries.keep(triggerID, rec.Deliveries)
	return rec.Deliveries, nil
}

// clone copies what a Delivery shares through references.
func (d Delivery) clone() Delivery {
	d.Variables = slices.Clone(d.Variables)
	if d.PipelineID != nil {
		id := *d.PipelineID
		d.PipelineID = &id
	}
	return d
}

// newestFirst orders deliveries newest first; a stable sort keeps the
// earlier in the list first among equal times.
func newestFirst(a, b Delivery) int { return b.Time.Compare(a.Time) }

// newestDeliveries sorts deliveries newest first (the earlier in the list
// first among equal times) and keeps MaxDeliveries.
func newestDeliveries(list []Delivery) []Delivery {
	slices.SortStableFunc(list, newestFirst)
	if len(list) > MaxDeliveries {
		list = list[:MaxDeliveries]
	}
	if list == nil {
		list = []Delivery{}
	}
	return list
}

// deliveryRecord is what deliveries/<id>/<instance> holds. Instance and
// Trigger let readers tell a record from anything else stored there.
type deliveryRecord struct {
	Instance   string     `json:"instance"`
	Trigger    int64      `json:"trigger"`
	Deliveries []Delivery `json:"deliveries"`
}

// loadDeliveries reads an instance's record of the trigger's deliveries.
// A missing record, and a value that is not that record (logged), read as
// an empty one.
func (s *Store) loadDeliveries(ctx context.Context, instance string, triggerID int64) (deliveryRecord, error) {
	empty := deliveryRecord{Instance: instance, Trigger: triggerID, Deliveries: []Delivery{}}
	key := deliveriesKey(triggerID, instance)
	data, err := s.storage.Load(ctx, key)
	if isNotExist(err) || errors.Is(err, syscall.ENOTDIR) {
		return empty, nil
	}
	if err != nil {
		return empty, s.unavailable(ctx, "load", "loading deliveries", err, zap.String("key", key))
	}
	var rec deliveryRecord
	if err := json.Unmarshal(data, &rec); err != nil || rec.Instance != instance || rec.Trigger != triggerID {
		s.logger.Warn("ignoring a value that is not a deliveries record", zap.String("key", key))
		return empty, nil
	}
	for i := range rec.Deliveries {
		if rec.Deliveries[i].Variables == nil {
			rec.Deliveries[i].Variables = []string{}
		}
	}
	return rec, nil
}

// deliveryLock is the lock of a trigger's record on this instance: held
// by a flush across its read (or use of the record kept in memory), merge
// and write of the record, and by readers of this instance's share. The
// request path never takes it.
func (s *Store) deliveryLock(triggerID int64) *sync.Mutex {
	return &s.deliveryLocks[uint64(triggerID)%deliveryLockCount]
}

// flushDeliveries writes the deliveries recorded since the last flush:
// for each trigger, one write of this instance's record, read first only
// when not kept in memory (delivery_own.go). What cannot be written goes
// back to the pending deliveries, before the ones recorded since, for the
// next flush. Flush runs it only while the name's lease holds.
func (s *Store) flushDeliveries(ctx context.Context) error {
	s.deliveryFlushMu.Lock() // one flush at a time: each owns flushingDeliveries
	defer s.deliveryFlushMu.Unlock()
	s.idMu.RLock()
	defer s.idMu.RUnlock()
	instance := s.instance

	s.keptDeliveries.beginRound()
	s.deliveriesMu.Lock()
	taken := s.pendingDeliveries.drain()
	batch := make(map[int64][]Delivery)
	for _, p := range taken {
		batch[p.trigger] = append(batch[p.trigger], p.delivery) // oldest first
	}
	s.flushingDeliveries = batch
	s.deliveriesMu.Unlock()
	s.reportDroppedDeliveries()

	var failed int
	var first error
	for _, id := range slices.Sorted(maps.Keys(batch)) {
		if err := s.flushTriggerDeliveries(ctx, instance, id, batch[id]); err != nil {
			failed++
			if first == nil {
				first = err
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("flushing the deliveries of %d triggers: %w", failed, first)
	}
	return nil
}

// flushTriggerDeliveries merges a trigger's new deliveries (oldest first)
// into this instance's record and writes it. Either way they leave
// flushingDeliveries under the trigger's lock, for storage or, on failure,
// back to the pending ones.
func (s *Store) flushTriggerDeliveries(ctx context.Context, instance string, id int64, fresh []Delivery) error {
	lock := s.deliveryLock(id)
	lock.Lock()
	defer lock.Unlock()
	err := ctx.Err()
	switch {
	case err != nil:
		err = fmt.Errorf("%w: flushing deliveries: %w", ErrUnavailable, err)
	case !s.holdsName(time.Now()): // checked by Flush, and again for each write
		err = errLeaseLapsed
	default:
		err = s.writeDeliveries(ctx, instance, id, fresh)
	}
	s.deliveriesMu.Lock()
	delete(s.flushingDeliveries, id)
	var dropped int64
	if err != nil {
		// Only the newest MaxDeliveries can still be shown; back in front
		// of the queue, older than everything recorded since.
		for i := len(fresh) - 1; i >= max(0, len(fresh)-MaxDeliveries); i-- {
			if s.pendingDeliveries.pushFront(pendingDelivery{trigger: id, delivery: fresh[i]}) {
				dropped++
			}
		}
	}
	s.deliveriesMu.Unlock()
	s.droppedDeliveries.Add(dropped)
	return err
}

// writeDeliveries adds fresh deliveries (oldest first) to this instance's
// record of the trigger, keeping the newest MaxDeliveries, and keeps the
// record written in memory. After a failed write, the record kept is the
// one before it.
func (s *Store) writeDeliveries(ctx context.Context, instance string, id int64, fresh []Delivery) error {
	written, err := s.ownRecordOf(ctx, instance, id)
	if err != nil {
		return err
	}
	merged := make([]Delivery, 0, len(fresh)+len(written))
	for i := len(fresh) - 1; i >= 0; i-- {
		// A write reported failed may have reached storage, and the record
		// been read from there since (it was not kept, or was dropped):
		// its deliveries, back in the queue, are in the record already.
		if !slices.ContainsFunc(written, fresh[i].same) {
			merged = append(merged, fresh[i])
		}
	}
	// Only the newest MaxDeliveries of the fresh ones can be among the
	// record's, and those are kept: each with memory of its own.
	merged = newestDeliveries(merged)
	for i := range merged {
		merged[i] = detached(merged[i])
	}
	// The record is kept: in a slice of its own size, not the merge's.
	rec := deliveryRecord{Instance: instance, Trigger: id, Deliveries: slices.Clone(newestDeliveries(append(merged, written...)))}
	// The slice is the storage's once handed over, so it is not reused.
	data, err := appendDeliveryRecord(make([]byte, 0, deliveryRecordSize(&rec)), &rec)
	if err == nil {
		err = s.storage.Store(ctx, deliveriesKey(id, instance), data)
	}
	if err != nil {
		return s.unavailable(ctx, "store", "storing deliveries", err, zap.Int64("trigger_id", id))
	}
	s.keptDeliveries.keep(id, rec.Deliveries)
	return nil
}

// reportDroppedDeliveries tells the observer and the log about deliveries
// dropped since the last report.
func (s *Store) reportDroppedDeliveries() {
	total := s.droppedDeliveries.Load()
	n := total - s.reportedDrops
	if n <= 0 {
		return
	}
	s.reportedDrops = total
	if obs, ok := s.observer.(DeliveryObserver); ok {
		obs.DeliveriesDropped(n)
	}
	if suppressed, ok := s.logs.allow("deliveries_dropped"); ok {
		s.logger.Warn("recent deliveries dropped unwritten: more were waiting for a flush than the bound",
			zap.Int64("dropped", n), zap.Int64("dropped_total", total),
			zap.Int("bound", maxPendingDeliveries), zap.Int("suppressed", suppressed))
	}
}

// deliveryQueue holds pending deliveries in the order recorded, in a ring
// that grows up to maxPendingDeliveries and is then reused: past the
// bound, the oldest is overwritten.
type deliveryQueue struct {
	buf   []pendingDelivery
	start int // index of the oldest
	n     int
	limit int // 0: maxPendingDeliveries
}

func (q *deliveryQueue) bound() int { return cmp.Or(q.limit, maxPendingDeliveries) }

// grow makes room for one more below the bound, if there is none.
func (q *deliveryQueue) grow() {
	if q.n < len(q.buf) || len(q.buf) >= q.bound() {
		return
	}
	bigger := make([]pendingDelivery, min(max(2*len(q.buf), 64), q.bound()))
	q.copyTo(bigger)
	q.buf, q.start = bigger, 0
}

// copyTo copies the queue, oldest first, into dst.
func (q *deliveryQueue) copyTo(dst []pendingDelivery) {
	for i := 0; i < q.n; i++ {
		dst[i] = q.buf[(q.start+i)%len(q.buf)]
	}
}

// push adds p as the newest; it reports whether the oldest was dropped
// to make room.
func (q *deliveryQueue) push(p pendingDelivery) (dropped bool) {
	q.grow()
	if q.n == len(q.buf) { // at the bound
		q.buf[q.start] = p
		q.start = (q.start + 1) % len(q.buf)
		return true
	}
	q.buf[(q.start+q.n)%len(q.buf)] = p
	q.n++
	return false
}

// pushFront adds p as the oldest; at the bound, p itself is dropped.
func (q *deliveryQueue) pushFront(p pendingDelivery) (dropped bool) {
	q.grow()
	if q.n == len(q.buf) {
		return true
	}
	q.start = (q.start - 1 + len(q.buf)) % len(q.buf)
	q.buf[q.start] = p
	q.n++
	return false
}

// drain takes every pending delivery, oldest first, and empties the queue
// (keeping its buffer, cleared so it holds no references).
func (q *deliveryQueue) drain() []pendingDelivery {
	out := make([]pendingDelivery, q.n)
	q.copyTo(out)
	clear(q.buf)
	q.start, q.n = 0, 0
	return out
}

// of appends the trigger's pending deliveries, newest first, to dst.
func (q *deliveryQueue) of(trigger int64, dst []Delivery) []Delivery {
	for i := q.n - 1; i >= 0; i-- {
		if p := &q.buf[(q.start+i)%len(q.buf)]; p.trigger == trigger {
			dst = append(dst, p.delivery)
		}
	}
	return dst
}
