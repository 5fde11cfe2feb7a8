package tokenstore

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
)

// The change feed: every revocation and creation (import included) writes
// an entry changes/<unix nanos, 19 digits>-<16 hex> after the records it
// announces; every store lists the directory every ChangePollInterval and
// applies the entries it has not seen yet, evicting the token's cache
// entries. Entries are told apart by name, not by time, since the clocks of
// the machines writing them differ; the time in the name only decides when
// an entry is old enough to prune.
const (
	opRevoke = "revoke"
	opCreate = "create"
	// opSync changes nothing: a store waiting for confirmations writes it
	// so that every other store confirms again (see AwaitChanges).
	opSync = "sync"

	// maxPrunePerPoll bounds the deletions one poll makes.
	maxPrunePerPoll = 100
	// seenGrace keeps an entry this store marked seen while it is not
	// listed yet (its own write in flight during a listing) or no longer
	// listed (pruned), long enough never to apply it twice.
	seenGrace = time.Minute
)

// changeEntry is what a change entry holds. The hash is the token's
// SHA-256, as in the tokens/ keys; the token itself is never written.
type changeEntry struct {
	Op       string    `json:"op"`
	Hash     string    `json:"hash"`
	ID       int64     `json:"id,omitempty"`
	Instance string    `json:"instance,omitempty"`
	At       time.Time `json:"at"`
}

// changeNameLen is the length of a change entry's name.
const changeNameLen = 19 + 1 + 16

func changeKey(at time.Time) string {
	return fmt.Sprintf("%s/%019d-%s", changesDir, at.UnixNano(), randomNonce())
}

// parseChangeKey returns the time in a change entry's name; ok is false
// for other names (a storage's temporary files).
func parseChangeKey(key string) (at time.Time, ok bool) {
	name := path.Base(key)
	if len(name) != changeNameLen || name[19] != '-' {
		return time.Time{}, false
	}
	if _, err := hex.DecodeString(name[20:]); err != nil {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(name[:19], 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, false
	}
	return time.Unix(0, n), true
}

// changeFeed is a store's view of the feed.
type changeFeed struct {
	mu      sync.Mutex
	seen    map[string]time.Time // entry key -> when this store marked it seen
	primed  bool                 // a listing succeeded since the store started
	lastOK  time.Time            // last successful poll
	failing bool                 // the last poll failed

	// Confirmations (see confirm.go): how many are still to be written,
	// the sequence number of the last one written, and whether a poll
	// completed since the last one.
	confirmOwed int
	confirmSeq  int64
	polled      bool
}

func (f *changeFeed) markSeen(key string, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen[key] = now
}

func (f *changeFeed) isSeen(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.seen[key]
	return ok
}

// forget drops the entries no longer listed, after seenGrace.
func (f *changeFeed) forget(listed map[string]struct{}, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for key, at := range f.seen {
		if _, ok := listed[key]; !ok && now.Sub(at) > seenGrace {
			delete(f.seen, key)
		}
	}
}

// seenCount is the number of entries remembered, for tests.
func (f *changeFeed) seenCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.seen)
}

// newChange prepares the entry announcing op on the token hash and marks
// it seen: this store applies its own changes directly.
func (s *Store) newChange(op, hashHex string, id int64) (key string, data []byte, err error) {
	now := time.Now()
	entry := changeEntry{Op: op, Hash: hashHex, ID: id, Instance: s.InstanceID(), At: now.UTC()}
	if data, err = json.Marshal(entry); err != nil {
		return "", nil, fmt.Errorf("encoding change entry: %w", err)
	}
	key = changeKey(now)
	s.feed.markSeen(key, now)
	return key, data, nil
}

// announce writes a change entry; the records it announces must be
// written already.
func (s *Store) announce(ctx context.Context, op, hashHex string, id int64) error {
	key, data, err := s.newChange(op, hashHex, id)
	if err != nil {
		return err
	}
	if err := s.storage.Store(ctx, key, data); err != nil {
		return s.unavailable(ctx, "store", "announcing the change to other instances", err, zap.Int64("id", id))
	}
	return nil
}

