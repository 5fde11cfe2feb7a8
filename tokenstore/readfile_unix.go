//go:build unix

package tokenstore

import (
	"io/fs"
	"syscall"
)

// readFile reads a small file, as os.ReadFile does, in fewer system calls:
// open, read, close. os.ReadFile also stats the file and os.Open registers
// it with the runtime's poller (two fcntl calls), which for a token record
// of a few hundred bytes cost more than the read itself: every cache miss
// on a file_system storage reads one, and on a VM each system call costs
// 1 to 3 µs.
//
// The read that would return end of file is skipped when the first read
// returned less than it asked for and ended a JSON object: a regular
// file's read returns less only at its end (read(2)), and every record
// this store writes is one JSON object. Any other short read (a network
// file system's, one cut by a signal) reads on to end of file, and a torn
// record still fails its decoding and its hash check.
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
	// A token record is about 230 bytes, at most about 1 KiB with the
	// longest description and owner.
	data := make([]byte, 0, 1024)
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
		short := len(data)+n < cap(data)
		data = data[:len(data)+n]
		if short && endsObject(data) {
			return data, nil
		}
	}
}

// endsObject reports whether data ends with a JSON object's closing brace,
// optionally followed by a newline.
func endsObject(data []byte) bool {
	if n := len(data); n > 0 && data[n-1] == '\n' {
		data = data[:n-1]
	}
	return len(data) > 0 && data[len(data)-1] == '}'
}
