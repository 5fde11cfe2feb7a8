//go:build unix

package tokenstore

import (
	"errors"
	"syscall"
)

// processGone reports whether no process with the pid exists on this
// machine. A process of another user still exists (EPERM).
func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
