package tokenstore

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// skippingStorage, once armed, leaves the keys under a prefix out of some
// of its listings (those after the first `after` ones), as a file
// storage's directory read can while a rename replaces them.
type skippingStorage struct {
	certmagic.Storage
	prefix  string
	after   int32
	armed   atomic.Bool
	listing atomic.Int32 // listings of the prefix's folder since armed
	skips   int32
}

func (s *skippingStorage) List(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	keys, err := s.Storage.List(ctx, prefix, recursive)
	if err != nil || !s.armed.Load() || !strings.HasPrefix(s.prefix, prefix) {
		return keys, err
	}
	if n := s.listing.Add(1); n > s.after && n <= s.after+s.skips {
		keys = slices.DeleteFunc(keys, func(k string) bool { return strings.HasPrefix(k, s.prefix) })
	}
	return keys, err
}

// A listing that misses another store's confirmation or instance record
// must not end the wait: that store may still serve the revoked token.
func TestAwaitChangesSurvivesListingsThatMissAStore(t *testing.T) {
	tests := []struct {
		name   string
		prefix string
		after  int32 // listings that see it
		skips  int32 // listings after those that miss it
	}{
		// The first listing of confirmations reads b's as none yet: its
		// earlier confirmations then looked like two new ones.
		{"its confirmation", confirmKey("b"), 0, 1},
		// The listings that find the stores to wait for see b; the next
		// ones read it as gone. (The stores waited for are those of two
		// listings: both missing b, it would not be waited for at all.)
		{"its instance record", instanceKey("b"), 2, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			storage := &skippingStorage{Storage: &certmagic.FileStorage{Path: t.TempDir()}, prefix: tt.prefix, after: tt.after, skips: tt.skips}
			a := newTestStore(t, storage, Config{InstanceID: "a", ChangePollInterval: testPoll})
			// b polls slowly: a change takes it about a second to apply,
			// well after a wait ended early would have returned.
			b := newTestStore(t, storage, Config{InstanceID: "b", ChangePollInterval: time.Second, CacheTTL: time.Hour})
			for range 2 { // b confirms a few times first
				tr, token := mustCreate(t, a, CreateRequest{Project: "9", Description: "warm-up"})
				authenticate(t, b, token)
				if err := a.Revoke(ctx, tr.ID, "admin API"); err != nil {
					t.Fatal(err)
				}
				if err := awaitWithin(a, 10*time.Second); err != nil {
					t.Fatal(err)
				}
			}

			tr, token := mustCreate(t, a, CreateRequest{Project: "9", Description: "d"})
			authenticate(t, b, token) // cached
			if err := a.Revoke(ctx, tr.ID, "admin API"); err != nil {
				t.Fatal(err)
			}
			storage.armed.Store(true)
			if err := awaitWithin(a, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			if err := authErr(b, token); !errors.Is(err, ErrNotFound) {
				t.Fatalf("b accepts the revoked token after AwaitChanges returned (%v)", err)
			}
		})
	}
}
