package tokenstore

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// recoveringStorage answers the first read of a key under prefix after
// failOneRead as a missing key, and everything else properly: a read that
// failed just before the storage answered again, reported as a missing key
// (caddy-storage-redis v1.8.1 does so for any failed read) while the
// listing that follows it already succeeds. Redis does so as it comes back
// after an outage: its client fails reads at once until a background dial
// succeeds, and answers "loading" until its data is read back.
type recoveringStorage struct {
	certmagic.Storage
	prefix  string
	pending atomic.Bool
}

func (r *recoveringStorage) failOneRead(prefix string) {
	r.prefix = prefix
	r.pending.Store(true)
}

func (r *recoveringStorage) Load(ctx context.Context, key string) ([]byte, error) {
	if strings.HasPrefix(key, r.prefix+"/") && r.pending.CompareAndSwap(true, false) {
		return nil, fs.ErrNotExist
	}
	return r.Storage.Load(ctx, key)
}

// A key is reported missing only if a read made after the storage proved
// it answers says so: a read that failed just before the storage came
// back does not make an existing key missing.
func TestMissingKeyConfirmedAfterTheStorageAnswers(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		stored   bool
		readFail bool // the first read fails, reported as a missing key, as the storage comes back
		want     error
	}{
		{"stored", true, false, nil},
		{"stored, its read failing as the storage comes back", true, true, nil},
		{"missing", false, false, fs.ErrNotExist},
		{"missing, its read failing as the storage comes back", false, true, fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := &certmagic.FileStorage{Path: t.TempDir()}
			storage := &recoveringStorage{Storage: files}
			o := newObservedStorage(storage, time.Minute, nopObserver{})
			key := keyPrefix + "/some/key"
			if tt.stored {
				if err := files.Store(ctx, key, []byte("value")); err != nil {
					t.Fatal(err)
				}
			}
			if tt.readFail {
				storage.failOneRead(keyPrefix)
			}
			data, err := o.Load(ctx, key)
			if !errors.Is(err, tt.want) || (tt.want == nil && string(data) != "value") {
				t.Fatalf("Load = %q, %v; want the value or %v", data, err, tt.want)
			}
		})
	}
}

// What a read failing as the storage comes back used to break: an
// instance's usage total was reset to the uses held in memory through the
// outage (TestClusterSurvivesRedisOutage counted 820 uses of 835), and an
// instance believed its name taken by another and moved to a suffixed one.
func TestRecordsSurviveAReadFailingAsTheStorageComesBack(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

	t.Run("usage total", func(t *testing.T) {
		files := &certmagic.FileStorage{Path: t.TempDir()}
		storage := &recoveringStorage{Storage: files}
		s := newTestStore(t, storage, Config{InstanceID: "node"})
		tr, token := mustCreate(t, s, CreateRequest{Project: "9", Description: "d"})
		cred := authenticate(t, s, token)
		for i := range 3 {
			cred.RecordUse(t0.Add(time.Duration(i) * time.Second))
		}
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		// Held in memory through an outage; the flush after it is the
		// first to read the record.
		cred.RecordUse(t0.Add(time.Minute))
		cred.RecordUse(t0.Add(2 * time.Minute))
		storage.failOneRead(usageRoot)
		_ = s.Flush(ctx) // may fail: the uses stay pending
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if rec, _ := storedUsage(t, files, tr.ID, "node"); rec.UseCount != 5 {
			t.Errorf("stored total = %d, want 5", rec.UseCount)
		}
		wantUsage(t, s, tr.ID, 5, t0.Add(2*time.Minute))
	})

	t.Run("instance name", func(t *testing.T) {
		storage := &recoveringStorage{Storage: &certmagic.FileStorage{Path: t.TempDir()}}
		s := newTestStore(t, storage, Config{InstanceID: "node"})
		storage.failOneRead(instancesDir)
		s.heartbeat(ctx)
		s.heartbeat(ctx)
		if got := s.InstanceID(); got != "node" {
			t.Errorf("instance name = %q after the heartbeats, want node", got)
		}
	})
}