// pollChanges applies the entries of the feed this store has not seen and
// prunes old ones. After a gap in which entries may have been pruned
// unseen (the first poll, or none succeeded for half the retention), it
// empties the caches instead: they may hold a token revoked meanwhile.
func (s *Store) pollChanges(ctx context.Context) error {
	keys, err := s.storage.List(ctx, changesDir, false)
	if err != nil && !isNotExist(err) {
		s.feed.mu.Lock()
		s.feed.failing = true
		s.feed.mu.Unlock()
		return s.unavailable(ctx, "list", "listing changes", err)
	}
	now := time.Now()
	s.feed.mu.Lock()
	gap := !s.feed.primed || now.Sub(s.feed.lastOK) > s.retention/2
	recovered := s.feed.failing
	s.feed.mu.Unlock()
	if recovered {
		s.logger.Info("token storage answers again")
	}

	slices.Sort(keys)
	listed := make(map[string]struct{}, len(keys))
	var old []string
	for _, key := range keys {
		at, ok := parseChangeKey(key)
		if !ok {
			continue
		}
		listed[key] = struct{}{}
		if now.Sub(at) > s.retention {
			old = append(old, key)
		}
	}
	fresh := gap // whether this poll applied anything
	if gap {
		s.cache.invalidateAll()
		for key := range listed {
			s.feed.markSeen(key, now)
		}
	} else {
		for _, key := range keys {
			if _, ok := listed[key]; !ok || s.feed.isSeen(key) {
				continue
			}
			err := s.applyChange(ctx, key)
			if errors.Is(err, errChangeInFlight) && pause(ctx, inFlightRetry) {
				err = s.applyChange(ctx, key) // its writer is one round trip from done
			}
			if errors.Is(err, errChangeInFlight) {
				s.logger.Debug("change entry listed but not stored yet; the next poll reads it", zap.String("key", key))
				continue // applied by the next poll that can read it
			}
			if err != nil {
				return err // the rest is applied next poll
			}
			s.feed.markSeen(key, now)
			fresh = true
		}
	}
	s.feed.forget(listed, now)
	s.feed.mu.Lock()
	s.feed.primed, s.feed.lastOK, s.feed.failing = true, now, false
	s.feed.polled = true
	if fresh {
		s.feed.confirmOwed = confirmsPerChange
	}
	s.feed.mu.Unlock()
	return s.prune(ctx, old[:min(len(old), maxPrunePerPoll)])
}

// inFlightRetry is how long a poll waits before reading again an entry
// listed but not stored yet, rather than leave it to the next poll.
const inFlightRetry = 20 * time.Millisecond

// pause waits d, or less if ctx ends; it reports whether ctx is still live.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// errChangeInFlight is applyChange's answer for a listed entry that
// cannot be read yet.
var errChangeInFlight = errors.New("change entry listed but not stored yet")

// applyChange reads one entry and evicts what it makes stale. A listed
// entry that is missing was pruned, if it is old; if it is recent, it is
// being written: a storage may list a key before its value can be read
// (caddy.storage.redis indexes a key, then sets it), and marking it seen
// now would never apply it.
func (s *Store) applyChange(ctx context.Context, key string) error {
	data, err := s.storage.Load(ctx, key)
	if isNotExist(err) {
		if at, ok := parseChangeKey(key); ok && time.Since(at) < s.retention/2 {
			return errChangeInFlight
		}
		return nil // pruned meanwhile: older than the retention
	}
	if err != nil {
		return s.unavailable(ctx, "load", "loading a change entry", err)
	}
	var e changeEntry
	var sum [32]byte
	err = json.Unmarshal(data, &e)
	if err == nil && e.Op == opSync {
		return nil // nothing to apply: it only makes this poll confirm
	}
	if err != nil || hex.DecodedLen(len(e.Hash)) != len(sum) {
		s.logger.Warn("ignoring an unreadable change entry", zap.String("key", key))
		return nil
	}
	if _, err := hex.Decode(sum[:], []byte(e.Hash)); err != nil {
		s.logger.Warn("ignoring an unreadable change entry", zap.String("key", key))
		return nil
	}
	s.logger.Debug("applying a change", zap.String("key", key), zap.String("op", e.Op), zap.Int64("id", e.ID))
	switch e.Op {
	case opRevoke:
		// Uses counted before are still written: a revoked trigger keeps
		// its usage.
		s.cache.invalidate(&sum)
	case opCreate:
		// A negative entry from before the creation; a positive one was
		// read after it and stays, or a store would lose cached tokens
		// (and serve them no more while storage is down) for nothing.
		s.cache.invalidateNegative(&sum)
	default:
		s.logger.Warn("ignoring a change entry of unknown kind", zap.String("key", key), zap.String("op", e.Op))
	}
	return nil
}

// prune deletes entries older than the retention; any store may, and a
// deletion racing another store's is harmless.
func (s *Store) prune(ctx context.Context, keys []string) error {
	for _, key := range keys {
		if err := s.storage.Delete(ctx, key); err != nil && !isNotExist(err) {
			return s.unavailable(ctx, "delete", "pruning change entries", err)
		}
	}
	return nil
}

// changeLoop polls the feed until Close.
func (s *Store) changeLoop(ctx context.Context) {
	defer s.loops.Done()
	s.pollEvery.every(ctx.Done(), func() {
		s.pollAndConfirm(ctx) // failures reported inside; retried next tick
	})
}
