package tokenstore

import (
	"sync/atomic"
	"time"
)

// Credential is what Authenticate returns: what the request path needs of
// the token's trigger and a handle to count its use without any lookup.
// Credentials are shared by every request that presents the same token
// while it is cached: treat them as read-only.
//
// A credential is all a cached token costs besides its cache entry, so it
// holds no more than the request path reads: the description, the token's
// hash and prefix, the creation time and the rest of the record stay in
// storage, for the admin paths (Get, List) to read.
type Credential struct {
	// Trigger is what the request path needs of the token's trigger. It is
	// shared; do not modify it.
	Trigger CachedTrigger

	counter *usageCounter
}

// CachedTrigger is the part of a trigger's record a cached token keeps.
type CachedTrigger struct {
	// ID is the trigger's ID.
	ID int64
	// IDText is ID in decimal, formatted once when the token was cached:
	// the request path sends it in a header, and formatting an ID of 100
	// or more allocates.
	IDText string
	// Project is the project the token may trigger (Trigger.Project).
	Project string
	// Owner is who the trigger acts as; empty for a legacy trigger.
	Owner string
	// Refs are the token's own ref globs, if any (Trigger.Refs).
	Refs []string
	// ExpiresAt, when set, is the instant from which the token no longer works.
	ExpiresAt *time.Time
}

// Legacy reports whether the trigger has no owner, as GitLab's old triggers.
func (t *CachedTrigger) Legacy() bool { return t.Owner == "" }

// Expired reports whether the trigger has expired at now.
func (t *CachedTrigger) Expired(now time.Time) bool {
	return t.ExpiresAt != nil && !now.Before(*t.ExpiresAt)
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
	pos    *hashLRU[*Credential]
	neg    *hashLRU[error] // ErrNotFound for an unknown token, the *RevokedError of a revoked one
	ttl    atomic.Int64    // nanoseconds
	negTTL atomic.Int64    // nanoseconds; 0 or less: negative caching off
	gen    atomic.Uint64
}

// newTokenCache makes a cache of size entries in each LRU; size must be
// positive.
func newTokenCache(size int, ttl, negTTL time.Duration) *tokenCache {
	c := &tokenCache{pos: newHashLRU[*Credential](size), neg: newHashLRU[error](size)}
	c.setTTLs(ttl, negTTL)
	return c
}

// resize bounds each LRU to size entries, evicting the oldest past it.
func (c *tokenCache) resize(size int) {
	c.pos.resize(size)
	c.neg.resize(size)
}

// setTTLs sets how long entries are served, those already cached included.
// Turning negative caching off forgets the negative entries.
func (c *tokenCache) setTTLs(ttl, negTTL time.Duration) {
	c.ttl.Store(int64(ttl))
	c.negTTL.Store(int64(negTTL))
	if negTTL <= 0 {
		c.neg.purge()
	}
}

// fresh reports whether an entry cached at added is still within ttl at
// now (all unix nanoseconds).
func fresh(added, ttl, now int64) bool { return now-added < ttl }

// get returns the cached credential for the hash, if any and fresh at now
// (unix nanoseconds).
func (c *tokenCache) get(sum *[32]byte, now int64) (*Credential, bool) {
	cred, added, ok := c.pos.get(sum)
	if !ok {
		return nil, false
	}
	if !fresh(added, c.ttl.Load(), now) {
		c.pos.removeIfAdded(sum, added)
		return nil, false
	}
	return cred, true
}

// negative returns the cached answer for a hash known to be unknown or
// revoked (ErrNotFound or a *RevokedError), or nil when it is not cached
// as such, at now (unix nanoseconds).
func (c *tokenCache) negative(sum *[32]byte, now int64) error {
	ttl := c.negTTL.Load()
	if ttl <= 0 {
		return nil
	}
	err, added, ok := c.neg.get(sum)
	if !ok {
		return nil
	}
	if !fresh(added, ttl, now) {
		c.neg.removeIfAdded(sum, added)
		return nil
	}
	return err
}

// generation is read by a lookup before it reads storage.
func (c *tokenCache) generation() uint64 { return c.gen.Load() }

// addPositive caches cred unless a change happened since gen was read.
func (c *tokenCache) addPositive(sum *[32]byte, cred *Credential, gen uint64) {
	c.pos.add(sum, cred, time.Now().UnixNano())
	if c.gen.Load() != gen {
		c.pos.remove(sum)
	}
}

// addNegative caches the hash as unknown or revoked, answered with err,
// unless a change happened since gen was read.
func (c *tokenCache) addNegative(sum *[32]byte, err error, gen uint64) {
	if c.negTTL.Load() <= 0 {
		return
	}
	c.neg.add(sum, err, time.Now().UnixNano())
	if c.gen.Load() != gen {
		c.neg.remove(sum)
	}
}

// invalidate forgets every cached answer for the hash. Call it after the
// change is durable in storage.
func (c *tokenCache) invalidate(sum *[32]byte) {
	c.gen.Add(1)
	c.pos.remove(sum)
	c.neg.remove(sum)
}

// invalidateNegative forgets that the hash was unknown: it is now known.
// A positive entry is left alone: it was read after the creation.
func (c *tokenCache) invalidateNegative(sum *[32]byte) {
	c.gen.Add(1)
	c.neg.remove(sum)
}

// invalidateAll forgets every cached answer, as invalidate does for one.
func (c *tokenCache) invalidateAll() {
	c.gen.Add(1)
	c.purge()
}

// purge empties both caches.
func (c *tokenCache) purge() {
	c.pos.purge()
	c.neg.purge()
}
