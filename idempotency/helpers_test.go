package idempotency

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

// faultyStorage wraps a real FileStorage, failing chosen operations and
// counting the calls of each.
type faultyStorage struct {
	certmagic.Storage

	mu    sync.Mutex
	fail  map[string]string // op -> failing key prefix ("" fails every key)
	calls sync.Map          // op -> *atomic.Int64
}

func newFaultyStorage(t testing.TB) *faultyStorage {
	return &faultyStorage{Storage: &certmagic.FileStorage{Path: t.TempDir()}, fail: map[string]string{}}
}

// over returns another faultyStorage on the same files, as a second
// instance of a cluster would see them.
func (f *faultyStorage) over() *faultyStorage {
	return &faultyStorage{Storage: f.Storage, fail: map[string]string{}}
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

func (f *faultyStorage) count(op string) int64 {
	c, ok := f.calls.Load(op)
	if !ok {
		return 0
	}
	return c.(*atomic.Int64).Load()
}

func (f *faultyStorage) check(op, key string) error {
	c, _ := f.calls.LoadOrStore(op, new(atomic.Int64))
	c.(*atomic.Int64).Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if prefix, ok := f.fail[op]; ok && strings.HasPrefix(key, prefix) {
		return errInjected
	}
	return nil
}

func (f *faultyStorage) Load(ctx context.Context, key string) ([]byte, error) {
	if err := f.check("load", key); err != nil {
		return nil, err
	}
	return f.Storage.Load(ctx, key)
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

func (f *faultyStorage) Lock(ctx context.Context, name string) error {
	if err := f.check("lock", name); err != nil {
		return err
	}
	return f.Storage.Lock(ctx, name)
}

func (f *faultyStorage) Unlock(ctx context.Context, name string) error {
	if err := f.check("unlock", name); err != nil {
		// Still release it, as a storage that failed to confirm might
		// have; the test is about the reporting.
		_ = f.Storage.Unlock(ctx, name)
		return err
	}
	return f.Storage.Unlock(ctx, name)
}

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock(t time.Time) *clock { return &clock{now: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func (c *clock) advance(d time.Duration) { c.set(c.Now().Add(d)) }

// recorder is an Observer counting its events.
type recorder struct {
	replayed, saved atomic.Int64
	mu              sync.Mutex
	storageErrors   []string
}

func (r *recorder) Replayed() { r.replayed.Add(1) }
func (r *recorder) Saved()    { r.saved.Add(1) }
func (r *recorder) StorageError(op string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.storageErrors = append(r.storageErrors, op)
}

func (r *recorder) errorsSeen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.storageErrors...)
}

// t0 is a fixed time in the middle of a day, so that a 24h bucket boundary
// (UTC midnight) is hours away in both directions.
var t0 = time.Date(2025, 11, 25, 12, 0, 0, 0, time.UTC)

// newTestStore builds a Store on st with a fake clock, a recorder and no
// periodic sweep (tests sweep explicitly).
func newTestStore(t testing.TB, st certmagic.Storage, clk *clock, adjust ...func(*Config)) (*Store, *recorder) {
	t.Helper()
	rec := &recorder{}
	cfg := Config{Storage: st, Now: clk.Now, Observer: rec, SweepInterval: -1}
	for _, f := range adjust {
		f(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, rec
}

// answer is a typical upstream answer to a trigger.
func answer(body string) *Answer {
	return &Answer{
		Status: 201,
		Header: map[string][]string{"Content-Type": {"application/json"}},
		Body:   []byte(body),
	}
}

// mustClaim calls Begin and fails unless it returns a claim.
func mustClaim(t testing.TB, s *Store, key string) *Claim {
	t.Helper()
	a, c, err := s.Begin(context.Background(), Request{Key: key})
	if err != nil || a != nil || c == nil {
		t.Fatalf("Begin = (%v, %v, %v), want a claim", a, c, err)
	}
	return c
}

// mustReplay calls Begin and fails unless it returns an answer with body.
func mustReplay(t testing.TB, s *Store, key, body string) *Answer {
	t.Helper()
	a, c, err := s.Begin(context.Background(), Request{Key: key})
	if err != nil || c != nil || a == nil {
		if c != nil {
			c.Release()
		}
		t.Fatalf("Begin = (%v, %v, %v), want a replay", a, c, err)
	}
	if string(a.Body) != body {
		t.Fatalf("replayed body %q, want %q", a.Body, body)
	}
	return a
}
