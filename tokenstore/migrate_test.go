package tokenstore

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// oldLayoutTrigger writes a trigger as stores before shards did: the token
// index, triggers/<id> and the marker projects/<dir>/<id>, dir being the
// project as recorded (before keys were folded) or folded.
func oldLayoutTrigger(t *testing.T, storage certmagic.Storage, tr *Trigger, token, markerDir string) {
	t.Helper()
	ctx := context.Background()
	sum := HashToken(token)
	tr.TokenHash, tr.TokenPrefix = hex.EncodeToString(sum[:]), TokenPrefix(token)
	data, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	for key, value := range map[string][]byte{
		tokenKey(tr.TokenHash): data,
		perTriggerKey(tr.ID):   data,
		perTriggerProjectKey(projectsDir+"/"+url.PathEscape(markerDir), tr.ID): []byte(strconv.FormatInt(tr.ID, 10)),
	} {
		if err := storage.Store(ctx, key, value); err != nil {
			t.Fatal(err)
		}
	}
}

// oldLayoutStorage is a storage as a store before shards left it: four
// triggers of project 9 (the third revoked, the fourth recorded as
// "Group/Project" under a mixed-case marker directory) and next_id 5.
func oldLayoutStorage(t *testing.T) (certmagic.Storage, []string) {
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	created := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	revokedAt := created.Add(time.Hour)
	tokens := []string{
		NewTokenPrefix + "1111111111111111111111111111111111111111",
		NewTokenPrefix + "2222222222222222222222222222222222222222",
		NewTokenPrefix + "3333333333333333333333333333333333333333",
		NewTokenPrefix + "4444444444444444444444444444444444444444",
	}
	oldLayoutTrigger(t, storage, &Trigger{ID: 1, Project: "9", Description: "one", Owner: "alice", CreatedAt: created}, tokens[0], "9")
	oldLayoutTrigger(t, storage, &Trigger{ID: 2, Project: "9", Description: "two", CreatedAt: created}, tokens[1], "9")
	oldLayoutTrigger(t, storage, &Trigger{ID: 3, Project: "9", Description: "three", CreatedAt: created,
		RevokedAt: &revokedAt, RevokedBy: "admin"}, tokens[2], "9")
	oldLayoutTrigger(t, storage, &Trigger{ID: 4, Project: "Group/Project", Description: "four", CreatedAt: created}, tokens[3], "Group/Project")
	if err := storage.Store(context.Background(), nextIDKey, []byte("5")); err != nil {
		t.Fatal(err)
	}
	return storage, tokens
}

// checkOldLayoutTriggers asserts what a store shows of oldLayoutStorage's
// triggers, whichever layout holds them.
func checkOldLayoutTriggers(t *testing.T, s *Store, tokens []string) {
	t.Helper()
	ctx := context.Background()
	for i, want := range []int64{1, 2, 4} {
		if cred, err := s.Authenticate(ctx, tokens[want-1]); err != nil || cred.Trigger.ID != want {
			t.Errorf("token %d: %+v, %v", i, cred, err)
		}
	}
	var revoked *RevokedError
	if _, err := s.Authenticate(ctx, tokens[2]); !errors.As(err, &revoked) || revoked.TriggerID != 3 {
		t.Errorf("revoked token: %v", err)
	}
	if got, _, err := s.Get(ctx, 1); err != nil || got.Description != "one" || got.Owner != "alice" {
		t.Errorf("Get(1) = %+v, %v", got, err)
	}
	if got, _, err := s.GetIncludingRevoked(ctx, 3); err != nil || !got.Revoked() || got.RevokedBy != "admin" {
		t.Errorf("GetIncludingRevoked(3) = %+v, %v", got, err)
	}
	for project, want := range map[string][]int64{"": {1, 2, 4}, "9": {1, 2}, "group/project": {4}} {
		if got := listIDs(t, s, project); !slices.Equal(got, want) {
			t.Errorf("List(%q) = %v, want %v", project, got, want)
		}
	}
	if list, err := s.ListRevoked(ctx, "9"); err != nil || len(list) != 1 || list[0].Trigger.ID != 3 {
		t.Errorf("ListRevoked(9) = %+v, %v", list, err)
	}
}

