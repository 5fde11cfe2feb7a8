package tokenstore

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// landedStorage stores every value, but while armed answers the writes of
// keys under prefix with an error, as a storage does whose connection is
// lost after the value was sent (Redis going down mid-flush).
type landedStorage struct {
	certmagic.Storage
	prefix string
	armed  atomic.Bool
}

func (l *landedStorage) Store(ctx context.Context, key string, value []byte) error {
	err := l.Storage.Store(ctx, key, value)
	if err == nil && l.armed.Load() && strings.HasPrefix(key, l.prefix+"/") {
		return errors.New("connection lost before the answer")
	}
	return err
}

// A flush whose write failed may have written its record anyway: the uses
// it carried are counted once, whether it did or not, by the next flush
// and by every read meanwhile.
func TestUsageCountedOnceAfterAFailedWrite(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		landed bool // whether the failed write reached storage
	}{
		{"the failed write reached storage", true},
		{"the failed write did not", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := &certmagic.FileStorage{Path: t.TempDir()}
			landed := &landedStorage{Storage: files, prefix: usageRoot}
			faulty := &faultyStorage{Storage: landed, fail: map[string]string{}}
			s := newTestStore(t, faulty, Config{})
			tr, token := mustCreate(t, s, CreateRequest{Project: "9", Description: "d"})
			cred := authenticate(t, s, token)
			cred.RecordUse(t0)
			if err := s.Flush(ctx); err != nil { // a record in storage: 1
				t.Fatal(err)
			}
			for i := range 3 {
				cred.RecordUse(t0.Add(time.Duration(i+1) * time.Second))
			}

			if tt.landed {
				landed.armed.Store(true)
			} else {
				faulty.failOn("store", usageRoot)
			}
			if err := s.Flush(ctx); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Flush = %v, want ErrUnavailable", err)
			}
			if rec, _ := storedUsage(t, files, tr.ID, "instance-a"); tt.landed != (rec.UseCount == 4) {
				t.Fatalf("storage holds %d uses after the failed write; the test's storage did not do as told", rec.UseCount)
			}
			wantUsage(t, s, tr.ID, 4, t0.Add(3*time.Second)) // while the write's outcome is unknown

			landed.armed.Store(false)
			faulty.heal()
			cred.RecordUse(t0.Add(time.Minute))
			if err := s.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if rec, _ := storedUsage(t, files, tr.ID, "instance-a"); rec.UseCount != 5 {
				t.Fatalf("stored %d uses after the next flush, want 5", rec.UseCount)
			}
			wantUsage(t, s, tr.ID, 5, t0.Add(time.Minute))
			// A new store (a restart) reads storage alone.
			wantUsage(t, newTestStore(t, files, Config{InstanceID: "instance-b"}), tr.ID, 5, t0.Add(time.Minute))
		})
	}
}

// The same for the recent deliveries: a failed write's deliveries, written
// again, are listed once.
func TestDeliveriesListedOnceAfterAFailedWrite(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	files := &certmagic.FileStorage{Path: t.TempDir()}
	landed := &landedStorage{Storage: files, prefix: deliveriesRoot}
	s := newTestStore(t, landed, Config{})
	tr, _ := mustCreate(t, s, CreateRequest{Project: "9", Description: "d"})
	for i := range 3 {
		s.RecordDelivery(tr.ID, Delivery{Time: t0.Add(time.Duration(i) * time.Second), Source: "trigger", Ref: "main",
			Variables: []string{"A"}, Outcome: "accepted", Status: 201})
	}
	landed.armed.Store(true)
	if err := s.Flush(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Flush = %v, want ErrUnavailable", err)
	}
	landed.armed.Store(false)
	s.RecordDelivery(tr.ID, Delivery{Time: t0.Add(time.Minute), Source: "trigger", Ref: "main", Outcome: "accepted", Status: 201})
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	list, err := s.Deliveries(ctx, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 4 {
		t.Fatalf("%d deliveries listed, want the 4 recorded: %+v", len(list), list)
	}
}
