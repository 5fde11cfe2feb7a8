package tokenstore

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/triggergate/caddy-trigger-gateway/internal/allocstest"
)

func TestAuthenticateCache(t *testing.T) {
	const unknown = "glptt-ffffffffffffffffffffffffffffffffffffffff"
	tests := []struct {
		name      string
		cfg       Config
		token     func(known string) string
		wantErr   error
		wait      time.Duration // between the second and third lookup
		wantReads []int64       // storage lookups after each of three lookups
	}{
		{"positive hit", Config{}, func(k string) string { return k }, nil, 0, []int64{1, 1, 1}},
		{"negative hit", Config{}, func(string) string { return unknown }, ErrNotFound, 0, []int64{1, 1, 1}},
		{"negative disabled", Config{NegativeCacheTTL: -1}, func(string) string { return unknown }, ErrNotFound, 0, []int64{1, 2, 3}},
		{"positive TTL", Config{CacheTTL: 40 * time.Millisecond}, func(k string) string { return k }, nil, 120 * time.Millisecond, []int64{1, 1, 2}},
		{"negative TTL", Config{NegativeCacheTTL: 40 * time.Millisecond}, func(string) string { return unknown }, ErrNotFound, 120 * time.Millisecond, []int64{1, 1, 2}},
		{"impossible token", Config{}, func(string) string { return "tooshort" }, ErrNotFound, 0, []int64{0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storage := newFaultyStorage(t)
			obs := &countingObserver{}
			tt.cfg.Observer = obs
			s := newTestStore(t, storage, tt.cfg)
			_, known := mustCreate(t, s, CreateRequest{Project: "9", Description: "d"})
			token := tt.token(known)
			// A missing key is read twice: the second read, after a listing
			// shows the storage answers, confirms it (observedStorage.Load).
			loadsPerRead := int64(1)
			if errors.Is(tt.wantErr, ErrNotFound) {
				loadsPerRead = 2
			}
			base := storage.loads.Load()
			for i, reads := range tt.wantReads {
				want := reads * loadsPerRead
				if i == 2 {
					time.Sleep(tt.wait)
				}
				cred, err := s.Authenticate(context.Background(), token)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("lookup %d: err = %v, want %v", i, err, tt.wantErr)
				}
				if tt.wantErr == nil && cred.Trigger.Project != "9" {
					t.Fatalf("lookup %d: got %+v", i, cred.Trigger)
				}
				if got := storage.loads.Load() - base; got != want {
					t.Fatalf("after lookup %d: %d storage loads, want %d", i, got, want)
				}
			}
			if got := obs.hits.Load() + obs.misses.Load(); tt.wantReads[2] > 0 && got != 3 {
				t.Fatalf("hits+misses = %d, want 3", got)
			}
			if obs.misses.Load() != tt.wantReads[2] {
				t.Fatalf("misses = %d, want %d", obs.misses.Load(), tt.wantReads[2])
			}
		})
	}
}

func TestAuthenticateStorageFailureIsNotCached(t *testing.T) {
	ctx := context.Background()
	storage := newFaultyStorage(t)
	obs := &countingObserver{}
	s := newTestStore(t, storage, Config{Observer: obs})
	_, token := mustCreate(t, s, CreateRequest{Project: "9", Description: "d"})
	const unknown = "unknown-token-0123456789"

	storage.failOn("load", tokensDir)
	for _, tok := range []string{token, unknown} {
		if _, err := s.Authenticate(ctx, tok); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Authenticate with failing storage = %v, want ErrUnavailable", err)
		}
	}
	if obs.storageErrors("load") != 2 {
		t.Fatalf("load errors reported = %d, want 2", obs.storageErrors("load"))
	}
	storage.heal()
	if _, err := s.Authenticate(ctx, token); err != nil {
		t.Fatalf("after heal: %v", err)
	}
	if _, err := s.Authenticate(ctx, unknown); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown after heal: %v", err)
	}
}

func TestAuthenticateCorruptRecord(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	obs := &countingObserver{}
	s := newTestStore(t, storage, Config{Observer: obs})
	tr, _ := mustCreate(t, s, CreateRequest{Project: "9", Description: "d"})
	good, err := storage.Load(ctx, tokenKey(tr.TokenHash))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		token string
		value []byte
	}{
		{"not json", "corrupt-token-00000001", []byte("{")},
		{"record of another token", "corrupt-token-00000002", good},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := storage.Store(ctx, tokenKey(hexHash(tt.token)), tt.value); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Authenticate(ctx, tt.token); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("err = %v, want ErrUnavailable", err)
			}
			if got := obs.storageErrors("load"); got != i+1 {
				t.Fatalf("load errors = %d, want %d", got, i+1)
			}
		})
	}
}

