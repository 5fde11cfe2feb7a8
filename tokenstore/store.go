package tokenstore

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// Defaults of Config.
const (
	DefaultCacheSize          = 100000
	DefaultCacheTTL           = time.Minute
	DefaultNegativeCacheTTL   = 10 * time.Second
	DefaultFlushInterval      = 10 * time.Second
	DefaultChangePollInterval = 500 * time.Millisecond
	DefaultChangeRetention    = 10 * time.Minute
	DefaultStorageTimeout     = 2 * time.Second

	// closeFlushTimeout bounds the final flush so shutdown cannot hang on a
	// storage that stopped answering.
	closeFlushTimeout = 10 * time.Second
	// unlockTimeout bounds releasing the ID lock and undoing a failed
	// creation, which must happen even when the caller's context is
	// already cancelled.
	unlockTimeout = 10 * time.Second
)

// Observer receives events for metrics. Every method must be cheap and safe
// for concurrent use. An Observer that also implements StorageObserver
// receives storage latencies too.
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
	// InstanceID names this instance's usage records; required, and stable
	// across restarts where possible. If another live store on the storage
	// already writes under it (two processes sharing the file that holds the
	// ID, see InstanceHome), this store writes under InstanceID-2 (or the next free
	// suffix) until InstanceID is free again; InstanceID() tells which.
	InstanceID string
	// InstanceHome says where this process keeps InstanceID (such as the
	// path of the file holding it); optional. A live store holding the same
	// ID with another home, or on another machine or boot, runs from a copy
	// of this store's identity (see RenewInstanceID).
	InstanceHome string
	// RenewInstanceID, when set, is called when a live store elsewhere
	// (see InstanceHome) holds InstanceID: it must make, keep for the next
	// starts, and return a new ID, which this store uses from then on. When
	// nil, such a store writes under a suffixed name, as for two processes
	// sharing one ID.
	RenewInstanceID func() (string, error)
	// CacheSize is the number of tokens the positive cache holds (default
	// 100000); the negative cache holds as many. The caches grow to it as
	// tokens are used, about 230 bytes of heap a token, so a bound larger
	// than the tokens in use costs nothing.
	CacheSize int
	// CacheTTL is how long a known token is served from the cache (default
	// 1m). Revocations made by other instances reach this one through the
	// change feed (see ChangePollInterval) long before; the TTL bounds
	// them only when the feed cannot be read.
	CacheTTL time.Duration
	// NegativeCacheTTL is how long an unknown token is remembered as such
	// (default 10s when 0); a negative value disables negative caching.
	NegativeCacheTTL time.Duration
	// FlushInterval is how often pending usage is written (default 10s).
	FlushInterval time.Duration
	// ChangePollInterval is how often the store reads the change feed in
	// which every instance announces the triggers it revokes or creates
	// (default 500ms); a negative value disables reading it. A revocation made
	// on another instance is refused here at most this interval plus one
	// storage round trip after it was acknowledged, whatever CacheTTL is.
	ChangePollInterval time.Duration
	// ChangeRetention is how long change entries stay in storage before
	// any instance prunes them (default 10m). A store that could not read
	// the feed for half this long empties its caches rather than trust them.
	ChangeRetention time.Duration
	// StorageTimeout bounds every storage read and write (default 2s), so
	// that a lookup of an uncached token fails with ErrUnavailable instead
	// of hanging when storage stops answering.
	StorageTimeout time.Duration
	// Logger receives storage errors and admin changes (default: no logs).
	// Repeated errors of one storage operation are logged at most once
	// every 10 seconds, with the number held back; all are counted.
	Logger *zap.Logger
	// Observer receives cache and storage events for metrics (optional).
	Observer Observer
	// Now returns the current time (default time.Now). It dates records and
	// decides whether an expiry is in the past; cache TTLs, the change feed
	// and instance heartbeats use the real clock.
	Now func() time.Time
	// OnClose, when set, is called once when the store has closed, after
	// its final flush: the place to release the storage.
	OnClose func()

	// Tuning for tests; zero means the package constants.
	heartbeatEvery time.Duration
	staleAfter     time.Duration
}

