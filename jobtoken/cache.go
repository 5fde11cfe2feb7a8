package jobtoken

import (
	"crypto/sha256"
	"hash"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// tokenCache holds verified identities keyed by the SHA-256 of the token, so
// that no token sits in memory longer than its request.
//
// Entries carry their own deadline (the token's exp plus Leeway, the same
// instant a full verification would start refusing it), checked on every
// hit. The plain LRU is used rather than golang-lru's expirable variant: that
// one has a single TTL for all entries and starts a goroutine that never
// exits, which would leak on every Caddy config reload.
type tokenCache struct {
	lru *lru.Cache[[sha256.Size]byte, cacheEntry]
}

type cacheEntry struct {
	id       Identity
	deadline time.Time
}

func newTokenCache(size int) (*tokenCache, error) {
	c, err := lru.New[[sha256.Size]byte, cacheEntry](size)
	if err != nil {
		return nil, err
	}
	return &tokenCache{lru: c}, nil
}

// hasher is a pooled SHA-256 state with a copy buffer: hashing a token
// through it allocates nothing, where sha256.Sum256([]byte(token)) would copy
// the token to the heap on every request.
type hasher struct {
	h   hash.Hash
	buf [512]byte
	sum [sha256.Size]byte
}

var hasherPool = sync.Pool{New: func() any { return &hasher{h: sha256.New()} }}

func cacheKey(token string) [sha256.Size]byte {
	hs := hasherPool.Get().(*hasher)
	hs.h.Reset()
	for len(token) > 0 {
		n := copy(hs.buf[:], token)
		hs.h.Write(hs.buf[:n])
		token = token[n:]
	}
	key := [sha256.Size]byte(hs.h.Sum(hs.sum[:0]))
	hasherPool.Put(hs)
	return key
}

// get returns a copy of the cached identity (callers may not alter the
// cache through it), evicting the entry once its deadline has passed.
func (c *tokenCache) get(key [sha256.Size]byte, now time.Time) (*Identity, bool) {
	e, ok := c.lru.Get(key)
	if !ok {
		return nil, false
	}
	if !now.Before(e.deadline) {
		c.lru.Remove(key)
		return nil, false
	}
	id := e.id
	return &id, true
}

func (c *tokenCache) add(key [sha256.Size]byte, id Identity, deadline time.Time) {
	c.lru.Add(key, cacheEntry{id: id, deadline: deadline})
}
