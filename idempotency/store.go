package idempotency

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	lru "github.com/hashicorp/golang-lru/v2"
	"go.uber.org/zap"
)

// Defaults of Config.
const (
	DefaultWindow    = 24 * time.Hour
	DefaultCacheSize = 10000
	DefaultMaxBody   = 64 << 10

	// storageTimeout bounds the storage work that must finish even when the
	// caller's context is cancelled: saving an answer (the trigger already
	// happened) and releasing a lock.
	storageTimeout = 10 * time.Second
	// Bounds of the default sweep interval, Window/4.
	minSweepInterval = time.Second
	maxSweepInterval = time.Hour
)

var (
	// ErrUnavailable wraps every storage failure: the store cannot tell
	// whether the request was seen before, so the caller should refuse it
	// (503) rather than risk triggering twice.
	ErrUnavailable = errors.New("idempotency storage unavailable")
	// ErrInProgress is returned by Begin when its context ends while it
	// waits for a request with the same key, on this instance or another,
	// to finish. The error also wraps the context's error.
	ErrInProgress = errors.New("a request with the same idempotency key is in progress")
	// ErrTooLarge is returned by Save for an answer whose body exceeds
	// Config.MaxBody: it is not saved, and a later repeat is forwarded again.
	ErrTooLarge = errors.New("answer too large to save")
	// ErrMismatch is returned by Begin when the key was used, within the
	// window, for a request with another fingerprint: the key was reused
	// for a different request, which neither replays the first answer nor
	// is forwarded (the IETF Idempotency-Key draft answers it 422).
	ErrMismatch = errors.New("idempotency key already used for a different request")
	// ErrInvalidKey is returned by Begin for a key, legacy key or
	// fingerprint not made by Key, LegacyKey or Fingerprint.
	ErrInvalidKey = errors.New("invalid idempotency key; derive it with Key")
	// ErrClaimDone is returned by Save on a claim already saved or released.
	ErrClaimDone = errors.New("idempotency claim already saved or released")
)

// Observer receives events for metrics. Every method must be cheap and safe
// for concurrent use.
type Observer interface {
	// Replayed is called when Begin answers with a saved answer.
	Replayed()
	// Saved is called when an answer has been durably saved.
	Saved()
	// StorageError is called for each failed storage operation; op is one
	// of "lock", "unlock", "load", "store", "list" or "delete".
	StorageError(op string)
}

type nopObserver struct{}

func (nopObserver) Replayed()           {}
func (nopObserver) Saved()              {}
func (nopObserver) StorageError(string) {}

// Config configures a Store.
type Config struct {
	// Storage holds saved answers and the per-key locks; required. Every
	// instance of a cluster must use the same storage (the one holding the
	// tokens) for repeats to be recognised across instances.
	Storage certmagic.Storage
	// Window is how long a saved answer is replayed (default 24h; at least
	// 1s). Use the same window on every instance: answers saved under
	// another window are not seen.
	Window time.Duration
	// CacheSize is how many recent answers this instance keeps in memory
	// (default 10000). Memory use is bounded by CacheSize × MaxBody.
	CacheSize int
	// MaxBody is the largest answer body that is saved (default 64 KiB).
	// A larger answer is not saved at all (see Claim.Save).
	MaxBody int
	// SweepInterval is how often expired buckets are deleted from storage
	// (default Window/4, between 1s and 1h); negative disables the
	// periodic sweep, leaving it to Sweep.
	SweepInterval time.Duration
	// Logger receives storage errors and unsaved answers (default: none).
	// Lines never hold keys, headers or bodies.
	Logger *zap.Logger
	// Observer receives events for metrics (optional).
	Observer Observer
	// Now returns the current time (default time.Now). It dates answers and
	// decides expiry and buckets, and every cache hit is checked against it.
	Now func() time.Time
}

