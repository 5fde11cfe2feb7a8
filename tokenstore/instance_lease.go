package tokenstore

import (
	"context"
	"fmt"
	"time"
)

// The instance name as a lease. Another store may take this store's name
// once its record has gone unrenewed for staleAfter (holderGone), even
// while this store still runs: paused that long, or cut off from storage.
// This store keeps its usage records in memory between flushes
// (usage_own.go), so a flush after such a takeover would overwrite the new
// holder's record with one that lacks the new holder's uses. So usage is
// written only while the name's last renewal is recent enough that no
// other store can have taken it: within staleAfter, less a margin for the
// machines' clocks and the write's own time.

// leaseMargin is how long before staleAfter this store stops writing
// usage under a name it has not renewed since.
func (s *Store) leaseMargin() time.Duration { return min(s.heartbeatEvery, s.staleAfter/2) }

// renewed records that this store's instance record was written, dated at.
func (s *Store) renewed(at time.Time) {
	n := at.UnixNano()
	for {
		old := s.leaseFrom.Load()
		if n <= old || s.leaseFrom.CompareAndSwap(old, n) {
			return
		}
	}
}

// holdsName reports whether the name's lease still holds at now.
func (s *Store) holdsName(now time.Time) bool {
	return now.UnixNano()-s.leaseFrom.Load() < int64(s.staleAfter-s.leaseMargin())
}

// errLeaseLapsed refuses a write that a flush reached after the name's
// lease stopped holding (the process paused, or the flush ran long): the
// name may be another store's by the time it lands. What it would have
// written stays pending.
var errLeaseLapsed = fmt.Errorf("%w: the instance name's lease lapsed during the flush", ErrUnavailable)

// ensureName renews the lease when it has run out before usage is written:
// the heartbeat renews the name, or, if another store took it meanwhile,
// moves this one to a free name (forgetting its records of the old one).
// An error means the lease still does not hold: the usage stays pending.
func (s *Store) ensureName(ctx context.Context) error {
	if s.holdsName(time.Now()) {
		return nil
	}
	s.heartbeat(ctx)
	if s.holdsName(time.Now()) {
		return nil
	}
	return fmt.Errorf("%w: usage not written: this instance could not renew its name (%s) for %s",
		ErrUnavailable, s.InstanceID(), s.staleAfter-s.leaseMargin())
}
