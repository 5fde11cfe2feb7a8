package tokenstore

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// hangingStorage is a storage that stops answering reads of keys with a
// prefix, ignoring contexts as a dead network peer's client may, until
// released.
type hangingStorage struct {
	certmagic.Storage
	mu      sync.Mutex
	prefix  string
	release chan struct{}
}

func (h *hangingStorage) hang(prefix string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.prefix, h.release = prefix, make(chan struct{})
}

func (h *hangingStorage) resume() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.release != nil {
		close(h.release)
		h.release = nil
	}
}

func (h *hangingStorage) Load(ctx context.Context, key string) ([]byte, error) {
	h.mu.Lock()
	release, prefix := h.release, h.prefix
	h.mu.Unlock()
	if release != nil && strings.HasPrefix(key, prefix) {
		<-release
	}
	return h.Storage.Load(ctx, key)
}

// While storage hangs, cached tokens keep working and uncached ones are
// refused within the storage timeout; lookups work again once it answers.
func TestStorageTimeoutBoundsLookups(t *testing.T) {
	const timeout = 50 * time.Millisecond
	storage := &hangingStorage{Storage: &certmagic.FileStorage{Path: t.TempDir()}}
	t.Cleanup(storage.resume)
	obs := &countingObserver{}
	s := newTestStore(t, storage, Config{StorageTimeout: timeout, Observer: obs})
	_, cached := mustCreate(t, s, CreateRequest{Project: "9", Description: "cached"})
	_, uncached := mustCreate(t, s, CreateRequest{Project: "9", Description: "uncached"})
	if err := authErr(s, cached); err != nil {
		t.Fatal(err)
	}

	storage.hang(tokensDir)
	tests := []struct {
		token   string
		wantErr error
		within  time.Duration
	}{
		// The storage hangs until the end of the test: any wait on it fails.
		{cached, nil, time.Second},
		{uncached, ErrUnavailable, timeout + time.Second},
		{"glptt-ffffffffffffffffffffffffffffffffffffffff", ErrUnavailable, timeout + time.Second},
	}
	for _, tt := range tests {
		start := time.Now()
		err := authErr(s, tt.token)
		took := time.Since(start)
		if !errors.Is(err, tt.wantErr) || took > tt.within {
			t.Errorf("%s…: %v after %s; want %v within %s", TokenPrefix(tt.token), err, took, tt.wantErr, tt.within)
		}
		if tt.wantErr != nil && !strings.Contains(err.Error(), "did not answer within") {
			t.Errorf("error does not say why: %v", err)
		}
	}
	if got := obs.storageErrors("load"); got != 2 {
		t.Fatalf("load errors counted = %d, want 2", got)
	}
	storage.resume()
	if err := authErr(s, uncached); err != nil {
		t.Fatalf("after storage answers again: %v", err)
	}
}

// A storage outage keeps usage in memory; the first flush that succeeds
// writes all of it.
func TestUsageSurvivesOutage(t *testing.T) {
	ctx := context.Background()
	storage := newFaultyStorage(t)
	s := newTestStore(t, storage, Config{})
	tr, token := mustCreate(t, s, CreateRequest{Project: "9", Description: "d"})
	cred := authenticate(t, s, token)
	cred.RecordUse(time.Now())
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{"load", "store", "list", "delete"} {
		storage.failOn(op, "")
	}
	for range 3 {
		cred.RecordUse(time.Now())
		if err := s.Flush(ctx); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Flush during outage = %v", err)
		}
	}
	storage.heal()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if rec, _ := storedUsage(t, storage, tr.ID, s.InstanceID()); rec.UseCount != 4 {
		t.Fatalf("stored %d uses, want 4", rec.UseCount)
	}
}

// durationObserver records storage latencies.
type durationObserver struct {
	countingObserver
	mu  sync.Mutex
	ops map[string]int
}

func (o *durationObserver) StorageDuration(op string, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if d < 0 {
		panic("negative duration")
	}
	o.ops[op]++
}

