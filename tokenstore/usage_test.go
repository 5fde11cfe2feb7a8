package tokenstore

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// storedUsage reads an instance's usage entry of a trigger straight from
// storage.
func storedUsage(t *testing.T, storage certmagic.Storage, id int64, instance string) (usageEntry, bool) {
	t.Helper()
	data, err := storage.Load(context.Background(), usageShardKey(instance, usageShard(id)))
	if isNotExist(err) {
		return usageEntry{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	var rec usageShardRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatalf("usage record %s: %v", data, err)
	}
	if rec.Instance != instance || rec.Shard != usageShard(id) {
		t.Fatalf("usage record of %q, shard %d, stored as instance %q, shard %d", rec.Instance, rec.Shard, instance, usageShard(id))
	}
	entry, ok := rec.Triggers[strconv.FormatInt(id, 10)]
	return entry, ok
}

// authenticate looks a token up or fails the test.
func authenticate(t *testing.T, s *Store, token string) *Credential {
	t.Helper()
	cred, err := s.Authenticate(context.Background(), token)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	return cred
}

// wantUsage checks a trigger's usage as Get reports it.
func wantUsage(t *testing.T, s *Store, id, count int64, last time.Time) {
	t.Helper()
	_, u, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get(%d): %v", id, err)
	}
	if u.UseCount != count {
		t.Errorf("use count = %d, want %d", u.UseCount, count)
	}
	switch {
	case last.IsZero() && u.LastUsed != nil:
		t.Errorf("last used = %v, want never", u.LastUsed)
	case !last.IsZero() && (u.LastUsed == nil || !u.LastUsed.Equal(last)):
		t.Errorf("last used = %v, want %v", u.LastUsed, last)
	}
}

