package tokenstore

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// The record a flush writes by hand decodes as the usageShardRecord that
// other instances' readers (loadShard) expect.
func TestOwnRecordEncodingDecodesAsWritten(t *testing.T) {
	at := time.Date(2026, 12, 5, 16, 30, 0, 123456789, time.UTC)
	pipelineAt := time.Date(2026, 12, 5, 16, 30, 1, 0, time.FixedZone("", 3600))
	tests := []struct {
		name     string
		instance string
		entries  []ownEntry
		want     map[string]usageEntry
	}{
		{"no entries", "a", nil, map[string]usageEntry{}},
		{"counted, never dated", "a", []ownEntry{{id: 1025, count: 3}},
			map[string]usageEntry{"1025": {UseCount: 3}}},
		{"dated, with pipelines", `odd "name" <&> é`, []ownEntry{
			{id: 1024, count: 1, last: at.UnixNano()},
			{id: 1030, count: 7, last: at.UnixNano(), pipeline: &Pipeline{ID: 9, TriggeredAt: pipelineAt}},
			{id: 2047, count: 2, last: at.UnixNano(), pipeline: &Pipeline{ID: 10, WebURL: "https://ci.example/p?a=1&b=\"2\"\n", TriggeredAt: at}},
		}, map[string]usageEntry{
			"1024": {UseCount: 1, LastUsed: &at},
			"1030": {UseCount: 7, LastUsed: &at, LastPipeline: &Pipeline{ID: 9, TriggeredAt: pipelineAt}},
			"2047": {UseCount: 2, LastUsed: &at, LastPipeline: &Pipeline{ID: 10, WebURL: "https://ci.example/p?a=1&b=\"2\"\n", TriggeredAt: at}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := appendOwnShard(nil, tt.instance, 1, tt.entries)
			if err != nil {
				t.Fatal(err)
			}
			var got usageShardRecord
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatalf("%s: %v", data, err)
			}
			want := usageShardRecord{Instance: tt.instance, Shard: 1, Triggers: tt.want}
			wantJSON, _ := json.Marshal(want)
			gotJSON, _ := json.Marshal(got)
			if string(gotJSON) != string(wantJSON) {
				t.Errorf("decoded as %s\nwant %s", gotJSON, wantJSON)
			}
			if back := ownShardOf(got); len(back.entries) != len(tt.entries) {
				t.Errorf("read back %d entries, want %d", len(back.entries), len(tt.entries))
			}
		})
	}
}

// loadCountingStorage counts the reads of keys under a prefix.
type loadCountingStorage struct {
	certmagic.Storage
	prefix string
	loads  atomic.Int64
}

func (l *loadCountingStorage) Load(ctx context.Context, key string) ([]byte, error) {
	if strings.HasPrefix(key, l.prefix) {
		l.loads.Add(1)
	}
	return l.Storage.Load(ctx, key)
}

// A flush reads this instance's record of a shard once, the first time,
// and from then on writes the one it keeps in memory; reads of the
// usage use it too. The totals in storage stay exact.
func TestFlushReadsItsOwnRecordOnce(t *testing.T) {
	ctx := context.Background()
	storage := &loadCountingStorage{Storage: &certmagic.FileStorage{Path: t.TempDir()}, prefix: usageDir("instance-a") + "/"}
	s := newTestStore(t, storage, Config{})
	ids := []int64{1, 2, usageShardSize + 5} // two shards
	t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	var firstReads int64
	for round := range 4 {
		for _, id := range ids {
			s.counter(id).record(t0.Add(time.Duration(round) * time.Second))
		}
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.usagesOf(ctx, ids); err != nil {
			t.Fatal(err)
		}
		if round == 0 {
			firstReads = storage.loads.Load()
		}
	}
	if firstReads == 0 {
		t.Fatal("the first flush read none of this instance's usage records")
	}
	if more := storage.loads.Load() - firstReads; more != 0 {
		t.Errorf("%d reads of this instance's usage records in 3 flushes and 3 reads after the first, want none", more)
	}
	for _, id := range ids {
		entry, ok := storedUsage(t, storage, id, "instance-a")
		if last := t0.Add(3 * time.Second); !ok || entry.UseCount != 4 || entry.LastUsed == nil || !entry.LastUsed.Equal(last) {
			t.Errorf("trigger %d: stored %+v (found %v), want 4 uses, last %v", id, entry, ok, last)
		}
	}
}