// Store recognises repeated requests and replays their first answer. It is
// safe for concurrent use. Create one with New and release it with Close.
type Store struct {
	storage  certmagic.Storage
	window   time.Duration
	width    int64 // bucket width in seconds: Window rounded up
	maxBody  int
	logger   *zap.Logger
	observer Observer
	now      func() time.Time
	// legacyUntil ends the lookups of Request.LegacyKey: answers saved
	// under legacy keys before this store started have all expired then.
	legacyUntil time.Time

	// cache holds recent answers; each hit is checked against the window.
	// (golang-lru's expirable LRU would also evict by age, but runs a
	// goroutine that can never be stopped: one per store ever opened.)
	cache *lru.Cache[string, *Answer]

	// flights holds the keys claimed by this instance and not yet saved
	// or released, so that repeats arriving meanwhile wait in memory
	// instead of polling the storage lock.
	mu      sync.Mutex
	flights map[string]*flight

	stopSweep context.CancelFunc
	sweepDone chan struct{}
	closeOnce sync.Once
}

// New validates cfg and starts the periodic sweep.
func New(cfg Config) (*Store, error) {
	switch {
	case cfg.Storage == nil:
		return nil, errors.New("idempotency: storage is required")
	case cfg.Window < 0 || (cfg.Window > 0 && cfg.Window < time.Second):
		return nil, fmt.Errorf("idempotency: window must be at least 1s, got %s", cfg.Window)
	case cfg.CacheSize < 0:
		return nil, fmt.Errorf("idempotency: cache size must not be negative, got %d", cfg.CacheSize)
	case cfg.MaxBody < 0:
		return nil, fmt.Errorf("idempotency: max body must not be negative, got %d", cfg.MaxBody)
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.SweepInterval == 0 {
		cfg.SweepInterval = min(max(cfg.Window/4, minSweepInterval), maxSweepInterval)
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}

	cache, err := lru.New[string, *Answer](cfg.CacheSize)
	if err != nil {
		return nil, fmt.Errorf("idempotency: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Store{
		storage:  cfg.Storage,
		window:   cfg.Window,
		width:    int64((cfg.Window + time.Second - 1) / time.Second),
		maxBody:  cfg.MaxBody,
		logger:   cfg.Logger,
		observer: cfg.Observer,
		now:      cfg.Now,
		cache:    cache,
		// Legacy answers were saved before this store started (by this
		// instance before an upgrade, or by others being upgraded with it).
		legacyUntil: cfg.Now().Add(cfg.Window),
		flights:     make(map[string]*flight),
		stopSweep:   cancel,
		sweepDone:   make(chan struct{}),
	}
	if cfg.SweepInterval > 0 {
		go s.sweepLoop(ctx, cfg.SweepInterval)
	} else {
		close(s.sweepDone)
	}
	return s, nil
}

// Close stops the periodic sweep and empties the cache. Claims still open
// can be saved or released. It is idempotent and always returns nil.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stopSweep()
		<-s.sweepDone
		s.cache.Purge()
	})
	return nil
}

// Destruct is Close, so that a *Store satisfies caddy.Destructor.
func (s *Store) Destruct() error { return s.Close() }

// live reports whether an answer saved at a.SavedAt is still within the
// window at now.
func (s *Store) live(a *Answer, now time.Time) bool { return now.Sub(a.SavedAt) < s.window }

// cached returns the cached answer for key if it is still live.
func (s *Store) cached(key string) *Answer {
	a, ok := s.cache.Get(key)
	if !ok {
		return nil
	}
	if !s.live(a, s.now()) {
		s.cache.Remove(key)
		return nil
	}
	return a
}

// storageError reports a failed storage operation to the observer and the
// log. A failure caused by the caller giving up (callerCtx done) is not the
// storage's fault and is not counted.
func (s *Store) storageError(callerCtx context.Context, op string, err error) {
	if callerCtx.Err() != nil {
		return
	}
	s.observer.StorageError(op)
	s.logger.Error("idempotency storage operation failed", zap.String("op", op), zap.Error(err))
}

// unavailable wraps a storage failure after reporting it.
func (s *Store) unavailable(callerCtx context.Context, op, what string, err error) error {
	s.storageError(callerCtx, op, err)
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, what, err)
}

// isNotExist reports whether err means a missing key.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
