package idempotency

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"

	"go.uber.org/zap"
)

// flight is a key claimed by this instance for a request with the given
// fingerprint. answer is set before done is closed: the saved answer, or
// nil when the claim was released.
type flight struct {
	fingerprint string
	done        chan struct{}
	answer      *Answer
}

// Request is one request that may repeat an earlier one.
type Request struct {
	// Key identifies the request among its repeats: from Key. Required.
	Key string
	// Fingerprint identifies what the request asks for: from Fingerprint.
	// A repeat whose fingerprint differs from the first request's gets
	// ErrMismatch instead of the first answer. Empty: not compared.
	Fingerprint string
	// LegacyKey is the key an earlier version derived for the same request
	// (LegacyKey), optional. During the first window after New, when no
	// answer is saved under Key, an answer saved under LegacyKey by that
	// version is replayed: a request sent before an upgrade and repeated
	// after it still triggers nothing new. Such answers carry no
	// fingerprint, so they match any request with that key.
	LegacyKey string
}

// Claim is the right, and the duty, to forward one request and record its
// answer. Exactly one of Save or Release must follow; until then every
// repeat of the request, on any instance, waits. Deferring Release right
// after Begin is safe: it does nothing once Save was called.
type Claim struct {
	s           *Store
	key         string
	fingerprint string
	f           *flight
	closed      atomic.Bool
}

// Begin claims req.Key for one request.
//
// If an answer saved within the window exists, it returns it (and a nil
// Claim): replay it and forward nothing. If that answer was saved for a
// request with another fingerprint, it returns ErrMismatch instead: the
// key was reused for a different request. Otherwise it returns a Claim:
// the caller forwards the request, then calls Save with the answer, or
// Release when the request failed in a way that must allow a retry (an
// upstream 5xx, a refusal).
//
// A repeat arriving while the key is claimed by this instance for a
// request with another fingerprint gets ErrMismatch at once. Any other
// repeat arriving while the key is claimed, by this instance or by another
// sharing the storage, waits for the claim to end, then replays the saved
// answer (or gets ErrMismatch, if the answer is another request's) or, if
// the claim was released, claims the key itself. The wait is bounded by
// ctx only; when ctx ends first, Begin returns an error wrapping
// ErrInProgress and ctx's error.
//
// A storage failure gives an error wrapping ErrUnavailable: whether the
// request was seen is unknown, and the caller should fail closed.
func (s *Store) Begin(ctx context.Context, req Request) (*Answer, *Claim, error) {
	key := req.Key
	if !validKey(key) || (req.Fingerprint != "" && !validKey(req.Fingerprint)) ||
		(req.LegacyKey != "" && !validKey(req.LegacyKey)) {
		return nil, nil, ErrInvalidKey
	}
	if a := s.cached(key); a != nil {
		return s.answerFor(req, a)
	}
	for {
		s.mu.Lock()
		f, busy := s.flights[key]
		if !busy {
			// A claim that ended since the look above cached its answer
			// before leaving flights, so looking again under mu misses
			// nothing.
			if a := s.cached(key); a != nil {
				s.mu.Unlock()
				return s.answerFor(req, a)
			}
			f = &flight{fingerprint: req.Fingerprint, done: make(chan struct{})}
			s.flights[key] = f
			s.mu.Unlock()
			return s.claim(ctx, req, f)
		}
		s.mu.Unlock()
		if !sameRequest(f.fingerprint, req.Fingerprint) {
			return nil, nil, ErrMismatch
		}

		select {
		case <-f.done:
			if f.answer != nil {
				return s.answerFor(req, f.answer)
			}
			// Released: try to claim it.
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("%w: %w", ErrInProgress, ctx.Err())
		}
	}
}

// answerFor returns a, the answer saved for req's key, to replay, or
// ErrMismatch when it answered another request.
func (s *Store) answerFor(req Request, a *Answer) (*Answer, *Claim, error) {
	if !sameRequest(a.Fingerprint, req.Fingerprint) {
		return nil, nil, ErrMismatch
	}
	s.observer.Replayed()
	return a, nil, nil
}

// claim takes the storage lock of req.Key, which this instance's flight f
// now stands for, and looks for a saved answer under it.
func (s *Store) claim(ctx context.Context, req Request, f *flight) (*Answer, *Claim, error) {
	key := req.Key
	if err := s.storage.Lock(ctx, lockName(key)); err != nil {
		s.finish(key, f, nil) // local waiters try for themselves
		if ctx.Err() != nil {
			// Most likely another instance holds the claim; either way the
			// caller has given up waiting.
			return nil, nil, fmt.Errorf("%w: %w", ErrInProgress, ctx.Err())
		}
		return nil, nil, s.unavailable(ctx, "lock", "locking key", err)
	}
	a, err := s.load(ctx, key)
	if err == nil && a == nil && req.LegacyKey != "" && s.now().Before(s.legacyUntil) {
		// Saved answers are never changed, so the legacy key needs no lock.
		a, err = s.load(ctx, req.LegacyKey)
	}
	if err != nil || a != nil {
		if a != nil {
			s.cache.Add(key, a)
		}
		s.unlock(key)
		s.finish(key, f, a) // waiters compare fingerprints themselves
		if err != nil {
			return nil, nil, err
		}
		return s.answerFor(req, a)
	}
	return nil, &Claim{s: s, key: key, fingerprint: req.Fingerprint, f: f}, nil
}