// A restarted instance starts from its record in storage, then keeps it.
func TestFlushContinuesTheRecordOfTheInstanceBefore(t *testing.T) {
	ctx := context.Background()
	files := &certmagic.FileStorage{Path: t.TempDir()}
	first := newTestStore(t, files, Config{})
	first.counter(7).record(time.Now())
	first.counter(8).record(time.Now())
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second := newTestStore(t, files, Config{})
	second.counter(7).record(time.Now())
	if err := second.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[int64]int64{7: 2, 8: 1} {
		if entry, _ := storedUsage(t, files, id, "instance-a"); entry.UseCount != want {
			t.Errorf("trigger %d: %d uses stored, want %d", id, entry.UseCount, want)
		}
	}
}

// The records kept in memory are bounded; one dropped is read again from
// storage, and one whose last write failed is never dropped.
func TestOwnRecordsBounded(t *testing.T) {
	ctx := context.Background()
	files := &certmagic.FileStorage{Path: t.TempDir()}
	faulty := &faultyStorage{Storage: files, fail: map[string]string{}}
	s := newTestStore(t, faulty, Config{})
	shardID := func(shard int) int64 { return int64(shard)*usageShardSize + 1 }

	// The first shard's write fails: its record is uncertain from then on.
	faulty.failOn("store", usageShardKey("instance-a", 0))
	s.counter(shardID(0)).record(time.Now())
	if err := s.Flush(ctx); err == nil {
		t.Fatal("the flush whose write failed reported no error")
	}
	faulty.heal()
	for shard := 1; shard <= maxOwnShards+10; shard++ {
		s.counter(shardID(shard)).record(time.Now())
	}
	// Shard 0 is retried and written, then marked certain, in this flush;
	// which records are dropped depends on the order, not the totals.
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(s.own.shards); n > maxOwnShards {
		t.Errorf("%d records kept, want at most %d", n, maxOwnShards)
	}
	// Use every shard again: a dropped record is read back from storage.
	for shard := 0; shard <= maxOwnShards+10; shard++ {
		s.counter(shardID(shard)).record(time.Now())
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for shard := 0; shard <= maxOwnShards+10; shard++ {
		if entry, _ := storedUsage(t, files, shardID(shard), "instance-a"); entry.UseCount != 2 {
			t.Fatalf("shard %d: %d uses stored, want 2", shard, entry.UseCount)
		}
	}
}

// A record whose last write failed stays in memory however many others
// are added.
func TestUncertainOwnRecordKept(t *testing.T) {
	ctx := context.Background()
	faulty := &faultyStorage{Storage: &certmagic.FileStorage{Path: t.TempDir()}, fail: map[string]string{}}
	s := newTestStore(t, faulty, Config{})
	faulty.failOn("store", usageShardKey("instance-a", 0))
	s.counter(1).record(time.Now())
	if err := s.Flush(ctx); err == nil {
		t.Fatal("the flush whose write failed reported no error")
	}
	for shard := 1; shard <= 2*maxOwnShards; shard++ {
		s.counter(int64(shard)*usageShardSize + 1).record(time.Now())
	}
	if err := s.Flush(ctx); err == nil {
		t.Fatal("shard 0's write still fails, and the flush reported no error")
	}
	own := s.own.get(0)
	if own == nil || !own.uncertain {
		t.Fatalf("shard 0's record after its failed writes: %+v, want kept and uncertain", own)
	}
	if n := len(s.own.shards); n > maxOwnShards {
		t.Errorf("%d records kept, want at most %d", n, maxOwnShards)
	}
}

// Flushes and reads of more shards than are kept, at once: the records
// dropped and read back keep the totals exact (and -race finds no
// unguarded access to a record another shard's eviction looks at).
func TestOwnRecordsUnderConcurrentFlushesAndReads(t *testing.T) {
	ctx := context.Background()
	files := &certmagic.FileStorage{Path: t.TempDir()}
	faulty := &faultyStorage{Storage: files, fail: map[string]string{}}
	s := newTestStore(t, faulty, Config{})
	const shards, rounds = maxOwnShards + 40, 3
	id := func(shard int) int64 { return int64(shard)*usageShardSize + 1 }
	var readers sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for shard := 0; ; shard = (shard + 7) % shards {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.usagesOf(ctx, []int64{id(shard)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for round := range rounds {
		// Every tenth shard's write fails in the first round: those
		// records are uncertain while the others are dropped and read.
		for shard := 0; shard < shards; shard += 10 {
			if round == 0 {
				faulty.failOn("store", usageShardKey("instance-a", int64(shard)))
			}
		}
		for shard := range shards {
			s.counter(id(shard)).record(time.Now())
		}
		err := s.Flush(ctx)
		if round == 0 && err == nil {
			t.Fatal("the first round's failing writes reported no error")
		}
		faulty.heal()
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	close(stop)
	readers.Wait()
	for shard := range shards {
		if entry, _ := storedUsage(t, files, id(shard), "instance-a"); entry.UseCount != rounds {
			t.Fatalf("shard %d: %d uses stored, want %d", shard, entry.UseCount, rounds)
		}
	}
}

// appendOwnShard against encoding/json, on random records: instance names
// and URLs that need escapes, times in other zones and the zero time,
// entries with and without a last use and a pipeline. Both decode to the
// same JSON value (their key orders differ: numeric here, by string there).
func TestOwnRecordEncodingMatchesEncodingJSON(t *testing.T) {
	rand := rand.New(rand.NewPCG(17, 2026)) // the same records every run
	strs := []string{"", "a", "https://x/y?a=1&b=2", "é\u2028<>", "bad\xffutf", "\x00\x7f", `"\`}
	zones := []*time.Location{time.UTC, time.FixedZone("", 3600), time.FixedZone("", -(5*3600 + 30*60)), time.FixedZone("", 1172)}
	for range 5000 {
		inst := strs[rand.IntN(len(strs))]
		shard := int64(rand.IntN(5))
		var entries []ownEntry
		rec := usageShardRecord{Instance: inst, Shard: shard, Triggers: map[string]usageEntry{}}
		id := shard * usageShardSize
		for k := rand.IntN(4); k > 0; k-- {
			id += 1 + int64(rand.IntN(10))
			e := ownEntry{id: id, count: rand.Int64N(1000)}
			ue := usageEntry{UseCount: e.count}
			if rand.IntN(2) == 0 {
				e.last = rand.Int64N(4e18)
				tm := time.Unix(0, e.last).UTC()
				ue.LastUsed = &tm
			}
			if rand.IntN(2) == 0 {
				p := &Pipeline{ID: rand.Int64N(1e12) - 5, WebURL: strs[rand.IntN(len(strs))],
					TriggeredAt: time.Unix(rand.Int64N(2e9), rand.Int64N(1e9)).In(zones[rand.IntN(len(zones))])}
				if rand.IntN(5) == 0 {
					p.TriggeredAt = time.Time{}
				}
				e.pipeline, ue.LastPipeline = p, p
			}
			entries = append(entries, e)
			rec.Triggers[strconv.FormatInt(e.id, 10)] = ue
		}
		got, err := appendOwnShard(nil, inst, shard, entries)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(rec)
		var a, b any
		if err := json.Unmarshal(got, &a); err != nil {
			t.Fatalf("%s: %v", got, err)
		}
		if err := json.Unmarshal(want, &b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("got %s\nwant %s", got, want)
		}
	}
}
