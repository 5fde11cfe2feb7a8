package idempotency

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestFingerprint(t *testing.T) {
	b := func(parts ...string) [][]byte {
		out := make([][]byte, len(parts))
		for i, p := range parts {
			out[i] = []byte(p)
		}
		return out
	}
	tests := []struct {
		name string
		a, b [][]byte
		same bool
	}{
		{"deterministic", b("9", `{"ref":"main"}`), b("9", `{"ref":"main"}`), true},
		{"other ref", b("9", `{"ref":"main"}`), b("9", `{"ref":"other"}`), false},
		{"other project", b("9", `{"ref":"main"}`), b("10", `{"ref":"main"}`), false},
		{"boundary", b("9a", "b"), b("9", "ab"), false},
		{"part count", b("9", ""), b("9"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fa, fb := Fingerprint(tt.a...), Fingerprint(tt.b...)
			if !validKey(fa) || !validKey(fb) {
				t.Fatalf("Fingerprint gave %q and %q, want 64 lower-case hex", fa, fb)
			}
			if (fa == fb) != tt.same {
				t.Fatalf("fingerprints %s and %s, want same = %v", fa, fb, tt.same)
			}
		})
	}
	// Fingerprints, keys and legacy keys of the same parts never meet.
	if f, k, l := Fingerprint([]byte("9"), []byte("header"), []byte("x")), Key("9", "header", "x"), LegacyKey("9", "header", "x"); f == k || f == l || k == l {
		t.Fatalf("fingerprint %s, key %s, legacy key %s: want three different hashes", f, k, l)
	}
}

// A key reused for a different request gets ErrMismatch wherever the first
// answer is found: this instance's cache, the storage (another instance),
// or the answer a waiting repeat wakes up to. The same request replays; a
// request without a fingerprint is not compared.
func TestBeginComparesFingerprints(t *testing.T) {
	fpMain := Fingerprint([]byte("9"), []byte(`{"ref":"main"}`))
	fpOther := Fingerprint([]byte("9"), []byte(`{"ref":"other"}`))
	tests := []struct {
		name      string
		asked     string
		wantErr   error
		wantReply bool
	}{
		{"same request", fpMain, nil, true},
		{"different request", fpOther, ErrMismatch, false},
		{"not fingerprinted", "", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newFaultyStorage(t)
			clk := newClock(t0)
			a, recA := newTestStore(t, st, clk)
			b, _ := newTestStore(t, st.over(), clk)
			key := Key("trigger 1", SourceHeader, "k")
			_, c, err := a.Begin(context.Background(), Request{Key: key, Fingerprint: fpMain})
			if err != nil || c == nil {
				t.Fatalf("first Begin: %v, %v", c, err)
			}
			if err := c.Save(context.Background(), answer(`{"id":1}`)); err != nil {
				t.Fatal(err)
			}
			for _, where := range []struct {
				name string
				s    *Store
			}{{"cache", a}, {"storage", b}} {
				ans, c, err := where.s.Begin(context.Background(), Request{Key: key, Fingerprint: tt.asked})
				if c != nil {
					c.Release()
					t.Fatalf("%s: got a claim, want no forwarding", where.name)
				}
				if !errors.Is(err, tt.wantErr) || (ans != nil) != tt.wantReply {
					t.Fatalf("%s: Begin = (%v, %v), want error %v, replay %v", where.name, ans, err, tt.wantErr, tt.wantReply)
				}
			}
			if want := int64(map[bool]int{true: 1}[tt.wantReply]); recA.replayed.Load() != want {
				t.Errorf("replayed on A = %d, want %d: a mismatch is no replay", recA.replayed.Load(), want)
			}
		})
	}
}

// The saved entry holds the fingerprint, never the values it hashes.
func TestSavedFingerprint(t *testing.T) {
	st := newFaultyStorage(t)
	clk := newClock(t0)
	s, _ := newTestStore(t, st, clk)
	key := Key("trigger 1", SourceHeader, "k")
	fp := Fingerprint([]byte("9"), []byte(`{"ref":"secret-ref-value"}`))
	_, c, err := s.Begin(context.Background(), Request{Key: key, Fingerprint: fp})
	if err != nil || c == nil {
		t.Fatalf("Begin: %v, %v", c, err)
	}
	if err := c.Save(context.Background(), answer(`{"id":1}`)); err != nil {
		t.Fatal(err)
	}
	data, err := st.Storage.Load(context.Background(), bucketAt(t0, 86400).entryKey(key))
	if err != nil {
		t.Fatal(err)
	}
	var stored map[string]any
	if err := json.Unmarshal(data, &stored); err != nil {
		t.Fatal(err)
	}
	if stored["fingerprint"] != fp || strings.Contains(string(data), "secret-ref-value") {
		t.Fatalf("stored entry %s, want fingerprint %s and no request value", data, fp)
	}
}

