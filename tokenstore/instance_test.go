package tokenstore

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// putInstanceRecord writes a name's record as another store would.
func putInstanceRecord(t *testing.T, storage certmagic.Storage, rec instanceRecord) {
	t.Helper()
	data, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := storage.Store(context.Background(), instanceKey(rec.Instance), data); err != nil {
		t.Fatal(err)
	}
}

// deadPID returns the PID of a process of this machine that has ended.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// Stores sharing an instance ID get distinct names: the first free of ID,
// ID-2, ID-3...; a closed store's name is free at once.
func TestInstanceNamesAreDistinct(t *testing.T) {
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	open := func() *Store {
		s, err := New(Config{Storage: storage, InstanceID: "node", FlushInterval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	a, b, c := open(), open(), open()
	for i, tt := range []struct {
		s    *Store
		want string
	}{{a, "node"}, {b, "node-2"}, {c, "node-3"}} {
		if got := tt.s.InstanceID(); got != tt.want {
			t.Errorf("store %d: instance %q, want %q", i, got, tt.want)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if storage.Exists(context.Background(), instanceKey("node-2")) {
		t.Fatal("Close left the instance record")
	}
	if got := open().InstanceID(); got != "node-2" {
		t.Fatalf("store opened after node-2 closed got %q", got)
	}
}

// Who may take over a name held by a record.
func TestInstanceTakeover(t *testing.T) {
	me := currentProcess()
	// Without a boot ID or a PID namespace (not Linux), a dead holder is
	// only known by its stale record.
	deadHere := "node"
	if me.boot == "" || me.pidNS == "" {
		deadHere = "node-2"
	}
	fresh := time.Now().UTC()
	tests := []struct {
		name string
		rec  func(t *testing.T) instanceRecord
		want string
	}{
		{"holder on this machine has ended", func(t *testing.T) instanceRecord {
			return instanceRecord{Nonce: "n", Host: me.host, BootID: me.boot, PIDNamespace: me.pidNS, PID: deadPID(t), Heartbeat: fresh}
		}, deadHere},
		// A container sharing the host's network: same host, same boot,
		// its PIDs another namespace's. That its PID is free here says
		// nothing of it.
		{"holder in another PID namespace", func(t *testing.T) instanceRecord {
			return instanceRecord{Nonce: "n", Host: me.host, BootID: me.boot, PIDNamespace: "pid:[1]", PID: deadPID(t), Heartbeat: fresh}
		}, "node-2"},
		{"holder of an older version, its namespace unknown", func(t *testing.T) instanceRecord {
			return instanceRecord{Nonce: "n", Host: me.host, BootID: me.boot, PID: deadPID(t), Heartbeat: fresh}
		}, "node-2"},
		{"holder is this process", func(*testing.T) instanceRecord {
			return instanceRecord{Nonce: "n", Host: me.host, BootID: me.boot, PID: me.pid, Heartbeat: fresh}
		}, "node-2"},
		{"same PID before a reboot", func(*testing.T) instanceRecord {
			return instanceRecord{Nonce: "n", Host: me.host, BootID: "another-boot", PID: 1 << 30, Heartbeat: fresh}
		}, "node-2"},
		{"live holder on another machine", func(*testing.T) instanceRecord {
			return instanceRecord{Nonce: "n", Host: "elsewhere", BootID: me.boot, PID: 1 << 30, Heartbeat: fresh}
		}, "node-2"},
		{"stale holder on another machine", func(*testing.T) instanceRecord {
			return instanceRecord{Nonce: "n", Host: "elsewhere", PID: 1, Heartbeat: fresh.Add(-instanceStaleAfter - time.Second)}
		}, "node"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storage := &certmagic.FileStorage{Path: t.TempDir()}
			rec := tt.rec(t)
			rec.Instance = "node"
			putInstanceRecord(t, storage, rec)
			s := newTestStore(t, storage, Config{InstanceID: "node"})
			if got := s.InstanceID(); got != tt.want {
				t.Fatalf("instance %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("unreadable record", func(t *testing.T) {
		storage := &certmagic.FileStorage{Path: t.TempDir()}
		if err := storage.Store(context.Background(), instanceKey("node"), []byte("{")); err != nil {
			t.Fatal(err)
		}
		if got := newTestStore(t, storage, Config{InstanceID: "node"}).InstanceID(); got != "node" {
			t.Fatalf("instance %q, want node", got)
		}
	})
}

// Two live stores with one instance ID, used and flushed concurrently,
// count every use once.
func TestInstanceSharedIDSumsExactly(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	a := newTestStore(t, storage, Config{InstanceID: "node"})
	b := newTestStore(t, storage, Config{InstanceID: "node"})
	tr, token := mustCreate(t, a, CreateRequest{Project: "9", Description: "d"})
	creds := []*Credential{authenticate(t, a, token), authenticate(t, b, token)}

	const workers, uses = 6, 400
	var wg sync.WaitGroup
	done := make(chan struct{})
	for _, s := range []*Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if err := s.Flush(ctx); err != nil {
					t.Error(err)
					return
				}
				select {
				case <-done:
					return
				default:
				}
			}
		}()
	}
	var users sync.WaitGroup
	for w := range workers {
		users.Add(1)
		go func() {
			defer users.Done()
			for range uses {
				creds[w%2].RecordUse(time.Now())
			}
		}()
	}
	users.Wait()
	close(done)
	wg.Wait()
	for _, s := range []*Store{a, b} {
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"node", "node-2"} {
		if rec, ok := storedUsage(t, storage, tr.ID, name); !ok || rec.UseCount != workers*uses/2 {
			t.Errorf("record %s = %+v, want %d uses", name, rec, workers*uses/2)
		}
	}
	_, u, err := newTestStore(t, storage, Config{InstanceID: "reader"}).Get(ctx, tr.ID)
	if err != nil || u.UseCount != workers*uses {
		t.Fatalf("summed usage = %+v, %v; want %d", u, err, workers*uses)
	}
}

// A store on a suffixed name moves back to its own once that is free; the
// usage it wrote under the suffix stays counted, once.
func TestInstanceReturnsToItsID(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	first := newTestStore(t, storage, Config{InstanceID: "node"})
	second := newTestStore(t, storage, Config{InstanceID: "node", heartbeatEvery: 50 * time.Millisecond})
	if second.InstanceID() != "node-2" {
		t.Fatalf("second store is %q", second.InstanceID())
	}
	tr, token := mustCreate(t, first, CreateRequest{Project: "9", Description: "d"})
	authenticate(t, first, token).RecordUse(time.Now())
	cred := authenticate(t, second, token)
	cred.RecordUse(time.Now())
	cred.RecordUse(time.Now())
	if err := second.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "moving back to node and releasing node-2", func() bool {
		return second.InstanceID() == "node" && !storage.Exists(ctx, instanceKey("node-2"))
	})
	cred.RecordUse(time.Now())
	if err := second.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int64{"node": 2, "node-2": 2} {
		if rec, _ := storedUsage(t, storage, tr.ID, name); rec.UseCount != want {
			t.Errorf("record %s holds %d uses, want %d", name, rec.UseCount, want)
		}
	}
	wantUsage(t, second, tr.ID, 4, *mustGetLastUsed(t, second, tr.ID))
}

// A store whose name was taken over (it could not renew its record in
// time) moves to a free name and keeps counting there, losing nothing.
func TestInstanceTakenOver(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	s := newTestStore(t, storage, Config{InstanceID: "node", heartbeatEvery: 50 * time.Millisecond})
	tr, token := mustCreate(t, s, CreateRequest{Project: "9", Description: "d"})
	cred := authenticate(t, s, token)
	cred.RecordUse(time.Now())
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// As a claim does: under the claims lock.
	if err := storage.Lock(ctx, claimsLock); err != nil {
		t.Fatal(err)
	}
	putInstanceRecord(t, storage, instanceRecord{Instance: "node", Nonce: "usurper", Host: "elsewhere",
		Heartbeat: time.Now().Add(time.Hour)})
	if err := storage.Unlock(ctx, claimsLock); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "moving off the taken name", func() bool { return s.InstanceID() == "node-2" })
	cred.RecordUse(time.Now())
	cred.RecordUse(time.Now())
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int64{"node": 1, "node-2": 2} {
		if rec, _ := storedUsage(t, storage, tr.ID, name); rec.UseCount != want {
			t.Errorf("record %s holds %d uses, want %d", name, rec.UseCount, want)
		}
	}
	wantUsage(t, s, tr.ID, 3, *mustGetLastUsed(t, s, tr.ID))
}

// The heartbeat keeps the record fresh, so nobody takes a live name over.
func TestInstanceHeartbeatRenews(t *testing.T) {
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	stale := time.Second
	newTestStore(t, storage, Config{InstanceID: "node", heartbeatEvery: 50 * time.Millisecond, staleAfter: stale})
	time.Sleep(2 * stale)
	other := newTestStore(t, storage, Config{InstanceID: "node", staleAfter: stale})
	if other.InstanceID() != "node-2" {
		t.Fatalf("a live store's name was taken over: %q", other.InstanceID())
	}
}

// A live holder of the instance ID elsewhere runs from a copy of this
// store's identity: with RenewInstanceID the store takes a new ID for
// good; a holder that shares the identity here, or is gone, does not
// make it renew.
func TestInstanceRenewedWhenCopiedElsewhere(t *testing.T) {
	me := currentProcess()
	fresh := time.Now().UTC()
	const home = "/config/id"
	tests := []struct {
		name      string
		rec       instanceRecord
		wantName  string
		wantRenew bool
	}{
		{"live holder on another machine", instanceRecord{Host: "elsewhere", BootID: me.boot, PID: 1 << 30, Home: home, Heartbeat: fresh}, "renewed", true},
		{"live holder with another identity file here", instanceRecord{Host: me.host, BootID: me.boot, PID: me.pid, Home: "/copy/id", Heartbeat: fresh}, "renewed", true},
		{"live holder sharing the identity file", instanceRecord{Host: me.host, BootID: me.boot, PID: me.pid, Home: home, Heartbeat: fresh}, "node-2", false},
		{"holder of an older version here", instanceRecord{Host: me.host, BootID: me.boot, PID: me.pid, Heartbeat: fresh}, "node-2", false},
		{"stale holder on another machine", instanceRecord{Host: "elsewhere", PID: 1, Home: home, Heartbeat: fresh.Add(-instanceStaleAfter - time.Second)}, "node", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storage := &certmagic.FileStorage{Path: t.TempDir()}
			rec := tt.rec
			rec.Instance, rec.Nonce = "node", "n"
			putInstanceRecord(t, storage, rec)
			renewed := 0
			s := newTestStore(t, storage, Config{InstanceID: "node", InstanceHome: home,
				RenewInstanceID: func() (string, error) { renewed++; return "renewed", nil }})
			if got := s.InstanceID(); got != tt.wantName {
				t.Errorf("instance %q, want %q", got, tt.wantName)
			}
			if (renewed == 1) != tt.wantRenew || renewed > 1 {
				t.Errorf("RenewInstanceID called %d times, want renewal %v", renewed, tt.wantRenew)
			}
		})
	}
	t.Run("renewal fails", func(t *testing.T) {
		storage := &certmagic.FileStorage{Path: t.TempDir()}
		putInstanceRecord(t, storage, instanceRecord{Instance: "node", Nonce: "n", Host: "elsewhere", PID: 1, Heartbeat: fresh})
		s := newTestStore(t, storage, Config{InstanceID: "node",
			RenewInstanceID: func() (string, error) { return "", errors.New("read-only file system") }})
		if got := s.InstanceID(); got != "node-2" {
			t.Fatalf("instance %q, want node-2: a failed renewal falls back to a suffixed name", got)
		}
	})
}
