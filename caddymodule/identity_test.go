package caddymodule

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The instance ID file is made once, read back the same by every process
// (even two making it at once), replaced by a renewal, and refused when
// damaged.
func TestInstanceIdentityFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "caddy", identityFileName)
	ids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := loadIdentity(file)
			if err != nil {
				t.Error(err)
			}
			ids[i] = id
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] || len(id) != 2*identityBytes {
			t.Fatalf("concurrent first loads gave %q", ids)
		}
	}
	if again, err := loadIdentity(file); err != nil || again != ids[0] {
		t.Fatalf("second load: %q, %v; want %q", again, err, ids[0])
	}
	renewed, err := renewIdentity(file)
	if err != nil || renewed == ids[0] || len(renewed) != 2*identityBytes {
		t.Fatalf("renewal: %q, %v", renewed, err)
	}
	if again, err := loadIdentity(file); err != nil || again != renewed {
		t.Fatalf("load after renewal: %q, %v; want %q", again, err, renewed)
	}
	if entries, _ := os.ReadDir(filepath.Dir(file)); len(entries) != 1 {
		t.Errorf("temporary files left next to the ID file: %v", entries)
	}
	if info, err := os.Stat(file); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("ID file mode: %v, %v; want 0600", info.Mode(), err)
	}

	if err := os.WriteFile(file, []byte("not an id\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadIdentity(file); err == nil || !strings.Contains(err.Error(), "delete it") {
		t.Fatalf("damaged file: %v", err)
	}
}
