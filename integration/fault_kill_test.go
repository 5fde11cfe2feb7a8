package integration

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// SIGKILL in the middle of creations and triggers loses no creation that
// was acknowledged: after a restart on the same storage, every trigger the
// admin API answered 201 for is listed and triggers.
func TestFaultKillUnderLoad(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{})
	seed := g.addTrigger(t, addOpts{Project: "9", Description: "before the load", Owner: "alice"})

	var (
		mu    sync.Mutex
		acked = []triggerObj{seed}
		sent  int // requests sent to the site, for the log scan
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	// Creations, one after the other, as fast as the admin API answers.
	wg.Add(1)
	go func() {
		defer wg.Done()
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		for i := 0; ctx.Err() == nil; i++ {
			if tr, ok := g.createTriggerQuick(client, fmt.Sprintf("created under load %d", i)); ok {
				mu.Lock()
				acked = append(acked, tr)
				mu.Unlock()
			}
		}
	}()
	// Triggers of the tokens created so far, meanwhile.
	for w := range 2 {
		value := g.varValue()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ctx.Err() == nil; i++ {
				mu.Lock()
				tr := acked[i%len(acked)]
				sent++
				mu.Unlock()
				_, _ = faultSend(g.client, g.loadRequest(ctx, tr, value))
			}
		}()
	}

	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	faultWaitFor(t, "creations under load", func() bool { return count() >= 20 })
	g.kill(g.proc)
	cancel()
	wg.Wait()
	g.siteRequests += sent
	g.up.take()

	g.start()
	listed := map[int64]bool{}
	for _, tr := range g.listTriggers(t, "9") {
		listed[tr.ID] = true
	}
	for _, tr := range acked {
		if !listed[tr.ID] {
			t.Errorf("trigger %d was acknowledged before SIGKILL but is not listed after the restart", tr.ID)
			continue
		}
		g.triggerOK(t, tr)
	}
	t.Logf("%d creations acknowledged before SIGKILL, %d triggers sent", len(acked)-1, sent)
	g.assertNoCrash(t)
}
