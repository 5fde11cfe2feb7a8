package integration

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
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
	// F continues its own usage record: 3 uses before, 1 after.
	want := []string{idF, idG}
	slices.Sort(want)
	eventually(t, 10*time.Second, func() string {
		if got := c.usageWriters(t, used); !slices.Equal(got, want) {
			return "usage records of the used trigger: " + fmt.Sprintf("%q, want %q", got, want)
		}
		return ""
	})
	if got := c.storedUseCount(t, used, idF); got != 4 {
		t.Errorf("F's usage record holds %d uses, want 4 (3 before the migration, 1 after)", got)
	}
}
