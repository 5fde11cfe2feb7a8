package idempotency

import (
	"context"
	"errors"
	"path"
	"time"
)

// sweepLoop sweeps once at start, so that a restart does not wait a full
// interval, and then every interval until ctx ends.
func (s *Store) sweepLoop(ctx context.Context, interval time.Duration) {
	defer close(s.sweepDone)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		sctx, cancel := context.WithTimeout(ctx, max(interval, storageTimeout))
		_ = s.Sweep(sctx) // already logged and counted
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// Sweep deletes from storage every bucket whose answers have all expired:
// one listing of the bucket directories (a handful) and one delete per
// expired bucket, whatever the number of answers. A bucket written under
// another window is kept for the longer of the two windows. Every instance
// may sweep; deleting a bucket twice is harmless.
func (s *Store) Sweep(ctx context.Context) error {
	names, err := s.storage.List(ctx, rootDir, false)
	if isNotExist(err) {
		return nil
	}
	if err != nil {
		return s.unavailable(ctx, "list", "listing buckets", err)
	}
	now := s.now().Unix()
	var errs []error
	for _, name := range names {
		b, ok := parseBucket(path.Base(name))
		if !ok {
			continue
		}
		// Every answer in b was saved before b's end, so all have expired
		// once the window has passed since then.
		if b.start+b.width+max(b.width, s.width) > now {
			continue
		}
		if err := s.storage.Delete(ctx, b.dir()); err != nil {
			errs = append(errs, s.unavailable(ctx, "delete", "deleting expired bucket", err))
		}
	}
	return errors.Join(errs...)
}
