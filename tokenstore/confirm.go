package tokenstore

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Confirmations: how a store that changed something (a revocation) learns
// that every other live store has applied it.
//
// After a poll of the change feed that applied anything (or emptied the
// caches), a store writes confirmations/<its name>, holding its run (see
// instanceRecord.Run) and seq, the number of confirmations it has written;
// then it polls and confirms once more. Each confirmation follows a poll
// that began after the previous confirmation was stored. So if a waiter,
// after its change was stored, reads seq c of a run, and later reads
// c+2 or more, that run has polled the feed since the change was stored
// and applied it: the poll before confirmation c+2 began after
// confirmation c+1 was stored, which the waiter had not seen yet. No
// clocks are compared, and a store writes confirmations only after a
// change, never on the request path. The waiter writes a sync entry to the
// feed after its first reading, so that every store confirms twice more
// even if it had confirmed the change already.
const (
	// confirmsPerChange is how many confirmations a store writes after a
	// poll that applied something: two, as explained above.
	confirmsPerChange = 2
	// confirmCheckEvery is how often a waiter reads the confirmations.
	confirmCheckEvery = 50 * time.Millisecond
	// confirmsDir holds one confirmation per instance name.
	confirmsDir = keyPrefix + "/confirmations"
)

func confirmKey(name string) string { return confirmsDir + "/" + url.PathEscape(name) }

// confirmation is what confirmations/<name> holds.
type confirmation struct {
	Instance string    `json:"instance"`
	Run      string    `json:"run"`
	Seq      int64     `json:"seq"`
	At       time.Time `json:"at"`
}

// pollAndConfirm polls the feed and writes the confirmations owed, polling
// again before the second one.
func (s *Store) pollAndConfirm(ctx context.Context) {
	for range confirmsPerChange {
		_ = s.pollChanges(ctx) // reported inside
		if !s.confirm(ctx) {
			return
		}
	}
}

// confirm writes a confirmation if one is owed and a poll completed since
// the last one; it reports whether another one is owed after this one.
// Only the change loop calls it.
func (s *Store) confirm(ctx context.Context) bool {
	s.feed.mu.Lock()
	owed, polled, seq := s.feed.confirmOwed, s.feed.polled, s.feed.confirmSeq
	s.feed.polled = false
	s.feed.mu.Unlock()
	if owed == 0 || !polled {
		return false
	}
	name, _ := s.currentInstance()
	data, err := json.Marshal(confirmation{Instance: name, Run: s.run, Seq: seq + 1, At: time.Now().UTC()})
	if err == nil {
		err = s.storage.Store(ctx, confirmKey(name), data)
	}
	if err != nil {
		// Owed still: written after the next poll that completes.
		s.storageError(ctx, "store", err, zap.String("what", "confirming the change feed"))
		return false
	}
	s.logger.Debug("confirmed the change feed", zap.String("instance", name), zap.Int64("seq", seq+1))
	s.feed.mu.Lock()
	defer s.feed.mu.Unlock()
	s.feed.confirmSeq = seq + 1
	if s.feed.confirmOwed > 0 {
		s.feed.confirmOwed--
	}
	return s.feed.confirmOwed > 0
}

// Instance describes a live store sharing the storage, as its instance
// record shows it.
type Instance struct {
	// Name is the instance name it writes usage under.
	Name string `json:"instance"`
	// Host and PID are its machine's host name and its process ID.
	Host string `json:"host,omitempty"`
	PID  int    `json:"pid,omitempty"`
	// LastSeen is when it last renewed its record (every 10s), by its clock.
	LastSeen time.Time `json:"last_seen"`
}

func (i Instance) String() string {
	var facts []string
	if i.Host != "" {
		facts = append(facts, "host "+i.Host)
	}
	if i.PID > 0 {
		facts = append(facts, fmt.Sprintf("pid %d", i.PID))
	}
	facts = append(facts, "last seen "+i.LastSeen.UTC().Format(time.RFC3339))
	return fmt.Sprintf("%s (%s)", i.Name, strings.Join(facts, ", "))
}