func TestUsagePersistsAcrossRestart(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

	s, err := New(Config{Storage: storage, InstanceID: "a", FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	tr, token := mustCreate(t, s, CreateRequest{Project: "9", Description: "d"})
	cred := authenticate(t, s, token)
	// Out of order: last_used is the latest, not the last recorded.
	for _, at := range []time.Time{t0, t0.Add(2 * time.Second), t0.Add(time.Second)} {
		cred.RecordUse(at)
	}
	wantUsage(t, s, tr.ID, 3, t0.Add(2*time.Second)) // pending only
	if _, ok := storedUsage(t, storage, tr.ID, "a"); ok {
		t.Fatal("usage written before a flush")
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if rec, ok := storedUsage(t, storage, tr.ID, "a"); !ok || rec.UseCount != 3 || !rec.LastUsed.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("after flush: %+v %v", rec, ok)
	}
	cred.RecordUse(t0.Add(3 * time.Second))
	cred.RecordUse(t0.Add(4 * time.Second))
	wantUsage(t, s, tr.ID, 5, t0.Add(4*time.Second)) // flushed + pending
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if rec, _ := storedUsage(t, storage, tr.ID, "a"); rec.UseCount != 5 {
		t.Fatalf("Close did not flush: %+v", rec)
	}

	// Restart: the same instance continues from its stored total.
	s2 := newTestStore(t, storage, Config{InstanceID: "a"})
	wantUsage(t, s2, tr.ID, 5, t0.Add(4*time.Second))
	authenticate(t, s2, token).RecordUse(t0.Add(5 * time.Second))
	if err := s2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if rec, _ := storedUsage(t, storage, tr.ID, "a"); rec.UseCount != 6 {
		t.Fatalf("after restart and flush: %+v", rec)
	}
	// Another instance reads the same.
	wantUsage(t, newTestStore(t, storage, Config{InstanceID: "b"}), tr.ID, 6, t0.Add(5*time.Second))
}

func TestUsageTwoInstancesSumExactly(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	a := newTestStore(t, storage, Config{InstanceID: "a"})
	b := newTestStore(t, storage, Config{InstanceID: "b/with slash"})
	tr, token := mustCreate(t, a, CreateRequest{Project: "9", Description: "d"})
	stores := []*Store{a, b}
	creds := []*Credential{authenticate(t, a, token), authenticate(t, b, token)}

	const workers, uses = 8, 500
	t0 := time.Now().UTC()
	var users, flushers sync.WaitGroup
	done := make(chan struct{})
	for _, s := range stores {
		flushers.Add(1)
		go func() {
			defer flushers.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if err := s.Flush(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for w := range workers {
		users.Add(1)
		go func() {
			defer users.Done()
			for i := range uses {
				creds[w%2].RecordUse(t0.Add(time.Duration(w*uses+i) * time.Millisecond))
			}
		}()
	}
	users.Wait()
	close(done)
	flushers.Wait()

	const total = workers * uses
	last := t0.Add(time.Duration(workers*uses-1) * time.Millisecond)
	// Once b has flushed, a sees everything: b's record plus its own
	// flushed and pending uses.
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	wantUsage(t, a, tr.ID, total, last)
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for i, instance := range []string{"a", "b/with slash"} {
		if rec, _ := storedUsage(t, storage, tr.ID, instance); rec.UseCount != total/2 {
			t.Errorf("instance %d stored %d uses, want %d", i, rec.UseCount, total/2)
		}
	}
	for _, s := range []*Store{a, b, newTestStore(t, storage, Config{InstanceID: "c"})} {
		wantUsage(t, s, tr.ID, total, last)
	}
	list, err := b.List(ctx, "9")
	if err != nil || len(list) != 1 || list[0].Usage.UseCount != total {
		t.Fatalf("List = %+v, %v", list, err)
	}
}

func TestUsageStoreErrorKeepsPending(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		op   string // storage operation that fails on usage keys
	}{
		{"store fails", "store"},
		{"loading own record fails", "load"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storage := newFaultyStorage(t)
			obs := &countingObserver{}
			s := newTestStore(t, storage, Config{Observer: obs})
			tr, token := mustCreate(t, s, CreateRequest{Project: "9", Description: "d"})
			cred := authenticate(t, s, token)
			for i := range 3 {
				cred.RecordUse(t0.Add(time.Duration(i) * time.Second))
			}

			storage.failOn(tt.op, usageRoot)
			if err := s.Flush(ctx); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Flush = %v, want ErrUnavailable", err)
			}
			if got := obs.storageErrors(tt.op); got != 1 {
				t.Fatalf("%s errors reported = %d, want 1", tt.op, got)
			}
			if got := cred.counter.pending.Load(); got != 3 {
				t.Fatalf("pending after failed flush = %d, want 3", got)
			}
			storage.heal()
			cred.RecordUse(t0.Add(time.Minute))
			if err := s.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if rec, ok := storedUsage(t, storage, tr.ID, "instance-a"); !ok || rec.UseCount != 4 || !rec.LastUsed.Equal(t0.Add(time.Minute)) {
				t.Fatalf("stored after heal = %+v", rec)
			}
			wantUsage(t, s, tr.ID, 4, t0.Add(time.Minute))
		})
	}
}

func TestCloseReportsFailedFinalFlush(t *testing.T) {
	storage := newFaultyStorage(t)
	s, err := New(Config{Storage: storage, InstanceID: "a", FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	_, token := mustCreate(t, s, CreateRequest{Project: "9", Description: "d"})
	authenticate(t, s, token).RecordUse(time.Now())
	storage.failOn("store", usageRoot)
	first := s.Close()
	if !errors.Is(first, ErrUnavailable) {
		t.Fatalf("Close = %v, want ErrUnavailable", first)
	}
	if second := s.Close(); second != first {
		t.Fatalf("second Close = %v, want the first result %v", second, first)
	}
}

func TestCounterSurvivesCacheEviction(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	s := newTestStore(t, storage, Config{CacheSize: 1})
	trX, tokX := mustCreate(t, s, CreateRequest{Project: "9", Description: "x"})
	_, tokY := mustCreate(t, s, CreateRequest{Project: "9", Description: "y"})
	now := time.Now()

	x1 := authenticate(t, s, tokX)
	x1.RecordUse(now)
	authenticate(t, s, tokY) // evicts X
	x2 := authenticate(t, s, tokX)
	if x1 == x2 {
		t.Fatal("X was not evicted; the test needs a cache of one entry")
	}
	if x1.counter != x2.counter {
		t.Fatal("a credential rebuilt after eviction got a new counter")
	}
	x2.RecordUse(now)
	x1.RecordUse(now) // a request still holding the old credential
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if rec, _ := storedUsage(t, storage, trX.ID, "instance-a"); rec.UseCount != 3 {
		t.Fatalf("stored %d uses, want 3", rec.UseCount)
	}
}

func TestFlushLoopWritesByItself(t *testing.T) {
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	s := newTestStore(t, storage, Config{FlushInterval: 10 * time.Millisecond})
	tr, token := mustCreate(t, s, CreateRequest{Project: "9", Description: "d"})
	authenticate(t, s, token).RecordUse(time.Now())
	deadline := time.Now().Add(5 * time.Second)
	for {
		if rec, ok := storedUsage(t, storage, tr.ID, "instance-a"); ok && rec.UseCount == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the flush loop did not write usage")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRecordUseEdgeCases(t *testing.T) {
	var nilCred *Credential
	nilCred.RecordUse(time.Now()) // must not panic
	(&Credential{}).RecordUse(time.Now())

	s := newTestStore(t, &certmagic.FileStorage{Path: t.TempDir()}, Config{})
	tr, token := mustCreate(t, s, CreateRequest{Project: "9", Description: "d"})
	authenticate(t, s, token).RecordUse(time.Time{}) // counted, but no time
	wantUsage(t, s, tr.ID, 1, time.Time{})
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantUsage(t, newTestStore(t, s.storage, Config{InstanceID: "b"}), tr.ID, 1, time.Time{})
}

func TestUsageIgnoresForeignFilesInUsageDir(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	s := newTestStore(t, storage, Config{})
	tr, token := mustCreate(t, s, CreateRequest{Project: "9", Description: "d"})
	authenticate(t, s, token).RecordUse(time.Now())
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	shard := usageShard(tr.ID)
	own, err := storage.Load(ctx, usageShardKey("instance-a", shard))
	if err != nil {
		t.Fatal(err)
	}
	// What a storage's temporary files or a damaged write may look like: a
	// copy of a record under another name, a partial record, a stray file
	// among the instances' folders.
	for key, value := range map[string][]byte{
		usageShardKey("ghost", shard):   own,
		usageShardKey("partial", shard): []byte(`{"instance":"partial","sha`),
		usageRoot + "/.tmp-123456":      own,
	} {
		if err := storage.Store(ctx, key, value); err != nil {
			t.Fatal(err)
		}
	}
	wantUsage(t, newTestStore(t, storage, Config{InstanceID: "b"}), tr.ID, 1, *mustGetLastUsed(t, s, tr.ID))
}

func mustGetLastUsed(t *testing.T, s *Store, id int64) *time.Time {
	t.Helper()
	_, u, err := s.Get(context.Background(), id)
	if err != nil || u.LastUsed == nil {
		t.Fatalf("Get(%d) = %+v, %v", id, u, err)
	}
	return u.LastUsed
}

// Counters are bounded by the triggers used lately: one handed to no cache
// entry for longer than the cache TTL, with nothing to flush, is retired.
// No use is lost, whether it comes through a fresh lookup or through a
// credential a request still held when its counter was retired.
func TestIdleCountersRetire(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	clk := newClock()
	s := newTestStore(t, storage, Config{CacheTTL: time.Minute, Now: clk.Now})
	tr, tok := mustCreate(t, s, CreateRequest{Project: "9", Description: "x"})
	counters := func() int {
		s.countersMu.Lock()
		defer s.countersMu.Unlock()
		return len(s.counters)
	}

	held := authenticate(t, s, tok)
	held.RecordUse(clk.Now())
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if counters() != 1 {
		t.Fatalf("%d counters right after a use, want 1", counters())
	}

	// Within the cache TTL the counter stays, used or not.
	clk.Add(30 * time.Second)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if counters() != 1 {
		t.Fatalf("%d counters within the cache TTL, want 1", counters())
	}

	// Past it, with everything flushed, it is retired.
	clk.Add(2 * time.Minute)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if counters() != 0 {
		t.Fatalf("%d counters after the cache TTL, want 0", counters())
	}
	wantUsage(t, s, tr.ID, 1, clk.Now().Add(-150*time.Second))

	// A request that still held the old credential: its use is counted on
	// a new counter, which reads the stored total before adding to it.
	last := clk.Now()
	held.RecordUse(last)
	if counters() != 1 {
		t.Fatalf("%d counters after a late use, want 1", counters())
	}
	s.cache.purge()
	authenticate(t, s, tok).RecordUse(last)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if rec, _ := storedUsage(t, storage, tr.ID, "instance-a"); rec.UseCount != 3 {
		t.Fatalf("stored %d uses, want 3", rec.UseCount)
	}
	wantUsage(t, s, tr.ID, 3, last)
}

// A counter with uses not yet written is never retired, however old.
func TestDirtyCountersAreNotRetired(t *testing.T) {
	ctx := context.Background()
	storage := newFaultyStorage(t)
	clk := newClock()
	s := newTestStore(t, storage, Config{CacheTTL: time.Minute, Now: clk.Now})
	tr, tok := mustCreate(t, s, CreateRequest{Project: "9", Description: "x"})
	authenticate(t, s, tok).RecordUse(clk.Now())
	storage.failOn("store", usageRoot)
	clk.Add(time.Hour)
	if err := s.Flush(ctx); err == nil {
		t.Fatal("Flush succeeded with the usage writes failing")
	}
	s.retireIdleCounters(clk.Now())
	if s.existingCounter(tr.ID) == nil {
		t.Fatal("a counter with an unwritten use was retired")
	}
	storage.heal()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	wantUsage(t, s, tr.ID, 1, time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
}
