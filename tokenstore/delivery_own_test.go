package tokenstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/caddyserver/certmagic"
)

// storedDeliveries reads instance's record of the trigger straight from
// storage, bypassing every store.
func storedDeliveries(t *testing.T, storage certmagic.Storage, id int64, instance string) []Delivery {
	t.Helper()
	data, err := storage.Load(context.Background(), deliveriesKey(id, instance))
	if err != nil {
		t.Fatalf("reading the deliveries of trigger %d: %v", id, err)
	}
	var rec deliveryRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatalf("decoding the deliveries of trigger %d: %v", id, err)
	}
	return rec.Deliveries
}

// A flush reads this instance's record of a trigger once, the first time,
// and from then on writes the one it keeps in memory; reads of the
// deliveries use it too. The records in storage hold every delivery once.
func TestDeliveriesFlushReadsItsOwnRecordOnce(t *testing.T) {
	ctx := context.Background()
	files := &certmagic.FileStorage{Path: t.TempDir()}
	storage := &loadCountingStorage{Storage: files, prefix: deliveriesRoot + "/"}
	s := newTestStore(t, storage, Config{})
	ids := []int64{1, 2, 3}
	t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	const rounds = 4
	var firstReads int64
	for round := range rounds {
		for _, id := range ids {
			s.RecordDelivery(id, delivered(t0.Add(time.Duration(round)*time.Second), fmt.Sprintf("r%d", round)))
		}
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if got := len(mustDeliveries(t, s, id)); got != round+1 {
				t.Fatalf("round %d: trigger %d lists %d deliveries, want %d", round, id, got, round+1)
			}
		}
		if round == 0 {
			firstReads = storage.loads.Load()
		}
	}
	if firstReads == 0 {
		t.Fatal("the first flush read none of this instance's deliveries records")
	}
	if more := storage.loads.Load() - firstReads; more != 0 {
		t.Errorf("%d reads of this instance's deliveries records in %d flushes and reads after the first, want none", more, rounds-1)
	}
	want := []string{"r3", "r2", "r1", "r0"}
	for _, id := range ids {
		if got := outcomes(storedDeliveries(t, files, id, "instance-a")); !slices.Equal(got, want) {
			t.Errorf("trigger %d: storage holds %v, want %v", id, got, want)
		}
	}
}

