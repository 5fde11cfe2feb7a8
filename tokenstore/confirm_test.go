package tokenstore

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

const testPoll = 20 * time.Millisecond

// awaitWithin runs AwaitChanges on s, bounded by d.
func awaitWithin(s *Store, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return s.AwaitChanges(ctx)
}

// unconfirmedNames returns the names an *UnconfirmedError reports, or
// fails the test if err is another error.
func unconfirmedNames(t *testing.T, err error) []string {
	t.Helper()
	var u *UnconfirmedError
	if !errors.As(err, &u) {
		t.Fatalf("got %v, want an *UnconfirmedError", err)
	}
	var names []string
	for _, inst := range u.Instances {
		names = append(names, inst.Name)
	}
	return names
}

// Once AwaitChanges returns, every other store refuses the token revoked
// before it: on the first use, every time, whatever the cache TTL.
func TestAwaitChangesRevocationReachedEveryStore(t *testing.T) {
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	cfg := func(id string) Config {
		return Config{InstanceID: id, ChangePollInterval: testPoll, CacheTTL: time.Hour}
	}
	a := newTestStore(t, storage, cfg("a"))
	others := []*Store{newTestStore(t, storage, cfg("b")), newTestStore(t, storage, cfg("c"))}
	ctx := context.Background()
	for round := range 10 {
		tr, token := mustCreate(t, a, CreateRequest{Project: "9", Description: "d"})
		for _, s := range others {
			if _, err := s.Authenticate(ctx, token); err != nil { // cached from now on
				t.Fatalf("round %d: %s before the revocation: %v", round, s.InstanceID(), err)
			}
		}
		if err := a.Revoke(ctx, tr.ID, "admin API"); err != nil {
			t.Fatal(err)
		}
		if err := awaitWithin(a, 5*time.Second); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		for _, s := range others {
			if err := authErr(s, token); !errors.Is(err, ErrNotFound) {
				t.Fatalf("round %d: %s accepts the token after AwaitChanges returned (%v)", round, s.InstanceID(), err)
			}
		}
	}
}

