package idempotency

import "context"

// Peek reports what Begin would find for req, for a dry run, without
// claiming the key, waiting for a claim or counting a replay: the answer
// saved for it within the window (a repeat replays it), ErrMismatch when
// that answer, or a claim this instance holds, is another request's,
// ErrInProgress when this instance holds a claim for the same request, and
// nil and no error when req would be the first. A storage failure gives an
// error wrapping ErrUnavailable.
func (s *Store) Peek(ctx context.Context, req Request) (*Answer, error) {
	if !validKey(req.Key) {
		return nil, ErrInvalidKey
	}
	a := s.cached(req.Key)
	if a == nil {
		s.mu.Lock()
		f, busy := s.flights[req.Key]
		s.mu.Unlock()
		if busy {
			if !sameRequest(f.fingerprint, req.Fingerprint) {
				return nil, ErrMismatch
			}
			return nil, ErrInProgress
		}
		var err error
		if a, err = s.load(ctx, req.Key); err != nil {
			return nil, err
		}
		if a == nil && req.LegacyKey != "" && validKey(req.LegacyKey) && s.now().Before(s.legacyUntil) {
			if a, err = s.load(ctx, req.LegacyKey); err != nil {
				return nil, err
			}
		}
	}
	if a != nil && !sameRequest(a.Fingerprint, req.Fingerprint) {
		return nil, ErrMismatch
	}
	return a, nil
}
