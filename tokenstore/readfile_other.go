//go:build !unix

package tokenstore

import "os"

// readFile is os.ReadFile (see readfile_unix.go).
func readFile(name string) ([]byte, error) { return os.ReadFile(name) }