// Store is the token store. It is safe for concurrent use. Create one with
// New and release it with Close.
type Store struct {
	storage    *observedStorage
	base       string // Config.InstanceID
	logger     *zap.Logger
	observer   Observer
	now        func() time.Time
	flushEvery *period // Config.FlushInterval
	pollEvery  *period // Config.ChangePollInterval; negative: the feed is not read
	retention  time.Duration
	onClose    func()
	logs       *logThrottle

	cache   *tokenCache
	lookups lookupFlights // the cache misses being read (lookup_flights.go)
	feed    changeFeed

	countersMu sync.Mutex
	counters   map[int64]*usageCounter
	// shardLocks serialize the flush and the reads of each usage shard
	// (see shardLock); the request path never takes them.
	shardLocks  [shardLockCount]sync.Mutex
	retireAfter atomic.Int64 // how long an unused counter is kept (nanoseconds): see retireIdleCounters
	// own holds this instance's usage records between flushes (usage_own.go).
	own ownRecords

	// idMu guards the instance name. Flushes and usage reads hold it for
	// reading throughout, so a change of name never splits one.
	idMu           sync.RWMutex
	instance       string       // the name usage is written under
	nonce          string       // proves the name's record is this store's
	leaseFrom      atomic.Int64 // when this store's instance record was last written, unix nanos (instance_lease.go)
	process        processFacts
	home           string                 // Config.InstanceHome
	renewID        func() (string, error) // Config.RenewInstanceID
	run            string                 // names this store while it is open: see instanceRecord.Run
	heartbeatEvery time.Duration
	staleAfter     time.Duration

	// Recent deliveries (delivery.go): recorded under deliveriesMu, which
	// is never held across I/O; a flush moves them to flushingDeliveries
	// until each trigger's record is written under its deliveryLock.
	deliveriesMu       sync.Mutex
	pendingDeliveries  deliveryQueue
	flushingDeliveries map[int64][]Delivery
	deliveryLocks      [deliveryLockCount]sync.Mutex
	deliveryFlushMu    sync.Mutex
	keptDeliveries     ownDeliveryRecords // this instance's records, between flushes (delivery_own.go)
	droppedDeliveries  atomic.Int64
	reportedDrops      int64 // droppedDeliveries last reported; under deliveryFlushMu

	// createMu queues this process's creations in memory, so they do not
	// each poll the storage lock.
	createMu sync.Mutex

	variants caseVariants // project directories written before keys were folded
	names    interner     // projects and owners of cached credentials

	// lastStorageError is when an operation on the storage last failed
	// (Unix nanoseconds): see mayTrustNotFound.
	lastStorageError atomic.Int64

	stopLoop  context.CancelFunc
	loops     sync.WaitGroup
	loopDone  chan struct{} // closed when every background loop has ended
	closeOnce sync.Once
	closeErr  error
}

