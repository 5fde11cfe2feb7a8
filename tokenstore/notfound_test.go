package tokenstore

import (
	"context"
	"errors"
	"io/fs"
	"testing"
	"time"
)

// lossyStorage answers "not found" for a read that failed, as
// caddy-storage-redis v1.8.1 does for any failed GET.
type lossyStorage struct{ *faultyStorage }

func (l lossyStorage) Load(ctx context.Context, key string) ([]byte, error) {
	data, err := l.faultyStorage.Load(ctx, key)
	if errors.Is(err, errInjected) {
		return nil, fs.ErrNotExist
	}
	return data, err
}

// Right after a storage operation failed, a "not found" is answered but not
// remembered: a storage coming back from an outage may say "not found" for
// a token it holds, and the token must work as soon as it answers again.
// Without a recent failure, "not found" is cached as before.
func TestNotFoundNotCachedRightAfterStorageErrors(t *testing.T) {
	tests := []struct {
		name          string
		failedBefore  bool
		wantAfterward error
	}{
		{"after a failed storage operation", true, nil},
		{"with no failure before", false, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			storage := lossyStorage{newFaultyStorage(t)}
			a := newTestStore(t, storage, Config{InstanceID: "a", ChangePollInterval: time.Hour})
			b := newTestStore(t, storage, Config{InstanceID: "b", ChangePollInterval: time.Hour, NegativeCacheTTL: time.Hour})
			_, token := mustCreate(t, a, CreateRequest{Project: "9", Description: "d"})

			if tt.failedBefore {
				storage.failOn("list", changesDir)
				if err := b.pollChanges(ctx); err == nil {
					t.Fatal("the change poll did not fail")
				}
				storage.heal()
			}
			storage.failOn("load", tokensDir)
			if _, err := b.Authenticate(ctx, token); !errors.Is(err, ErrNotFound) {
				t.Fatalf("while the storage says not found: %v, want ErrNotFound", err)
			}
			storage.heal()
			if _, err := b.Authenticate(ctx, token); !errors.Is(err, tt.wantAfterward) {
				t.Fatalf("once the storage answers again: %v, want %v", err, tt.wantAfterward)
			}
		})
	}
}