// The records kept are bounded in bytes; one dropped is read back from
// storage when its trigger is next flushed, and no delivery is lost or
// written twice.
func TestOwnDeliveryRecordsBounded(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	const triggers, rounds = 40, 3
	tests := []struct {
		name  string
		limit int // of the records kept; 0: maxOwnDeliveryBytes
		// wantReads is how many reads of this instance's records the
		// flushes after the first make.
		wantReads func(reads int64) bool
	}{
		{"all kept", 0, func(reads int64) bool { return reads == 0 }},
		// The same few each flush: dropping the least recently used, in
		// the flush's ID order, would read all of them again.
		{"a few kept", 6 * ownDeliveryOverhead * rounds, func(reads int64) bool { return reads > 0 && reads < (rounds-1)*triggers }},
		// Each alone over the bound: one kept at a time, the first of the
		// first flush, which every flush then finds.
		{"each alone over the bound", 1, func(reads int64) bool { return reads == (rounds-1)*(triggers-1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := &certmagic.FileStorage{Path: t.TempDir()}
			storage := &loadCountingStorage{Storage: files, prefix: deliveriesRoot + "/"}
			s := newTestStore(t, storage, Config{})
			s.keptDeliveries.limit = tt.limit
			var firstReads int64
			for round := range rounds {
				for id := int64(1); id <= triggers; id++ {
					s.RecordDelivery(id, delivered(t0.Add(time.Duration(round)*time.Second), fmt.Sprintf("r%d", round)))
				}
				if err := s.Flush(ctx); err != nil {
					t.Fatal(err)
				}
				if round == 0 {
					firstReads = storage.loads.Load()
				}
				if kept := s.keptDeliveries.len(); tt.limit > 0 && (kept == triggers || s.keptDeliveries.size > max(tt.limit, s.keptDeliveries.newest.size)) {
					t.Fatalf("round %d: %d records of %d bytes kept, bound %d", round, kept, s.keptDeliveries.size, tt.limit)
				}
			}
			if reads := storage.loads.Load() - firstReads; !tt.wantReads(reads) {
				t.Errorf("%d reads of this instance's records after the first flush", reads)
			}
			want := []string{"r2", "r1", "r0"}
			for id := int64(1); id <= triggers; id++ {
				if got := outcomes(storedDeliveries(t, files, id, "instance-a")); !slices.Equal(got, want) {
					t.Fatalf("trigger %d: storage holds %v, want %v", id, got, want)
				}
				if got := outcomes(mustDeliveries(t, s, id)); !slices.Equal(got, want) {
					t.Fatalf("trigger %d: listed %v, want %v", id, got, want)
				}
			}
		})
	}
}

// A write reported failed may have reached storage or not; either way,
// whether the record stayed in memory or was dropped meanwhile, the next
// write holds each delivery once, and reads list each once in between.
func TestOwnDeliveriesOnceAfterAFailedWrite(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		landed  bool // whether the failed write reached storage
		dropped bool // whether the record was dropped from memory after it
	}{
		{"landed, kept", true, false},
		{"landed, dropped", true, true},
		{"lost, kept", false, false},
		{"lost, dropped", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := &certmagic.FileStorage{Path: t.TempDir()}
			landed := &landedStorage{Storage: files, prefix: deliveriesDir(1)}
			faulty := &faultyStorage{Storage: landed, fail: map[string]string{}}
			s := newTestStore(t, faulty, Config{})
			record := func(outcome string, at int) {
				s.RecordDelivery(1, delivered(t0.Add(time.Duration(at)*time.Second), outcome))
			}
			record("a", 0)
			if err := s.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			record("b", 1)
			record("c", 2)
			if tt.landed {
				landed.armed.Store(true)
			} else {
				faulty.failOn("store", deliveriesDir(1))
			}
			if err := s.Flush(ctx); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Flush = %v, want ErrUnavailable", err)
			}
			landed.armed.Store(false)
			faulty.heal()
			wantStored := []string{"a"}
			if tt.landed {
				wantStored = []string{"c", "b", "a"}
			}
			if got := outcomes(storedDeliveries(t, files, 1, "instance-a")); !slices.Equal(got, wantStored) {
				t.Fatalf("storage holds %v after the failed write, want %v: the test's storage did not do as told", got, wantStored)
			}
			if tt.dropped {
				s.keptDeliveries.limit = 1
				// A flush's round since, without trigger 1: a record the
				// round under way used is never dropped for another.
				s.keptDeliveries.beginRound()
				mustDeliveries(t, s, 2) // trigger 2's record, read and kept alone
				if _, kept := s.keptDeliveries.get(1); kept {
					t.Fatal("trigger 1's record is still kept")
				}
			}
			if got, want := outcomes(mustDeliveries(t, s, 1)), []string{"c", "b", "a"}; !slices.Equal(got, want) {
				t.Fatalf("listed %v before the next write, want %v", got, want)
			}
			record("d", 3)
			if err := s.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			want := []string{"d", "c", "b", "a"}
			if got := outcomes(storedDeliveries(t, files, 1, "instance-a")); !slices.Equal(got, want) {
				t.Fatalf("storage holds %v after the next write, want %v", got, want)
			}
			if got := outcomes(mustDeliveries(t, s, 1)); !slices.Equal(got, want) {
				t.Fatalf("listed %v after the next write, want %v", got, want)
			}
			// A new store (a restart) reads storage alone.
			if got := outcomes(mustDeliveries(t, newTestStore(t, files, Config{InstanceID: "instance-b"}), 1)); !slices.Equal(got, want) {
				t.Fatalf("another instance lists %v, want %v", got, want)
			}
		})
	}
}

// Two stores started from one instance ID, the first paused (or cut off)
// long enough for the second to take its name and write deliveries under
// it: the first's record kept in memory is the old name holder's, so it
// is forgotten, and no delivery either records is lost.
func TestOwnDeliveryRecordsForgottenWithTheName(t *testing.T) {
	// The first store's first flush must come within stale/2 of its start
	// (its lease): 50ms is too tight on a loaded machine.
	const stale = time.Second
	t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		// between runs once the second store has flushed its delivery.
		between func(t *testing.T, first, second *Store)
	}{
		{"the first flushes before its heartbeat notices", func(t *testing.T, first, second *Store) {}},
		{"the second closes and the first takes its name back", func(t *testing.T, first, second *Store) {
			if err := second.Close(); err != nil {
				t.Fatal(err)
			}
			first.heartbeat(context.Background())
			if got := first.InstanceID(); got != "node" {
				t.Fatalf("the first store writes as %q after the second closed, want node", got)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			files := &certmagic.FileStorage{Path: t.TempDir()}
			storage := &loadCountingStorage{Storage: files, prefix: deliveriesRoot + "/"}
			// The first never renews its name by itself (its heartbeat is an
			// hour away): paused, as far as the second can tell.
			first := newTestStore(t, storage, Config{InstanceID: "node", staleAfter: stale, heartbeatEvery: time.Hour})
			first.RecordDelivery(1, delivered(t0, "first-1"))
			if err := first.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if _, kept := first.keptDeliveries.get(1); !kept {
				t.Fatal("the first store keeps no record of trigger 1 after writing it")
			}
			time.Sleep(2 * stale)
			second := newTestStore(t, files, Config{InstanceID: "node", staleAfter: stale, heartbeatEvery: time.Hour})
			if got := second.InstanceID(); got != "node" {
				t.Fatalf("the second store writes as %q, want node (the first's, stale)", got)
			}
			second.RecordDelivery(1, delivered(t0.Add(time.Second), "second"))
			if err := second.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			tt.between(t, first, second)

			reads := storage.loads.Load()
			first.RecordDelivery(1, delivered(t0.Add(2*time.Second), "first-2"))
			if err := first.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if storage.loads.Load() == reads {
				t.Error("the first store's flush under its new name did not read its record from storage")
			}
			want := []string{"first-2", "second", "first-1"}
			if got := outcomes(mustDeliveries(t, first, 1)); !slices.Equal(got, want) {
				t.Fatalf("listed %v, want %v", got, want)
			}
			if got := outcomes(mustDeliveries(t, newTestStore(t, files, Config{InstanceID: "reader"}), 1)); !slices.Equal(got, want) {
				t.Fatalf("another instance lists %v, want %v", got, want)
			}
		})
	}
}

