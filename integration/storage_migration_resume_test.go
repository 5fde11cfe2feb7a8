package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// A move into trigger shards that stopped after writing a shard but before
// its project markers (a crash, a storage failure) leaves a storage with
// both layouts: the records in the shard and still in their old files, the
// old markers only. The next start completes it: every trigger stays in
// its project's listing once the old files are gone.
func TestStorageMigrationResumedAfterShardWrite(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "storage")
	old := []triggerObj{
		{ID: 1, Token: "glptt-" + strings.Repeat("4", 40), Project: "9", Description: "one", Owner: "alice"},
		{ID: 2, Token: "glptt-" + strings.Repeat("5", 40), Project: "9", Description: "two", Owner: "bob"},
	}
	var records []json.RawMessage
	for i := range old {
		old[i].TokenPrefix = old[i].Token[:displayPrefixLen(old[i].Token)]
		writeOldLayoutTrigger(t, data, old[i], false)
		record, err := os.ReadFile(filepath.Join(data, "trigger_gateway", "triggers", []string{"1", "2"}[i]))
		if err != nil {
			t.Fatal(err)
		}
		records = append(records, record)
	}
	// The shard as the stopped move wrote it, with no marker projects/9/s0.
	shard, err := json.Marshal(map[string]any{"shard": 0, "triggers": records})
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][]byte{"triggers/s0": shard, "next_id": []byte("3")} {
		if err := os.WriteFile(filepath.Join(data, "trigger_gateway", filepath.FromSlash(name)), content, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	g := newGateway(t, config{Gateway: "storage file_system " + data})
	for _, tr := range old {
		g.secrets.addToken(tr.Token)
	}
	eventually(t, 20*time.Second, func() string {
		if _, err := os.Stat(filepath.Join(data, "trigger_gateway", "layout")); err != nil {
			return "the move is not done: " + err.Error()
		}
		return ""
	})
	for _, name := range []string{"triggers/1", "triggers/2", "projects/9/1", "projects/9/2"} {
		if _, err := os.Stat(filepath.Join(data, "trigger_gateway", filepath.FromSlash(name))); err == nil {
			t.Errorf("%s is still there", name)
		}
	}
	var got []int64
	for _, tr := range g.listTriggers(t, "9") {
		got = append(got, tr.ID)
	}
	if !slices.Equal(got, []int64{1, 2}) {
		t.Errorf("list --project 9: %v, want [1 2]", got)
	}
	g.triggerOK(t, old[0])
	g.triggerOK(t, old[1])
}