// A repeat for a different request while the key is claimed on this
// instance is told at once; one for the same request waits and replays.
func TestBeginMismatchWhileInFlight(t *testing.T) {
	st := newFaultyStorage(t)
	clk := newClock(t0)
	s, _ := newTestStore(t, st, clk)
	key := Key("trigger 1", SourceGitLab, "delivery")
	fpFirst := Fingerprint([]byte("first"))
	_, claim, err := s.Begin(context.Background(), Request{Key: key, Fingerprint: fpFirst})
	if err != nil || claim == nil {
		t.Fatalf("Begin: %v, %v", claim, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if _, c, err := s.Begin(ctx, Request{Key: key, Fingerprint: Fingerprint([]byte("second"))}); !errors.Is(err, ErrMismatch) || c != nil {
		t.Fatalf("different request while in flight: %v, %v; want ErrMismatch", c, err)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("the mismatch waited %s for the claim", elapsed)
	}

	same := make(chan error, 1)
	go func() {
		ans, c, err := s.Begin(ctx, Request{Key: key, Fingerprint: fpFirst})
		if err == nil && (c != nil || ans == nil || string(ans.Body) != "first") {
			err = errors.New("not the first answer replayed")
		}
		same <- err
	}()
	time.Sleep(100 * time.Millisecond)
	if err := claim.Save(context.Background(), answer("first")); err != nil {
		t.Fatal(err)
	}
	if err := <-same; err != nil {
		t.Fatalf("same request while in flight: %v", err)
	}
}

// A repeat on another instance waits on the storage lock, whatever its
// fingerprint; when the claim ends with an answer of another request it
// gets ErrMismatch, and when the claim is released it claims the key.
func TestBeginMismatchAcrossInstances(t *testing.T) {
	for _, tt := range []struct {
		name      string
		end       func(*Claim) error
		wantErr   error
		wantClaim bool
	}{
		{"first saved", func(c *Claim) error { return c.Save(context.Background(), answer("first")) }, ErrMismatch, false},
		{"first released", func(c *Claim) error { c.Release(); return nil }, nil, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := newFaultyStorage(t)
			clk := newClock(t0)
			a, _ := newTestStore(t, st, clk)
			b, _ := newTestStore(t, st.over(), clk)
			key := Key("trigger 1", SourceHeader, "k")
			_, claim, err := a.Begin(context.Background(), Request{Key: key, Fingerprint: Fingerprint([]byte("first"))})
			if err != nil || claim == nil {
				t.Fatalf("Begin on A: %v, %v", claim, err)
			}
			type result struct {
				c   *Claim
				err error
			}
			done := make(chan result, 1)
			go func() {
				_, c, err := b.Begin(context.Background(), Request{Key: key, Fingerprint: Fingerprint([]byte("second"))})
				done <- result{c, err}
			}()
			select {
			case r := <-done:
				t.Fatalf("B did not wait for A's claim: %+v", r)
			case <-time.After(300 * time.Millisecond):
			}
			if err := tt.end(claim); err != nil {
				t.Fatal(err)
			}
			select {
			case r := <-done:
				if !errors.Is(r.err, tt.wantErr) || (r.c != nil) != tt.wantClaim {
					t.Fatalf("B got (%v, %v), want error %v, claim %v", r.c, r.err, tt.wantErr, tt.wantClaim)
				}
				if r.c != nil {
					r.c.Release()
				}
			case <-time.After(10 * time.Second):
				t.Fatal("B never finished waiting")
			}
		})
	}
}

// Answers saved before fingerprints and principal keys existed stay
// readable: one without a fingerprint under the key matches any request,
// and one under the legacy (project-scoped) key is replayed during the
// first window after the store starts, and no longer looked up afterwards.
func TestLegacyAnswers(t *testing.T) {
	legacyEntry := func(savedAt time.Time) []byte {
		// The shape an earlier version saved: no fingerprint.
		return []byte(`{"status":201,"header":{"Content-Type":["application/json"]},"body":"eyJpZCI6N30=","saved_at":"` +
			savedAt.Format(time.RFC3339Nano) + `"}`)
	}
	fp := Fingerprint([]byte("9"), []byte(`{"ref":"main"}`))
	key, legacy := Key("trigger 1", SourceHeader, "k"), LegacyKey("9", SourceHeader, "k")

	t.Run("no fingerprint under the key", func(t *testing.T) {
		st := newFaultyStorage(t)
		clk := newClock(t0)
		if err := st.Storage.Store(context.Background(), bucketAt(t0, 86400).entryKey(key), legacyEntry(t0.Add(-time.Hour))); err != nil {
			t.Fatal(err)
		}
		s, _ := newTestStore(t, st, clk)
		for _, asked := range []string{fp, Fingerprint([]byte("another"))} {
			ans, c, err := s.Begin(context.Background(), Request{Key: key, Fingerprint: asked})
			if err != nil || c != nil || ans == nil || string(ans.Body) != `{"id":7}` {
				t.Fatalf("Begin = (%v, %v, %v), want the saved answer replayed", ans, c, err)
			}
		}
	})

	t.Run("legacy key, first window", func(t *testing.T) {
		st := newFaultyStorage(t)
		clk := newClock(t0)
		if err := st.Storage.Store(context.Background(), bucketAt(t0, 86400).previous().entryKey(legacy), legacyEntry(t0.Add(-13*time.Hour))); err != nil {
			t.Fatal(err)
		}
		s, _ := newTestStore(t, st, clk)
		ans, c, err := s.Begin(context.Background(), Request{Key: key, Fingerprint: fp, LegacyKey: legacy})
		if err != nil || c != nil || ans == nil || string(ans.Body) != `{"id":7}` {
			t.Fatalf("Begin = (%v, %v, %v), want the legacy answer replayed", ans, c, err)
		}
		// Without the legacy key, the same storage has nothing for the key.
		other, _ := newTestStore(t, st.over(), clk)
		if _, c, err := other.Begin(context.Background(), Request{Key: key, Fingerprint: fp}); err != nil || c == nil {
			t.Fatalf("Begin without LegacyKey = (%v, %v), want a claim", c, err)
		} else {
			c.Release()
		}
	})

	t.Run("legacy key, after the first window", func(t *testing.T) {
		st := newFaultyStorage(t)
		clk := newClock(t0)
		s, _ := newTestStore(t, st, clk)
		// Saved (as no real legacy answer could be) long after the store
		// started, so that it is live when the lookups have ended.
		later := t0.Add(24*time.Hour + time.Minute)
		if err := st.Storage.Store(context.Background(), bucketAt(later, 86400).entryKey(legacy), legacyEntry(later)); err != nil {
			t.Fatal(err)
		}
		clk.set(later.Add(time.Minute))
		loads := st.count("load")
		_, c, err := s.Begin(context.Background(), Request{Key: key, Fingerprint: fp, LegacyKey: legacy})
		if err != nil || c == nil {
			t.Fatalf("Begin = (%v, %v), want a claim: legacy keys are no longer read", c, err)
		}
		c.Release()
		if got := st.count("load") - loads; got != 2 {
			t.Errorf("%d loads, want 2 (the key's two buckets only)", got)
		}
	})
}

// A stored fingerprint that is not one fails closed, like any corrupt entry.
func TestCorruptFingerprint(t *testing.T) {
	st := newFaultyStorage(t)
	clk := newClock(t0)
	key := Key("trigger 1", SourceHeader, "k")
	entry := `{"status":201,"body":"","saved_at":"2025-11-25T11:00:00Z","fingerprint":"../x"}`
	if err := st.Storage.Store(context.Background(), bucketAt(t0, 86400).entryKey(key), []byte(entry)); err != nil {
		t.Fatal(err)
	}
	s, _ := newTestStore(t, st, clk)
	if _, _, err := s.Begin(context.Background(), Request{Key: key}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Begin = %v, want ErrUnavailable", err)
	}
	for _, req := range []Request{
		{Key: key, Fingerprint: "not-a-fingerprint"},
		{Key: key, LegacyKey: "../legacy"},
	} {
		if _, _, err := s.Begin(context.Background(), req); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Begin(%+v) = %v, want ErrInvalidKey", req, err)
		}
	}
}
