package tokenstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

func TestUpdateDescription(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	s := newTestStore(t, &certmagic.FileStorage{Path: dir}, Config{Now: clk.Now})
	ctx := context.Background()
	tr, token := mustCreate(t, s, CreateRequest{Project: "9", Description: "before", Owner: "alice"})
	if tr.UpdatedAt != nil {
		t.Fatalf("a new trigger has UpdatedAt %v", tr.UpdatedAt)
	}
	clk.Add(time.Minute)

	tests := []struct {
		name        string
		id          int64
		description string
		want        error // nil: success
	}{
		{"update", tr.ID, "after", nil},
		{"again", tr.ID, "after, twice", nil},
		{"blank", tr.ID, " \t", ErrInvalid},
		{"empty", tr.ID, "", ErrInvalid},
		{"unknown ID", 999, "x", ErrNotFound},
		{"zero ID", 0, "x", ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := s.UpdateDescription(ctx, tt.id, tt.description)
			if tt.want != nil {
				if !errors.Is(err, tt.want) || got != nil {
					t.Fatalf("UpdateDescription = %+v, %v; want nil, %v", got, err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("UpdateDescription: %v", err)
			}
			if got.Description != tt.description || got.UpdatedAt == nil || !got.UpdatedAt.Equal(clk.Now()) {
				t.Errorf("updated trigger = %+v, want description %q updated at %v", got, tt.description, clk.Now())
			}
			if got.Owner != "alice" || got.Project != "9" || !got.CreatedAt.Equal(tr.CreatedAt) || got.TokenPrefix != tr.TokenPrefix {
				t.Errorf("update changed other fields: %+v, was %+v", got, tr)
			}
		})
	}

	// Durable: a new store on the same storage reads the new description,
	// by ID and in listings; the token still authenticates.
	s2 := newTestStore(t, &certmagic.FileStorage{Path: dir}, Config{InstanceID: "instance-b", Now: clk.Now})
	got, _, err := s2.Get(ctx, tr.ID)
	if err != nil || got.Description != "after, twice" || got.UpdatedAt == nil {
		t.Fatalf("Get after update on another store = %+v, %v", got, err)
	}
	list, err := s2.List(ctx, "9")
	if err != nil || len(list) != 1 || list[0].Trigger.Description != "after, twice" {
		t.Fatalf("List after update = %+v, %v", list, err)
	}
	if cred, err := s2.Authenticate(ctx, token); err != nil || cred.Trigger.ID != tr.ID {
		t.Fatalf("Authenticate after update = %v, %v", cred, err)
	}

	// Revoked: not found, and the update brings nothing back.
	if err := s.Revoke(ctx, tr.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.UpdateDescription(ctx, tr.ID, "resurrect"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("UpdateDescription of a revoked trigger: %v, want ErrNotFound", err)
	}
	s3 := newTestStore(t, &certmagic.FileStorage{Path: dir}, Config{InstanceID: "instance-c", Now: clk.Now})
	if _, err := s3.Authenticate(ctx, token); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoked token authenticates after an update attempt: %v", err)
	}
	if _, _, err := s3.Get(ctx, tr.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a revoked trigger after an update attempt: %v", err)
	}
}

// An update racing a revocation must never resurrect the trigger: here the
// revocation has written its tombstone but not yet marked the record by ID
// revoked (it failed there), which is what an update that loaded the
// record just before the revocation sees. The update writes the revoked
// record back.
func TestUpdateDescriptionAfterTombstone(t *testing.T) {
	storage := newFaultyStorage(t)
	s := newTestStore(t, storage, Config{})
	ctx := context.Background()
	tr, token := mustCreate(t, s, CreateRequest{Project: "9", Description: "d", Owner: "alice"})

	storage.failOn("store", triggersDir)
	if err := s.Revoke(ctx, tr.ID, "bob"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Revoke with failing record write: %v, want ErrUnavailable", err)
	}
	storage.heal()

	if _, _, err := s.UpdateDescription(ctx, tr.ID, "still here?"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("UpdateDescription after the tombstone: %v, want ErrNotFound", err)
	}
	if _, _, err := s.Get(ctx, tr.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after the undone update: %v, want ErrNotFound", err)
	}
	if _, err := s.Authenticate(ctx, token); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Authenticate: %v, want ErrNotFound", err)
	}
	got, _, err := s.GetIncludingRevoked(ctx, tr.ID)
	if err != nil || !got.Revoked() || got.RevokedBy != "bob" || got.Description != "d" {
		t.Fatalf("GetIncludingRevoked after the undone update = %+v, %v; want the revoked record", got, err)
	}
}

// A failed write is reported as unavailable and changes nothing.
func TestUpdateDescriptionStorageFailure(t *testing.T) {
	storage := newFaultyStorage(t)
	s := newTestStore(t, storage, Config{})
	ctx := context.Background()
	tr, _ := mustCreate(t, s, CreateRequest{Project: "9", Description: "before", Owner: "alice"})

	storage.failOn("store", triggersDir)
	if _, _, err := s.UpdateDescription(ctx, tr.ID, "after"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("UpdateDescription with failing writes: %v, want ErrUnavailable", err)
	}
	storage.heal()
	got, _, err := s.Get(ctx, tr.ID)
	if err != nil || got.Description != "before" || got.UpdatedAt != nil {
		t.Fatalf("Get after a failed update = %+v, %v", got, err)
	}
}