// New validates cfg, takes an instance name (see Config.InstanceID), reads
// the change feed once and starts the background loops: usage flush,
// change feed, instance heartbeat.
func New(cfg Config) (*Store, error) {
	switch {
	case cfg.Storage == nil:
		return nil, errors.New("tokenstore: storage is required")
	case cfg.InstanceID == "":
		return nil, errors.New("tokenstore: instance ID is required")
	case cfg.ChangeRetention < 0:
		return nil, fmt.Errorf("tokenstore: change retention must not be negative, got %s", cfg.ChangeRetention)
	}
	cache, err := cacheSettingsOf(cfg.CacheSize, cfg.CacheTTL, cfg.NegativeCacheTTL)
	if err != nil {
		return nil, err
	}
	timing, err := timingOf(cfg.FlushInterval, cfg.ChangePollInterval, cfg.StorageTimeout)
	if err != nil {
		return nil, err
	}
	cfg.FlushInterval, cfg.ChangePollInterval, cfg.StorageTimeout = timing.flush, timing.poll, timing.storageTimeout
	cfg.ChangeRetention = orDefault(cfg.ChangeRetention, DefaultChangeRetention)
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.heartbeatEvery == 0 {
		cfg.heartbeatEvery = heartbeatInterval
	}
	if cfg.staleAfter == 0 {
		cfg.staleAfter = instanceStaleAfter
	}

	s := &Store{
		storage:        newObservedStorage(cfg.Storage, cfg.StorageTimeout, cfg.Observer),
		base:           cfg.InstanceID,
		logger:         cfg.Logger,
		observer:       cfg.Observer,
		now:            cfg.Now,
		flushEvery:     newPeriod(cfg.FlushInterval),
		pollEvery:      newPeriod(cfg.ChangePollInterval),
		retention:      cfg.ChangeRetention,
		onClose:        cfg.OnClose,
		logs:           newLogThrottle(errorLogInterval),
		feed:           changeFeed{seen: make(map[string]time.Time)},
		counters:       make(map[int64]*usageCounter),
		process:        currentProcess(),
		home:           cfg.InstanceHome,
		renewID:        cfg.RenewInstanceID,
		run:            randomNonce(),
		heartbeatEvery: cfg.heartbeatEvery,
		staleAfter:     cfg.staleAfter,
		loopDone:       make(chan struct{}),
	}
	claimCtx, cancelClaim := context.WithTimeout(context.Background(), claimTimeout)
	defer cancelClaim()
	if err := s.claimInstance(claimCtx); err != nil {
		return nil, fmt.Errorf("tokenstore: taking an instance name: %w", err)
	}
	s.cache = newTokenCache(cache.size, cache.ttl, cache.negativeTTL)
	s.retireAfter.Store(int64(cache.retireAfter()))

	ctx, cancel := context.WithCancel(context.Background())
	s.stopLoop = cancel
	s.loops.Add(2)
	go s.flushLoop(ctx)
	go s.heartbeatLoop(ctx)
	if s.pollEvery.get() > 0 {
		// The first read only learns which entries exist (the cache is
		// empty); if it fails, the first one that succeeds does.
		_ = s.pollChanges(ctx)
		s.loops.Add(1)
		go s.changeLoop(ctx)
	}
	s.startLayoutMigration(ctx)
	go func() {
		s.loops.Wait()
		close(s.loopDone)
	}()
	return s, nil
}

// Close stops the background loops, flushes pending usage one last time
// (for at most 10 seconds), gives up the instance name and calls
// Config.OnClose. It is idempotent: later calls return the first result.
// The store must not be used after Close.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stopLoop()
		<-s.loopDone
		ctx, cancel := context.WithTimeout(context.Background(), closeFlushTimeout)
		defer cancel()
		s.closeErr = s.Flush(ctx)
		name, nonce := s.currentInstance()
		s.releaseInstance(ctx, name, nonce)
		s.cache.purge()
		if s.onClose != nil {
			s.onClose()
		}
	})
	return s.closeErr
}

// cacheSettings are a store's cache size and TTLs, defaults applied.
type cacheSettings struct {
	size             int
	ttl, negativeTTL time.Duration
}

// cacheSettingsOf validates cache settings as Config gives them and
// applies the defaults.
func cacheSettingsOf(size int, ttl, negativeTTL time.Duration) (cacheSettings, error) {
	switch {
	case size < 0:
		return cacheSettings{}, fmt.Errorf("tokenstore: cache size must not be negative, got %d", size)
	case ttl < 0:
		return cacheSettings{}, fmt.Errorf("tokenstore: cache TTL must not be negative, got %s", ttl)
	}
	return cacheSettings{
		size:        orDefault(size, DefaultCacheSize),
		ttl:         orDefault(ttl, DefaultCacheTTL),
		negativeTTL: orDefault(negativeTTL, DefaultNegativeCacheTTL),
	}, nil
}

// orDefault is v, or def when v is zero (Config's "zero means the default").
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// retireAfter is how long a usage counter no cache entry was handed out
// for is kept: past the cache TTL, no cached credential can still hold it.
func (c cacheSettings) retireAfter() time.Duration { return c.ttl + time.Second }

