package tokenstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// waitFor polls cond every 2ms until it holds or timeout passes, and
// returns how long that took.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

// authErr is Authenticate's error, for conditions.
func authErr(s *Store, token string) error {
	_, err := s.Authenticate(context.Background(), token)
	return err
}

// A change made through one store reaches another store's caches through
// the feed, within the poll interval and whatever the cache TTLs.
func TestChangeFeedReachesOtherStore(t *testing.T) {
	const poll = 20 * time.Millisecond
	const imported = "imported-token-0123456789"
	tests := []struct {
		name string
		// before runs on a (caching its answer) and must give beforeErr;
		// change runs on b; a must then answer afterErr.
		setup     func(t *testing.T, b *Store) (token string, change func() error)
		beforeErr error
		afterErr  error
		feed      bool // whether a reads the feed; it must then see the change
	}{
		{
			name: "revoke evicts a cached token",
			setup: func(t *testing.T, b *Store) (string, func() error) {
				tr, token := mustCreate(t, b, CreateRequest{Project: "9", Description: "d"})
				return token, func() error { return b.Revoke(context.Background(), tr.ID, "alice") }
			},
			beforeErr: nil, afterErr: ErrNotFound, feed: true,
		},
		{
			name: "import evicts a negative entry",
			setup: func(t *testing.T, b *Store) (string, func() error) {
				return imported, func() error {
					_, _, err := b.Create(context.Background(), CreateRequest{Project: "9", Description: "d", ImportToken: imported})
					return err
				}
			},
			beforeErr: ErrNotFound, afterErr: nil, feed: true,
		},
		{
			name: "without the feed the cache decides",
			setup: func(t *testing.T, b *Store) (string, func() error) {
				tr, token := mustCreate(t, b, CreateRequest{Project: "9", Description: "d"})
				return token, func() error { return b.Revoke(context.Background(), tr.ID, "alice") }
			},
			beforeErr: nil, afterErr: ErrNotFound, feed: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storage := &certmagic.FileStorage{Path: t.TempDir()}
			interval := time.Duration(-1)
			if tt.feed {
				interval = poll
			}
			a := newTestStore(t, storage, Config{InstanceID: "a", CacheTTL: time.Hour,
				NegativeCacheTTL: time.Hour, ChangePollInterval: interval})
			b := newTestStore(t, storage, Config{InstanceID: "b"})
			token, change := tt.setup(t, b)
			if err := authErr(a, token); !errors.Is(err, tt.beforeErr) {
				t.Fatalf("before: %v, want %v", err, tt.beforeErr)
			}
			if err := change(); err != nil {
				t.Fatal(err)
			}
			// Without the feed, the cache TTL of an hour holds the stale
			// answer; with it, the change arrives within a poll (the
			// margin is for loaded machines).
			window := 2 * time.Second
			if !tt.feed {
				window = 20 * poll
			}
			start := time.Now()
			for time.Since(start) < window && !errors.Is(authErr(a, token), tt.afterErr) {
				time.Sleep(time.Millisecond)
			}
			took := time.Since(start)
			seen := errors.Is(authErr(a, token), tt.afterErr)
			if seen != tt.feed {
				t.Fatalf("change seen by the other store = %v after %s, want %v", seen, took, tt.feed)
			}
			if seen {
				t.Logf("reached the other store in %s (poll interval %s)", took, poll)
			}
		})
	}
}

// writeChange puts an entry into the feed as another machine would, dated
// by its own clock.
func writeChange(t *testing.T, storage certmagic.Storage, at time.Time, e changeEntry) string {
	t.Helper()
	data, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	key := changeKey(at)
	if err := storage.Store(context.Background(), key, data); err != nil {
		t.Fatal(err)
	}
	return key
}

// Entries are applied because they are new to the store, whatever the
// clock of the machine that wrote them says.
func TestChangeFeedIgnoresWritersClocks(t *testing.T) {
	for _, skew := range []time.Duration{-5 * time.Minute, -time.Second, time.Hour} {
		t.Run(fmt.Sprint(skew), func(t *testing.T) {
			storage := &certmagic.FileStorage{Path: t.TempDir()}
			b := newTestStore(t, storage, Config{InstanceID: "b", ChangePollInterval: -1})
			tr, token := mustCreate(t, b, CreateRequest{Project: "9", Description: "d"})
			a := newTestStore(t, storage, Config{InstanceID: "a", CacheTTL: time.Hour, ChangePollInterval: -1})
			ctx := context.Background()
			if err := a.pollChanges(ctx); err != nil { // primes a
				t.Fatal(err)
			}
			if err := authErr(a, token); err != nil {
				t.Fatal(err)
			}
			// Revoke's records, announced by a machine whose clock is off.
			tomb := *tr
			now := time.Now()
			tomb.RevokedAt = &now
			data, _ := json.Marshal(&tomb)
			if err := storage.Store(ctx, tokenKey(tr.TokenHash), data); err != nil {
				t.Fatal(err)
			}
			writeChange(t, storage, now.Add(skew), changeEntry{Op: opRevoke, Hash: tr.TokenHash, ID: tr.ID, At: now.Add(skew)})
			if err := a.pollChanges(ctx); err != nil {
				t.Fatal(err)
			}
			if err := authErr(a, token); !errors.Is(err, ErrNotFound) {
				t.Fatalf("token after a revocation dated %s off: %v", skew, err)
			}
		})
	}
}

