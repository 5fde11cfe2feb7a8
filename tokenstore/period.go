package tokenstore

import (
	"sync/atomic"
	"time"
)

// period is how often a background loop runs; it can change while the
// loop runs (a config reload), the loop resetting its ticker when told.
type period struct {
	d       atomic.Int64
	changed chan struct{} // holds at most one pending change
}

func newPeriod(d time.Duration) *period {
	p := &period{changed: make(chan struct{}, 1)}
	p.d.Store(int64(d))
	return p
}

func (p *period) get() time.Duration { return time.Duration(p.d.Load()) }

// set changes the period and tells the loop, without waiting for it.
func (p *period) set(d time.Duration) {
	if p.d.Swap(int64(d)) == int64(d) {
		return
	}
	select {
	case p.changed <- struct{}{}:
	default: // a change is already pending: the loop reads the latest
	}
}

// every calls run at each tick of p until done is closed, following
// changes of p from the next tick on.
func (p *period) every(done <-chan struct{}, run func()) {
	ticker := time.NewTicker(p.get())
	defer ticker.Stop()
	for {
		select {
		case <-done:
			return
		case <-p.changed:
			ticker.Reset(p.get())
		case <-ticker.C:
			run()
		}
	}
}
