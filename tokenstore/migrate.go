package tokenstore

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// layoutKey records that every record stores before shards wrote
// (triggers/<id>, projects/<project>/<id>) was moved into the shards; its
// value is layoutShards.
const (
	layoutKey    = keyPrefix + "/layout"
	layoutShards = "trigger_shards"
)

// startLayoutMigration checks, when the store opens, whether records of
// the layout before shards may remain (one read), and if so moves them in
// the background (migrateLayout): the store serves meanwhile, reading both
// layouts. A fresh storage is marked at once. Failures are logged; the
// next start tries again.
func (s *Store) startLayoutMigration(ctx context.Context) {
	readCtx, cancel := context.WithTimeout(ctx, s.storage.timeout())
	defer cancel()
	data, err := s.storage.Load(readCtx, layoutKey)
	switch {
	case err == nil && string(data) == layoutShards:
		return
	case err != nil && !isNotExist(err):
		s.logger.Warn("could not tell whether the storage holds trigger records to migrate; trying at the next start", zap.Error(err))
		return
	}
	next, err := s.peekNextID(readCtx)
	if err != nil {
		s.logger.Warn("could not read the next trigger ID; migrating trigger records at the next start", zap.Error(err))
		return
	}
	if next <= 1 { // no trigger was ever created: nothing to move
		s.markLayout(readCtx)
		return
	}
	s.loops.Add(1)
	go func() {
		defer s.loops.Done()
		s.migrateLayout(ctx, next)
	}()
}

// peekNextID reads the next trigger ID without taking it: 1 when none was
// ever taken.
func (s *Store) peekNextID(ctx context.Context) (int64, error) {
	data, err := s.storage.Load(ctx, nextIDKey)
	if isNotExist(err) {
		return 1, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
}

func (s *Store) markLayout(ctx context.Context) {
	if err := s.storage.Store(ctx, layoutKey, []byte(layoutShards)); err != nil {
		s.logger.Warn("could not record the storage layout; checking again at the next start", zap.Error(err))
	}
}

// migrateLayout moves the records of every ID below next that stores
// before shards wrote into their shards, one shard at a time: it writes
// the shard (under the ID lock) and its project markers, then deletes the
// record and its marker. Every step can be repeated, so a migration
// stopped anywhere (Close, a crash, a storage failure) is completed by the
// next start. It reads each ID once (no listing of every trigger), and the
// store stays usable throughout: readers find a record in its shard or, not
// moved yet, where it was. When it is done, layoutKey says so, and later
// starts do nothing. Instances of versions before shards must be stopped
// first: their writes by ID (a revocation's last step) would land outside
// the shards and go unseen.
func (s *Store) migrateLayout(ctx context.Context, next int64) {
	start := time.Now()
	moved := 0
	for shard := int64(0); shard <= triggerShard(next-1); shard++ {
		if ctx.Err() != nil {
			return
		}
		n, err := s.migrateShard(ctx, shard)
		if err != nil {
			s.logger.Warn("moving trigger records into their shards failed; continuing at the next start",
				zap.Int64("shard", shard), zap.Error(err))
			return
		}
		moved += n
	}
	s.markLayout(ctx)
	s.logger.Info("trigger records moved into shards",
		zap.Int("triggers", moved), zap.Duration("took", time.Since(start)))
}

// migrateShard moves the shard's records of the layout before shards into
// it and returns how many it moved.
func (s *Store) migrateShard(ctx context.Context, shard int64) (int, error) {
	var old []*Trigger
	for id := max(1, shard*triggerShardSize); id < (shard+1)*triggerShardSize; id++ {
		t, err := s.loadPerTriggerRecord(ctx, id)
		switch {
		case err == nil:
			old = append(old, t)
		case errors.Is(err, ErrNotFound):
		case errors.Is(err, errCorrupt):
			// Left where it is, and still read from there.
			s.logger.Warn("not moving an unreadable trigger record", zap.Int64("id", id), zap.Error(err))
		default:
			return 0, err
		}
	}
	if len(old) == 0 {
		return 0, nil
	}
	err := s.withIDLock(ctx, func() error {
		rec, _, err := s.loadTriggerShard(ctx, shard)
		if err != nil {
			return err
		}
		// Every moved record's project gets its marker, even when the
		// record was in the shard already: a move stopped between the
		// shard's write and its markers' (or a change that moved the
		// record, see rewriteRecord) is completed here, before the old
		// markers that still list the trigger are deleted below.
		var markers []string
		for _, t := range old {
			if moved := rec.find(t.ID); moved != nil {
				t = moved // moved already: the shard's record wins
			} else {
				rec.put(t)
			}
			if key := projectKey(t.Project, t.ID); !slices.Contains(markers, key) {
				markers = append(markers, key)
			}
		}
		if err := s.storeTriggerShard(ctx, rec, "storing moved trigger records"); err != nil {
			return err
		}
		for _, key := range markers {
			if err := s.storage.Store(ctx, key, []byte(strconv.FormatInt(shard, 10))); err != nil {
				return s.unavailable(ctx, "store", "storing project marker", err, zap.Int64("shard", shard))
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, t := range old {
		keys := []string{
			perTriggerKey(t.ID),
			perTriggerProjectKey(projectDir(t.Project), t.ID),
			perTriggerProjectKey(projectsDir+"/"+url.PathEscape(t.Project), t.ID), // as recorded, before keys were folded
		}
		for _, key := range keys {
			if err := s.storage.Delete(ctx, key); err != nil && !isNotExist(err) {
				return 0, s.unavailable(ctx, "delete", "deleting a moved trigger record", err, zap.Int64("id", t.ID))
			}
		}
	}
	return len(old), nil
}