// Old entries are pruned, at most maxPrunePerPoll per poll; recent ones,
// and names that are not entries, stay.
func TestChangeFeedPrune(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	s := newTestStore(t, storage, Config{ChangePollInterval: -1, ChangeRetention: time.Minute})
	const extra = 5
	old := time.Now().Add(-2 * time.Minute)
	for i := range maxPrunePerPoll + extra {
		writeChange(t, storage, old.Add(time.Duration(i)), changeEntry{Op: opCreate, Hash: strings.Repeat("0", 64)})
	}
	var recent []string
	for range 3 {
		recent = append(recent, writeChange(t, storage, time.Now(), changeEntry{Op: opCreate, Hash: strings.Repeat("1", 64)}))
	}
	foreign := changesDir + "/.tmp-123"
	if err := storage.Store(ctx, foreign, []byte("partial")); err != nil {
		t.Fatal(err)
	}
	count := func() (entries int) {
		keys, err := storage.List(ctx, changesDir, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if _, ok := parseChangeKey(k); ok {
				entries++
			}
		}
		return entries
	}
	for i, want := range []int{extra + len(recent), len(recent), len(recent)} {
		if err := s.pollChanges(ctx); err != nil {
			t.Fatal(err)
		}
		if got := count(); got != want {
			t.Fatalf("after poll %d: %d entries, want %d", i+1, got, want)
		}
	}
	for _, key := range append(recent, foreign) {
		if !storage.Exists(ctx, key) {
			t.Errorf("%s was pruned", key)
		}
	}
	// Pruned entries are forgotten after the grace period; listed ones are not.
	s.feed.forget(map[string]struct{}{recent[0]: {}, recent[1]: {}, recent[2]: {}}, time.Now().Add(2*seenGrace))
	if got := s.feed.seenCount(); got != len(recent) {
		t.Fatalf("seen set holds %d entries, want %d", got, len(recent))
	}
}

// A store that could not read the feed for half the retention empties its
// caches when it can again; after a shorter outage it trusts them.
func TestChangeFeedGapEmptiesCaches(t *testing.T) {
	tests := []struct {
		name       string
		retention  time.Duration
		outage     time.Duration
		wantReload bool
	}{
		{"short outage", time.Minute, 10 * time.Millisecond, false},
		{"outage of half the retention", 200 * time.Millisecond, 200 * time.Millisecond, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			storage := newFaultyStorage(t)
			s := newTestStore(t, storage, Config{CacheTTL: time.Hour, ChangePollInterval: -1, ChangeRetention: tt.retention})
			_, token := mustCreate(t, s, CreateRequest{Project: "9", Description: "d"})
			if err := s.pollChanges(ctx); err != nil {
				t.Fatal(err)
			}
			if err := authErr(s, token); err != nil {
				t.Fatal(err)
			}
			storage.failOn("list", changesDir)
			if err := s.pollChanges(ctx); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("poll during outage = %v", err)
			}
			time.Sleep(tt.outage)
			storage.heal()
			if err := s.pollChanges(ctx); err != nil {
				t.Fatal(err)
			}
			loads := storage.loads.Load()
			if err := authErr(s, token); err != nil {
				t.Fatal(err)
			}
			if reloaded := storage.loads.Load() > loads; reloaded != tt.wantReload {
				t.Fatalf("token read from storage again = %v, want %v", reloaded, tt.wantReload)
			}
		})
	}
}