// Who AwaitChanges waits for: live stores that read the feed; not itself,
// closed stores, or stores whose process has ended.
func TestAwaitChangesWhoIsWaitedFor(t *testing.T) {
	me := currentProcess()
	fresh := time.Now().UTC()
	tests := []struct {
		name string
		// setup opens the other stores or writes their records; it returns
		// the names AwaitChanges must report (none: it returns nil).
		setup func(t *testing.T, storage certmagic.Storage) []string
	}{
		{"alone", func(*testing.T, certmagic.Storage) []string { return nil }},
		{"a store reading the feed", func(t *testing.T, storage certmagic.Storage) []string {
			newTestStore(t, storage, Config{InstanceID: "b", ChangePollInterval: testPoll})
			return nil
		}},
		{"a closed store", func(t *testing.T, storage certmagic.Storage) []string {
			b := newTestStore(t, storage, Config{InstanceID: "b", ChangePollInterval: testPoll})
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			return nil
		}},
		{"a store not reading the feed", func(t *testing.T, storage certmagic.Storage) []string {
			newTestStore(t, storage, Config{InstanceID: "b", ChangePollInterval: -1})
			newTestStore(t, storage, Config{InstanceID: "c", ChangePollInterval: testPoll})
			return []string{"b"}
		}},
		{"a live store elsewhere that never confirms", func(t *testing.T, storage certmagic.Storage) []string {
			putInstanceRecord(t, storage, instanceRecord{Instance: "far", Nonce: "n", Run: "r1", Host: "elsewhere", PID: 1, Heartbeat: fresh})
			return []string{"far"}
		}},
		{"a store of an older version", func(t *testing.T, storage certmagic.Storage) []string {
			putInstanceRecord(t, storage, instanceRecord{Instance: "old", Nonce: "n", Host: "elsewhere", PID: 1, Heartbeat: fresh})
			return []string{"old"}
		}},
		{"a store whose process ended", func(t *testing.T, storage certmagic.Storage) []string {
			if me.boot == "" || me.pidNS == "" {
				t.Skip("no boot ID or PID namespace on this system: an ended process is known by its stale record only")
			}
			putInstanceRecord(t, storage, instanceRecord{Instance: "dead", Nonce: "n", Run: "r2",
				Host: me.host, BootID: me.boot, PIDNamespace: me.pidNS, PID: deadPID(t), Heartbeat: fresh})
			return nil
		}},
		// A container sharing the host's network and boot: its PID, free
		// in this namespace, is a live process in its own.
		{"a live store in another PID namespace", func(t *testing.T, storage certmagic.Storage) []string {
			putInstanceRecord(t, storage, instanceRecord{Instance: "boxed", Nonce: "n", Run: "r4",
				Host: me.host, BootID: me.boot, PIDNamespace: "pid:[1]", PID: deadPID(t), Heartbeat: fresh})
			return []string{"boxed"}
		}},
		{"a stale record", func(t *testing.T, storage certmagic.Storage) []string {
			putInstanceRecord(t, storage, instanceRecord{Instance: "stale", Nonce: "n", Run: "r3",
				Host: "elsewhere", PID: 1, Heartbeat: fresh.Add(-instanceStaleAfter - time.Second)})
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storage := &certmagic.FileStorage{Path: t.TempDir()}
			a := newTestStore(t, storage, Config{InstanceID: "a", ChangePollInterval: testPoll})
			want := tt.setup(t, storage)
			err := awaitWithin(a, 500*time.Millisecond)
			if want == nil {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if got := unconfirmedNames(t, err); !slices.Equal(got, want) {
				t.Fatalf("unconfirmed %q, want %q", got, want)
			}
		})
	}
}

// A confirmation counts only if a poll began after the waiter's first
// reading: two more than the waiter first read, from the same run.
func TestAwaitChangesCountsConfirmationsFromItsStart(t *testing.T) {
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	a := newTestStore(t, storage, Config{InstanceID: "a", ChangePollInterval: testPoll})
	putInstanceRecord(t, storage, instanceRecord{Instance: "far", Nonce: "n", Run: "run-far", Host: "elsewhere", PID: 1, Heartbeat: time.Now().UTC()})
	putConfirmation := func(c confirmation) {
		t.Helper()
		data, _ := json.Marshal(c)
		if err := storage.Store(context.Background(), confirmKey(c.Instance), data); err != nil {
			t.Fatal(err)
		}
	}
	putConfirmation(confirmation{Instance: "far", Run: "run-far", Seq: 7})

	done := make(chan error, 1)
	go func() { done <- awaitWithin(a, 5*time.Second) }()
	stillWaiting := func(after string) {
		t.Helper()
		select {
		case err := <-done:
			t.Fatalf("AwaitChanges returned after %s: %v", after, err)
		case <-time.After(300 * time.Millisecond):
		}
	}
	stillWaiting("nothing new")
	putConfirmation(confirmation{Instance: "far", Run: "another-run", Seq: 100})
	stillWaiting("a confirmation of another run")
	putConfirmation(confirmation{Instance: "far", Run: "run-far", Seq: 8})
	stillWaiting("one confirmation: its poll may have begun before the change")
	// The run moved to another name meanwhile: its confirmation counts there.
	putConfirmation(confirmation{Instance: "far-2", Run: "run-far", Seq: 9})
	if err := <-done; err != nil {
		t.Fatalf("after two confirmations: %v", err)
	}
}

// A store confirms twice after a poll that applied something, and not
// otherwise; a failed confirmation is written after the next poll.
func TestConfirmationsFollowChanges(t *testing.T) {
	ctx := context.Background()
	storage := newFaultyStorage(t)
	a := newTestStore(t, storage, Config{InstanceID: "a", ChangePollInterval: time.Hour})
	b := newTestStore(t, storage, Config{InstanceID: "b", ChangePollInterval: time.Hour})
	seq := func() int64 {
		t.Helper()
		seqs, err := a.confirmations(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return seqs[b.run]
	}
	b.pollAndConfirm(ctx) // its first poll emptied its (empty) caches: it confirms
	if got := seq(); got != 2 {
		t.Fatalf("after the first poll: seq %d, want 2", got)
	}
	b.pollAndConfirm(ctx)
	if got := seq(); got != 2 {
		t.Fatalf("after a poll with nothing new: seq %d, want 2", got)
	}
	mustCreate(t, a, CreateRequest{Project: "9", Description: "d"})
	storage.failOn("store", confirmsDir)
	b.pollAndConfirm(ctx)
	if got := seq(); got != 2 {
		t.Fatalf("while confirmations fail: seq %d, want 2", got)
	}
	storage.heal()
	b.pollAndConfirm(ctx)
	if got := seq(); got != 4 {
		t.Fatalf("after the storage healed: seq %d, want 4", got)
	}
}

// A store that closes takes its confirmations with it, so that they do not
// pile up under every instance name ever used.
func TestCloseRemovesConfirmations(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	b := newTestStore(t, storage, Config{InstanceID: "b", ChangePollInterval: time.Hour})
	b.pollAndConfirm(ctx) // its first poll confirms
	name := b.instance
	if !storage.Exists(ctx, confirmKey(name)) {
		t.Fatalf("no confirmation of %s after its first poll", name)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if storage.Exists(ctx, confirmKey(name)) {
		t.Errorf("the confirmation of %s is still stored after it closed", name)
	}
}

// A revocation announced again through a store other than the one that
// revoked it: that store refuses the token at once, although it has the
// token cached and has not read the feed since the revocation, and
// AwaitChanges then confirms that every other store refuses it too. A live
// or unknown trigger is refused and announces nothing.
func TestAnnounceRevocation(t *testing.T) {
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	cfg := func(id string, poll time.Duration) Config {
		return Config{InstanceID: id, ChangePollInterval: poll, CacheTTL: time.Hour}
	}
	a, c := newTestStore(t, storage, cfg("a", testPoll)), newTestStore(t, storage, cfg("c", testPoll))
	b := newTestStore(t, storage, cfg("b", time.Hour)) // reads the feed only when it opens
	ctx := context.Background()
	tr, token := mustCreate(t, a, CreateRequest{Project: "9", Description: "d"})
	for _, s := range []*Store{a, b, c} {
		if err := authErr(s, token); err != nil { // cached from now on
			t.Fatalf("%s before the revocation: %v", s.InstanceID(), err)
		}
	}
	if err := b.AnnounceRevocation(ctx, tr.ID); !errors.Is(err, ErrInvalid) {
		t.Errorf("a live trigger: %v, want ErrInvalid", err)
	}
	if err := b.AnnounceRevocation(ctx, tr.ID+100); !errors.Is(err, ErrNotFound) {
		t.Errorf("an unknown trigger: %v, want ErrNotFound", err)
	}

	if err := a.Revoke(ctx, tr.ID, "admin API"); err != nil {
		t.Fatal(err)
	}
	if err := authErr(b, token); err != nil {
		t.Fatalf("b refused the token before reading the feed (%v): the test needs it cached", err)
	}
	if err := b.AnnounceRevocation(ctx, tr.ID); err != nil {
		t.Fatal(err)
	}
	if err := awaitWithin(b, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Store{a, b, c} {
		if err := authErr(s, token); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s accepts the token after the revocation was announced again and confirmed (%v)", s.InstanceID(), err)
		}
	}
}
