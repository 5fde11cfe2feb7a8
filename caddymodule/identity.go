package caddymodule

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/caddyserver/caddy/v2"
)

// The gateway's instance ID names this process's usage records in the
// token storage (tokenstore.Config.InstanceID). It is kept in Caddy's
// configuration directory, not with Caddy's instance.uuid in the data
// directory: the data directory is the default file_system storage, which
// 'caddy storage export' copies whole, so importing it into another
// instance's storage, or copying the directory, gave two instances one ID.
// No storage holds the configuration directory. A copy made otherwise (a
// machine image, a copy of the whole home) is found when both run: the
// token store then renews this file's ID (see tokenstore.Config.RenewInstanceID).
const identityFileName = "trigger_gateway_instance_id"

// identityBytes is the size of a random instance ID (32 hex characters).
const identityBytes = 16

// identityFile is where this process keeps its gateway instance ID.
func identityFile() string { return filepath.Join(caddy.AppConfigDir(), identityFileName) }

// loadIdentity returns the ID in file, making one if there is none. Two
// processes making it at once agree on one: the file is created only if
// it does not exist, and both read it back.
func loadIdentity(file string) (string, error) {
	if id, err := readIdentity(file); !errors.Is(err, fs.ErrNotExist) {
		return id, err
	}
	tmp, err := writeIdentityTemp(file)
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, file); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("creating instance ID file: %v", err)
	}
	return readIdentity(file)
}

// renewIdentity replaces the ID in file with a new one and returns it.
func renewIdentity(file string) (string, error) {
	tmp, err := writeIdentityTemp(file)
	if err != nil {
		return "", err
	}
	if err := os.Rename(tmp, file); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("renewing instance ID file: %v", err)
	}
	return readIdentity(file)
}

// readIdentity reads and checks the ID in file.
func readIdentity(file string) (string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(string(data))
	if b, err := hex.DecodeString(id); err != nil || len(b) != identityBytes {
		return "", fmt.Errorf("instance ID file %s does not hold %d hex characters (delete it to make a new one)",
			file, 2*identityBytes)
	}
	return id, nil
}

// writeIdentityTemp writes a new random ID to a temporary file next to
// file and returns its path.
func writeIdentityTemp(file string) (string, error) {
	var id [identityBytes]byte
	_, _ = rand.Read(id[:]) // never fails (crypto/rand)
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return "", fmt.Errorf("creating instance ID directory: %v", err)
	}
	f, err := os.CreateTemp(filepath.Dir(file), identityFileName+".*.tmp")
	if err != nil {
		return "", fmt.Errorf("writing instance ID file: %v", err)
	}
	_, err = f.WriteString(hex.EncodeToString(id[:]) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("writing instance ID file: %v", err)
	}
	return f.Name(), nil
}
