package tokenstore

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// blockFirstTokenRead makes the first read of a token record wait, once
// it has read the record, until release is closed; started is closed
// when it begins waiting. It counts the token records read.
func blockFirstTokenRead(storage *faultyStorage) (started, release chan struct{}, reads *atomic.Int64) {
	started, release, reads = make(chan struct{}), make(chan struct{}), new(atomic.Int64)
	var first atomic.Bool
	storage.onLoad(func(key string) {
		if !strings.HasPrefix(key, tokensDir+"/") {
			return
		}
		reads.Add(1)
		if first.CompareAndSwap(false, true) {
			close(started)
			<-release
		}
	})
	return started, release, reads
}

// uncachedToken creates a trigger through one store and returns its token
// and a second store on the same storage, which has not cached it and
// whose first read of a token record blocks (blockFirstTokenRead).
func uncachedToken(t *testing.T) (s *Store, token string, started, release chan struct{}, reads *atomic.Int64) {
	t.Helper()
	storage := newFaultyStorage(t)
	_, token = mustCreate(t, newTestStore(t, storage, Config{}), CreateRequest{Project: "9", Description: "d"})
	s = newTestStore(t, storage, Config{InstanceID: "instance-b"})
	started, release, reads = blockFirstTokenRead(storage)
	return s, token, started, release, reads
}

// joinTime is how long a test lets its other lookups start (and, with
// lookups joined, wait) before the first read is released. Were they
// slower to start, they would find the token cached and read nothing
// either: no count asserted below depends on it.
const joinTime = 100 * time.Millisecond

func TestConcurrentMissesReadTheTokenOnce(t *testing.T) {
	s, token, started, release, reads := uncachedToken(t)

	const callers = 16
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			cred, err := s.Authenticate(context.Background(), token)
			if err == nil && cred.Trigger.Project != "9" {
				err = errors.New("wrong trigger")
			}
			errs[i] = err
		})
	}
	<-started
	time.Sleep(joinTime)
	close(release)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("caller %d: %v", i, err)
		}
	}
	if n := reads.Load(); n != 1 {
		t.Fatalf("%d concurrent lookups of one token read it %d times, want once", callers, n)
	}
}

func TestLookupAfterAChangeReadsForItself(t *testing.T) {
	s, token, started, release, reads := uncachedToken(t)

	first := make(chan error, 1)
	go func() {
		_, err := s.Authenticate(context.Background(), token)
		first <- err
	}()
	<-started
	s.cache.gen.Add(1) // a change applied while the first read is under way
	if _, err := s.Authenticate(context.Background(), token); err != nil {
		t.Fatalf("the lookup after the change: %v", err)
	}
	if n := reads.Load(); n != 2 {
		t.Fatalf("the token was read %d times, want twice: the lookup after the change must not join the read before it", n)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("the first lookup: %v", err)
	}
}

func TestLookupWhoseReaderLeftReadsForItself(t *testing.T) {
	s, token, started, release, _ := uncachedToken(t)
	defer close(release)

	readerCtx, leave := context.WithCancel(context.Background())
	reader := make(chan error, 1)
	go func() {
		_, err := s.Authenticate(readerCtx, token)
		reader <- err
	}()
	<-started
	waiter := make(chan error, 1)
	go func() {
		_, err := s.Authenticate(context.Background(), token)
		waiter <- err
	}()
	time.Sleep(joinTime)
	leave() // the first caller goes away: its read is given up
	if err := <-reader; !errors.Is(err, context.Canceled) {
		t.Fatalf("the caller that left: %v, want context.Canceled", err)
	}
	if err := <-waiter; err != nil {
		t.Fatalf("a lookup waiting on the read of a caller that left: %v, want the token's own answer", err)
	}
}

func TestLookupWaitEndsWithItsContext(t *testing.T) {
	s, token, started, release, _ := uncachedToken(t)
	defer close(release)

	go func() { _, _ = s.Authenticate(context.Background(), token) }()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), joinTime)
	defer cancel()
	if _, err := s.Authenticate(ctx, token); !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a lookup whose context ends while it waits: %v, want ErrUnavailable and its context's error", err)
	}
}
