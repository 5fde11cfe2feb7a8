package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// loadStats is what the load goroutines saw.
type loadStats struct {
	// dropped counts attempts whose connection was closed or reset
	// without an answer, and sent again.
	dropped  atomic.Int64
	mu       sync.Mutex
	created  map[int64]int // 201 answers by trigger ID
	failures []string      // every other outcome, described without secrets
}

func (s *loadStats) record(id int64, resp response, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err != nil:
		s.failures = append(s.failures, fmt.Sprintf("trigger %d: %v", id, err))
	case resp.Status != http.StatusCreated:
		s.failures = append(s.failures, fmt.Sprintf("trigger %d: %s", id, resp))
	default:
		s.created[id]++
	}
}

func (s *loadStats) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.failures)
	for _, c := range s.created {
		n += c
	}
	return n
}

// Twenty `caddy reload`s while valid triggers keep coming lose none of
// them: every one is answered 201 (once sent again if Caddy's listener
// handover reset its connection unread, see maxAttempts), reaches the
// upstream exactly once and is counted exactly once in its trigger's
// use_count.
func TestFaultReloadUnderLoad(t *testing.T) {
	t.Parallel()
	cfg := func(generation int) config {
		// Alternating configs, so that every reload really changes something.
		return config{Site: fmt.Sprintf("header X-Config-Generation %d", generation%2)}
	}
	g := newGateway(t, cfg(0))
	triggers := []triggerObj{
		g.addTrigger(t, addOpts{Project: "9", Description: "load a", Owner: "alice"}),
		g.addTrigger(t, addOpts{Project: "9", Description: "load b", Owner: "bob"}),
	}
	const workers, reloads = 4, 20
	// Caddy hands its listening socket over to the new config with
	// SO_REUSEPORT and closes the old socket; connections still queued on
	// it are reset by the kernel before Caddy reads a byte of them (the
	// same happens with a plain `respond` site: this is Caddy's, not the
	// gateway's). A client sees the connection reset or closed and sends
	// again, as curl --retry-all-errors does. That is only safe if nothing
	// of a dropped attempt was processed, which the upstream and use_count
	// checks below prove.
	const maxAttempts = 5
	stats := &loadStats{created: map[int64]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for w := range workers {
		tr := triggers[w%len(triggers)]
		value := g.varValue()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				// Not bound to ctx: a request begun is finished, so that
				// every request sent is accounted for.
				var resp response
				var err error
				for attempt := 1; attempt <= maxAttempts; attempt++ {
					resp, err = faultSend(g.client, g.loadRequest(context.Background(), tr, value))
					if err == nil || !isConnectionDropped(err) {
						break
					}
					stats.dropped.Add(1)
				}
				stats.record(tr.ID, resp, err)
			}
		}()
	}

	// The load must be running before the first reload and during all of them.
	faultWaitFor(t, "the load to start", func() bool { return stats.total() >= workers*5 })
	before := stats.total()
	for i := 1; i <= reloads; i++ {
		g.reload(t, cfg(i))
	}
	during := stats.total() - before
	cancel()
	wg.Wait()
	g.siteRequests += stats.total()

	if conf := string(g.adminGet(t, "/config/").Body); !strings.Contains(conf, fmt.Sprintf(`"X-Config-Generation":["%d"]`, reloads%2)) {
		t.Errorf("the last reload did not apply: %s", conf)
	}
	if during < reloads {
		t.Errorf("only %d requests completed during %d reloads: the load did not overlap them", during, reloads)
	}
	for i, f := range stats.failures {
		if i == 10 {
			t.Errorf("… and %d more failures", len(stats.failures)-i)
			break
		}
		t.Errorf("lost a valid request during reloads: %s", redact(f, g.secrets.all()))
	}

	// The upstream got exactly the requests answered 201, each once.
	received := map[string]int{}
	for _, r := range g.up.take() {
		received[r.Header.Get("X-Trigger-Id")]++
	}
	for _, tr := range triggers {
		want := stats.created[tr.ID]
		if got := received[tr.idString()]; got != want {
			t.Errorf("trigger %d: upstream received %d requests, the callers got %d answers 201", tr.ID, got, want)
		}
		g.wantUsage(t, tr, int64(want))
	}
	t.Logf("%d reloads, %d requests answered 201 (%d during the reloads), %d connections dropped by the listener handover and sent again",
		reloads, stats.total()-len(stats.failures), during, stats.dropped.Load())
	g.assertNoCrash(t)
}

// faultWaitFor polls cond until it holds, for at most 10 seconds.
func faultWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// isConnectionDropped reports whether a request failed because the server
// closed or reset the connection without answering. EPIPE is the same
// reset seen while the client was still writing the request.
func isConnectionDropped(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
