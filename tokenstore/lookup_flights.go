package tokenstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// A token that is not cached is read from storage once however many
// requests carry it at the same moment: after a start, a reload or a
// cache eviction, every connection of a busy client misses the same token
// together (32 connections gave 32 reads of one key on Redis), and each
// of them waits for the first one's read instead of sending its own.
//
// A request joins a read only if it started at the cache generation the
// request sees: a revocation or any other change applied since makes it
// read for itself, so no one is answered from a read older than a change
// it could know of. Waiting never takes longer than the read it waits for,
// which the storage timeout bounds.

// lookupFlights are the token reads under way, by token hash.
type lookupFlights struct {
	mu      sync.Mutex
	flights map[[32]byte]*lookupFlight
}

// lookupFlight is one read under way and, once done is closed, its answer.
type lookupFlight struct {
	gen  uint64
	done chan struct{}
	cred *Credential
	err  error
}

// do answers a lookup of the hash at cache generation gen with read's
// answer, or with the answer of a read of the same hash already under way
// at the same generation.
func (f *lookupFlights) do(ctx context.Context, sum *[32]byte, gen uint64,
	read func(context.Context, *[32]byte, uint64) (*Credential, error)) (*Credential, error) {
	f.mu.Lock()
	if fl, ok := f.flights[*sum]; ok && fl.gen == gen {
		f.mu.Unlock()
		select {
		case <-fl.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: waiting for the token's read: %w", ErrUnavailable, ctx.Err())
		}
		if errors.Is(fl.err, context.Canceled) && ctx.Err() == nil {
			// The reader's caller went away and its read was given up:
			// that says nothing about the token.
			return read(ctx, sum, gen)
		}
		return fl.cred, fl.err
	}
	if f.flights == nil {
		f.flights = make(map[[32]byte]*lookupFlight)
	}
	fl := &lookupFlight{gen: gen, done: make(chan struct{})}
	f.flights[*sum] = fl // an older generation's read keeps its own waiters
	f.mu.Unlock()

	fl.cred, fl.err = read(ctx, sum, gen)

	f.mu.Lock()
	if f.flights[*sum] == fl {
		delete(f.flights, *sum)
	}
	f.mu.Unlock()
	close(fl.done)
	return fl.cred, fl.err
}
