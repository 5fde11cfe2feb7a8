package tokenstore

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

func TestCreateValidation(t *testing.T) {
	clk := newClock()
	s := newTestStore(t, &certmagic.FileStorage{Path: t.TempDir()}, Config{Now: clk.Now})
	past, now, future := clk.Now().Add(-time.Minute), clk.Now(), clk.Now().Add(time.Minute)
	tests := []struct {
		name string
		req  CreateRequest
		want error // nil: success
	}{
		{"minimal", CreateRequest{Project: "9", Description: "deploy"}, nil},
		{"full", CreateRequest{Project: "group/my.project", Description: "d", Owner: "alice", ExpiresAt: &future}, nil},
		{"missing project", CreateRequest{Description: "d"}, ErrInvalid},
		{"blank project", CreateRequest{Project: "  ", Description: "d"}, ErrInvalid},
		{"control char in project", CreateRequest{Project: "9\n", Description: "d"}, ErrInvalid},
		{"project too long", CreateRequest{Project: strings.Repeat("g/", 100), Description: "d"}, ErrInvalid},
		{"description too long", CreateRequest{Project: "9", Description: strings.Repeat("d", MaxDescription+1)}, ErrInvalid},
		{"owner too long", CreateRequest{Project: "9", Description: "d", Owner: strings.Repeat("o", MaxOwner+1)}, ErrInvalid},
		{"project ..", CreateRequest{Project: "..", Description: "d"}, ErrInvalid},
		{"project with a . segment", CreateRequest{Project: "group/./project", Description: "d"}, ErrInvalid},
		{"missing description", CreateRequest{Project: "9"}, ErrInvalid},
		{"blank description", CreateRequest{Project: "9", Description: "\t"}, ErrInvalid},
		{"expiry in the past", CreateRequest{Project: "9", Description: "d", ExpiresAt: &past}, ErrInvalid},
		{"expiry now", CreateRequest{Project: "9", Description: "d", ExpiresAt: &now}, ErrInvalid},
		{"malformed import", CreateRequest{Project: "9", Description: "d", ImportToken: "short"}, ErrInvalid},
		{"import with space", CreateRequest{Project: "9", Description: "d", ImportToken: "abcdefgh ijklmnopq"}, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, token, err := s.Create(context.Background(), tt.req)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				if tr != nil || token != "" {
					t.Fatal("a failed Create returned a trigger or token")
				}
				return
			}
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			if tr.Project != tt.req.Project || tr.Description != tt.req.Description || tr.Owner != tt.req.Owner {
				t.Fatalf("trigger %+v does not reflect request %+v", tr, tt.req)
			}
			if !tr.CreatedAt.Equal(clk.Now()) {
				t.Errorf("CreatedAt = %v, want %v", tr.CreatedAt, clk.Now())
			}
		})
	}
	// Failed creations took no ID: the two successes are 1 and 2.
	list, err := s.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Trigger.ID != 1 || list[1].Trigger.ID != 2 {
		t.Fatalf("list after validation = %+v, want IDs 1 and 2", list)
	}
}

