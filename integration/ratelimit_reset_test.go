package integration

import (
	"strconv"
	"testing"
	"time"
)

// The limit's Retry-After counts down the client's window, and once it is
// over the client is served again, its count started afresh.
func TestRateLimitRetryAfterAndReset(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{Gateway: "failed_auth_limit 2 4s"})
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "reset", Owner: "alice"})
	start := time.Now()
	g.failAuth(t, 2, nil)
	resp := g.postAs(t, nil, tr.Token)
	assertLimited(t, g, resp, 4*time.Second)
	retry, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	left := 4*time.Second - time.Since(start)
	if float64(retry) < left.Seconds() || float64(retry) > left.Seconds()+1 {
		t.Errorf("Retry-After %d, want the %s left of the window, rounded up", retry, left)
	}
	time.Sleep(time.Duration(retry) * time.Second)
	assertAccepted(t, g, g.postAs(t, nil, tr.Token), tr)
	g.failAuth(t, 1, nil) // a new window: 1 of 2
	assertAccepted(t, g, g.postAs(t, nil, tr.Token), tr)
}
