package idempotency

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

func TestNewValidates(t *testing.T) {
	st := &certmagic.FileStorage{Path: t.TempDir()}
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"no storage", Config{}, "storage is required"},
		{"negative window", Config{Storage: st, Window: -time.Hour}, "window"},
		{"sub-second window", Config{Storage: st, Window: 500 * time.Millisecond}, "window"},
		{"negative cache", Config{Storage: st, CacheSize: -1}, "cache size"},
		{"negative max body", Config{Storage: st, MaxBody: -1}, "max body"},
		{"defaults", Config{Storage: st}, ""},
		{"one second window", Config{Storage: st, Window: time.Second}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				_ = s.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	s, err := New(Config{Storage: &certmagic.FileStorage{Path: t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.window != DefaultWindow || s.width != 86400 || s.maxBody != DefaultMaxBody {
		t.Fatalf("window %s, width %d, max body %d", s.window, s.width, s.maxBody)
	}
	// A window that is not whole seconds gets a wider bucket, never a
	// narrower one.
	s2, err := New(Config{Storage: &certmagic.FileStorage{Path: t.TempDir()}, Window: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.width != 2 {
		t.Fatalf("width for 1.5s = %d, want 2", s2.width)
	}
}

// TestFirstAndRepeat: the first request claims, its answer is saved
// durably, and repeats replay it, from memory and, on a fresh instance,
// from storage.
func TestFirstAndRepeat(t *testing.T) {
	st := newFaultyStorage(t)
	clk := newClock(t0)
	s, rec := newTestStore(t, st, clk)
	key := Key("9", SourceHeader, "req-1")

	c := mustClaim(t, s, key)
	first := &Answer{
		Status: 201,
		Header: map[string][]string{
			"Content-Type": {"application/json"},
			"x-request-id": {"01HX"},
			"Set-Cookie":   {"session=secret"},
			"Location":     {"/api/v4/projects/9/pipelines/7"},
		},
		Body: []byte(`{"id":7,"status":"created"}`),
	}
	if err := c.Save(context.Background(), first); err != nil {
		t.Fatalf("Save: %v", err)
	}
	want := &Answer{
		Status: 201,
		Header: map[string][]string{
			"Content-Type": {"application/json"},
			"X-Request-Id": {"01HX"},
			"Location":     {"/api/v4/projects/9/pipelines/7"},
		},
		Body:    []byte(`{"id":7,"status":"created"}`),
		SavedAt: t0,
	}
	// The caller's buffer may be reused after Save.
	first.Body[2] = 'X'

	loads := st.count("load")
	got := mustReplay(t, s, key, string(want.Body))
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("replay = %+v, want %+v", got, want)
	}
	if st.count("load") != loads || st.count("lock") != 1 {
		t.Fatalf("cached replay touched storage: loads %d -> %d, locks %d", loads, st.count("load"), st.count("lock"))
	}

	// The entry is in storage under the documented layout.
	entry := "trigger_gateway/idempotency/" + bucketAt(t0, 86400).name() + "/" + key
	if !st.Exists(context.Background(), entry) {
		t.Fatalf("no entry at %s", entry)
	}

	// A fresh instance (empty cache) replays from storage.
	s2, _ := newTestStore(t, st.over(), clk)
	got2 := mustReplay(t, s2, key, string(want.Body))
	if !reflect.DeepEqual(got2.Header, want.Header) || got2.Status != 201 || !got2.SavedAt.Equal(t0) {
		t.Fatalf("replay from storage = %+v, want %+v", got2, want)
	}

	if rec.saved.Load() != 1 || rec.replayed.Load() != 1 {
		t.Fatalf("observer: saved %d replayed %d, want 1 and 1", rec.saved.Load(), rec.replayed.Load())
	}
	if errs := rec.errorsSeen(); len(errs) != 0 {
		t.Fatalf("storage errors: %v", errs)
	}
}

// TestWindow: an answer is replayed until the window has passed since it
// was saved, across a bucket boundary too, and is absent afterwards.
func TestWindow(t *testing.T) {
	const window = 24 * time.Hour
	beforeMidnight := time.Date(2025, 11, 25, 23, 59, 0, 0, time.UTC)
	tests := []struct {
		name    string
		savedAt time.Time
		after   time.Duration
		replay  bool
	}{
		{"immediately", t0, 0, true},
		{"an hour later", t0, time.Hour, true},
		{"a second before the end", t0, window - time.Second, true},
		{"at the end", t0, window, false},
		{"long after", t0, 3 * window, false},
		{"next bucket", beforeMidnight, 2 * time.Minute, true},
		{"next bucket, last second", beforeMidnight, window - time.Second, true},
		{"next bucket, expired", beforeMidnight, window, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newFaultyStorage(t)
			clk := newClock(tt.savedAt)
			s, _ := newTestStore(t, st, clk)
			key := Key("9", SourceGitLab, "uuid-1")
			if err := mustClaim(t, s, key).Save(context.Background(), answer(`{"id":1}`)); err != nil {
				t.Fatal(err)
			}
			clk.advance(tt.after)

			// Both the cached path and the storage path must agree.
			fresh, _ := newTestStore(t, st.over(), clk)
			for name, store := range map[string]*Store{"cached": s, "storage": fresh} {
				a, c, err := store.Begin(context.Background(), Request{Key: key})
				if err != nil {
					t.Fatalf("%s: Begin: %v", name, err)
				}
				if tt.replay != (a != nil) || tt.replay == (c != nil) {
					t.Fatalf("%s: Begin = (%v, %v), want replay %v", name, a, c, tt.replay)
				}
				if c != nil {
					c.Release()
				}
			}
		})
	}
}

// TestExpiredAnswerIsReplaced: once expired, the key is claimed again and
// the new answer is the one replayed.
func TestExpiredAnswerIsReplaced(t *testing.T) {
	st := newFaultyStorage(t)
	clk := newClock(t0)
	s, _ := newTestStore(t, st, clk)
	key := Key("9", SourceHeader, "k")
	if err := mustClaim(t, s, key).Save(context.Background(), answer("old")); err != nil {
		t.Fatal(err)
	}
	clk.advance(25 * time.Hour)
	if err := mustClaim(t, s, key).Save(context.Background(), answer("new")); err != nil {
		t.Fatal(err)
	}
	mustReplay(t, s, key, "new")
	fresh, _ := newTestStore(t, st.over(), clk)
	mustReplay(t, fresh, key, "new")
}

// TestSweep: expired buckets are deleted whole, live ones are kept, and a
// bucket of another window is kept for the longer window.
func TestSweep(t *testing.T) {
	st := newFaultyStorage(t)
	clk := newClock(t0)
	s, _ := newTestStore(t, st, clk)
	ctx := context.Background()

	// Nothing stored yet: nothing to do, and no error.
	if err := s.Sweep(ctx); err != nil {
		t.Fatalf("Sweep on empty storage: %v", err)
	}

	days := []time.Duration{-3 * 24 * time.Hour, -2 * 24 * time.Hour, -24 * time.Hour, 0}
	keys := make([]string, len(days))
	for i, d := range days {
		clk.set(t0.Add(d))
		keys[i] = Key("9", SourceHeader, d.String())
		if err := mustClaim(t, s, keys[i]).Save(ctx, answer(d.String())); err != nil {
			t.Fatal(err)
		}
	}
	// A bucket written by an instance with a 7-day window, 3 days ago.
	weekWidth := int64(7 * 86400)
	week := bucketAt(t0.Add(-3*24*time.Hour), weekWidth)
	if err := st.Store(ctx, week.entryKey(Key("9", SourceHeader, "week")), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	// Something that is not a bucket is left alone.
	if err := st.Store(ctx, rootDir+"/not-a-bucket", []byte("x")); err != nil {
		t.Fatal(err)
	}

	clk.set(t0)
	if err := s.Sweep(ctx); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	for i, d := range days {
		b := bucketAt(t0.Add(d), 86400)
		// Buckets ending a full window before now go; yesterday's and
		// today's stay, as lookups still read them.
		wantKept := d >= -24*time.Hour
		if got := st.Exists(ctx, b.dir()); got != wantKept {
			t.Errorf("bucket of day %v exists = %v, want %v", d, got, wantKept)
		}
		if got := st.Exists(ctx, b.entryKey(keys[i])); got != wantKept {
			t.Errorf("entry of day %v exists = %v, want %v", d, got, wantKept)
		}
	}
	if !st.Exists(ctx, week.dir()) {
		t.Error("the 7-day bucket was deleted before its own window passed")
	}
	if !st.Exists(ctx, rootDir+"/not-a-bucket") {
		t.Error("a non-bucket name was deleted")
	}
	// Sweeping deletes nothing that lookups still need.
	mustReplay(t, s, keys[3], days[3].String())
	fresh, _ := newTestStore(t, st.over(), clk)
	mustReplay(t, fresh, keys[3], days[3].String())

	// Later still, the 7-day bucket goes too.
	clk.set(time.Unix(week.start+2*weekWidth, 0))
	if err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if st.Exists(ctx, week.dir()) {
		t.Error("the 7-day bucket survived its window")
	}
}

// TestSweepLoop: the periodic sweep runs without being called and stops on
// Close.
func TestSweepLoop(t *testing.T) {
	st := newFaultyStorage(t)
	clk := newClock(t0)
	s, _ := newTestStore(t, st, clk, func(c *Config) { c.Window = time.Second; c.SweepInterval = 10 * time.Millisecond })
	key := Key("9", SourceHeader, "k")
	if err := mustClaim(t, s, key).Save(context.Background(), answer("x")); err != nil {
		t.Fatal(err)
	}
	dir := bucketAt(t0, 1).dir()
	clk.advance(3 * time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for st.Exists(context.Background(), dir) {
		if time.Now().After(deadline) {
			t.Fatal("the periodic sweep did not delete the expired bucket")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	lists := st.count("list")
	time.Sleep(50 * time.Millisecond)
	if st.count("list") != lists {
		t.Fatal("the sweep kept running after Close")
	}
	if err := s.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
}

// TestScopesAndSourcesAreSeparate: the same value under another project or
// source is another request.
func TestScopesAndSourcesAreSeparate(t *testing.T) {
	st := newFaultyStorage(t)
	s, _ := newTestStore(t, st, newClock(t0))
	ctx := context.Background()
	combos := []struct{ scope, source string }{
		{"9", SourceHeader}, {"9", SourceGitLab}, {"9", SourceGitHub},
		{"10", SourceHeader}, {"group/project", SourceHeader},
	}
	for i, c := range combos {
		key := Key(c.scope, c.source, "same-value")
		if err := mustClaim(t, s, key).Save(ctx, answer(strings.Repeat("x", i+1))); err != nil {
			t.Fatal(err)
		}
	}
	fresh, _ := newTestStore(t, st.over(), newClock(t0))
	for i, c := range combos {
		mustReplay(t, fresh, Key(c.scope, c.source, "same-value"), strings.Repeat("x", i+1))
	}
}

// TestLargeAnswers: an answer up to MaxBody is saved and replayed verbatim;
// a larger one is not saved, so the next repeat claims again.
func TestLargeAnswers(t *testing.T) {
	const maxBody = 4096
	tests := []struct {
		name  string
		size  int
		saved bool
	}{
		{"empty", 0, true},
		{"at the limit", maxBody, true},
		{"one byte over", maxBody + 1, false},
		{"far over", 10 * maxBody, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newFaultyStorage(t)
			s, rec := newTestStore(t, st, newClock(t0), func(c *Config) { c.MaxBody = maxBody })
			key := Key("9", SourceHeader, "big")
			body := make([]byte, tt.size)
			for i := range body {
				body[i] = byte(i) // binary, to check the body survives JSON
			}
			err := mustClaim(t, s, key).Save(context.Background(), &Answer{Status: 201, Body: body})
			if tt.saved {
				if err != nil {
					t.Fatalf("Save: %v", err)
				}
				fresh, _ := newTestStore(t, st.over(), newClock(t0))
				mustReplay(t, fresh, key, string(body))
				return
			}
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Save error = %v, want ErrTooLarge", err)
			}
			if st.count("store") != 0 || rec.saved.Load() != 0 {
				t.Fatalf("a too-large answer was stored")
			}
			c := mustClaim(t, s, key) // not cached either
			c.Release()
		})
	}
}

// TestClaimLifecycle covers the claim's misuse and its invalid inputs.
func TestClaimLifecycle(t *testing.T) {
	ctx := context.Background()
	key := Key("9", SourceHeader, "k")
	tests := []struct {
		name string
		run  func(t *testing.T, s *Store)
	}{
		{"release then save", func(t *testing.T, s *Store) {
			c := mustClaim(t, s, key)
			c.Release()
			if err := c.Save(ctx, answer("x")); !errors.Is(err, ErrClaimDone) {
				t.Fatalf("Save after Release = %v, want ErrClaimDone", err)
			}
			mustClaim(t, s, key).Release()
		}},
		{"save twice", func(t *testing.T, s *Store) {
			c := mustClaim(t, s, key)
			if err := c.Save(ctx, answer("one")); err != nil {
				t.Fatal(err)
			}
			if err := c.Save(ctx, answer("two")); !errors.Is(err, ErrClaimDone) {
				t.Fatalf("second Save = %v, want ErrClaimDone", err)
			}
			c.Release() // deferred-Release pattern: a no-op after Save
			mustReplay(t, s, key, "one")
		}},
		{"release twice", func(t *testing.T, s *Store) {
			c := mustClaim(t, s, key)
			c.Release()
			c.Release()
			mustClaim(t, s, key).Release()
		}},
		{"nil answer", func(t *testing.T, s *Store) {
			if err := mustClaim(t, s, key).Save(ctx, nil); err == nil {
				t.Fatal("Save(nil) succeeded")
			}
			mustClaim(t, s, key).Release()
		}},
		{"invalid status", func(t *testing.T, s *Store) {
			if err := mustClaim(t, s, key).Save(ctx, &Answer{Status: 0}); err == nil {
				t.Fatal("Save with status 0 succeeded")
			}
			if err := mustClaim(t, s, key).Save(ctx, &Answer{Status: 600}); err == nil {
				t.Fatal("Save with status 600 succeeded")
			}
			mustClaim(t, s, key).Release()
		}},
		{"invalid key", func(t *testing.T, s *Store) {
			for _, k := range []string{"", "../x", "raw-client-value", strings.ToUpper(key)} {
				if _, _, err := s.Begin(ctx, Request{Key: k}); !errors.Is(err, ErrInvalidKey) {
					t.Fatalf("Begin(%q) = %v, want ErrInvalidKey", k, err)
				}
			}
		}},
		{"save with cancelled context is still durable", func(t *testing.T, s *Store) {
			c := mustClaim(t, s, key)
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if err := c.Save(cctx, answer("kept")); err != nil {
				t.Fatal(err)
			}
			fresh, _ := newTestStore(t, s.storage, newClock(t0))
			mustReplay(t, fresh, key, "kept")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestStore(t, newFaultyStorage(t), newClock(t0))
			tt.run(t, s)
		})
	}
}

func TestSafeHeader(t *testing.T) {
	tests := []struct {
		name string
		in   http.Header
		want map[string][]string
	}{
		{"nil", nil, nil},
		{"only unsafe", http.Header{"Set-Cookie": {"a=b"}, "Connection": {"close"}}, nil},
		{"mixed", http.Header{
			"Content-Type":  {"application/json"},
			"Etag":          {`"v1"`},
			"Set-Cookie":    {"a=b"},
			"Authorization": {"Bearer x"},
			"X-Request-Id":  {"r1"},
		}, map[string][]string{"Content-Type": {"application/json"}, "Etag": {`"v1"`}, "X-Request-Id": {"r1"}}},
		{"non-canonical names", http.Header{"content-type": {"text/plain"}, "LOCATION": {"/x"}},
			map[string][]string{"Content-Type": {"text/plain"}, "Location": {"/x"}}},
		{"empty values dropped", http.Header{"Content-Type": {}}, nil},
		{"the body's encoding kept", http.Header{"Content-Encoding": {"gzip"}, "Content-Length": {"42"}},
			map[string][]string{"Content-Encoding": {"gzip"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SafeHeader(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("SafeHeader = %v, want %v", got, tt.want)
			}
		})
	}
}

// A closed store leaves no goroutine behind: stores are opened and closed
// as configs change, for the life of the process.
func TestClosedStoresLeaveNoGoroutine(t *testing.T) {
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	before := runtime.NumGoroutine()
	const stores = 20
	for range stores {
		s, err := New(Config{Storage: storage})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	var after int
	for range 50 {
		if after = runtime.NumGoroutine(); after <= before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%d goroutines after opening and closing %d stores, %d before", after, stores, before)
}
