package tokenstore

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// TestConcurrentOperations runs the request path against every admin
// operation and the flush at once (meant for -race), then checks that no
// use of a surviving trigger was lost and no revoked token works.
func TestConcurrentOperations(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	s := newTestStore(t, storage, Config{CacheSize: 4, CacheTTL: 5 * time.Millisecond})

	const triggers, revoked, users, rounds = 10, 3, 8, 200
	ids := make([]int64, triggers)
	tokens := make([]string, triggers)
	for i := range triggers {
		tr, tok := mustCreate(t, s, CreateRequest{Project: "9", Description: "c"})
		ids[i], tokens[i] = tr.ID, tok
	}
	var recorded [triggers]atomic.Int64

	var wg sync.WaitGroup
	run := func(f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f()
		}()
	}
	for u := range users {
		run(func() {
			for r := range rounds {
				i := (u + r) % triggers
				cred, err := s.Authenticate(ctx, tokens[i])
				switch {
				case err == nil:
					cred.RecordUse(time.Now())
					recorded[i].Add(1)
				case i < revoked && errors.Is(err, ErrNotFound):
				default:
					t.Errorf("Authenticate(trigger %d): %v", i, err)
					return
				}
			}
		})
	}
	run(func() {
		for i := range revoked {
			if err := s.Revoke(ctx, ids[i], "alice"); err != nil {
				t.Errorf("Revoke: %v", err)
			}
		}
	})
	run(func() {
		for range 5 {
			if _, _, err := s.Create(ctx, CreateRequest{Project: "12", Description: "new"}); err != nil {
				t.Errorf("Create: %v", err)
			}
		}
	})
	run(func() {
		for range 20 {
			if _, err := s.List(ctx, ""); err != nil {
				t.Errorf("List: %v", err)
			}
			if _, _, err := s.Get(ctx, ids[triggers-1]); err != nil {
				t.Errorf("Get: %v", err)
			}
		}
	})
	run(func() {
		for range 20 {
			if err := s.Flush(ctx); err != nil {
				t.Errorf("Flush: %v", err)
			}
		}
	})
	wg.Wait()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	fresh := newTestStore(t, storage, Config{InstanceID: "b"})
	for i := range triggers {
		if i < revoked {
			if _, err := fresh.Authenticate(ctx, tokens[i]); !errors.Is(err, ErrNotFound) {
				t.Errorf("revoked trigger %d: %v", i, err)
			}
			continue
		}
		_, u, err := fresh.Get(ctx, ids[i])
		if err != nil {
			t.Fatal(err)
		}
		if u.UseCount != recorded[i].Load() {
			t.Errorf("trigger %d: stored %d uses, recorded %d", i, u.UseCount, recorded[i].Load())
		}
	}
	list, err := fresh.List(ctx, "")
	if err != nil || len(list) != triggers-revoked+5 {
		t.Fatalf("List = %d triggers, %v; want %d", len(list), err, triggers-revoked+5)
	}
}
