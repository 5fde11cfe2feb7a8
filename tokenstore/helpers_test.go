package tokenstore

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// errInjected is what faultyStorage returns for the operations told to fail.
var errInjected = errors.New("injected storage failure")

// faultyStorage wraps a real storage, failing chosen operations on keys with
// a chosen prefix and counting loads.
type faultyStorage struct {
	certmagic.Storage

	mu        sync.Mutex
	fail      map[string]string // op -> failing key prefix
	afterLoad func(key string)  // called after each successful read, if set
	loads     atomic.Int64
}

func newFaultyStorage(t *testing.T) *faultyStorage {
	return &faultyStorage{Storage: &certmagic.FileStorage{Path: t.TempDir()}, fail: map[string]string{}}
}

func (f *faultyStorage) failOn(op, prefix string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[op] = prefix
}

func (f *faultyStorage) heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.fail)
}

func (f *faultyStorage) check(op, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if prefix, ok := f.fail[op]; ok && strings.HasPrefix(key, prefix) {
		return errInjected
	}
	return nil
}

func (f *faultyStorage) Load(ctx context.Context, key string) ([]byte, error) {
	f.loads.Add(1)
	if err := f.check("load", key); err != nil {
		return nil, err
	}
	data, err := f.Storage.Load(ctx, key)
	f.mu.Lock()
	hook := f.afterLoad
	f.mu.Unlock()
	if hook != nil {
		hook(key)
	}
	return data, err
}

// onLoad sets the hook called after each read.
func (f *faultyStorage) onLoad(hook func(key string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.afterLoad = hook
}

func (f *faultyStorage) Store(ctx context.Context, key string, value []byte) error {
	if err := f.check("store", key); err != nil {
		return err
	}
	return f.Storage.Store(ctx, key, value)
}

func (f *faultyStorage) Delete(ctx context.Context, key string) error {
	if err := f.check("delete", key); err != nil {
		return err
	}
	return f.Storage.Delete(ctx, key)
}

func (f *faultyStorage) List(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	if err := f.check("list", prefix); err != nil {
		return nil, err
	}
	return f.Storage.List(ctx, prefix, recursive)
}

// countingObserver records the events a store reports.
type countingObserver struct {
	hits, misses atomic.Int64

	mu     sync.Mutex
	errors map[string]int
}

func (o *countingObserver) CacheHit()  { o.hits.Add(1) }
func (o *countingObserver) CacheMiss() { o.misses.Add(1) }
func (o *countingObserver) StorageError(op string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.errors == nil {
		o.errors = map[string]int{}
	}
	o.errors[op]++
}

func (o *countingObserver) storageErrors(op string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.errors[op]
}

// clock is an adjustable Now for tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newTestStore builds a store on storage, closed at the end of the test.
// The flush loop is slowed down so that tests flush explicitly.
func newTestStore(t testing.TB, storage certmagic.Storage, cfg Config) *Store {
	t.Helper()
	cfg.Storage = storage
	if cfg.InstanceID == "" {
		cfg.InstanceID = "instance-a"
	}
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = time.Hour
	}
	// A loaded test machine can stall a file read for seconds; only the
	// tests about timeouts set one.
	if cfg.StorageTimeout == 0 {
		cfg.StorageTimeout = time.Minute
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// mustCreate creates a trigger or fails the test.
func mustCreate(t testing.TB, s *Store, req CreateRequest) (*Trigger, string) {
	t.Helper()
	tr, token, err := s.Create(context.Background(), req)
	if err != nil {
		t.Fatalf("Create(%q): %v", req.Project, err)
	}
	return tr, token
}