// A storage written in the layout before shards: the store reads it as it
// is, then moves every record into its shard in the background and marks
// the storage migrated; what the store shows never changes, the old files
// are gone afterwards, and IDs continue where they were.
func TestLayoutMigration(t *testing.T) {
	ctx := context.Background()
	storage, tokens := oldLayoutStorage(t)

	// Marked migrated, the store does not move anything: it reads the old
	// layout as it is.
	if err := storage.Store(ctx, layoutKey, []byte(layoutShards)); err != nil {
		t.Fatal(err)
	}
	reader := newTestStore(t, storage, Config{InstanceID: "reader"})
	checkOldLayoutTriggers(t, reader, tokens)
	if !storage.Exists(ctx, perTriggerKey(1)) || storage.Exists(ctx, triggerShardKey(0)) {
		t.Fatal("a store moved records of a storage marked migrated")
	}
	reader.Close()

	if err := storage.Delete(ctx, layoutKey); err != nil {
		t.Fatal(err)
	}
	s := newTestStore(t, storage, Config{InstanceID: "migrating"})
	deadline := time.Now().Add(30 * time.Second)
	for !storage.Exists(ctx, layoutKey) {
		if time.Now().After(deadline) {
			t.Fatal("the migration did not finish")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for id := int64(1); id <= 4; id++ {
		if storage.Exists(ctx, perTriggerKey(id)) {
			t.Errorf("triggers/%d still exists", id)
		}
	}
	for _, key := range []string{projectsDir + "/9/1", projectsDir + "/Group%2FProject/4"} {
		if storage.Exists(ctx, key) {
			t.Errorf("%s still exists", key)
		}
	}
	for _, key := range []string{triggerShardKey(0), projectShardKey("9", 0), projectShardKey("group/project", 0)} {
		if !storage.Exists(ctx, key) {
			t.Errorf("%s is missing", key)
		}
	}
	checkOldLayoutTriggers(t, s, tokens)
	fresh := newTestStore(t, storage, Config{InstanceID: "fresh"})
	checkOldLayoutTriggers(t, fresh, tokens)
	if tr, _ := mustCreate(t, fresh, CreateRequest{Project: "9", Description: "five"}); tr.ID != 5 {
		t.Errorf("created ID %d, want 5", tr.ID)
	}
}

// Changes to a trigger still in the old layout move it into its shard,
// which wins over the old record from then on.
func TestOldLayoutChanges(t *testing.T) {
	ctx := context.Background()
	storage, tokens := oldLayoutStorage(t)
	if err := storage.Store(ctx, layoutKey, []byte(layoutShards)); err != nil {
		t.Fatal(err)
	}
	s := newTestStore(t, storage, Config{})
	if _, _, err := s.UpdateDescription(ctx, 1, "one, renamed"); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(ctx, 2, "bob"); err != nil {
		t.Fatal(err)
	}
	if got, _, err := s.Get(ctx, 1); err != nil || got.Description != "one, renamed" {
		t.Errorf("Get(1) = %+v, %v", got, err)
	}
	if _, err := s.Authenticate(ctx, tokens[1]); !errors.Is(err, ErrRevoked) {
		t.Errorf("revoked token: %v", err)
	}
	if got := listIDs(t, s, "9"); !slices.Equal(got, []int64{1}) {
		t.Errorf("List(9) = %v, want [1]", got)
	}
	if list, err := s.ListRevoked(ctx, "9"); err != nil || len(list) != 2 {
		t.Errorf("ListRevoked(9) = %+v, %v", list, err)
	}
	if !storage.Exists(ctx, triggerShardKey(0)) {
		t.Error("the changed records are not in their shard")
	}
}

// A migration stopped between a shard's write and its project markers'
// (a crash, a storage failure) is completed by the next start: the
// triggers it moved keep their place in their project's listing, although
// the next start finds them in their shard already.
func TestLayoutMigrationResumesMarkers(t *testing.T) {
	ctx := context.Background()
	files, tokens := oldLayoutStorage(t)
	storage := &faultyStorage{Storage: files, fail: map[string]string{}}
	storage.failOn("store", projectShardKey("9", 0))

	first := newTestStore(t, storage, Config{InstanceID: "first"})
	deadline := time.Now().Add(30 * time.Second)
	for !files.Exists(ctx, triggerShardKey(0)) {
		if time.Now().After(deadline) {
			t.Fatal("the first migration wrote no shard")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if files.Exists(ctx, layoutKey) || files.Exists(ctx, projectShardKey("9", 0)) {
		t.Fatal("the first migration was not stopped before project 9's marker")
	}

	storage.heal()
	s := newTestStore(t, storage, Config{InstanceID: "second"})
	for !files.Exists(ctx, layoutKey) {
		if time.Now().After(deadline) {
			t.Fatal("the second migration did not finish")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if files.Exists(ctx, perTriggerKey(1)) || files.Exists(ctx, projectsDir+"/9/1") {
		t.Error("the old records are still there")
	}
	checkOldLayoutTriggers(t, s, tokens)
}
