package tokenstore

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// Defaults of Config.
const (
	DefaultCacheSize        = 10000
	DefaultCacheTTL         = time.Minute
	DefaultNegativeCacheTTL = 10 * time.Second
	DefaultFlushInterval    = 10 * time.Second

	// closeFlushTimeout bounds the final flush so shutdown cannot hang on a
	// storage that stopped answering.
	closeFlushTimeout = 10 * time.Second
	// unlockTimeout bounds releasing the ID lock and undoing a failed
	// creation, which must happen even when the caller's context is
	// already cancelled.
	unlockTimeout = 10 * time.Second
)

// Observer receives events for metrics. Every method must be cheap and safe
// for concurrent use.
type Observer interface {
	// CacheHit is called when Authenticate answers from the cache, positive or
	// negative.
	CacheHit()
	// CacheMiss is called when Authenticate has to read storage.
	CacheMiss()
	// StorageError is called for each failed storage operation; op is one of
	// "load", "store", "list", "delete" or "lock".
	StorageError(op string)
}

type nopObserver struct{}

func (nopObserver) CacheHit()           {}
func (nopObserver) CacheMiss()          {}
func (nopObserver) StorageError(string) {}

// Config configures a Store.
type Config struct {
	// Storage holds the records; required. Every instance of a cluster must
	// use the same storage.
	Storage certmagic.Storage
	// InstanceID names this instance's usage records; required, and unique
	// among the stores live on the same storage at the same time.
	InstanceID string
	// CacheSize is the number of tokens the positive cache holds (default
	// 10000); the negative cache holds as many.
	CacheSize int
	// CacheTTL is how long a known token is served from the cache (default
	// 1m). It bounds how long a revocation made by another instance takes to
	// reach this one.
	CacheTTL time.Duration
	// NegativeCacheTTL is how long an unknown token is remembered as such
	// (default 10s when 0); a negative value disables negative caching.
	NegativeCacheTTL time.Duration
	// FlushInterval is how often pending usage is written (default 10s).
	FlushInterval time.Duration
	// Logger receives storage errors and admin changes (default: no logs).
	Logger *zap.Logger
	// Observer receives cache and storage events for metrics (optional).
	Observer Observer
	// Now returns the current time (default time.Now). It dates records and
	// decides whether an expiry is in the past; cache TTLs use the real clock.
	Now func() time.Time
}

// Store is the token store. It is safe for concurrent use. Create one with
// New and release it with Close.
type Store struct {
	storage  certmagic.Storage
	instance string
	logger   *zap.Logger
	observer Observer
	now      func() time.Time
	interval time.Duration

	cache *tokenCache

	countersMu sync.Mutex
	counters   map[int64]*usageCounter

	// createMu queues this process's creations in memory, so they do not
	// each poll the storage lock.
	createMu sync.Mutex

	stopLoop  context.CancelFunc
	loopDone  chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// New validates cfg, builds the caches and starts the usage flush loop.
func New(cfg Config) (*Store, error) {
	switch {
	case cfg.Storage == nil:
		return nil, errors.New("tokenstore: storage is required")
	case cfg.InstanceID == "":
		return nil, errors.New("tokenstore: instance ID is required")
	case cfg.CacheSize < 0:
		return nil, fmt.Errorf("tokenstore: cache size must not be negative, got %d", cfg.CacheSize)
	case cfg.CacheTTL < 0:
		return nil, fmt.Errorf("tokenstore: cache TTL must not be negative, got %s", cfg.CacheTTL)
	case cfg.FlushInterval < 0:
		return nil, fmt.Errorf("tokenstore: flush interval must not be negative, got %s", cfg.FlushInterval)
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = DefaultCacheTTL
	}
	if cfg.NegativeCacheTTL == 0 {
		cfg.NegativeCacheTTL = DefaultNegativeCacheTTL
	}
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = DefaultFlushInterval
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

	ctx, cancel := context.WithCancel(context.Background())
	s := &Store{
		storage:  cfg.Storage,
		instance: cfg.InstanceID,
		logger:   cfg.Logger,
		observer: cfg.Observer,
		now:      cfg.Now,
		interval: cfg.FlushInterval,
		cache:    newTokenCache(cfg.CacheSize, cfg.CacheTTL, cfg.NegativeCacheTTL),
		counters: make(map[int64]*usageCounter),
		stopLoop: cancel,
		loopDone: make(chan struct{}),
	}
	go s.flushLoop(ctx)
	return s, nil
}

// Close stops the flush loop and flushes pending usage one last time, for at
// most 10 seconds. It is idempotent: later calls return the first result.
// The store must not be used after Close.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stopLoop()
		<-s.loopDone
		ctx, cancel := context.WithTimeout(context.Background(), closeFlushTimeout)
		defer cancel()
		s.closeErr = s.Flush(ctx)
		s.cache.purge()
	})
	return s.closeErr
}

