package tokenstore

import (
	"sync"
	"time"
)

// errorLogInterval is the least time between two log lines about failures
// of the same storage operation: an unreachable storage fails every
// lookup, poll and flush, and one line per failure would flood the log.
// Every failure is still counted by the Observer.
const errorLogInterval = 10 * time.Second

// logThrottle lets one log line per key through per interval and counts
// the lines it held back. Keys are a small fixed set (storage operations).
type logThrottle struct {
	every time.Duration
	clock func() time.Time

	mu    sync.Mutex
	state map[string]*throttled
}

type throttled struct {
	last       time.Time
	suppressed int
}

func newLogThrottle(every time.Duration) *logThrottle {
	return &logThrottle{every: every, clock: time.Now, state: make(map[string]*throttled)}
}

// allow reports whether a line for key may be logged now and, if so, how
// many were held back since the last one.
func (l *logThrottle) allow(key string) (suppressed int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock()
	st, found := l.state[key]
	if !found {
		l.state[key] = &throttled{last: now}
		return 0, true
	}
	if now.Sub(st.last) < l.every {
		st.suppressed++
		return 0, false
	}
	suppressed = st.suppressed
	st.last, st.suppressed = now, 0
	return suppressed, true
}