// UnconfirmedError is AwaitChanges' answer when some live stores did not
// confirm in time. Err, when set, is the last failure to read storage.
type UnconfirmedError struct {
	Instances []Instance
	Err       error
}

func (e *UnconfirmedError) Error() string {
	names := make([]string, len(e.Instances))
	for i, inst := range e.Instances {
		names[i] = inst.String()
	}
	msg := fmt.Sprintf("not confirmed by %d live instance(s): %s", len(names), strings.Join(names, "; "))
	if e.Err != nil {
		msg += fmt.Sprintf(" (reading confirmations failed: %v)", e.Err)
	}
	return msg
}

func (e *UnconfirmedError) Unwrap() error { return e.Err }

// AwaitChanges returns once every other live store sharing the storage has
// applied every change this store made before the call (so a token it
// revoked is refused everywhere); or, when ctx ends first, an
// *UnconfirmedError naming the stores that have not confirmed. A store is
// live while it holds an instance name: until it closes, its process is
// known to have ended (same machine), or its record is older than 2
// minutes. A live store that cannot read the feed (storage unreachable
// from it, process suspended, change feed turned off) never confirms.
// It costs a few storage reads every 50ms while it waits, and one write.
//
// Listings only find the stores to wait for. A listing can miss a record
// being rewritten: a file storage's directory read races the rename that
// replaces a heartbeat or a confirmation, and Linux's readdir may skip
// an entry renamed meanwhile. Missing a confirmation at the start read
// as "none yet", and missing a record as "gone", so the wait ended at
// once and a revoked token was still cached elsewhere
// (TestAwaitChangesRevocationReachedEveryStore, about 2% of runs under
// load). So the stores waited for are those of two listings, and each
// one's confirmation and liveness are also read from its own keys.
func (s *Store) AwaitChanges(ctx context.Context) error {
	waiting, err := s.liveStores(ctx)
	if err != nil {
		return err
	}
	again, err := s.liveStores(ctx)
	if err != nil {
		return err
	}
	maps.Copy(waiting, again)
	if len(waiting) == 0 {
		return nil
	}
	start, err := s.latestConfirmations(ctx, waiting)
	if err != nil {
		return err
	}
	if err := s.announce(ctx, opSync, "", 0); err != nil {
		return err
	}
	ticker := time.NewTicker(confirmCheckEvery)
	defer ticker.Stop()
	var lastErr error // of the last reading that ctx did not cut short
	for {
		err := s.checkWaiting(ctx, waiting, start)
		if ctx.Err() != nil {
			return &UnconfirmedError{Instances: sortedInstances(waiting), Err: lastErr}
		}
		if lastErr = err; err == nil && len(waiting) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return &UnconfirmedError{Instances: sortedInstances(waiting), Err: lastErr}
		case <-ticker.C:
		}
	}
}

// checkWaiting drops from waiting the stores that have confirmed twice
// since start, closed, or are known to be gone, and refreshes the others'
// facts for the report. A store the listing misses is looked for under
// the name it had; one found under another name (a store may change its
// name) is looked for there from then on.
func (s *Store) checkWaiting(ctx context.Context, waiting map[string]Instance, start map[string]int64) error {
	live, err := s.liveStores(ctx)
	if err != nil {
		return err
	}
	confirmed, err := s.latestConfirmations(ctx, waiting)
	if err != nil {
		return err
	}
	now := time.Now()
	for run, inst := range waiting {
		current, ok := live[run]
		if !ok {
			rec, found, err := s.loadInstance(ctx, inst.Name)
			if err != nil {
				return err
			}
			ok = found && runOf(rec) == run && rec.Run != s.run && !s.holderGone(rec, now)
			if ok {
				current = Instance{Name: rec.Instance, Host: rec.Host, PID: rec.PID, LastSeen: rec.Heartbeat}
			}
		}
		if !ok || confirmed[run] >= start[run]+confirmsPerChange {
			delete(waiting, run) // confirmed, closed, or known to be gone
			continue
		}
		waiting[run] = current
	}
	return nil
}

