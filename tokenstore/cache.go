package tokenstore

import (
	"crypto/subtle"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Credential is what Authenticate returns: the trigger and a handle to count
// its use without any lookup. Credentials are shared by every request that
// presents the same token while it is cached: treat them as read-only.
type Credential struct {
	// Trigger is the token's record. It is shared; do not modify it.
	Trigger *Trigger

	counter *usageCounter
	hash    [32]byte
	// record is what Trigger points to: a cached token is one object for
	// the garbage collector to mark, not two.
	record Trigger
}

// tokenCache holds the answers of recent lookups, keyed by token hash: a
// positive LRU of credentials and a negative LRU of hashes known to be
// unknown or revoked, with the error to answer them with (unused while
// negative caching is off).
//
// Entries carry the time they were cached and expire when read past the
// TTL in force then: the LRUs need no cleanup goroutine (golang-lru's
// expirable LRU runs one that can never be stopped), and a new size or TTL
// applies at once to what is cached (resize, setTTLs).
//
// The generation counter closes a race between a lookup that read storage
// before a change and a change that evicted the hash before the lookup
// cached its (now stale) answer: changes bump the generation after writing
// storage and before evicting, and a lookup that sees the generation move
// while it was reading storage drops what it just cached.
type tokenCache struct {
	pos    *lru.Cache[[32]byte, cachedCredential]
	neg    *lru.Cache[[32]byte, negativeEntry]
	ttl    atomic.Int64 // nanoseconds
	negTTL atomic.Int64 // nanoseconds; 0 or less: negative caching off
	gen    atomic.Uint64
}

// cachedCredential is a positive entry and when it was cached.
type cachedCredential struct {
	cred  *Credential
	added int64 // unix nanoseconds
}

// negativeEntry is a negative entry: when it was cached and the answer,
// ErrNotFound for an unknown token or the *RevokedError of a revoked one.
type negativeEntry struct {
	added int64 // unix nanoseconds
	err   error
}

// newTokenCache makes a cache of size entries in each LRU; size must be
// positive.
func newTokenCache(size int, ttl, negTTL time.Duration) *tokenCache {
	pos, _ := lru.New[[32]byte, cachedCredential](size) // errors only for size <= 0
	neg, _ := lru.New[[32]byte, negativeEntry](size)
	c := &tokenCache{pos: pos, neg: neg}
	c.setTTLs(ttl, negTTL)
	return c
}

// resize bounds each LRU to size entries, evicting the oldest past it.
func (c *tokenCache) resize(size int) {
	c.pos.Resize(size)
	c.neg.Resize(size)
}

// setTTLs sets how long entries are served, those already cached included.
// Turning negative caching off forgets the negative entries.
func (c *tokenCache) setTTLs(ttl, negTTL time.Duration) {
	c.ttl.Store(int64(ttl))
	c.negTTL.Store(int64(negTTL))
	if negTTL <= 0 {
		c.neg.Purge()
	}
}

// fresh reports whether an entry cached at added is still within ttl.
func fresh(added, ttl int64) bool { return time.Now().UnixNano()-added < ttl }

// get returns the cached credential for the hash, if any.
func (c *tokenCache) get(sum *[32]byte) (*Credential, bool) {
	entry, ok := c.pos.Get(*sum)
	if !ok {
		return nil, false
	}
	if !fresh(entry.added, c.ttl.Load()) {
		c.pos.Remove(*sum) // at worst a fresher entry cached meanwhile: one more lookup
		return nil, false
	}
	// The map lookup already matched the key; comparing again in constant
	// time keeps the answer independent of any early-exit comparison.
	if subtle.ConstantTimeCompare(entry.cred.hash[:], sum[:]) != 1 {
		return nil, false
	}
	return entry.cred, true
}

// negative returns the cached answer for a hash known to be unknown or
// revoked (ErrNotFound or a *RevokedError), or nil when it is not cached
// as such.
func (c *tokenCache) negative(sum *[32]byte) error {
	ttl := c.negTTL.Load()
	if ttl <= 0 {
		return nil
	}
	entry, ok := c.neg.Get(*sum)
	if !ok {
		return nil
	}
	if !fresh(entry.added, ttl) {
		c.neg.Remove(*sum)
		return nil
	}
	return entry.err
}

// generation is read by a lookup before it reads storage.
func (c *tokenCache) generation() uint64 { return c.gen.Load() }

// addPositive caches cred unless a change happened since gen was read.
func (c *tokenCache) addPositive(sum *[32]byte, cred *Credential, gen uint64) {
	c.pos.Add(*sum, cachedCredential{cred: cred, added: time.Now().UnixNano()})
	if c.gen.Load() != gen {
		c.pos.Remove(*sum)
	}
}

// addNegative caches the hash as unknown or revoked, answered with err,
// unless a change happened since gen was read.
func (c *tokenCache) addNegative(sum *[32]byte, err error, gen uint64) {
	if c.negTTL.Load() <= 0 {
		return
	}
	c.neg.Add(*sum, negativeEntry{added: time.Now().UnixNano(), err: err})
	if c.gen.Load() != gen {
		c.neg.Remove(*sum)
	}
}

// invalidate forgets every cached answer for the hash. Call it after the
// change is durable in storage.
func (c *tokenCache) invalidate(sum *[32]byte) {
	c.gen.Add(1)
	c.pos.Remove(*sum)
	c.neg.Remove(*sum)
}

// invalidateNegative forgets that the hash was unknown: it is now known.
// A positive entry is left alone: it was read after the creation.
func (c *tokenCache) invalidateNegative(sum *[32]byte) {
	c.gen.Add(1)
	c.neg.Remove(*sum)
}

// invalidateAll forgets every cached answer, as invalidate does for one.
func (c *tokenCache) invalidateAll() {
	c.gen.Add(1)
	c.purge()
}

// purge empties both caches.
func (c *tokenCache) purge() {
	c.pos.Purge()
	c.neg.Purge()
}
