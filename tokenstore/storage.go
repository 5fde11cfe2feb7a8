package tokenstore

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
)

// StorageObserver is an optional extension of Observer: an Observer that
// also implements it receives the duration of every storage operation.
type StorageObserver interface {
	// StorageDuration is called after each storage operation, failed or
	// not; op is one of "load", "store", "list", "delete", "exists", "stat",
	// "lock" or "unlock".
	StorageDuration(op string, d time.Duration)
}

// observedStorage is the storage as the store uses it: every operation
// timed for the observer, reads bounded by the timeout even when the
// storage ignores its context, and writes given the timeout as a deadline.
//
// Writes are not abandoned like reads: an abandoned write could land after
// a later one to the same key and undo it.
type observedStorage struct {
	certmagic.Storage
	limit atomic.Int64    // the timeout, in nanoseconds: see timeout
	obs   StorageObserver // nil: durations are not reported
	// files is the storage when it is certmagic's FileStorage, whose
	// files Load reads itself, in fewer system calls (readFile).
	files *certmagic.FileStorage
	// tokensPath is FileStorage's file name of tokensDir, so that a token
	// index's is a concatenation (the hex hash needs no cleaning).
	tokensPath string
}

func newObservedStorage(storage certmagic.Storage, timeout time.Duration, obs Observer) *observedStorage {
	o := &observedStorage{Storage: storage}
	o.limit.Store(int64(timeout))
	o.obs, _ = obs.(StorageObserver)
	if o.files, _ = storage.(*certmagic.FileStorage); o.files != nil {
		o.tokensPath = o.files.Filename(tokensDir) + string(filepath.Separator)
	}
	return o
}

// timeout bounds each operation; a reload may change it (SetTiming).
func (o *observedStorage) timeout() time.Duration { return time.Duration(o.limit.Load()) }

func (o *observedStorage) observe(op string, start time.Time) {
	if o.obs != nil {
		o.obs.StorageDuration(op, time.Since(start))
	}
}

// errStorageTimeout is what a read that outlived the timeout returns.
type errStorageTimeout time.Duration

func (e errStorageTimeout) Error() string {
	return fmt.Sprintf("storage did not answer within %s", time.Duration(e))
}

// Timeout lets callers treat it as a net.Error-style timeout.
func (errStorageTimeout) Timeout() bool { return true }

// boundedRead runs read and waits for it at most timeout. A read that
// takes longer is abandoned: it finishes in the background and its result
// is dropped, so the caller never waits on a storage that stopped
// answering, whether or not it honours contexts.
func boundedRead[T any](ctx context.Context, timeout time.Duration, read func(context.Context) (T, error)) (T, error) {
	// Returning cancels ctx: an abandoned read is told to give up.
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := read(ctx)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		if ctx.Err() == context.DeadlineExceeded {
			return zero, errStorageTimeout(timeout)
		}
		return zero, ctx.Err()
	}
}

// probeDir is a directory nothing is ever stored under: listing it costs
// one round trip and fails only when the storage does.
const probeDir = keyPrefix + "/probe"

// Load confirms every "missing key" answer: a storage may report a failed
// read as a missing key (caddy-storage-redis v1.8.1 does, for any Redis
// error), and believing it would refuse a valid token with 404 and cache
// that, reset a usage total, reuse a trigger ID or give up an instance
// name still held. A listing then shows whether the storage answers; if
// it fails, so does the read. If it answers, the key is read again, and
// that second answer stands: the listing alone proves nothing about the
// first read when the storage came back between the two (a Redis
// restarting: its client fails reads at once until a background dial
// succeeds, and it answers "loading" until its data is read back).
func (o *observedStorage) Load(ctx context.Context, key string) ([]byte, error) {
	defer o.observe("load", time.Now())
	if o.files != nil { // a missing file is missing: nothing to confirm
		name, isToken := strings.CutPrefix(key, tokensDir+"/")
		if isToken && isHexHash(name) {
			name = o.tokensPath + name
		} else {
			name = o.files.Filename(key)
		}
		return boundedRead(ctx, o.timeout(), func(context.Context) ([]byte, error) {
			return readFile(name)
		})
	}
	return boundedRead(ctx, o.timeout(), func(ctx context.Context) ([]byte, error) {
		data, err := o.Storage.Load(ctx, key)
		if !isNotExist(err) {
			return data, err
		}
		if _, lerr := o.Storage.List(ctx, probeDir, false); lerr != nil && !isNotExist(lerr) {
			return nil, fmt.Errorf("reading %s: storage answered that it is missing but fails: %w", key, lerr)
		}
		return o.Storage.Load(ctx, key)
	})
}

func (o *observedStorage) List(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	defer o.observe("list", time.Now())
	return boundedRead(ctx, o.timeout(), func(ctx context.Context) ([]string, error) {
		return o.Storage.List(ctx, prefix, recursive)
	})
}

func (o *observedStorage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	defer o.observe("stat", time.Now())
	return boundedRead(ctx, o.timeout(), func(ctx context.Context) (certmagic.KeyInfo, error) {
		return o.Storage.Stat(ctx, key)
	})
}

func (o *observedStorage) Exists(ctx context.Context, key string) bool {
	defer o.observe("exists", time.Now())
	ok, err := boundedRead(ctx, o.timeout(), func(ctx context.Context) (bool, error) {
		return o.Storage.Exists(ctx, key), nil
	})
	return err == nil && ok
}

func (o *observedStorage) Store(ctx context.Context, key string, value []byte) error {
	defer o.observe("store", time.Now())
	ctx, cancel := context.WithTimeout(ctx, o.timeout())
	defer cancel()
	return o.Storage.Store(ctx, key, value)
}

func (o *observedStorage) Delete(ctx context.Context, key string) error {
	defer o.observe("delete", time.Now())
	ctx, cancel := context.WithTimeout(ctx, o.timeout())
	defer cancel()
	return o.Storage.Delete(ctx, key)
}

// Lock waits as long as the caller's context allows: waiting for another
// holder is the point of a lock.
func (o *observedStorage) Lock(ctx context.Context, name string) error {
	defer o.observe("lock", time.Now())
	return o.Storage.Lock(ctx, name)
}

func (o *observedStorage) Unlock(ctx context.Context, name string) error {
	defer o.observe("unlock", time.Now())
	return o.Storage.Unlock(ctx, name)
}

// isHexHash reports whether s is a hex SHA-256, as a token index's key ends.
func isHexHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

var _ certmagic.Storage = (*observedStorage)(nil)
