package tokenstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// lapsingStorage ends the store's lease as soon as a write under prefix
// lands: the process paused, or the flush ran long, right after it.
type lapsingStorage struct {
	certmagic.Storage
	prefix string
	store  *Store
}

func (l *lapsingStorage) Store(ctx context.Context, key string, value []byte) error {
	err := l.Storage.Store(ctx, key, value)
	if err == nil && l.store != nil && strings.HasPrefix(key, l.prefix) {
		l.store.leaseFrom.Store(0)
	}
	return err
}

// A flush checks the name's lease before each write, not only before the
// first: a lease that lapses during the flush leaves the rest pending,
// for a flush that holds it again. Records kept in memory are written
// without reading storage, so a write after another store took the name
// would replace what that store wrote.
func TestFlushWritesNothingOnceTheLeaseLapses(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		prefix string                   // the write after which the lease lapses
		record func(s *Store, id int64) // one use of the trigger
		stored func(t *testing.T, files certmagic.Storage, id int64) bool
	}{
		{"deliveries, one record a trigger", deliveriesDir(1) + "/",
			func(s *Store, id int64) { s.RecordDelivery(id, delivered(at, "accepted")) },
			func(t *testing.T, files certmagic.Storage, id int64) bool {
				return files.Exists(context.Background(), deliveriesKey(id, "instance-a"))
			}},
		{"usage, one record a shard", usageShardKey("instance-a", 0),
			func(s *Store, id int64) { s.counter(id).record(at) },
			func(t *testing.T, files certmagic.Storage, id int64) bool {
				_, ok := storedUsage(t, files, id, "instance-a")
				return ok
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := &certmagic.FileStorage{Path: t.TempDir()}
			storage := &lapsingStorage{Storage: files, prefix: tt.prefix}
			s := newTestStore(t, storage, Config{})
			first, second := int64(1), int64(usageShardSize+1) // another shard, written after
			tt.record(s, first)
			tt.record(s, second)
			storage.store = s
			if err := s.Flush(ctx); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Flush = %v, want ErrUnavailable", err)
			}
			if !tt.stored(t, files, first) || tt.stored(t, files, second) {
				t.Fatalf("after the lease lapsed: trigger %d stored %v, trigger %d stored %v; want only the first",
					first, tt.stored(t, files, first), second, tt.stored(t, files, second))
			}
			storage.store = nil
			if err := s.Flush(ctx); err != nil { // renews the lease first
				t.Fatal(err)
			}
			if !tt.stored(t, files, second) {
				t.Fatalf("trigger %d's use was lost", second)
			}
		})
	}
}