func TestCreateAuthenticateGet(t *testing.T) {
	clk := newClock()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	s := newTestStore(t, storage, Config{Now: clk.Now})
	ctx := context.Background()
	expires := clk.Now().Add(time.Hour)

	tr, token, err := s.Create(ctx, CreateRequest{Project: "9", Description: "deploy", Owner: "alice", ExpiresAt: &expires})
	if err != nil {
		t.Fatal(err)
	}
	if tr.ID != 1 || tr.TokenPrefix != token[:10] || tr.Legacy() {
		t.Fatalf("created %+v", tr)
	}
	if tr.TokenHash != hexHash(token) {
		t.Fatalf("TokenHash %q is not the token's SHA-256", tr.TokenHash)
	}

	// The token itself is stored nowhere.
	assertTokenNotStored(t, storage.Path, token)

	cred, err := s.Authenticate(ctx, token)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if cred.Trigger.ID != tr.ID || cred.Trigger.Project != "9" || cred.Trigger.Owner != "alice" {
		t.Fatalf("authenticated %+v, want %+v", cred.Trigger, tr)
	}
	// Expiry is the caller's to check: the store still finds the trigger.
	if cred.Trigger.Expired(clk.Now()) || !cred.Trigger.Expired(expires) {
		t.Fatalf("Expired() wrong for %v", cred.Trigger.ExpiresAt)
	}

	got, usage, err := s.Get(ctx, tr.ID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.ID != tr.ID || got.TokenHash != tr.TokenHash || !got.ExpiresAt.Equal(expires) || !got.CreatedAt.Equal(tr.CreatedAt) {
		t.Fatalf("Get = %+v, want %+v", got, tr)
	}
	if usage.UseCount != 0 || usage.LastUsed != nil {
		t.Fatalf("usage of an unused trigger = %+v", usage)
	}

	for _, tok := range []string{"", "glptt-0000000000000000000000000000000000000000", token + "x", token[:len(token)-1], strings.Repeat("a", 300)} {
		if _, err := s.Authenticate(ctx, tok); !errors.Is(err, ErrNotFound) {
			t.Errorf("Authenticate(other token) = %v, want ErrNotFound", err)
		}
	}
	for _, id := range []int64{0, -1, 2} {
		if _, _, err := s.Get(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%d) = %v, want ErrNotFound", id, err)
		}
	}
}

func TestLegacyFlag(t *testing.T) {
	s := newTestStore(t, &certmagic.FileStorage{Path: t.TempDir()}, Config{})
	for _, tt := range []struct {
		owner  string
		legacy bool
	}{{"", true}, {"alice", false}} {
		_, token := mustCreate(t, s, CreateRequest{Project: "9", Description: "d", Owner: tt.owner})
		cred, err := s.Authenticate(context.Background(), token)
		if err != nil {
			t.Fatal(err)
		}
		if cred.Trigger.Legacy() != tt.legacy {
			t.Errorf("owner %q: Legacy() = %v, want %v", tt.owner, cred.Trigger.Legacy(), tt.legacy)
		}
	}
}

