//go:build unix

package tokenstore

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// readFile must return exactly what os.ReadFile does, whether or not it
// skips the read that returns end of file.
func TestReadFileReadsWholeFiles(t *testing.T) {
	record := `{"id":1,"token_hash":"` + strings.Repeat("ab", 32) + `","project":"9"}`
	tests := []struct {
		name    string
		content string
	}{
		{"empty", ""},
		{"a token record", record},
		{"a record and a newline", record + "\n"},
		{"not JSON, short", "plain text"},
		{"a brace before the end", "{}" + strings.Repeat("x", 100)},
		{"exactly the first read", "{" + strings.Repeat("x", 1022) + "}"},
		{"one byte beyond it", "{" + strings.Repeat("x", 1023) + "}"},
		{"several reads", "{" + strings.Repeat("x", 5000) + "}"},
		{"a brace at the first read's end, more after", strings.Repeat("x", 1023) + "}" + strings.Repeat("y", 300)},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_"))
			if err := os.WriteFile(name, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := readFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, []byte(tt.content)) {
				t.Fatalf("readFile gave %d bytes, want the file's %d", len(got), len(tt.content))
			}
		})
	}
	if _, err := readFile(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a missing file: %v, want fs.ErrNotExist", err)
	}
}

func TestEndsObject(t *testing.T) {
	tests := []struct {
		data string
		want bool
	}{
		{"", false},
		{"\n", false},
		{"}", true},
		{`{"a":1}`, true},
		{"{\"a\":1}\n", true},
		{"{\"a\":1}\n\n", false},
		{`{"a":{"b":1}`, true}, // a torn nested object: its decoding fails
		{`{"a":1`, false},
	}
	for _, tt := range tests {
		if got := endsObject([]byte(tt.data)); got != tt.want {
			t.Errorf("endsObject(%q) = %v, want %v", tt.data, got, tt.want)
		}
	}
}

// What a cache miss's file read costs against the machine's cheapest
// system call: readFile makes three (open, read, close), and on a VM
// each costs microseconds, which bounds the cold path from below
// (BENCHMARKS.md, target 3).
func BenchmarkReadFile(b *testing.B) {
	dir := benchDir(b)
	names := make([]string, 1000)
	record := []byte(`{"id":1,"token_hash":"` + strings.Repeat("ab", 32) + `","project":"9","description":"bench"}`)
	for i := range names {
		names[i] = filepath.Join(dir, strconv.Itoa(i))
		if err := os.WriteFile(names[i], record, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("readFile", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, err := readFile(names[i%len(names)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("getpid", func(b *testing.B) {
		for b.Loop() {
			syscall.Getpid()
		}
	})
}
