package tokenstore

import (
	"crypto/subtle"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
)

// Credential is what Authenticate returns: the trigger and a handle to count
// its use without any lookup. Credentials are shared by every request that
// presents the same token while it is cached: treat them as read-only.
type Credential struct {
	// Trigger is the token's record. It is shared; do not modify it.
	Trigger *Trigger

	counter *usageCounter
	hash    [32]byte
}

// tokenCache holds the answers of recent lookups, keyed by token hash: a
// positive LRU of credentials and an optional negative LRU of hashes known
// to be unknown or revoked.
//
// The generation counter closes a race between a lookup that read storage
// before a change and a change that evicted the hash before the lookup
// cached its (now stale) answer: changes bump the generation after writing
// storage and before evicting, and a lookup that sees the generation move
// while it was reading storage drops what it just cached.
type tokenCache struct {
	pos *expirable.LRU[[32]byte, *Credential]
	neg *expirable.LRU[[32]byte, struct{}] // nil when negative caching is disabled
	gen atomic.Uint64
}

func newTokenCache(size int, ttl, negTTL time.Duration) *tokenCache {
	c := &tokenCache{pos: expirable.NewLRU[[32]byte, *Credential](size, nil, ttl)}
	if negTTL > 0 {
		c.neg = expirable.NewLRU[[32]byte, struct{}](size, nil, negTTL)
	}
	return c
}

// get returns the cached credential for the hash, if any.
func (c *tokenCache) get(sum *[32]byte) (*Credential, bool) {
	cred, ok := c.pos.Get(*sum)
	if !ok {
		return nil, false
	}
	// The map lookup already matched the key; comparing again in constant
	// time keeps the answer independent of any early-exit comparison.
	if subtle.ConstantTimeCompare(cred.hash[:], sum[:]) != 1 {
		return nil, false
	}
	return cred, true
}

// isNegative reports whether the hash is cached as unknown or revoked.
func (c *tokenCache) isNegative(sum *[32]byte) bool {
	if c.neg == nil {
		return false
	}
	_, ok := c.neg.Get(*sum)
	return ok
}

// generation is read by a lookup before it reads storage.
func (c *tokenCache) generation() uint64 { return c.gen.Load() }

// addPositive caches cred unless a change happened since gen was read.
func (c *tokenCache) addPositive(sum *[32]byte, cred *Credential, gen uint64) {
	c.pos.Add(*sum, cred)
	if c.gen.Load() != gen {
		c.pos.Remove(*sum)
	}
}

// addNegative caches the hash as unknown unless a change happened since gen
// was read.
func (c *tokenCache) addNegative(sum *[32]byte, gen uint64) {
	if c.neg == nil {
		return
	}
	c.neg.Add(*sum, struct{}{})
	if c.gen.Load() != gen {
		c.neg.Remove(*sum)
	}
}

// invalidate forgets every cached answer for the hash. Call it after the
// change is durable in storage.
func (c *tokenCache) invalidate(sum *[32]byte) {
	c.gen.Add(1)
	c.pos.Remove(*sum)
	if c.neg != nil {
		c.neg.Remove(*sum)
	}
}

// invalidateNegative forgets that the hash was unknown: it is now known.
// A positive entry is left alone: it was read after the creation.
func (c *tokenCache) invalidateNegative(sum *[32]byte) {
	c.gen.Add(1)
	if c.neg != nil {
		c.neg.Remove(*sum)
	}
}

// invalidateAll forgets every cached answer, as invalidate does for one.
func (c *tokenCache) invalidateAll() {
	c.gen.Add(1)
	c.purge()
}

// purge empties both caches. The expirable LRU's cleanup goroutine cannot be
// stopped and keeps the cache reachable, so a closed store releases its
// entries this way.
func (c *tokenCache) purge() {
	c.pos.Purge()
	if c.neg != nil {
		c.neg.Purge()
	}
}