func TestRevocationReachesOtherInstanceWithinTTL(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	const ttl = 100 * time.Millisecond
	a := newTestStore(t, storage, Config{InstanceID: "a", CacheTTL: ttl})
	b := newTestStore(t, storage, Config{InstanceID: "b"})
	tr, token := mustCreate(t, b, CreateRequest{Project: "9", Description: "d"})
	if _, err := a.Authenticate(ctx, token); err != nil {
		t.Fatal(err)
	}
	if err := b.Revoke(ctx, tr.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	// a learns of it when its cache entry expires, never later.
	deadline := time.Now().Add(ttl + 100*time.Millisecond)
	for {
		_, err := a.Authenticate(ctx, token)
		if errors.Is(err, ErrNotFound) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("revoked token still accepted after the cache TTL")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestChangeRacingLookup holds a lookup between its storage read and its
// caching while a revocation or an import completes: the stale answer may
// serve that lookup, which started first, but must not be cached for the
// lookups after the change.
func TestChangeRacingLookup(t *testing.T) {
	const imported = "racing-import-0123456789"
	tests := []struct {
		name string
		// setup returns the token looked up and the change to race with it.
		setup func(t *testing.T, s *Store) (token string, change func() error)
		// holdAt is the read of the token's key held: the one whose answer
		// stands (a missing key's is the second, see observedStorage.Load).
		holdAt   int
		staleErr error // what the held lookup answers
		freshErr error // what a lookup after the change answers
	}{
		{"revoke", func(t *testing.T, s *Store) (string, func() error) {
			tr, token := mustCreate(t, s, CreateRequest{Project: "9", Description: "d"})
			return token, func() error { return s.Revoke(context.Background(), tr.ID, "alice") }
		}, 1, nil, ErrRevoked},
		{"import", func(t *testing.T, s *Store) (string, func() error) {
			return imported, func() error {
				_, _, err := s.Create(context.Background(), CreateRequest{Project: "9", Description: "d", ImportToken: imported})
				return err
			}
		}, 2, ErrNotFound, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			storage := newFaultyStorage(t)
			s := newTestStore(t, storage, Config{})
			token, change := tt.setup(t, s)

			held, release := make(chan struct{}), make(chan struct{})
			var reads atomic.Int64
			storage.onLoad(func(key string) {
				if key == tokenKey(hexHash(token)) && reads.Add(1) == int64(tt.holdAt) {
					close(held)
					<-release
				}
			})
			stale := make(chan error, 1)
			go func() {
				_, err := s.Authenticate(ctx, token)
				stale <- err
			}()
			<-held
			storage.onLoad(nil)
			if err := change(); err != nil {
				t.Fatal(err)
			}
			close(release)
			if err := <-stale; !errors.Is(err, tt.staleErr) {
				t.Fatalf("held lookup = %v, want %v", err, tt.staleErr)
			}
			if _, err := s.Authenticate(ctx, token); !errors.Is(err, tt.freshErr) {
				t.Fatalf("lookup after the change = %v, want %v", err, tt.freshErr)
			}
		})
	}
}

// A revoked token is refused with its trigger's ID after one storage read,
// and from the negative cache after that: no read, no allocation.
func TestAuthenticateRevokedIsCached(t *testing.T) {
	ctx := context.Background()
	storage := newFaultyStorage(t)
	s := newTestStore(t, storage, Config{})
	tr, token := mustCreate(t, s, CreateRequest{Project: "9", Description: "d"})
	if err := s.Revoke(ctx, tr.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	base := storage.loads.Load()
	lookup := func() {
		_, err := s.Authenticate(ctx, token)
		if revoked, ok := errors.AsType[*RevokedError](err); !ok || revoked.TriggerID != tr.ID {
			t.Fatalf("revoked token: %v, want a RevokedError of trigger %d", err, tr.ID)
		}
	}
	lookup()
	if got := storage.loads.Load() - base; got != 1 {
		t.Fatalf("first lookup of a revoked token: %d storage loads, want 1", got)
	}
	if allocs := allocstest.Fewest(3, 100, lookup); allocs != 0 {
		t.Fatalf("cached revoked lookup allocates %.1f times per call", allocs)
	}
	if got := storage.loads.Load() - base; got != 1 {
		t.Fatalf("cached lookups of a revoked token read storage: %d loads, want 1", got)
	}
}

func TestAuthenticateCachedDoesNotAllocate(t *testing.T) {
	s := newTestStore(t, &certmagic.FileStorage{Path: t.TempDir()}, Config{Observer: &countingObserver{}})
	_, token := mustCreate(t, s, CreateRequest{Project: "9", Description: "d"})
	ctx := context.Background()
	cred, err := s.Authenticate(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	allocs := allocstest.Fewest(3, 1000, func() {
		c, err := s.Authenticate(ctx, token)
		if err != nil || c != cred {
			t.Fatalf("cached lookup = %p, %v", c, err)
		}
		c.RecordUse(now)
	})
	if allocs != 0 {
		t.Fatalf("cached Authenticate+RecordUse allocates %.1f times per call", allocs)
	}
}

// SetCache applies a new size and new TTLs to an open store, to the tokens
// cached already, as a config reload needs.
func TestSetCache(t *testing.T) {
	const unknown = "glptt-ffffffffffffffffffffffffffffffffffffffff"
	storage := newFaultyStorage(t)
	s := newTestStore(t, storage, Config{CacheSize: 3, CacheTTL: time.Hour, NegativeCacheTTL: time.Hour})
	var tokens []string
	for range 3 {
		_, token := mustCreate(t, s, CreateRequest{Project: "9", Description: "d"})
		tokens = append(tokens, token)
	}
	loadsFor := func(tokens ...string) int64 {
		t.Helper()
		before := storage.loads.Load()
		for _, token := range tokens {
			if _, err := s.Authenticate(context.Background(), token); err != nil && !errors.Is(err, ErrNotFound) {
				t.Fatal(err)
			}
		}
		return storage.loads.Load() - before
	}
	loadsFor(tokens...)
	loadsFor(unknown)
	if n := loadsFor(append(tokens, unknown)...); n != 0 {
		t.Fatalf("%d storage loads for cached tokens, want 0", n)
	}

	if err := s.SetCache(1, 0, 0); err != nil { // size 1, default TTLs
		t.Fatal(err)
	}
	if n := loadsFor(tokens[2]); n != 0 {
		t.Fatalf("the most recently used token was evicted (%d loads)", n)
	}
	if n := loadsFor(tokens[0], tokens[1]); n != 2 {
		t.Fatalf("%d storage loads after shrinking the cache to one token, want 2", n)
	}

	if err := s.SetCache(10, 30*time.Millisecond, -1); err != nil { // negative caching off
		t.Fatal(err)
	}
	// Each lookup reads the missing key twice (see observedStorage.Load).
	if n := loadsFor(unknown, unknown); n != 4 {
		t.Fatalf("%d storage loads for an unknown token with negative caching off, want 4", n)
	}
	loadsFor(tokens...)
	time.Sleep(60 * time.Millisecond)
	if n := loadsFor(tokens...); n != 3 {
		t.Fatalf("%d storage loads after the new TTL passed, want 3", n)
	}

	for _, bad := range []struct {
		size     int
		ttl, neg time.Duration
	}{{-1, 0, 0}, {0, -time.Second, 0}} {
		if err := s.SetCache(bad.size, bad.ttl, bad.neg); err == nil {
			t.Errorf("SetCache(%d, %s, %s) accepted", bad.size, bad.ttl, bad.neg)
		}
	}
}

// A closed store leaves no goroutine behind: stores are opened and closed
// as configs change storage, for the life of the process.
func TestClosedStoresLeaveNoGoroutine(t *testing.T) {
	// certmagic's file locks refresh themselves in a goroutine that sees
	// the lock gone only seconds after Unlock: in-process locks keep those
	// out of the count.
	storage := &inProcessLocks{Storage: newFaultyStorage(t)}
	open := func() {
		s, err := New(Config{Storage: storage, InstanceID: "a"})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	open() // whatever starts once per process
	before := runtime.NumGoroutine()
	const stores = 20
	for range stores {
		open()
	}
	var after int
	for range 50 { // goroutines of a closed store may take a moment to return
		if after = runtime.NumGoroutine(); after <= before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%d goroutines after opening and closing %d stores, %d before", after, stores, before)
}

// inProcessLocks is a storage whose locks are in-process mutexes.
type inProcessLocks struct {
	certmagic.Storage
	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

func (s *inProcessLocks) lock(name string) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locks == nil {
		s.locks = make(map[string]*sync.Mutex)
	}
	if s.locks[name] == nil {
		s.locks[name] = new(sync.Mutex)
	}
	return s.locks[name]
}

func (s *inProcessLocks) Lock(_ context.Context, name string) error {
	s.lock(name).Lock()
	return nil
}

func (s *inProcessLocks) Unlock(_ context.Context, name string) error {
	s.lock(name).Unlock()
	return nil
}