// Destruct is Close, so that a *Store satisfies caddy.Destructor.
func (s *Store) Destruct() error { return s.Close() }

// Authenticate finds the trigger of token. Unknown and revoked tokens give
// ErrNotFound; a storage failure gives an error wrapping ErrUnavailable,
// which is not cached. Expiry and the legacy policy are the caller's to
// check. A cached answer does no storage I/O and, when positive, does not
// allocate.
func (s *Store) Authenticate(ctx context.Context, token string) (*Credential, error) {
	if !possibleToken(token) {
		return nil, ErrNotFound
	}
	sum := HashToken(token)
	if cred, ok := s.cache.get(&sum); ok {
		s.observer.CacheHit()
		return cred, nil
	}
	if s.cache.isNegative(&sum) {
		s.observer.CacheHit()
		return nil, ErrNotFound
	}
	s.observer.CacheMiss()
	return s.authenticateFromStorage(ctx, &sum)
}

// authenticateFromStorage is Authenticate's cache miss: one storage read.
func (s *Store) authenticateFromStorage(ctx context.Context, sum *[32]byte) (*Credential, error) {
	gen := s.cache.generation()
	data, err := s.storage.Load(ctx, tokenKey(hex.EncodeToString(sum[:])))
	if errors.Is(err, fs.ErrNotExist) {
		s.cache.addNegative(sum, gen)
		return nil, ErrNotFound
	}
	if err != nil {
		s.storageError(ctx, "load", err)
		return nil, fmt.Errorf("%w: loading token record: %w", ErrUnavailable, err)
	}
	t, err := decodeTrigger(data)
	if err == nil && !hashMatches(t.TokenHash, sum) {
		err = errors.New("token record does not match its key")
	}
	if err != nil {
		s.storageError(ctx, "load", err)
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if t.RevokedAt != nil {
		s.cache.addNegative(sum, gen)
		return nil, ErrNotFound
	}
	cred := &Credential{Trigger: t, counter: s.counter(t.ID), hash: *sum}
	s.cache.addPositive(sum, cred, gen)
	return cred, nil
}

// hashMatches compares a record's hex hash with the computed one in
// constant time.
func hashMatches(hexHash string, sum *[32]byte) bool {
	var stored [32]byte
	if hex.DecodedLen(len(hexHash)) != len(stored) {
		return false
	}
	if _, err := hex.Decode(stored[:], []byte(hexHash)); err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(stored[:], sum[:]) == 1
}

// storageError reports a failed storage operation to the observer and the
// log. A failure caused by the caller giving up is not the storage's fault
// and is not counted. Fields must never include a token.
func (s *Store) storageError(ctx context.Context, op string, err error, fields ...zap.Field) {
	if ctx.Err() != nil {
		return
	}
	s.observer.StorageError(op)
	s.logger.Error("token storage operation failed",
		append(fields, zap.String("op", op), zap.Error(err))...)
}

// unavailable wraps a storage failure after reporting it.
func (s *Store) unavailable(ctx context.Context, op, what string, err error, fields ...zap.Field) error {
	s.storageError(ctx, op, err, fields...)
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, what, err)
}

// isNotExist reports whether err means a missing key.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
