package tokenstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"go.uber.org/zap"
)

// Records by ID. The records of triggerShardSize consecutive IDs share one
// file, triggers/s<shard>, and a project's listing is one marker per shard
// holding its triggers, projects/<project>/s<shard>: a trigger costs one
// file of its own (its token index, tokens/<hash>) instead of three. A
// lookup by ID is one read (its shard), a project's listing one listing
// and a read per shard listed.
//
// A shard is rewritten whole, so every writer (Create, Revoke,
// UpdateDescription, the migration) holds the ID lock across its read and
// its write: no write loses another's. Records that stores before shards
// wrote, triggers/<id> with a marker projects/<project>/<id>, are read
// too (a record in a shard wins over one of the same ID outside it) and
// moved into their shards by migrateLayout.

// triggerShardRecord is what triggers/s<shard> holds: the records of the
// shard's triggers, sorted by ID. Shard lets readers tell a record from
// anything else stored there.
type triggerShardRecord struct {
	Shard    int64      `json:"shard"`
	Triggers []*Trigger `json:"triggers"`
}

// find returns the record of trigger id, or nil.
func (r *triggerShardRecord) find(id int64) *Trigger {
	i, found := slices.BinarySearchFunc(r.Triggers, id, func(t *Trigger, id int64) int { return cmpInt64(t.ID, id) })
	if !found {
		return nil
	}
	return r.Triggers[i]
}

// put adds or replaces t's record.
func (r *triggerShardRecord) put(t *Trigger) {
	i, found := slices.BinarySearchFunc(r.Triggers, t.ID, func(t *Trigger, id int64) int { return cmpInt64(t.ID, id) })
	if found {
		r.Triggers[i] = t
		return
	}
	r.Triggers = slices.Insert(r.Triggers, i, t)
}

// hasProject reports whether a trigger of the shard belongs to project:
// then its marker exists already.
func (r *triggerShardRecord) hasProject(project string) bool {
	folded := FoldProject(project)
	return slices.ContainsFunc(r.Triggers, func(t *Trigger) bool { return FoldProject(t.Project) == folded })
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// loadTriggerShard reads a shard; a shard never written is empty, with data nil.
// Errors wrap ErrUnavailable (and errCorrupt for a bad record).
func (s *Store) loadTriggerShard(ctx context.Context, shard int64) (rec *triggerShardRecord, data []byte, err error) {
	rec = &triggerShardRecord{Shard: shard}
	data, err = s.storage.Load(ctx, triggerShardKey(shard))
	if isNotExist(err) {
		return rec, nil, nil
	}
	if err != nil {
		return nil, nil, s.unavailable(ctx, "load", "loading trigger records", err, zap.Int64("shard", shard))
	}
	if err := decodeShard(rec, data); err != nil {
		return nil, nil, fmt.Errorf("%w: %w: shard %d: %w", ErrUnavailable, errCorrupt, shard, err)
	}
	return rec, data, nil
}

// decodeShard reads a shard record and checks that it is the shard's.
func decodeShard(rec *triggerShardRecord, data []byte) error {
	shard := rec.Shard
	if err := json.Unmarshal(data, rec); err != nil {
		return err
	}
	if rec.Shard != shard {
		return fmt.Errorf("record holds shard %d", rec.Shard)
	}
	for i, t := range rec.Triggers {
		if t == nil || triggerShard(t.ID) != shard || t.ID < 1 || (i > 0 && rec.Triggers[i-1].ID >= t.ID) {
			return errors.New("record holds a trigger of another shard, or out of order")
		}
	}
	return nil
}

// storeTriggerShard writes a shard record.
func (s *Store) storeTriggerShard(ctx context.Context, rec *triggerShardRecord, what string) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encoding trigger records: %w", err)
	}
	if err := s.storage.Store(ctx, triggerShardKey(rec.Shard), data); err != nil {
		return s.unavailable(ctx, "store", what, err, zap.Int64("shard", rec.Shard))
	}
	return nil
}

// withIDLock runs fn holding the ID lock, which every writer of a shard
// holds (see the top of this file).
func (s *Store) withIDLock(ctx context.Context, fn func() error) error {
	s.createMu.Lock()
	defer s.createMu.Unlock()
	if err := s.storage.Lock(ctx, nextIDLock); err != nil {
		return s.unavailable(ctx, "lock", "locking trigger IDs", err)
	}
	defer s.unlockIDs(ctx)
	return fn()
}

// rewriteRecord applies change to the record of trigger id in its shard,
// under the ID lock, and writes the shard: a record still outside it (see
// migrateLayout) is moved in, with its project's marker. change may
// refuse with an error, and then nothing is written.
func (s *Store) rewriteRecord(ctx context.Context, id int64, what string, change func(t *Trigger) error) (*Trigger, error) {
	var out *Trigger
	err := s.withIDLock(ctx, func() error {
		rec, _, err := s.loadTriggerShard(ctx, triggerShard(id))
		if err != nil {
			return err
		}
		t := rec.find(id)
		moved := t == nil
		if moved {
			if t, err = s.loadPerTriggerRecord(ctx, id); err != nil {
				return err
			}
		}
		t = t.clone()
		if err := change(t); err != nil {
			return err
		}
		needMarker := moved && !rec.hasProject(t.Project)
		rec.put(t)
		if err := s.storeTriggerShard(ctx, rec, what); err != nil {
			return err
		}
		if needMarker {
			if err := s.storage.Store(ctx, projectKey(t.Project, id), []byte(fmt.Sprint(triggerShard(id)))); err != nil {
				return s.unavailable(ctx, "store", "storing project marker", err, zap.Int64("id", id))
			}
		}
		out = t
		return nil
	})
	return out, err
}