func TestImport(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	s := newTestStore(t, storage, Config{})
	const imported = "a1b2c3d4e5f6a7b8c9d0"

	// Unknown before the import, and remembered as unknown (negative cache).
	if _, err := s.Authenticate(ctx, imported); !errors.Is(err, ErrNotFound) {
		t.Fatalf("before import: %v", err)
	}
	tr, token, err := s.Create(ctx, CreateRequest{Project: "9", Description: "old", ImportToken: imported})
	if err != nil {
		t.Fatal(err)
	}
	if token != imported || tr.TokenPrefix != "a1b2" {
		t.Fatalf("import returned token %q prefix %q", token, tr.TokenPrefix)
	}
	// Create evicted the negative entry: the token works at once.
	if cred, err := s.Authenticate(ctx, imported); err != nil || cred.Trigger.ID != tr.ID {
		t.Fatalf("after import: %v", err)
	}
	assertTokenNotStored(t, storage.Path, imported)

	tests := []struct {
		name  string
		setup func(t *testing.T) string // returns the token to import
		want  error
	}{
		{"existing token", func(*testing.T) string { return imported }, ErrTokenExists},
		{"existing generated token", func(t *testing.T) string {
			_, tok := mustCreate(t, s, CreateRequest{Project: "9", Description: "g"})
			return tok
		}, ErrTokenExists},
		{"revoked token", func(t *testing.T) string {
			tr, tok := mustCreate(t, s, CreateRequest{Project: "9", Description: "r", ImportToken: "revoked-token-0123456789"})
			if err := s.Revoke(ctx, tr.ID, "alice"); err != nil {
				t.Fatal(err)
			}
			return tok
		}, ErrTokenExists},
		{"malformed token", func(*testing.T) string { return "bad token" }, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := tt.setup(t)
			_, _, err := s.Create(ctx, CreateRequest{Project: "12", Description: "again", ImportToken: tok})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	// A fresh store (another instance, or after a restart) refuses the same.
	s2 := newTestStore(t, storage, Config{InstanceID: "instance-b"})
	if _, _, err := s2.Create(ctx, CreateRequest{Project: "9", Description: "x", ImportToken: "revoked-token-0123456789"}); !errors.Is(err, ErrTokenExists) {
		t.Fatalf("fresh store import of revoked token: %v", err)
	}
}

func TestRevoke(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	s := newTestStore(t, storage, Config{Now: clk.Now})

	tr, token := mustCreate(t, s, CreateRequest{Project: "group/project", Description: "d", Owner: "bob"})
	keep, keepToken := mustCreate(t, s, CreateRequest{Project: "group/project", Description: "keep"})
	cred, err := s.Authenticate(ctx, token) // cached now
	if err != nil {
		t.Fatal(err)
	}
	cred.RecordUse(clk.Now())
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	clk.Add(time.Minute)
	revokedAt := clk.Now()
	if err := s.Revoke(ctx, tr.ID, "alice"); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	// The revoked token is refused, naming its trigger: at once, and from
	// the negative cache after.
	for i := range 2 {
		_, err := s.Authenticate(ctx, token)
		var revoked *RevokedError
		if !errors.As(err, &revoked) || revoked.TriggerID != tr.ID || !errors.Is(err, ErrNotFound) || !errors.Is(err, ErrRevoked) {
			t.Fatalf("lookup %d of the revoked token: %v, want a RevokedError of trigger %d", i, err, tr.ID)
		}
	}
	if _, _, err := s.Get(ctx, tr.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(revoked) = %v", err)
	}
	if err := s.Revoke(ctx, tr.ID, "alice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Revoke = %v, want ErrNotFound", err)
	}
	if err := s.Revoke(ctx, 999, "alice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Revoke(unknown) = %v, want ErrNotFound", err)
	}
	list, err := s.List(ctx, "group/project")
	if err != nil || len(list) != 1 || list[0].Trigger.ID != keep.ID {
		t.Fatalf("List after revoke = %+v, %v", list, err)
	}

	// A use recorded through a credential obtained before the revocation
	// (a request accepted just before it) is counted: the usage stays.
	cred.RecordUse(clk.Now())
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	wantRevoked := func(t *testing.T, got *Trigger, u Usage) {
		t.Helper()
		if got.ID != tr.ID || got.Description != "d" || got.Owner != "bob" || got.RevokedBy != "alice" ||
			got.RevokedAt == nil || !got.RevokedAt.Equal(revokedAt) {
			t.Errorf("revoked trigger = %+v", got)
		}
		if u.UseCount != 2 || u.LastUsed == nil || !u.LastUsed.Equal(revokedAt) {
			t.Errorf("revoked trigger's usage = %d, %v; want 2, %s", u.UseCount, u.LastUsed, revokedAt)
		}
	}
	got, u, err := s.GetIncludingRevoked(ctx, tr.ID)
	if err != nil {
		t.Fatalf("GetIncludingRevoked: %v", err)
	}
	wantRevoked(t, got, u)
	for _, project := range []string{"", "group/project"} {
		revokedList, err := s.ListRevoked(ctx, project)
		if err != nil || len(revokedList) != 1 {
			t.Fatalf("ListRevoked(%q) = %+v, %v", project, revokedList, err)
		}
		wantRevoked(t, revokedList[0].Trigger, revokedList[0].Usage)
	}
	if kept, _, err := s.GetIncludingRevoked(ctx, keep.ID); err != nil || kept.Revoked() {
		t.Fatalf("GetIncludingRevoked(kept) = %+v, %v", kept, err)
	}
	if _, _, err := s.GetIncludingRevoked(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetIncludingRevoked(unknown) = %v", err)
	}

	// The token index is a tombstone.
	data, err := storage.Load(ctx, tokenKey(tr.TokenHash))
	if err != nil {
		t.Fatal(err)
	}
	var tomb Trigger
	if err := json.Unmarshal(data, &tomb); err != nil || tomb.RevokedAt == nil || !tomb.RevokedAt.Equal(revokedAt) || tomb.RevokedBy != "alice" {
		t.Fatalf("tombstone = %s (%v)", data, err)
	}

	// A fresh store (restart, or another instance) never accepts it either.
	s2 := newTestStore(t, storage, Config{InstanceID: "instance-b"})
	if _, err := s2.Authenticate(ctx, token); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked token from a fresh store: %v, want ErrRevoked", err)
	}
	if _, err := s2.Authenticate(ctx, keepToken); err != nil {
		t.Fatalf("other token: %v", err)
	}
}

