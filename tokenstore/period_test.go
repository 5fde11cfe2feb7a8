package tokenstore

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// A loop follows a new period from its next tick: one set to an hour runs
// within milliseconds once the period becomes milliseconds.
func TestPeriodChangeReachesTheLoop(t *testing.T) {
	p := newPeriod(time.Hour)
	done := make(chan struct{})
	defer close(done)
	var runs atomic.Int64
	go p.every(done, func() { runs.Add(1) })
	p.set(5 * time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for runs.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d runs in 5 s after the period became 5ms", runs.Load())
		}
		time.Sleep(time.Millisecond)
	}
}

// SetTiming applies new intervals and a new storage timeout to an open
// store; it refuses to turn the change feed on or off, changing nothing.
func TestSetTiming(t *testing.T) {
	storage := &hangingStorage{Storage: &certmagic.FileStorage{Path: t.TempDir()}}
	t.Cleanup(storage.resume)
	s := newTestStore(t, storage, Config{FlushInterval: time.Hour, StorageTimeout: time.Hour})
	tr, token := mustCreate(t, s, CreateRequest{Project: "9", Description: "d"})

	if err := s.SetTiming(20*time.Millisecond, 0, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	cred, err := s.Authenticate(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	cred.RecordUse(time.Now())
	// Read back from storage by a second store: only a flush puts it there.
	reader := newTestStore(t, storage.Storage, Config{InstanceID: "reader", ChangePollInterval: -1})
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, usage, err := reader.Get(context.Background(), tr.ID)
		if err != nil {
			t.Fatal(err)
		}
		if usage.UseCount == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the use was not flushed within 5 s of the flush interval becoming 20ms")
		}
		time.Sleep(20 * time.Millisecond)
	}

	storage.hang(tokensDir)
	start := time.Now()
	_, err = s.Authenticate(context.Background(), "glptt-"+"0123456789abcdef0123456789abcdef01234567")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("lookup while storage hangs: %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("lookup while storage hangs took %s: the 50ms timeout was not applied", took)
	}
	storage.resume()

	if err := s.SetTiming(time.Minute, -1, 0); !errors.Is(err, ErrChangeFeedSwitch) {
		t.Fatalf("turning the change feed off: %v, want ErrChangeFeedSwitch", err)
	}
	if s.flushEvery.get() != 20*time.Millisecond {
		t.Fatalf("a refused SetTiming changed the flush interval to %s", s.flushEvery.get())
	}
	off := newTestStore(t, storage.Storage, Config{InstanceID: "off", ChangePollInterval: -1})
	if err := off.SetTiming(0, time.Second, 0); !errors.Is(err, ErrChangeFeedSwitch) {
		t.Fatalf("turning the change feed on: %v, want ErrChangeFeedSwitch", err)
	}
	for _, bad := range [][3]time.Duration{{-1, 0, 0}, {0, 0, -1}} {
		if err := s.SetTiming(bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("SetTiming%v accepted", bad)
		}
	}
}
