package tokenstore

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// A store that writes under a suffixed name says why in terms the operator
// can act on: the live holder shares its instance ID file (two processes
// reading one Caddy configuration directory), and which file that is. The
// ID is not kept in Caddy's data directory, so a message naming it sent
// operators comparing data directories that differ.
func TestInstanceSuffixLogNamesTheIDFile(t *testing.T) {
	me := currentProcess()
	const home = "/config/caddy/trigger_gateway_instance_id"
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	putInstanceRecord(t, storage, instanceRecord{Instance: "node", Nonce: "n", Host: me.host, BootID: me.boot,
		PID: me.pid, Home: home, Heartbeat: time.Now().UTC()})
	core, logs := observer.New(zapcore.WarnLevel)
	s := newTestStore(t, storage, Config{InstanceID: "node", InstanceHome: home, Logger: zap.New(core),
		RenewInstanceID: func() (string, error) { return "renewed", nil }})
	if got := s.InstanceID(); got != "node-2" {
		t.Fatalf("instance %q, want node-2", got)
	}
	entries := logs.FilterMessageSnippet("suffixed name").All()
	if len(entries) != 1 {
		t.Fatalf("%d log lines about the suffixed name, want 1: %v", len(entries), logs.All())
	}
	e := entries[0]
	if strings.Contains(e.Message, "data directory") || !strings.Contains(e.Message, "instance ID file") {
		t.Errorf("message %q: want it to name the shared instance ID file, not a data directory", e.Message)
	}
	if got := e.ContextMap()["instance_id_file"]; got != home {
		t.Errorf("instance_id_file %v, want %q", got, home)
	}
}
