package tokenstore

import (
	"crypto/subtle"
	"encoding/binary"
	"sync"
)

// hashLRU is a least-recently-used cache keyed by token hashes, laid out
// for a small footprint per entry: the entries live in one slice, linked
// by int32 indexes rather than pointers, and the index maps the hash's
// first 8 bytes to its entry. A general LRU (golang-lru's) costs a list
// element of about 100 bytes plus a map slot holding the whole 32-byte key
// per entry; this one costs the entry (the hash, the value, when it was
// cached, two indexes) and a 16-byte map slot.
//
// Two hashes sharing their first 8 bytes share an index slot: caching the
// second replaces the first, and a lookup compares the whole hash (in
// constant time), so such a pair only costs a cache miss, never a wrong
// answer. It is safe for concurrent use.
type hashLRU[V any] struct {
	mu      sync.Mutex
	index   map[uint64]int32
	entries []lruEntry[V]
	// head is the most recently used entry, tail the least; free heads the
	// list of unused entries (linked by next). -1: none.
	head, tail, free int32
	size             int // at most this many entries are in use
	used             int
}

type lruEntry[V any] struct {
	hash       [32]byte
	value      V
	added      int64 // unix nanoseconds
	prev, next int32
}

// none marks the end of a list.
const none = -1

// newHashLRU makes an LRU of at most size entries; size must be positive.
func newHashLRU[V any](size int) *hashLRU[V] {
	c := &hashLRU[V]{}
	c.reset(size)
	return c
}

func (c *hashLRU[V]) reset(size int) {
	c.index = make(map[uint64]int32)
	c.entries = nil
	c.head, c.tail, c.free = none, none, none
	c.size, c.used = size, 0
}

func indexKey(sum *[32]byte) uint64 { return binary.LittleEndian.Uint64(sum[:8]) }

// get returns the value cached for the hash and when it was cached, and
// makes it the most recently used.
func (c *hashLRU[V]) get(sum *[32]byte) (value V, added int64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, found := c.index[indexKey(sum)]
	if !found {
		return value, 0, false
	}
	e := &c.entries[i]
	if subtle.ConstantTimeCompare(e.hash[:], sum[:]) != 1 {
		return value, 0, false
	}
	c.moveToFront(i)
	return e.value, e.added, true
}

// add caches value for the hash, evicting the least recently used entry
// when the cache is full.
func (c *hashLRU[V]) add(sum *[32]byte, value V, added int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := indexKey(sum)
	if i, found := c.index[key]; found {
		e := &c.entries[i]
		e.hash, e.value, e.added = *sum, value, added
		c.moveToFront(i)
		return
	}
	if c.used >= c.size {
		c.removeAt(c.tail)
	}
	var i int32
	if c.free != none {
		i = c.free
		c.free = c.entries[i].next
	} else {
		c.entries = append(c.entries, lruEntry[V]{})
		i = int32(len(c.entries) - 1)
	}
	c.entries[i] = lruEntry[V]{hash: *sum, value: value, added: added, prev: none, next: c.head}
	c.linkFront(i)
	c.index[key] = i
	c.used++
}

// remove forgets the hash, if it is cached.
func (c *hashLRU[V]) remove(sum *[32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, found := c.index[indexKey(sum)]; found && c.entries[i].hash == *sum {
		c.removeAt(i)
	}
}

// removeIfAdded forgets the hash if it is still the entry cached at added:
// an expired entry is dropped without dropping a fresher one.
func (c *hashLRU[V]) removeIfAdded(sum *[32]byte, added int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, found := c.index[indexKey(sum)]; found && c.entries[i].hash == *sum && c.entries[i].added == added {
		c.removeAt(i)
	}
}

// Len is the number of cached entries.
func (c *hashLRU[V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}

// purge forgets every entry and gives their memory back.
func (c *hashLRU[V]) purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reset(c.size)
}

// resize bounds the cache to size entries (positive), evicting the least
// recently used past it. Shrinking rebuilds the cache in its new size, so
// that the memory of the evicted entries is given back.
func (c *hashLRU[V]) resize(size int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if size >= c.size {
		c.size = size
		return
	}
	// Keep the size most recently used, oldest first into the new cache.
	keep := make([]int32, 0, min(size, c.used))
	for i := c.head; i != none && len(keep) < size; i = c.entries[i].next {
		keep = append(keep, i)
	}
	old := c.entries
	c.reset(size)
	c.entries = make([]lruEntry[V], 0, len(keep))
	for k := len(keep) - 1; k >= 0; k-- {
		e := old[keep[k]]
		i := int32(len(c.entries))
		c.entries = append(c.entries, lruEntry[V]{hash: e.hash, value: e.value, added: e.added, prev: none, next: c.head})
		c.linkFront(i)
		c.index[indexKey(&e.hash)] = i
		c.used++
	}
}

// linkFront makes entry i, whose next is already the old head, the head.
func (c *hashLRU[V]) linkFront(i int32) {
	if c.head != none {
		c.entries[c.head].prev = i
	}
	c.head = i
	if c.tail == none {
		c.tail = i
	}
}

func (c *hashLRU[V]) unlink(i int32) {
	e := &c.entries[i]
	if e.prev != none {
		c.entries[e.prev].next = e.next
	} else {
		c.head = e.next
	}
	if e.next != none {
		c.entries[e.next].prev = e.prev
	} else {
		c.tail = e.prev
	}
}

func (c *hashLRU[V]) moveToFront(i int32) {
	if c.head == i {
		return
	}
	c.unlink(i)
	c.entries[i].prev, c.entries[i].next = none, c.head
	c.linkFront(i)
}

// removeAt frees entry i, which is in use.
func (c *hashLRU[V]) removeAt(i int32) {
	c.unlink(i)
	delete(c.index, indexKey(&c.entries[i].hash))
	c.entries[i] = lruEntry[V]{next: c.free} // drop the value for the collector
	c.free = i
	c.used--
}
