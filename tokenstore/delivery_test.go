package tokenstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/triggergate/caddy-trigger-gateway/internal/allocstest"
)

// delivered builds a delivery at c's time plus offset.
func delivered(at time.Time, outcome string, vars ...string) Delivery {
	return Delivery{Time: at, Source: "trigger", Ref: "main", Variables: vars, Outcome: outcome}
}

// outcomes lists the deliveries' outcomes, in order.
func outcomes(list []Delivery) []string {
	out := make([]string, len(list))
	for i, d := range list {
		out[i] = d.Outcome
	}
	return out
}

func mustDeliveries(t *testing.T, s *Store, id int64) []Delivery {
	t.Helper()
	list, err := s.Deliveries(context.Background(), id)
	if err != nil {
		t.Fatalf("Deliveries(%d): %v", id, err)
	}
	return list
}

func TestDeliveriesNewestFirstAndBounded(t *testing.T) {
	base := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		n        int             // deliveries recorded, one second apart
		flushAt  []int           // flush after these many
		reversed bool            // record them newest first
		want     func() []string // outcomes expected
	}{
		{name: "none", n: 0, want: func() []string { return []string{} }},
		{name: "a few, unflushed", n: 3, want: func() []string { return []string{"d2", "d1", "d0"} }},
		{name: "a few, flushed", n: 3, flushAt: []int{3}, want: func() []string { return []string{"d2", "d1", "d0"} }},
		{name: "recorded out of order", n: 3, reversed: true, flushAt: []int{2}, want: func() []string { return []string{"d2", "d1", "d0"} }},
		{name: "25 kept as 20, across flushes", n: 25, flushAt: []int{5, 17, 25}, want: func() []string {
			var out []string
			for i := 24; i >= 5; i-- {
				out = append(out, fmt.Sprintf("d%d", i))
			}
			return out
		}},
		{name: "25, half unflushed", n: 25, flushAt: []int{12}, want: func() []string {
			var out []string
			for i := 24; i >= 5; i-- {
				out = append(out, fmt.Sprintf("d%d", i))
			}
			return out
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestStore(t, newFaultyStorage(t), Config{})
			for i := 0; i < tt.n; i++ {
				k := i
				if tt.reversed {
					k = tt.n - 1 - i
				}
				s.RecordDelivery(7, delivered(base.Add(time.Duration(k)*time.Second), fmt.Sprintf("d%d", k)))
				if slices.Contains(tt.flushAt, i+1) {
					if err := s.Flush(context.Background()); err != nil {
						t.Fatal(err)
					}
				}
			}
			got := outcomes(mustDeliveries(t, s, 7))
			if want := tt.want(); !slices.Equal(got, want) {
				t.Fatalf("outcomes = %v, want %v", got, want)
			}
			if other := mustDeliveries(t, s, 8); len(other) != 0 {
				t.Fatalf("another trigger has %d deliveries", len(other))
			}
		})
	}
}