// An entry that cannot be read is skipped, and does not stop the others.
func TestChangeFeedSkipsUnreadableEntries(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	a := newTestStore(t, storage, Config{InstanceID: "a", CacheTTL: time.Hour, ChangePollInterval: -1})
	b := newTestStore(t, storage, Config{InstanceID: "b", ChangePollInterval: -1})
	tr, token := mustCreate(t, b, CreateRequest{Project: "9", Description: "d"})
	if err := a.pollChanges(ctx); err != nil {
		t.Fatal(err)
	}
	if err := authErr(a, token); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{`{"op":"revoke","hash":"xyz"}`, `not json`, `{"op":"rename","hash":"` + tr.TokenHash + `"}`} {
		if err := storage.Store(ctx, changeKey(time.Now()), []byte(bad)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Revoke(ctx, tr.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := a.pollChanges(ctx); err != nil {
		t.Fatal(err)
	}
	if err := authErr(a, token); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoked token = %v", err)
	}
}

// A revocation or creation that cannot be announced fails, so the admin
// sees it; a revocation is complete when retried.
func TestAnnounceFailure(t *testing.T) {
	ctx := context.Background()
	storage := newFaultyStorage(t)
	a := newTestStore(t, storage, Config{InstanceID: "a", CacheTTL: time.Hour, ChangePollInterval: -1})
	b := newTestStore(t, storage, Config{InstanceID: "b", ChangePollInterval: -1})
	tr, token := mustCreate(t, b, CreateRequest{Project: "9", Description: "d"})
	if err := a.pollChanges(ctx); err != nil {
		t.Fatal(err)
	}
	if err := authErr(a, token); err != nil {
		t.Fatal(err)
	}

	storage.failOn("store", changesDir)
	if _, _, err := b.Create(ctx, CreateRequest{Project: "9", Description: "d", ImportToken: "unannounced-0123456789"}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Create = %v, want ErrUnavailable", err)
	}
	if err := authErr(b, "unannounced-0123456789"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("token of the failed creation = %v", err)
	}
	if err := b.Revoke(ctx, tr.ID, "alice"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Revoke = %v, want ErrUnavailable", err)
	}
	if err := authErr(b, token); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoking store still accepts the token: %v", err)
	}
	storage.heal()
	if err := b.Revoke(ctx, tr.ID, "alice"); err != nil {
		t.Fatalf("retried Revoke: %v", err)
	}
	if err := a.pollChanges(ctx); err != nil {
		t.Fatal(err)
	}
	if err := authErr(a, token); !errors.Is(err, ErrNotFound) {
		t.Fatalf("other store after the retried revoke: %v", err)
	}
}

func TestParseChangeKey(t *testing.T) {
	at := time.Unix(1_750_000_000, 123)
	tests := []struct {
		key    string
		wantOK bool
	}{
		{changeKey(at), true},
		{changesDir + "/1750000000000000123-0123456789abcdef", true},
		{changesDir + "/1750000000000000123-0123456789abcdeg", false},
		{changesDir + "/1750000000000000123_0123456789abcdef", false},
		{changesDir + "/175000000000000012-0123456789abcdef0", false},
		{changesDir + "/.1750000000000000123-0123456789abcde", false},
		{changesDir + "/tmp123", false},
	}
	for _, tt := range tests {
		got, ok := parseChangeKey(tt.key)
		if ok != tt.wantOK || (ok && !got.Equal(at)) {
			t.Errorf("parseChangeKey(%q) = %v, %v; want ok=%v", tt.key, got, ok, tt.wantOK)
		}
	}
}

// A creation announced after a store already cached the token keeps that
// entry: the token must keep working from the cache if storage goes down.
func TestChangeFeedCreationKeepsCachedToken(t *testing.T) {
	ctx := context.Background()
	storage := newFaultyStorage(t)
	a := newTestStore(t, storage, Config{InstanceID: "a", CacheTTL: time.Hour, ChangePollInterval: -1})
	b := newTestStore(t, storage, Config{InstanceID: "b", ChangePollInterval: -1})
	if err := a.pollChanges(ctx); err != nil { // primes a before the creation
		t.Fatal(err)
	}
	_, token := mustCreate(t, b, CreateRequest{Project: "9", Description: "d"})
	if err := authErr(a, token); err != nil {
		t.Fatal(err)
	}
	if err := a.pollChanges(ctx); err != nil { // applies the creation
		t.Fatal(err)
	}
	storage.failOn("load", "")
	if err := authErr(a, token); err != nil {
		t.Fatalf("cached token after its creation was announced, storage down: %v", err)
	}
}

// listedNotStored hides the values of change entries while hiding is on,
// as a storage that indexes a key before setting it (caddy.storage.redis)
// shows a listing made between the two.
type listedNotStored struct {
	certmagic.Storage
	hiding atomic.Bool
}

func (l *listedNotStored) Load(ctx context.Context, key string) ([]byte, error) {
	if l.hiding.Load() && strings.HasPrefix(key, changesDir+"/") {
		return nil, fs.ErrNotExist
	}
	return l.Storage.Load(ctx, key)
}

// An entry listed before its value can be read is applied by a later
// poll, not skipped for good.
func TestChangeFeedEntryListedBeforeStored(t *testing.T) {
	ctx := context.Background()
	storage := &listedNotStored{Storage: &certmagic.FileStorage{Path: t.TempDir()}}
	a := newTestStore(t, storage, Config{InstanceID: "a", CacheTTL: time.Hour, ChangePollInterval: -1})
	b := newTestStore(t, storage, Config{InstanceID: "b", ChangePollInterval: -1})
	tr, token := mustCreate(t, b, CreateRequest{Project: "9", Description: "d"})
	if err := a.pollChanges(ctx); err != nil {
		t.Fatal(err)
	}
	if err := authErr(a, token); err != nil {
		t.Fatal(err)
	}
	storage.hiding.Store(true)
	if err := b.Revoke(ctx, tr.ID, "admin API"); err != nil {
		t.Fatal(err)
	}
	if err := a.pollChanges(ctx); err != nil {
		t.Fatal(err)
	}
	storage.hiding.Store(false)
	if err := a.pollChanges(ctx); err != nil {
		t.Fatal(err)
	}
	if err := authErr(a, token); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoked token = %v: the entry listed before it was stored was never applied", err)
	}
}