func TestStorageDurationsObserved(t *testing.T) {
	ctx := context.Background()
	obs := &durationObserver{ops: map[string]int{}}
	// Change entries older than a nanosecond: the poll below deletes them.
	s := newTestStore(t, &certmagic.FileStorage{Path: t.TempDir()}, Config{Observer: obs, ChangeRetention: time.Nanosecond})
	tr, token := mustCreate(t, s, CreateRequest{Project: "9", Description: "d"})
	authenticate(t, s, token).RecordUse(time.Now())
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.List(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(ctx, tr.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := s.pollChanges(ctx); err != nil {
		t.Fatal(err)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	for _, op := range []string{"load", "store", "list", "delete", "lock", "unlock"} {
		if obs.ops[op] == 0 {
			t.Errorf("no duration observed for %q (got %v)", op, obs.ops)
		}
	}
}

// Repeated failures of one operation are all counted but logged once per
// interval, the next line saying how many were held back.
func TestStorageErrorLogsAreThrottled(t *testing.T) {
	core, logs := observer.New(zapcore.ErrorLevel)
	storage := newFaultyStorage(t)
	obs := &countingObserver{}
	s := newTestStore(t, storage, Config{Logger: zap.New(core), Observer: obs})
	clk := newClock()
	s.logs.clock = clk.Now
	storage.failOn("load", tokensDir)
	storage.failOn("list", triggersDir)

	const failures = 20
	for range failures {
		if err := authErr(s, "glptt-ffffffffffffffffffffffffffffffffffffffff"); !errors.Is(err, ErrUnavailable) {
			t.Fatal(err)
		}
	}
	if _, err := s.List(context.Background(), ""); !errors.Is(err, ErrUnavailable) {
		t.Fatal(err)
	}
	if got := obs.storageErrors("load"); got != failures {
		t.Fatalf("load errors counted = %d, want %d", got, failures)
	}
	if got := logs.FilterField(zap.String("op", "load")).Len(); got != 1 {
		t.Fatalf("%d lines logged for %d load failures, want 1", got, failures)
	}
	if got := logs.FilterField(zap.String("op", "list")).Len(); got != 1 {
		t.Fatalf("a list failure is not logged on its own: %d lines", got)
	}
	clk.Add(errorLogInterval)
	_ = authErr(s, "glptt-ffffffffffffffffffffffffffffffffffffffff")
	lines := logs.FilterField(zap.String("op", "load")).All()
	if len(lines) != 2 || lines[1].ContextMap()["suppressed"] != int64(failures-1) {
		t.Fatalf("after the interval: %d lines, last %v", len(lines), lines[len(lines)-1].ContextMap())
	}
}

func TestLogThrottle(t *testing.T) {
	l := newLogThrottle(time.Second)
	t0 := time.Unix(1000, 0)
	var now time.Time
	l.clock = func() time.Time { return now }
	steps := []struct {
		key            string
		at             time.Duration
		wantOK         bool
		wantSuppressed int
	}{
		{"load", 0, true, 0},
		{"load", 100 * time.Millisecond, false, 0},
		{"store", 200 * time.Millisecond, true, 0},
		{"load", 900 * time.Millisecond, false, 0},
		{"load", time.Second, true, 2},
		{"load", 1500 * time.Millisecond, false, 0},
		{"load", 3 * time.Second, true, 1},
		{"load", 5 * time.Second, true, 0},
	}
	for i, st := range steps {
		now = t0.Add(st.at)
		suppressed, ok := l.allow(st.key)
		if ok != st.wantOK || suppressed != st.wantSuppressed {
			t.Errorf("step %d: allow(%s, +%s) = %d, %v; want %d, %v", i, st.key, st.at, suppressed, ok, st.wantSuppressed, st.wantOK)
		}
	}
}

// misreportingStorage reports a failed read as a missing key, as
// caddy-storage-redis v1.8.1 does for any Redis error; its listings report
// failures properly.
type misreportingStorage struct{ *faultyStorage }

func (m misreportingStorage) Load(ctx context.Context, key string) ([]byte, error) {
	data, err := m.faultyStorage.Load(ctx, key)
	if errors.Is(err, errInjected) {
		return nil, fs.ErrNotExist
	}
	return data, err
}

// A read failure disguised as a missing key is caught: no valid token is
// refused as unknown (nor cached so), and no usage total is reset.
func TestMisreportedMissingKeys(t *testing.T) {
	ctx := context.Background()
	faulty := newFaultyStorage(t)
	storage := misreportingStorage{faulty}
	outage := func() {
		for _, op := range []string{"load", "store", "list", "delete"} {
			faulty.failOn(op, "")
		}
	}

	first := newTestStore(t, storage, Config{InstanceID: "node"})
	tr, used := mustCreate(t, first, CreateRequest{Project: "9", Description: "used"})
	_, uncached := mustCreate(t, first, CreateRequest{Project: "9", Description: "uncached"})
	cred := authenticate(t, first, used)
	for range 3 {
		cred.RecordUse(time.Now())
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	// Restarted, the instance caches the token, then storage fails before
	// its first flush has read the stored total.
	s := newTestStore(t, storage, Config{InstanceID: "node"})
	cred = authenticate(t, s, used)
	outage()
	for _, tok := range []string{uncached, "glptt-ffffffffffffffffffffffffffffffffffffffff"} {
		if err := authErr(s, tok); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("%s… during the outage: %v, want ErrUnavailable", TokenPrefix(tok), err)
		}
	}
	cred.RecordUse(time.Now())
	if err := s.Flush(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Flush during the outage = %v", err)
	}
	faulty.heal()
	if err := authErr(s, uncached); err != nil {
		t.Fatalf("valid token after the outage: %v", err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if rec, _ := storedUsage(t, faulty, tr.ID, "node"); rec.UseCount != 4 {
		t.Fatalf("stored total = %d, want 4", rec.UseCount)
	}
}