// latestConfirmations returns the latest confirmation of every run, from
// a listing and, for each store waited for, from the key of the name it
// has: a listing may miss a confirmation being rewritten.
func (s *Store) latestConfirmations(ctx context.Context, waiting map[string]Instance) (map[string]int64, error) {
	seqs, err := s.confirmations(ctx)
	if err != nil {
		return nil, err
	}
	for run, inst := range waiting {
		seq, err := s.confirmationOf(ctx, inst.Name, run)
		if err != nil {
			return nil, err
		}
		seqs[run] = max(seqs[run], seq)
	}
	return seqs, nil
}

// runOf is how liveStores keys a store: its run, or its name for a
// record written by an older version, which has none (and never confirms).
func runOf(rec *instanceRecord) string {
	if rec.Run == "" {
		return "name:" + rec.Instance
	}
	return rec.Run
}

// confirmationOf reads the latest confirmation the named store's run has
// written: 0 when none (none stored, or one of another run under that
// name).
func (s *Store) confirmationOf(ctx context.Context, name, run string) (int64, error) {
	var c confirmation
	data, err := s.storage.Load(ctx, confirmKey(name))
	if isNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, s.unavailable(ctx, "load", "loading a confirmation", err)
	}
	if json.Unmarshal(data, &c) != nil || c.Instance != name || c.Run != run {
		return 0, nil
	}
	return c.Seq, nil
}

func sortedInstances(m map[string]Instance) []Instance {
	out := make([]Instance, 0, len(m))
	for _, inst := range m {
		out = append(out, inst)
	}
	slices.SortFunc(out, func(a, b Instance) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// liveStores reads the instance records and returns the live stores other
// than this one, by run. A record without a run (written by an older
// version, which never confirms) is keyed by its name.
func (s *Store) liveStores(ctx context.Context) (map[string]Instance, error) {
	keys, err := s.storage.List(ctx, instancesDir, false)
	if err != nil && !isNotExist(err) {
		return nil, s.unavailable(ctx, "list", "listing instances", err)
	}
	now := time.Now()
	live := make(map[string]Instance, len(keys))
	for _, key := range keys {
		var rec instanceRecord
		if !s.loadListed(ctx, key, &rec, &err) || rec.Instance != unescapedBase(key) {
			if err != nil {
				return nil, err
			}
			continue // a storage's temporary file, or removed meanwhile
		}
		if rec.Run == s.run || s.holderGone(&rec, now) {
			continue
		}
		live[runOf(&rec)] = Instance{Name: rec.Instance, Host: rec.Host, PID: rec.PID, LastSeen: rec.Heartbeat}
	}
	return live, nil
}

// confirmations returns the latest confirmation of every run.
func (s *Store) confirmations(ctx context.Context) (map[string]int64, error) {
	keys, err := s.storage.List(ctx, confirmsDir, false)
	if err != nil && !isNotExist(err) {
		return nil, s.unavailable(ctx, "list", "listing confirmations", err)
	}
	seqs := make(map[string]int64, len(keys))
	for _, key := range keys {
		var c confirmation
		if !s.loadListed(ctx, key, &c, &err) || c.Instance != unescapedBase(key) {
			if err != nil {
				return nil, err
			}
			continue
		}
		seqs[c.Run] = max(seqs[c.Run], c.Seq)
	}
	return seqs, nil
}

// loadListed reads a listed key into v; false when it is gone or not JSON
// (then *errp is nil), or when reading it failed (*errp says why).
func (s *Store) loadListed(ctx context.Context, key string, v any, errp *error) bool {
	*errp = nil
	data, err := s.storage.Load(ctx, key)
	if isNotExist(err) {
		return false
	}
	if err != nil {
		*errp = s.unavailable(ctx, "load", "loading "+path.Dir(key), err)
		return false
	}
	return json.Unmarshal(data, v) == nil
}

// unescapedBase is the name a listed key stands for.
func unescapedBase(key string) string {
	name, err := url.PathUnescape(path.Base(key))
	if err != nil {
		return ""
	}
	return name
}