// load reads the answer saved for key within the window, or nil. An answer
// saved within the window lies in the current bucket or the previous one,
// because a bucket is at least as wide as the window; the current one is
// read first as it holds the newer answer.
func (s *Store) load(ctx context.Context, key string) (*Answer, error) {
	now := s.now()
	cur := bucketAt(now, s.width)
	for _, b := range [...]bucket{cur, cur.previous()} {
		data, err := s.storage.Load(ctx, b.entryKey(key))
		if isNotExist(err) {
			continue
		}
		if err != nil {
			return nil, s.unavailable(ctx, "load", "loading answer", err)
		}
		a, err := decodeAnswer(data)
		if err != nil {
			// Fail closed: a corrupt entry may stand for a trigger that
			// happened.
			return nil, s.unavailable(ctx, "load", "decoding answer", err)
		}
		if s.live(a, now) {
			return a, nil
		}
		// Expired; an answer in an older bucket would be older still. The
		// sweep deletes it with its bucket.
		return nil, nil
	}
	return nil, nil
}

// Save records a as the answer of the claimed request and ends the claim:
// the answer is durable in storage before Save returns, then the lock is
// released and every waiting repeat replays it. Only safe headers are kept
// (see SafeHeader), the body is copied, SavedAt is set to now and
// Fingerprint to the claimed request's.
//
// Saving is not abandoned when ctx is cancelled (the request was forwarded;
// its answer must be recorded) but is bounded by 10 seconds.
//
// An answer whose body exceeds Config.MaxBody is not saved: Save logs a
// warning and returns an error wrapping ErrTooLarge, repeats already waiting
// on this instance replay it, and later repeats are forwarded again. A
// truncated body would replay something the upstream never said, and
// pipeline answers are a few KiB, so this only happens with a misbehaving
// upstream.
//
// A nil answer or one with a status outside 100–599 is not saved: the
// claim is released and Save returns an error.
//
// When storing fails, Save returns an error wrapping ErrUnavailable; the
// answer is still replayed from this instance's memory, but other instances
// will forward a repeat.
func (c *Claim) Save(ctx context.Context, a *Answer) error {
	if !c.closed.CompareAndSwap(false, true) {
		return ErrClaimDone
	}
	s := c.s
	saved, err := snapshot(a, c.fingerprint, s.now())
	if err != nil {
		s.unlock(c.key)
		s.finish(c.key, c.f, nil)
		return err
	}
	if len(saved.Body) > s.maxBody {
		s.logger.Warn("answer too large to save for idempotency; a repeat will be forwarded again",
			zap.Int("status", saved.Status), zap.Int("body_bytes", len(saved.Body)), zap.Int("max_body", s.maxBody))
		s.unlock(c.key)
		s.finish(c.key, c.f, saved)
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(saved.Body), s.maxBody)
	}

	data, err := json.Marshal(saved)
	if err == nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storageTimeout)
		err = s.storage.Store(sctx, bucketAt(saved.SavedAt, s.width).entryKey(c.key), data)
		if err != nil {
			// Reported even on timeout: the deadline is ours, not the caller's.
			err = s.unavailable(context.Background(), "store", "saving answer", err)
		}
		cancel()
	}
	// Cached even when storing failed: the request was forwarded, and
	// replaying its answer on this instance at least is right.
	s.cache.Add(c.key, saved)
	if err == nil {
		s.observer.Saved()
	}
	s.unlock(c.key)
	s.finish(c.key, c.f, saved)
	return err
}

// Release ends the claim without saving anything, so that the next repeat
// is forwarded. It does nothing when the claim already ended, so it can be
// deferred right after Begin.
func (c *Claim) Release() {
	if !c.closed.CompareAndSwap(false, true) {
		return
	}
	c.s.unlock(c.key)
	c.s.finish(c.key, c.f, nil)
}

// unlock releases the storage lock of key, even when the caller's context
// is already cancelled.
func (s *Store) unlock(key string) {
	ctx, cancel := context.WithTimeout(context.Background(), storageTimeout)
	defer cancel()
	if err := s.storage.Unlock(ctx, lockName(key)); err != nil {
		s.storageError(context.Background(), "unlock", err)
	}
}

// finish ends this instance's flight for key and wakes its waiters with
// answer (nil: claim it again).
func (s *Store) finish(key string, f *flight, answer *Answer) {
	f.answer = answer
	s.mu.Lock()
	if s.flights[key] == f {
		delete(s.flights, key)
	}
	s.mu.Unlock()
	close(f.done)
}
