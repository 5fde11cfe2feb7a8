//go:build unix

package tokenstore

import (
	"io/fs"
	"syscall"
)

// readFile reads a small file, as os.ReadFile does, in fewer system calls:
// open, read until end of file, close. os.ReadFile also stats the file and
// os.Open registers it with the runtime's poller (two fcntl calls), which
// for a token record of a few hundred bytes cost more than the read
// itself: every cache miss on a file_system storage reads one.
func readFile(name string) ([]byte, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	defer syscall.Close(fd)
	data := make([]byte, 0, 512)
	for {
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
		n, err := syscall.Read(fd, data[len(data):cap(data)])
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return nil, &fs.PathError{Op: "read", Path: name, Err: err}
		case n == 0:
			return data, nil
		}
		data = data[:len(data)+n]
	}
}