// SetCache applies cache settings to the open store, as Config's CacheSize,
// CacheTTL and NegativeCacheTTL (zero: the default): a smaller size evicts
// the least recently used tokens at once, and the TTLs apply to the tokens
// already cached. A config reload uses it, the store being kept across
// reloads.
func (s *Store) SetCache(size int, ttl, negativeTTL time.Duration) error {
	cache, err := cacheSettingsOf(size, ttl, negativeTTL)
	if err != nil {
		return err
	}
	// The longer retirement first: a counter must outlive every cached
	// credential that holds it, under the old TTL and the new one.
	if after := int64(cache.retireAfter()); after > s.retireAfter.Load() {
		s.retireAfter.Store(after)
	}
	s.cache.resize(cache.size)
	s.cache.setTTLs(cache.ttl, cache.negativeTTL)
	s.retireAfter.Store(int64(cache.retireAfter()))
	return nil
}

// timing are a store's intervals and storage timeout, defaults applied.
type timing struct {
	flush, poll, storageTimeout time.Duration
}

// timingOf validates Config's FlushInterval, ChangePollInterval and
// StorageTimeout and applies the defaults.
func timingOf(flush, poll, storageTimeout time.Duration) (timing, error) {
	switch {
	case flush < 0:
		return timing{}, fmt.Errorf("tokenstore: flush interval must not be negative, got %s", flush)
	case storageTimeout < 0:
		return timing{}, fmt.Errorf("tokenstore: storage timeout must not be negative, got %s", storageTimeout)
	}
	return timing{
		flush:          orDefault(flush, DefaultFlushInterval),
		poll:           orDefault(poll, DefaultChangePollInterval),
		storageTimeout: orDefault(storageTimeout, DefaultStorageTimeout),
	}, nil
}

// ErrChangeFeedSwitch refuses to turn the change feed on or off in an open
// store (SetTiming): whether it is read is decided when the store opens.
var ErrChangeFeedSwitch = errors.New("tokenstore: the change feed cannot be turned on or off in an open store")

// SetTiming applies Config's FlushInterval, ChangePollInterval and
// StorageTimeout (zero: the default) to the open store: the flush and the
// reading of the change feed take their new interval from their next tick,
// storage operations started afterwards the new timeout. A
// ChangePollInterval that would turn the feed on or off is refused with
// ErrChangeFeedSwitch, and nothing is changed. A config reload uses it,
// the store being kept across reloads.
func (s *Store) SetTiming(flush, poll, storageTimeout time.Duration) error {
	t, err := timingOf(flush, poll, storageTimeout)
	if err != nil {
		return err
	}
	if (t.poll > 0) != (s.pollEvery.get() > 0) {
		return ErrChangeFeedSwitch
	}
	s.flushEvery.set(t.flush)
	s.pollEvery.set(t.poll)
	s.storage.limit.Store(int64(t.storageTimeout))
	return nil
}

// Destruct is Close, so that a *Store satisfies caddy.Destructor.
func (s *Store) Destruct() error { return s.Close() }

// Authenticate finds the trigger of token. An unknown token gives
// ErrNotFound; a revoked one a *RevokedError naming its trigger (which is
// ErrNotFound too: see ErrRevoked); a storage failure gives an error wrapping ErrUnavailable,
// which is not cached. Expiry and the legacy policy are the caller's to
// check. A cached answer, positive or negative, does no storage I/O and
// does not allocate.
func (s *Store) Authenticate(ctx context.Context, token string) (*Credential, error) {
	return s.AuthenticateAt(ctx, token, time.Now())
}

// AuthenticateAt is Authenticate for a caller that has read the clock
// already (the request's start): the cache's freshness is judged at now,
// which saves a clock read per request on machines where reading it is
// slow (a VM's kvm-clock: about 100 ns).
func (s *Store) AuthenticateAt(ctx context.Context, token string, now time.Time) (*Credential, error) {
	if !possibleToken(token) {
		return nil, ErrNotFound
	}
	sum := HashToken(token)
	nowNanos := now.UnixNano()
	if cred, ok := s.cache.get(&sum, nowNanos); ok {
		s.observer.CacheHit()
		return cred, nil
	}
	if err := s.cache.negative(&sum, nowNanos); err != nil {
		s.observer.CacheHit()
		return nil, err
	}
	s.observer.CacheMiss()
	return s.authenticateMiss(ctx, sum)
}