func TestDeliveryRecordKeepsNamesNeverValues(t *testing.T) {
	storage := newFaultyStorage(t)
	dir := storage.Storage.(*certmagic.FileStorage).Path
	s := newTestStore(t, storage, Config{})
	const secret = "s3cr3t-value-never-stored"
	vars := map[string]string{"DEPLOY_ENV": secret, "API_KEY": secret}
	names := make([]string, 0, len(vars))
	for name := range vars {
		names = append(names, name)
	}
	s.RecordDelivery(3, delivered(time.Now(), "accepted", names...))
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	list := mustDeliveries(t, s, 3)
	if len(list) != 1 || !slices.Equal(list[0].Variables, []string{"API_KEY", "DEPLOY_ENV"}) {
		t.Fatalf("deliveries = %+v, want one with the sorted names", list)
	}
	answer, _ := json.Marshal(list)
	if bytes.Contains(answer, []byte(secret)) {
		t.Fatalf("the answer holds a variable value: %s", answer)
	}
	found := false
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(data, []byte(secret)) {
			t.Errorf("%s holds a variable value", p)
		}
		if strings.Contains(filepath.ToSlash(p), "trigger_gateway/deliveries/3/") {
			found = bytes.Contains(data, []byte("DEPLOY_ENV"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatal("no deliveries record under trigger_gateway/deliveries/3/ names the variable")
	}
}

func TestDeliveryBounds(t *testing.T) {
	s := newTestStore(t, newFaultyStorage(t), Config{})
	many := make([]string, MaxDeliveryVariables+10)
	for i := range many {
		many[i] = fmt.Sprintf("V%03d", len(many)-i)
	}
	long := strings.Repeat("é", maxDeliveryText) // two bytes each
	s.RecordDelivery(1, Delivery{Source: "trigger", Ref: long, Outcome: "accepted", Variables: many})
	s.RecordDelivery(2, Delivery{Source: "trigger", Outcome: "accepted"})
	s.RecordDelivery(0, Delivery{Source: "trigger", Outcome: "accepted"}) // no trigger: nothing
	got := mustDeliveries(t, s, 1)[0]
	if len(got.Variables) != MaxDeliveryVariables || got.Variables[0] != "V001" {
		t.Fatalf("variables = %d from %q, want %d from V001", len(got.Variables), got.Variables[0], MaxDeliveryVariables)
	}
	if len(got.Ref) > maxDeliveryText || !strings.HasPrefix(long, got.Ref) || !strings.HasSuffix(got.Ref, "é") {
		t.Fatalf("ref cut to %d bytes, not at a character boundary or too long", len(got.Ref))
	}
	if got.Time.IsZero() {
		t.Fatal("a zero time was not dated")
	}
	empty := mustDeliveries(t, s, 2)[0]
	if data, _ := json.Marshal(empty); !bytes.Contains(data, []byte(`"variables":[]`)) || !bytes.Contains(data, []byte(`"pipeline_id":null`)) {
		t.Fatalf("a delivery without variables or pipeline encodes as %s", data)
	}
}

func TestPendingDeliveriesBounded(t *testing.T) {
	storage := newFaultyStorage(t)
	obs := &droppingObserver{}
	s := newTestStore(t, storage, Config{Observer: obs})
	s.pendingDeliveries.limit = 30
	base := time.Now()
	for i := range 45 {
		s.RecordDelivery(int64(1+i%3), delivered(base.Add(time.Duration(i)*time.Second), fmt.Sprintf("d%d", i)))
	}
	if got := s.DroppedDeliveries(); got != 15 {
		t.Fatalf("DroppedDeliveries = %d, want 15", got)
	}
	// The oldest were dropped: trigger 1 keeps d15, d18, ... d42.
	got := outcomes(mustDeliveries(t, s, 1))
	if want := []string{"d42", "d39", "d36", "d33", "d30", "d27", "d24", "d21", "d18", "d15"}; !slices.Equal(got, want) {
		t.Fatalf("trigger 1 = %v, want %v", got, want)
	}

	// A failed flush puts them back, in front of what comes after.
	storage.failOn("store", deliveriesRoot)
	if err := s.Flush(context.Background()); err == nil {
		t.Fatal("Flush succeeded with storage failing")
	}
	if obs.dropped.Load() != 15 {
		t.Fatalf("observer told of %d drops, want 15", obs.dropped.Load())
	}
	s.RecordDelivery(1, delivered(base.Add(time.Hour), "later"))
	storage.heal()
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.pendingDeliveries.n != 0 || len(s.flushingDeliveries) != 0 {
		t.Fatalf("after a flush, %d pending and %d flushing", s.pendingDeliveries.n, len(s.flushingDeliveries))
	}
	got = outcomes(mustDeliveries(t, s, 1))
	if want := []string{"later", "d42", "d39", "d36", "d33", "d30", "d27", "d24", "d21", "d18", "d15"}; !slices.Equal(got, want) {
		t.Fatalf("trigger 1 after the retry = %v, want %v", got, want)
	}
}

type droppingObserver struct {
	nopObserver
	dropped atomic.Int64
}

func (o *droppingObserver) DeliveriesDropped(n int64) { o.dropped.Add(n) }

func TestDeliveryQueue(t *testing.T) {
	q := deliveryQueue{limit: 4}
	push := func(ids ...int64) (dropped int) {
		for _, id := range ids {
			if q.push(pendingDelivery{trigger: id}) {
				dropped++
			}
		}
		return dropped
	}
	triggers := func(list []pendingDelivery) []int64 {
		out := make([]int64, len(list))
		for i, p := range list {
			out[i] = p.trigger
		}
		return out
	}
	if d := push(1, 2, 3); d != 0 {
		t.Fatalf("dropped %d below the bound", d)
	}
	if d := push(4, 5, 6); d != 2 {
		t.Fatalf("dropped %d, want 2", d)
	}
	if q.pushFront(pendingDelivery{trigger: 9}) != true {
		t.Fatal("pushFront at the bound kept the older delivery")
	}
	if got := triggers(q.drain()); !slices.Equal(got, []int64{3, 4, 5, 6}) {
		t.Fatalf("drain = %v", got)
	}
	push(7)
	q.pushFront(pendingDelivery{trigger: 8})
	if got := triggers(q.drain()); !slices.Equal(got, []int64{8, 7}) {
		t.Fatalf("drain after pushFront = %v", got)
	}
	if len(q.drain()) != 0 {
		t.Fatal("a drained queue is not empty")
	}
}

func TestDeliveriesFlushedOnClose(t *testing.T) {
	storage := newFaultyStorage(t)
	s := newTestStore(t, storage, Config{})
	s.RecordDelivery(5, delivered(time.Now(), "accepted"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	again := newTestStore(t, storage, Config{})
	if got := outcomes(mustDeliveries(t, again, 5)); !slices.Equal(got, []string{"accepted"}) {
		t.Fatalf("after a restart: %v", got)
	}
}

func TestDeliveriesTwoInstancesMerge(t *testing.T) {
	storage := newFaultyStorage(t)
	a := newTestStore(t, storage, Config{InstanceID: "instance-a"})
	b := newTestStore(t, storage, Config{InstanceID: "instance-b"})
	base := time.Now().UTC()
	for i := range 30 {
		s := a
		if i%3 == 0 {
			s = b
		}
		s.RecordDelivery(4, delivered(base.Add(time.Duration(i)*time.Second), fmt.Sprintf("d%d", i)))
	}
	var want []string
	for i := 29; i >= 10; i-- {
		want = append(want, fmt.Sprintf("d%d", i))
	}
	// b flushed, a not yet: a sees its own pending and b's record; b sees
	// only its own until a flushes.
	if err := b.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := outcomes(mustDeliveries(t, a, 4)); !slices.Equal(got, want) {
		t.Fatalf("a sees %v, want %v", got, want)
	}
	if err := a.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*Store{"a": a, "b": b} {
		if got := outcomes(mustDeliveries(t, s, 4)); !slices.Equal(got, want) {
			t.Fatalf("%s sees %v, want %v", name, got, want)
		}
	}
	// Each instance's record holds at most MaxDeliveries.
	keys, err := storage.List(context.Background(), deliveriesDir(4), false)
	if err != nil || len(keys) != 2 {
		t.Fatalf("records = %v, %v; want one per instance", keys, err)
	}
	rec, err := a.loadDeliveries(context.Background(), "instance-a", 4)
	if err != nil || len(rec.Deliveries) != MaxDeliveries {
		t.Fatalf("instance-a's record holds %d deliveries (%v), want %d", len(rec.Deliveries), err, MaxDeliveries)
	}
}

func TestDeliveriesReadDuringFlush(t *testing.T) {
	// A reader never misses deliveries a flush has taken but not written:
	// trigger 6 is read while the flush writes trigger 5 (IDs in order).
	storage := newFaultyStorage(t)
	s := newTestStore(t, storage, Config{})
	for i := range 3 {
		s.RecordDelivery(6, delivered(time.Now().Add(time.Duration(i)*time.Second), fmt.Sprintf("d%d", i)))
		s.RecordDelivery(5, delivered(time.Now(), "other"))
	}
	var once sync.Once
	var during []string
	var duringErr error
	storage.onLoad(func(key string) {
		if key == deliveriesKey(5, "instance-a") {
			once.Do(func() {
				list, err := s.Deliveries(context.Background(), 6)
				during, duringErr = outcomes(list), err
			})
		}
	})
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if duringErr != nil || !slices.Equal(during, []string{"d2", "d1", "d0"}) {
		t.Fatalf("a read during the flush saw %v (%v)", during, duringErr)
	}
	if got := outcomes(mustDeliveries(t, s, 6)); !slices.Equal(got, []string{"d2", "d1", "d0"}) {
		t.Fatalf("after the flush: %v", got)
	}
}

func TestDeliveriesStorageErrors(t *testing.T) {
	storage := newFaultyStorage(t)
	s := newTestStore(t, storage, Config{})
	s.RecordDelivery(2, delivered(time.Now(), "accepted"))
	storage.failOn("list", deliveriesRoot)
	if _, err := s.Deliveries(context.Background(), 2); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Deliveries with listing failing = %v, want ErrUnavailable", err)
	}
	storage.heal()
	storage.failOn("load", deliveriesRoot)
	if err := s.Flush(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Flush with loads failing = %v, want ErrUnavailable", err)
	}
	storage.heal()
	if got := outcomes(mustDeliveries(t, s, 2)); !slices.Equal(got, []string{"accepted"}) {
		t.Fatalf("after a failed flush: %v", got)
	}
}

func TestDeliveriesIgnoreForeignValues(t *testing.T) {
	storage := newFaultyStorage(t)
	s := newTestStore(t, storage, Config{})
	ctx := context.Background()
	for key, value := range map[string]string{
		deliveriesKey(9, "other"):      `not json`,
		deliveriesKey(9, "mislabeled"): `{"instance":"someone","trigger":9,"deliveries":[{"outcome":"x"}]}`,
		deliveriesKey(9, "wrong-id"):   `{"instance":"wrong-id","trigger":8,"deliveries":[{"outcome":"x"}]}`,
	} {
		if err := storage.Store(ctx, key, []byte(value)); err != nil {
			t.Fatal(err)
		}
	}
	s.RecordDelivery(9, delivered(time.Now(), "accepted"))
	if got := outcomes(mustDeliveries(t, s, 9)); !slices.Equal(got, []string{"accepted"}) {
		t.Fatalf("deliveries = %v", got)
	}
}

func TestRecordDeliveryDoesNotAllocate(t *testing.T) {
	s := newTestStore(t, newFaultyStorage(t), Config{})
	s.pendingDeliveries.limit = 64
	vars := []string{"B", "A"}
	id := int64(12)
	d := Delivery{Time: time.Now(), Source: "trigger", Ref: "main", Outcome: "accepted", Variables: vars, PipelineID: &id}
	for range 64 { // the queue reaches its bound once
		s.RecordDelivery(1, d)
	}
	if n := allocstest.Fewest(3, 100, func() { s.RecordDelivery(1, d) }); n != 0 {
		t.Fatalf("RecordDelivery allocates %.1f times", n)
	}
}

// One use in two instances' records (a write under a suffixed name that
// failed but landed, written again under the store's own name) is listed
// once; two uses that differ in anything, even at the same time, twice.
func TestDeliveriesInTwoRecordsListedOnce(t *testing.T) {
	storage := newFaultyStorage(t)
	s := newTestStore(t, storage, Config{InstanceID: "instance-a"})
	ctx := context.Background()
	at := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	twice := delivered(at, "accepted")
	sameTime := delivered(at, "ref_not_allowed")
	older := delivered(at.Add(-time.Second), "accepted")
	s.RecordDelivery(7, twice)
	s.RecordDelivery(7, sameTime)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	suffixed := deliveryRecord{Instance: "instance-a-2", Trigger: 7, Deliveries: []Delivery{twice, older}}
	data, err := json.Marshal(suffixed)
	if err != nil {
		t.Fatal(err)
	}
	if err := storage.Store(ctx, deliveriesKey(7, "instance-a-2"), data); err != nil {
		t.Fatal(err)
	}
	got := outcomes(mustDeliveries(t, s, 7))
	if want := []string{"ref_not_allowed", "accepted", "accepted"}; !slices.Equal(got, want) {
		t.Fatalf("deliveries = %v, want %v", got, want)
	}
}
