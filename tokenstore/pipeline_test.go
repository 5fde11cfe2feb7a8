package tokenstore

import (
	"context"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/triggergate/caddy-trigger-gateway/internal/allocstest"
)

// wantLastPipeline checks a trigger's last pipeline as Get reports it.
func wantLastPipeline(t *testing.T, s *Store, id int64, want *Pipeline) {
	t.Helper()
	_, u, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get(%d): %v", id, err)
	}
	got := u.LastPipeline
	switch {
	case want == nil && got != nil:
		t.Errorf("last pipeline = %+v, want none", *got)
	case want != nil && (got == nil || got.ID != want.ID || got.WebURL != want.WebURL || !got.TriggeredAt.Equal(want.TriggeredAt)):
		t.Errorf("last pipeline = %+v, want %+v", got, *want)
	}
}

func TestLastPipelineWrittenWithTheUsage(t *testing.T) {
	ctx := context.Background()
	storage := newFaultyStorage(t)
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	s := newTestStore(t, storage, Config{})
	tr, token := mustCreate(t, s, CreateRequest{Project: "9", Description: "d"})
	cred := authenticate(t, s, token)
	wantLastPipeline(t, s, tr.ID, nil)

	// Out of order: the last pipeline is the latest use's, not the last recorded.
	cred.RecordPipeline(t0.Add(2*time.Second), 12, "https://ci.example.com/12")
	cred.RecordPipeline(t0.Add(time.Second), 11, "https://ci.example.com/11")
	cred.RecordPipeline(t0, 0, "https://ci.example.com/0") // no pipeline: ignored
	want := &Pipeline{ID: 12, WebURL: "https://ci.example.com/12", TriggeredAt: t0.Add(2 * time.Second)}
	wantLastPipeline(t, s, tr.ID, want) // pending only
	if _, stored := storedUsage(t, storage, tr.ID, "instance-a"); stored {
		t.Fatal("the pipeline was written before the flush")
	}

	// A failed write keeps it for the next flush.
	storage.failOn("store", usageRoot)
	if err := s.Flush(ctx); err == nil {
		t.Fatal("Flush succeeded with the usage writes failing")
	}
	storage.heal()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	entry, _ := storedUsage(t, storage, tr.ID, "instance-a")
	if p := entry.LastPipeline; p == nil || p.ID != 12 || p.WebURL != want.WebURL || !p.TriggeredAt.Equal(want.TriggeredAt) {
		t.Fatalf("stored last pipeline = %+v, want %+v", p, *want)
	}
	if s.existingCounter(tr.ID).dirty() {
		t.Fatal("counter still dirty after the flush")
	}

	// A new store reads it back from storage alone.
	wantLastPipeline(t, newTestStore(t, storage, Config{InstanceID: "b"}), tr.ID, want)
}

// In a cluster, the pipeline of the latest use wins, whichever instance saw it.
func TestLastPipelineLatestAcrossInstances(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	a := newTestStore(t, storage, Config{InstanceID: "a"})
	b := newTestStore(t, storage, Config{InstanceID: "b"})
	tr, token := mustCreate(t, a, CreateRequest{Project: "9", Description: "d"})
	credA, credB := authenticate(t, a, token), authenticate(t, b, token)

	credA.RecordPipeline(t0.Add(time.Minute), 2, "https://ci.example.com/2")
	credB.RecordPipeline(t0, 1, "https://ci.example.com/1")
	for _, s := range []*Store{a, b} {
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	latest := &Pipeline{ID: 2, WebURL: "https://ci.example.com/2", TriggeredAt: t0.Add(time.Minute)}
	for _, s := range []*Store{a, b, newTestStore(t, storage, Config{InstanceID: "c"})} {
		wantLastPipeline(t, s, tr.ID, latest)
	}

	// b's newer pipeline, not yet flushed, shows on b; once flushed, everywhere.
	credB.RecordPipeline(t0.Add(2*time.Minute), 3, "")
	newer := &Pipeline{ID: 3, TriggeredAt: t0.Add(2 * time.Minute)}
	wantLastPipeline(t, b, tr.ID, newer)
	wantLastPipeline(t, a, tr.ID, latest)
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	wantLastPipeline(t, a, tr.ID, newer)
	list, err := a.List(ctx, "9")
	if err != nil || len(list) != 1 || list[0].Usage.LastPipeline == nil || list[0].Usage.LastPipeline.ID != 3 {
		t.Fatalf("List = %+v, %v", list, err)
	}
}

// A pipeline recorded on a counter retired while the request was upstream
// is kept by the trigger's live counter.
func TestLastPipelineOfARetiredCounter(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	clk := newClock()
	s := newTestStore(t, storage, Config{CacheTTL: time.Minute, Now: clk.Now})
	tr, tok := mustCreate(t, s, CreateRequest{Project: "9", Description: "x"})
	held := authenticate(t, s, tok)
	held.RecordUse(clk.Now())
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Hour)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if s.existingCounter(tr.ID) != nil {
		t.Fatal("the idle counter was not retired")
	}
	held.RecordPipeline(clk.Now(), 7, "https://ci.example.com/7")
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	entry, _ := storedUsage(t, storage, tr.ID, "instance-a")
	if entry.LastPipeline == nil || entry.LastPipeline.ID != 7 || entry.UseCount != 1 {
		t.Fatalf("stored %+v, want 1 use and pipeline 7", entry)
	}
}

func TestRecordPipelineAllocations(t *testing.T) {
	s := newTestStore(t, &certmagic.FileStorage{Path: t.TempDir()}, Config{})
	_, token := mustCreate(t, s, CreateRequest{Project: "9", Description: "d"})
	cred := authenticate(t, s, token)
	at := time.Now()
	allocs := allocstest.Fewest(3, 100, func() { cred.RecordPipeline(at, 7, "https://ci.example.com/7") })
	if allocs > 1 {
		t.Errorf("RecordPipeline: %v allocations, want at most 1", allocs)
	}
}
