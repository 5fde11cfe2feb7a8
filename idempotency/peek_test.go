package idempotency

import (
	"context"
	"errors"
	"testing"
)

// Peek tells what Begin would find, and changes nothing: no claim, no
// replay counted, from the cache or from storage.
func TestPeek(t *testing.T) {
	st := newFaultyStorage(t)
	clk := newClock(t0)
	s, rec := newTestStore(t, st, clk)
	key := Key("trigger 1", SourceHeader, "req-1")
	ctx := context.Background()
	first := Request{Key: key, Fingerprint: Fingerprint([]byte("9"), []byte("main"))}
	other := Request{Key: key, Fingerprint: Fingerprint([]byte("9"), []byte("other"))}

	if a, err := s.Peek(ctx, first); a != nil || err != nil {
		t.Fatalf("before any request: %v, %v; want nothing", a, err)
	}
	if st.count("lock") != 0 {
		t.Fatalf("Peek locked the key")
	}
	_, c, err := s.Begin(ctx, first)
	if err != nil || c == nil {
		t.Fatalf("Begin after Peek: %v, %v; want the claim", c, err)
	}
	if _, err := s.Peek(ctx, first); !errors.Is(err, ErrInProgress) {
		t.Errorf("while claimed: %v, want ErrInProgress", err)
	}
	if _, err := s.Peek(ctx, other); !errors.Is(err, ErrMismatch) {
		t.Errorf("another request while claimed: %v, want ErrMismatch", err)
	}
	if err := c.Save(ctx, &Answer{Status: 201, Body: []byte(`{"id":7}`)}); err != nil {
		t.Fatal(err)
	}

	over := st.over()
	fresh, _ := newTestStore(t, over, clk) // an empty cache: from storage
	for name, store := range map[string]*Store{"cached": s, "from storage": fresh} {
		if a, err := store.Peek(ctx, first); err != nil || a == nil || a.Status != 201 {
			t.Errorf("%s: the same request: %v, %v; want the saved 201", name, a, err)
		}
		if _, err := store.Peek(ctx, other); !errors.Is(err, ErrMismatch) {
			t.Errorf("%s: another request: %v, want ErrMismatch", name, err)
		}
	}
	if rec.replayed.Load() != 0 {
		t.Errorf("Peek counted %d replays", rec.replayed.Load())
	}
	over.failOn("load", "")
	if _, err := fresh.Peek(ctx, Request{Key: Key("trigger 1", SourceHeader, "req-2")}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("storage down: %v, want ErrUnavailable", err)
	}
}
