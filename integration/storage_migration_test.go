package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// storageCaddyfile writes a Caddyfile holding only the global storage
// option, as `caddy storage export` and `import` read it.
func storageCaddyfile(t *testing.T, storage string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(f, []byte("{\n\tstorage "+storage+"\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// sameIdentityLogged matches the log lines of a gateway that found its
// instance ID in use by another live gateway.
var sameIdentityLogged = regexp.MustCompile(`another live gateway on this storage uses this instance ID|a live gateway elsewhere uses this instance ID`)

// Moving from the file system to Redis as docs/cluster.md says: stop, `caddy
// storage export`, `caddy storage import`, start on Redis. Valid tokens
// keep working, the revoked one stays refused, usage is carried, and the
// instance keeps its identity; a second instance restored from the same
// backup (its Caddy data directory imported from it) gets its own, so the
// two never share one.
func TestStorageMigrationFileSystemToRedis(t *testing.T) {
	t.Parallel()
	redis := startRedis(t)
	redisStorage := "redis {\n\t\thost 127.0.0.1\n\t\tport " + strconv.Itoa(redis.port) +
		"\n\t\tkey_prefix " + redisKeyPrefix + "\n\t}"
	c := &cluster{t: t, redis: redis, secrets: &secretSet{},
		gatewayCfg: "storage " + redisStorage + "\nusage_flush_interval 100ms"}
	t.Cleanup(c.scanRedisForSecrets)

	// F: the gateway's data in Caddy's data directory (the default
	// file_system storage), where Caddy's instance.uuid lives too.
	dataHome := t.TempDir()
	data := filepath.Join(dataHome, "caddy")
	env := map[string]string{"XDG_DATA_HOME": dataHome}
	f := newGateway(t, config{Gateway: "storage file_system " + data, Env: env})
	used := f.addTrigger(t, addOpts{Project: "9", Description: "used", Owner: "alice"})
	revoked := f.addTrigger(t, addOpts{Project: "9", Description: "revoked", Owner: "alice"})
	unused := f.addTrigger(t, addOpts{Project: "9", Description: "unused", Owner: "bob"})
	for _, tr := range []triggerObj{used, revoked, unused} {
		c.secrets.addToken(tr.Token)
	}
	for range 3 {
		f.triggerOK(t, used)
	}
	f.triggerOK(t, revoked)
	if res := f.revokeTrigger(t, revoked.ID); res.ExitCode != 0 {
		t.Fatalf("revoke: exit %d: %s", res.ExitCode, res.Stderr)
	}
	idF := f.instanceID(t)
	if err := f.interrupt(f.proc); err != nil { // writes its usage
		t.Fatalf("stopping F: %v", err)
	}

	// Backup, then restore into Redis.
	backup := filepath.Join(t.TempDir(), "backup.tar")
	f.mustCLI(t, "storage", "export", "--config", storageCaddyfile(t, "file_system "+data), "--output", backup)
	f.mustCLI(t, "storage", "import", "--config", storageCaddyfile(t, redisStorage), "--input", backup)

	// F on Redis, and G, whose Caddy data directory was restored from the
	// same backup.
	f.writeCaddyfile(config{Gateway: c.gatewayCfg, Env: env})
	f.start()
	g := c.startNode(func(g *gateway) {
		gData := filepath.Join(g.dir, "xdg-data", "caddy")
		if err := os.MkdirAll(gData, 0o700); err != nil {
			t.Fatal(err)
		}
		g.mustCLI(t, "storage", "import", "--config", storageCaddyfile(t, "file_system "+gData), "--input", backup)
	})

	for _, node := range []*gateway{f, g} {
		if got := findTrigger(t, node.listTriggers(t, "9"), used.ID).UseCount; got != 3 {
			t.Errorf("%s: use_count of the used trigger %d after the migration, want 3", node.base(), got)
		}
	}
	for _, node := range []*gateway{f, g} {
		node.triggerOK(t, used)
		node.triggerOK(t, unused)
		node.firstStatus(t, revoked, http.StatusNotFound, 0)
	}

	if got := f.instanceID(t); got != idF {
		t.Errorf("F's instance ID changed with the migration: %s, was %s", got, idF)
	}
	idG := g.instanceID(t)
	if idG == idF {
		t.Fatalf("F and G share the instance ID %s", idF)
	}
	for _, node := range []*gateway{f, g} {
		if lines := node.logLines(t, sameIdentityLogged); len(lines) > 0 {
			t.Errorf("%s found its identity in use by another instance: %q", node.base(), lines)
		}
	}
	// F continues its own usage record: 3 uses before, 1 after. The record
	// imported holds the 3 already, so it is there before F's flush of the
	// fourth: wait for the count, not only for the record.
	want := []string{idF, idG}
	slices.Sort(want)
	eventually(t, 10*time.Second, func() string {
		if got := c.usageWriters(t, used); !slices.Equal(got, want) {
			return "usage records of the used trigger: " + fmt.Sprintf("%q, want %q", got, want)
		}
		if got := c.storedUseCount(t, used, idF); got != 4 {
			return fmt.Sprintf("F's usage record holds %d uses, want 4 (3 before the migration, 1 after)", got)
		}
		return ""
	})
}

// writeOldLayoutTrigger writes a trigger into a file_system storage as
// gateways before trigger shards did: three files, the token index
// tokens/<sha256>, the record triggers/<id> and the marker
// projects/<project>/<id>. revoked writes it revoked (the token index a
// tombstone).
func writeOldLayoutTrigger(t *testing.T, root string, tr triggerObj, revoked bool) {
	t.Helper()
	sum := sha256.Sum256([]byte(tr.Token))
	record := map[string]any{
		"id": tr.ID, "token_hash": hex.EncodeToString(sum[:]), "token_prefix": tr.TokenPrefix,
		"project": tr.Project, "description": tr.Description, "owner": tr.Owner,
		"created_at": "2026-11-01T12:00:00Z",
	}
	if revoked {
		record["revoked_at"], record["revoked_by"] = "2026-11-02T12:00:00Z", "admin"
	}
	data, err := json.Marshal(record)
	if err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatInt(tr.ID, 10)
	for _, file := range []struct {
		path []string
		data []byte
	}{
		{[]string{"tokens", hex.EncodeToString(sum[:])}, data},
		{[]string{"triggers", id}, data},
		{[]string{"projects", url.PathEscape(tr.Project), id}, []byte(id)},
	} {
		name := filepath.Join(append([]string{root, "trigger_gateway"}, file.path...)...)
		if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, file.data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// A file_system storage written by a gateway before trigger shards (three
// files per trigger) works at once with this one, which moves its records
// into the shards in the background: tokens are accepted, the revoked one
// refused, every trigger listed and shown as before; afterwards the
// per-trigger record and marker files are gone, the shard files hold the
// records, and new triggers continue the IDs.
func TestStorageMigrationToTriggerShards(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "storage")
	old := []triggerObj{
		{ID: 1, Token: "glptt-" + strings.Repeat("1", 40), Project: "9", Description: "one", Owner: "alice"},
		{ID: 2, Token: "glptt-" + strings.Repeat("2", 40), Project: "12", Description: "two", Owner: "bob"},
		{ID: 3, Token: "glptt-" + strings.Repeat("3", 40), Project: "9", Description: "revoked", Owner: "alice"},
	}
	for i := range old {
		old[i].TokenPrefix = old[i].Token[:displayPrefixLen(old[i].Token)]
		writeOldLayoutTrigger(t, data, old[i], old[i].ID == 3)
	}
	if err := os.WriteFile(filepath.Join(data, "trigger_gateway", "next_id"), []byte("4"), 0o600); err != nil {
		t.Fatal(err)
	}

	g := newGateway(t, config{Gateway: "storage file_system " + data})
	for _, tr := range old {
		g.secrets.addToken(tr.Token)
	}
	eventually(t, 20*time.Second, func() string {
		for _, name := range []string{"triggers/1", "triggers/2", "triggers/3", "projects/9/1", "projects/12/2"} {
			if _, err := os.Stat(filepath.Join(data, "trigger_gateway", filepath.FromSlash(name))); err == nil {
				return name + " is still there"
			}
		}
		return ""
	})
	for _, name := range []string{"triggers/s0", "projects/9/s0", "projects/12/s0", "layout"} {
		if _, err := os.Stat(filepath.Join(data, "trigger_gateway", filepath.FromSlash(name))); err != nil {
			t.Errorf("after the migration: %v", err)
		}
	}
	g.triggerOK(t, old[0])
	g.triggerOK(t, old[1])
	g.firstStatus(t, old[2], http.StatusNotFound, 0)
	for project, want := range map[string][]int64{"9": {1}, "12": {2}} {
		var got []int64
		for _, tr := range g.listTriggers(t, project) {
			got = append(got, tr.ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("list --project %s: %v, want %v", project, got, want)
		}
	}
	if shown, res := g.showTrigger(t, 2); res.ExitCode != 0 || shown.Description != "two" || shown.Owner != "bob" {
		t.Errorf("show 2: %+v (exit %d: %s)", shown, res.ExitCode, res.Stderr)
	}
	if revoked := g.listTriggersArgs(t, "--revoked", "--project", "9"); len(revoked) != 1 || revoked[0].ID != 3 || revoked[0].RevokedBy != "admin" {
		t.Errorf("list --revoked --project 9: %+v", revoked)
	}
	if tr := g.addTrigger(t, addOpts{Project: "9", Description: "new", Owner: "alice"}); tr.ID != 4 {
		t.Errorf("new trigger has ID %d, want 4", tr.ID)
	}
}