// authenticateMiss reads the hash's token from storage, or waits for a
// read of it under way (lookup_flights.go). Apart from Authenticate so
// that the hash's copy, which a read under way shares, goes to the heap
// on a miss only: a cached answer allocates nothing.
func (s *Store) authenticateMiss(ctx context.Context, sum [32]byte) (*Credential, error) {
	return s.lookups.do(ctx, &sum, s.cache.generation(), s.authenticateFromStorage)
}

// authenticateFromStorage is Authenticate's cache miss: one storage read,
// whose answer is cached unless the cache's generation moved from gen
// meanwhile.
func (s *Store) authenticateFromStorage(ctx context.Context, sum *[32]byte, gen uint64) (*Credential, error) {
	data, err := s.storage.Load(ctx, tokenKey(hex.EncodeToString(sum[:])))
	if errors.Is(err, fs.ErrNotExist) {
		if s.mayTrustNotFound() {
			s.cache.addNegative(sum, ErrNotFound, gen)
		}
		return nil, ErrNotFound
	}
	if err != nil {
		s.storageError(ctx, "load", err)
		return nil, fmt.Errorf("%w: loading token record: %w", ErrUnavailable, err)
	}
	cred, err := s.cacheRecord(sum, data, gen)
	if err != nil && !errors.Is(err, ErrNotFound) {
		s.storageError(ctx, "load", err)
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return cred, err
}

// cacheRecord decodes the token record stored under the hash and caches
// the answer it gives, unless a change happened since gen was read. A
// tombstone gives a *RevokedError. Its errors other than ErrNotFound are
// about the record: the answer is unknown.
//
// The credential keeps only what the request path reads (CachedTrigger):
// its project and owner are interned, so the tokens of one project or one
// owner share one copy, and nothing of the record's bytes stays in memory.
func (s *Store) cacheRecord(sum *[32]byte, data []byte, gen uint64) (*Credential, error) {
	var t Trigger
	err := decodeTriggerInto(&t, data)
	if err == nil && !hashMatches(t.TokenHash, sum) {
		err = errors.New("token record does not match its key")
	}
	if err != nil {
		return nil, err
	}
	if t.Revoked() {
		revoked := &RevokedError{TriggerID: t.ID}
		s.cache.addNegative(sum, revoked, gen)
		return nil, revoked
	}
	cred := &Credential{
		Trigger: CachedTrigger{
			ID:        t.ID,
			IDText:    strconv.FormatInt(t.ID, 10),
			Project:   s.names.intern(t.Project),
			Owner:     s.names.intern(t.Owner),
			Refs:      cloneStrings(t.Refs),
			ExpiresAt: t.ExpiresAt,
		},
		counter: s.counter(t.ID),
	}
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
// log, where repeated failures of one operation are logged once per
// errorLogInterval with the number held back. A failure caused by the
// caller giving up is not the storage's fault and is not counted. Fields
// must never include a token.
func (s *Store) storageError(ctx context.Context, op string, err error, fields ...zap.Field) {
	if ctx.Err() != nil {
		return
	}
	s.lastStorageError.Store(time.Now().UnixNano())
	s.observer.StorageError(op)
	suppressed, ok := s.logs.allow(op)
	if !ok {
		return
	}
	if suppressed > 0 {
		fields = append(fields, zap.Int("suppressed", suppressed))
	}
	s.logger.Error("token storage operation failed",
		append(fields, zap.String("op", op), zap.Error(err))...)
}

// unavailable wraps a storage failure after reporting it.
func (s *Store) unavailable(ctx context.Context, op, what string, err error, fields ...zap.Field) error {
	s.storageError(ctx, op, err, fields...)
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, what, err)
}

// mayTrustNotFound reports whether a "not found" from the storage may be
// cached as an unknown token: not within the negative cache's TTL of a
// failed storage operation. Some storages answer "not found" for a read
// that failed (caddy-storage-redis v1.8.1 maps any error of a GET without
// data to fs.ErrNotExist: a Redis restarting, still loading its data,
// answers so), and caching that would refuse a valid token for the whole
// TTL after the storage came back. The request still gets its 404.
func (s *Store) mayTrustNotFound() bool {
	last := s.lastStorageError.Load()
	return last == 0 || time.Since(time.Unix(0, last)) > time.Duration(s.cache.negTTL.Load())
}

// isNotExist reports whether err means a missing key.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