func TestRevokeRefusesBadRevokedBy(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, &certmagic.FileStorage{Path: t.TempDir()}, Config{})
	tr, token := mustCreate(t, s, CreateRequest{Project: "9", Description: "d"})
	for _, by := range []string{"line\nbreak", strings.Repeat("x", 256)} {
		if err := s.Revoke(ctx, tr.ID, by); !errors.Is(err, ErrInvalid) {
			t.Errorf("Revoke(by %.20q) = %v, want ErrInvalid", by, err)
		}
	}
	if _, err := s.Authenticate(ctx, token); err != nil {
		t.Fatalf("a refused revocation changed the token: %v", err)
	}
}

// A revocation written before revoked triggers were kept deleted the
// record found by ID and left a tombstone without revoked_by: the token is
// still refused as revoked, with its trigger's ID, and the trigger is not
// listed or shown.
func TestOldStyleRevocation(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	s := newTestStore(t, storage, Config{})
	tr, token := mustCreate(t, s, CreateRequest{Project: "9", Description: "d"})
	tomb := *tr
	now := time.Now().UTC()
	tomb.RevokedAt = &now
	data, err := json.Marshal(tomb)
	if err != nil {
		t.Fatal(err)
	}
	if err := storage.Store(ctx, tokenKey(tr.TokenHash), data); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{triggerKey(tr.ID), projectKey("9", tr.ID)} {
		if err := storage.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	fresh := newTestStore(t, storage, Config{InstanceID: "fresh"})
	var revoked *RevokedError
	if _, err := fresh.Authenticate(ctx, token); !errors.As(err, &revoked) || revoked.TriggerID != tr.ID {
		t.Fatalf("old-style revoked token: %v, want a RevokedError of trigger %d", err, tr.ID)
	}
	if _, _, err := fresh.GetIncludingRevoked(ctx, tr.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetIncludingRevoked = %v, want ErrNotFound", err)
	}
	if list, err := fresh.ListRevoked(ctx, ""); err != nil || len(list) != 0 {
		t.Fatalf("ListRevoked = %+v, %v", list, err)
	}
}

func TestRevokeRetryAfterStoreFailure(t *testing.T) {
	ctx := context.Background()
	storage := newFaultyStorage(t)
	obs := &countingObserver{}
	s := newTestStore(t, storage, Config{Observer: obs})
	tr, token := mustCreate(t, s, CreateRequest{Project: "9", Description: "d"})
	if _, err := s.Authenticate(ctx, token); err != nil {
		t.Fatal(err)
	}

	storage.failOn("store", triggersDir) // the last step
	if err := s.Revoke(ctx, tr.ID, "alice"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Revoke with failing store = %v, want ErrUnavailable", err)
	}
	if obs.storageErrors("store") != 1 {
		t.Fatalf("store errors reported = %d", obs.storageErrors("store"))
	}
	// The tombstone came first: the token is dead already.
	if _, err := s.Authenticate(ctx, token); !errors.Is(err, ErrRevoked) {
		t.Fatalf("token after failed revoke: %v", err)
	}
	storage.heal()
	if err := s.Revoke(ctx, tr.ID, "alice"); err != nil {
		t.Fatalf("retried Revoke: %v", err)
	}
	if got, _, err := s.GetIncludingRevoked(ctx, tr.ID); err != nil || !got.Revoked() || got.RevokedBy != "alice" {
		t.Fatalf("after retried revoke: %+v, %v", got, err)
	}
	if !storage.Exists(ctx, projectKey("9", tr.ID)) {
		t.Fatal("the project marker of a revoked trigger is gone: ListRevoked(project) cannot find it")
	}
}

func TestCreateWriteFailureLeavesNothingUsable(t *testing.T) {
	ctx := context.Background()
	storage := newFaultyStorage(t)
	obs := &countingObserver{}
	s := newTestStore(t, storage, Config{Observer: obs})
	const tok = "import-me-0123456789"

	storage.failOn("store", tokensDir)
	if _, _, err := s.Create(ctx, CreateRequest{Project: "9", Description: "d", ImportToken: tok}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Create = %v, want ErrUnavailable", err)
	}
	if obs.storageErrors("store") != 1 {
		t.Fatalf("store errors reported = %d", obs.storageErrors("store"))
	}
	storage.heal()
	if storage.Exists(ctx, triggerKey(1)) || storage.Exists(ctx, projectKey("9", 1)) {
		t.Fatal("partial records left behind")
	}
	if list, err := s.List(ctx, ""); err != nil || len(list) != 0 {
		t.Fatalf("List = %+v, %v", list, err)
	}
	// The failed creation burnt ID 1 (IDs are never reused) and the token can
	// still be imported.
	tr, _, err := s.Create(ctx, CreateRequest{Project: "9", Description: "d", ImportToken: tok})
	if err != nil || tr.ID != 2 {
		t.Fatalf("Create after heal = %+v, %v", tr, err)
	}
}

func TestIDsUniqueUnderConcurrentCreates(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	a := newTestStore(t, storage, Config{InstanceID: "a"})
	b := newTestStore(t, storage, Config{InstanceID: "b"})

	// Sequential creates get increasing IDs.
	for want := int64(1); want <= 3; want++ {
		if tr, _ := mustCreate(t, a, CreateRequest{Project: "9", Description: "seq"}); tr.ID != want {
			t.Fatalf("sequential ID = %d, want %d", tr.ID, want)
		}
	}

	// Concurrent creates: many on one store, and a few on a second store
	// that contends for the storage lock.
	const onA, onB = 20, 3
	var (
		mu   sync.Mutex
		ids  []int64
		wg   sync.WaitGroup
		errs = make(chan error, onA+onB)
	)
	create := func(s *Store, i int) {
		defer wg.Done()
		tr, _, err := s.Create(ctx, CreateRequest{Project: strconv.Itoa(i % 3), Description: "c"})
		if err != nil {
			errs <- err
			return
		}
		mu.Lock()
		ids = append(ids, tr.ID)
		mu.Unlock()
	}
	for i := range onA {
		wg.Add(1)
		go create(a, i)
	}
	for i := range onB {
		wg.Add(1)
		go create(b, i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Create: %v", err)
	}
	slices.Sort(ids)
	for i, id := range ids {
		if want := int64(4 + i); id != want {
			t.Fatalf("IDs = %v, want 4..%d without gaps or duplicates", ids, 3+onA+onB)
		}
	}
	list, err := b.List(ctx, "")
	if err != nil || len(list) != 3+onA+onB {
		t.Fatalf("List = %d triggers, %v", len(list), err)
	}
}

func TestListByProject(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	s := newTestStore(t, storage, Config{})

	projects := []string{"9", "group/project", "group/sub/project", "group%2Fproject", "9", "group/project"}
	for _, p := range projects {
		mustCreate(t, s, CreateRequest{Project: p, Description: "for " + p})
	}
	// A project path is one key segment (s0: the marker of trigger 3's shard).
	if _, err := os.Stat(filepath.Join(storage.Path, "trigger_gateway", "projects", "group%2Fsub%2Fproject", "s0")); err != nil {
		t.Fatalf("project marker not at its escaped path: %v", err)
	}
	// Storages may leave other names in listed directories (FileStorage's
	// temporary files have numeric names); they are ignored.
	junk := filepath.Join(storage.Path, "trigger_gateway", "triggers", "4242")
	if err := os.WriteFile(junk, []byte(`{"id":`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(storage.Path, "trigger_gateway", "projects", "9", "not-an-id"), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		project string
		want    []int64
	}{
		{"", []int64{1, 2, 3, 4, 5, 6}},
		{"9", []int64{1, 5}},
		{"group/project", []int64{2, 6}},
		{"group/sub/project", []int64{3}},
		{"group%2Fproject", []int64{4}},
		{"group", nil},
		{"unknown", nil},
	}
	for _, tt := range tests {
		t.Run(tt.project, func(t *testing.T) {
			list, err := s.List(ctx, tt.project)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, tu := range list {
				got = append(got, tu.Trigger.ID)
				if tt.project != "" && tu.Trigger.Project != tt.project {
					t.Errorf("trigger %d of project %q listed for %q", tu.Trigger.ID, tu.Trigger.Project, tt.project)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("IDs = %v, want %v", got, tt.want)
			}
		})
	}
}

// A project no trigger can have, because its name cannot be a storage key
// segment (too long once escaped, or a "." or ".." segment), lists no
// triggers without asking the storage: a file system refuses the name
// (ENAMETOOLONG), which made a caller's long project path a storage
// failure (503, an error line, storage_errors_total), and ".." listed the
// store's own directory.
func TestListOfAProjectNoTriggerCanHave(t *testing.T) {
	obs := &countingObserver{}
	s := newTestStore(t, &certmagic.FileStorage{Path: t.TempDir()}, Config{Observer: obs})
	mustCreate(t, s, CreateRequest{Project: "9", Description: "d"})
	for _, project := range []string{strings.Repeat("g/", 100) + "p", strings.Repeat("x", maxKeySegment+1), "..", ".", "group/../9"} {
		for _, revoked := range []bool{false, true} {
			list, err := s.list(context.Background(), project, revoked)
			if err != nil || len(list) != 0 {
				t.Errorf("list(%.20q…, revoked %v) = %d triggers, %v; want none and no error", project, revoked, len(list), err)
			}
		}
	}
	if n := obs.storageErrors("list"); n != 0 {
		t.Errorf("%d storage list errors reported, want 0", n)
	}
}

func TestListReportsStorageFailure(t *testing.T) {
	storage := newFaultyStorage(t)
	obs := &countingObserver{}
	s := newTestStore(t, storage, Config{Observer: obs})
	mustCreate(t, s, CreateRequest{Project: "9", Description: "d"})
	storage.failOn("list", triggersDir)
	if _, err := s.List(context.Background(), ""); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("List = %v, want ErrUnavailable", err)
	}
	if obs.storageErrors("list") != 1 {
		t.Fatalf("list errors reported = %d", obs.storageErrors("list"))
	}
}

// hexHash is the hex SHA-256 of token.
func hexHash(token string) string {
	sum := HashToken(token)
	return hex.EncodeToString(sum[:])
}

// assertTokenNotStored fails if any file under root contains token.
func assertTokenNotStored(t *testing.T, root, token string) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.Contains(string(data), token) || strings.Contains(p, token) {
			t.Errorf("token found in %s", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A revoked trigger keeps its usage, every instance's: the uses an
// instance counted before the change feed told it of the revocation are
// written too.
func TestRevokedTriggerKeepsUsage(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	a := newTestStore(t, storage, Config{InstanceID: "a"})
	b := newTestStore(t, storage, Config{InstanceID: "b"})
	tr, token := mustCreate(t, a, CreateRequest{Project: "9", Description: "revoked"})
	for _, s := range []*Store{a, b} {
		authenticate(t, s, token).RecordUse(time.Now())
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	authenticate(t, b, token).RecordUse(time.Now()) // not flushed yet
	if err := a.Revoke(ctx, tr.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := b.pollChanges(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Authenticate(ctx, token); !errors.Is(err, ErrRevoked) {
		t.Fatalf("b after the feed: %v, want ErrRevoked", err)
	}
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if entry, ok := storedUsage(t, storage, tr.ID, "b"); !ok || entry.UseCount != 2 {
		t.Errorf("instance b stores %+v (%v) for the revoked trigger, want 2 uses", entry, ok)
	}
	_, u, err := a.GetIncludingRevoked(ctx, tr.ID)
	if err != nil || u.UseCount != 3 {
		t.Fatalf("revoked trigger's usage = %+v, %v; want 3 uses", u, err)
	}
}