// Flushes, deliveries recorded and reads of more triggers than are kept,
// at once, with some writes failing: the records dropped and read back
// hold every delivery once (and -race finds no unguarded access to a
// record another trigger's flush drops).
func TestOwnDeliveryRecordsUnderConcurrentFlushesAndReads(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	files := &certmagic.FileStorage{Path: t.TempDir()}
	// While the deliveries are recorded, trigger 7's writes fail but
	// reach storage, and trigger 8's fail.
	landed := &landedStorage{Storage: files, prefix: deliveriesDir(7)}
	landed.armed.Store(true)
	faulty := &faultyStorage{Storage: landed, fail: map[string]string{"store": deliveriesDir(8) + "/"}}
	s := newTestStore(t, faulty, Config{})
	s.keptDeliveries.limit = 8 * (ownDeliveryOverhead + 600) // a few records of a few deliveries
	const triggers, perTrigger, writers = 30, 12, 3
	stop := make(chan struct{})
	var background sync.WaitGroup
	for range 2 { // readers
		background.Add(1)
		go func() {
			defer background.Done()
			for id := int64(1); ; id = id%triggers + 1 {
				select {
				case <-stop:
					return
				default:
				}
				if list, err := s.Deliveries(ctx, id); err != nil {
					t.Error(err)
					return
				} else if len(list) > perTrigger {
					t.Errorf("trigger %d: %d deliveries listed, more than recorded", id, len(list))
					return
				}
			}
		}()
	}
	background.Add(1)
	go func() { // flushes
		defer background.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = s.Flush(ctx)
		}
	}()
	var recorders sync.WaitGroup
	for w := range writers {
		recorders.Add(1)
		go func() {
			defer recorders.Done()
			for k := w; k < perTrigger; k += writers {
				for id := int64(1); id <= triggers; id++ {
					s.RecordDelivery(id, delivered(t0.Add(time.Duration(k)*time.Second), fmt.Sprintf("d%d", k)))
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	recorders.Wait()
	close(stop)
	background.Wait()
	landed.armed.Store(false)
	faulty.heal()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var want []string
	for k := perTrigger - 1; k >= 0; k-- {
		want = append(want, fmt.Sprintf("d%d", k))
	}
	for id := int64(1); id <= triggers; id++ {
		if got := outcomes(storedDeliveries(t, files, id, "instance-a")); !slices.Equal(got, want) {
			t.Fatalf("trigger %d: storage holds %v, want %v", id, got, want)
		}
		if got := outcomes(mustDeliveries(t, s, id)); !slices.Equal(got, want) {
			t.Fatalf("trigger %d: listed %v, want %v", id, got, want)
		}
	}
	if got := s.DroppedDeliveries(); got != 0 {
		t.Fatalf("%d deliveries dropped", got)
	}
}

// The records used longest ago are dropped first, down to the bound.
func TestOwnDeliveryRecordsDropLeastRecentlyUsed(t *testing.T) {
	type step struct {
		round     bool  // a flush begins first
		keep, get int64 // one of them
		wantKept  []int64
	}
	tests := []struct {
		name  string
		limit int
		steps []step
	}{
		{"three fit", 3 * ownDeliveryOverhead, []step{
			{keep: 1, wantKept: []int64{1}},
			{keep: 2, wantKept: []int64{1, 2}},
			{keep: 3, wantKept: []int64{1, 2, 3}},
			{get: 1, wantKept: []int64{1, 2, 3}},
			{keep: 4, wantKept: []int64{1, 3, 4}},
			{keep: 3, wantKept: []int64{1, 3, 4}},
			{keep: 5, wantKept: []int64{3, 4, 5}},
			{get: 9, wantKept: []int64{3, 4, 5}},
			{keep: 6, wantKept: []int64{3, 5, 6}},
		}},
		// Within a flush, a record is not dropped for another: the new one
		// goes, so that the next flush, in the same order, finds the first.
		{"a flush drops none it used", 3 * ownDeliveryOverhead, []step{
			{round: true, keep: 1, wantKept: []int64{1}},
			{keep: 2, wantKept: []int64{1, 2}},
			{keep: 3, wantKept: []int64{1, 2, 3}},
			{keep: 4, wantKept: []int64{1, 2, 3}},
			{round: true, keep: 1, wantKept: []int64{1, 2, 3}},
			{keep: 5, wantKept: []int64{1, 3, 5}},
			{keep: 6, wantKept: []int64{1, 5, 6}},
			{keep: 7, wantKept: []int64{1, 5, 6}},
			{get: 7, wantKept: []int64{1, 5, 6}},
		}},
		{"one over the bound alone", 1, []step{
			{keep: 1, wantKept: []int64{1}},
			{keep: 2, wantKept: []int64{2}},
			{get: 2, wantKept: []int64{2}},
			{keep: 2, wantKept: []int64{2}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ownDeliveryRecords{limit: tt.limit}
			for i, st := range tt.steps {
				if st.round {
					r.beginRound()
				}
				if st.keep != 0 {
					r.keep(st.keep, nil)
				} else if _, ok := r.get(st.get); ok != slices.Contains(tt.steps[max(i-1, 0)].wantKept, st.get) {
					t.Fatalf("step %d: get(%d) found %v", i, st.get, ok)
				}
				var kept []int64
				for rec := r.newest; rec != nil; rec = rec.older {
					kept = append(kept, rec.trigger)
					if rec.older != nil && rec.older.newer != rec || rec.older == nil && r.oldest != rec {
						t.Fatalf("step %d: the list is broken at %d", i, rec.trigger)
					}
				}
				slices.Sort(kept)
				if !slices.Equal(kept, st.wantKept) || r.len() != len(kept) || r.size != len(kept)*ownDeliveryOverhead {
					t.Fatalf("step %d: kept %v (%d in the map, %d bytes), want %v", i, kept, r.len(), r.size, st.wantKept)
				}
			}
			r.clear()
			if r.len() != 0 || r.size != 0 || r.newest != nil || r.oldest != nil {
				t.Fatal("clear left records")
			}
		})
	}
}

// A kept record holds memory of its own, sized to it: a delivery as
// recorded may cut its ref and names from a copy of the caller's body
// (the token, the variables' values) and its web_url from the CI's
// answer, and a burst of uses must not leave the kept slice as long as
// the burst.
func TestKeptDeliveryRecordOwnsItsMemory(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, &certmagic.FileStorage{Path: t.TempDir()}, Config{})
	body := `{"token":"glptt-0123456789abcdef0123456789abcdef01234567","ref":"main","variables":{"DEPLOY":"secret value"}}`
	answer := `{"id":7,"web_url":"https://ci.example/p/7","status":"created"}`
	inside := func(s, whole string) bool {
		if len(s) == 0 {
			return false
		}
		p, start := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.StringData(whole)))
		return p >= start && p < start+uintptr(len(whole))
	}
	at := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	const burst = 500
	for i := range burst {
		id := int64(7)
		s.RecordDelivery(1, Delivery{Time: at.Add(time.Duration(i) * time.Millisecond), Source: "trigger",
			Ref: body[strings.Index(body, "main"):][:4], Variables: []string{body[strings.Index(body, "DEPLOY"):][:6]},
			Outcome: "accepted", Status: 201, PipelineID: &id, WebURL: answer[strings.Index(answer, "https"):][:22]})
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	kept, ok := s.keptDeliveries.get(1)
	if !ok || len(kept) != MaxDeliveries {
		t.Fatalf("kept %d deliveries (%v), want %d", len(kept), ok, MaxDeliveries)
	}
	if cap(kept) >= 2*MaxDeliveries {
		t.Errorf("the kept slice has room for %d deliveries, for %d", cap(kept), len(kept))
	}
	for i, d := range kept {
		if d.Ref != "main" || d.WebURL != "https://ci.example/p/7" || !slices.Equal(d.Variables, []string{"DEPLOY"}) {
			t.Fatalf("delivery %d: %+v", i, d)
		}
		if inside(d.Ref, body) || inside(d.Variables[0], body) || inside(d.WebURL, answer) {
			t.Fatalf("delivery %d still points into the request's body or the CI's answer", i)
		}
	}
}
