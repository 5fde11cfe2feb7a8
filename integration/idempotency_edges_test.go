package integration

import (
	"bytes"
	"net/http"
	"sync"
	"testing"
	"time"
)

// Idempotency's edges against the real binary: which answers of the CI
// are kept, a key of two triggers, a key after its trigger is revoked, a
// repeat waiting on a first request whose caller gives up.
func TestIdempotencyEdges(t *testing.T) {
	t.Parallel()
	up := newSlowUpstream(t)
	g := newGatewayFor(t, config{}, up.upstream)
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "edges", Owner: "alice"})
	other := g.addTrigger(t, addOpts{Project: "9", Description: "edges too", Owner: "bob"})
	const path = "/api/v4/projects/9/trigger/pipeline"
	body := urlencoded("token", tr.Token, "ref", "main")

	for _, status := range []int{429, 408, 425, 500, 503} {
		t.Run("upstream "+http.StatusText(status)+" is not kept", func(t *testing.T) {
			key := uuid()
			up.answerWith(status, "application/json", `{"message":"try again"}`)
			for i := range 2 {
				resp := g.post(t, path, body, "Idempotency-Key", key)
				if resp.Status != status || len(up.take()) != 1 || resp.Header.Get("Idempotent-Replayed") != "" {
					t.Fatalf("try %d: %s, want the upstream's %d, forwarded", i+1, resp, status)
				}
			}
			up.answerWith(0, "", "")
			first := g.post(t, path, body, "Idempotency-Key", key)
			if first.Status != 201 || len(up.take()) != 1 {
				t.Fatalf("after the CI recovered: %s, want 201 forwarded", first)
			}
			assertReplayed(t, first, g.post(t, path, body, "Idempotency-Key", key))
			assertNothingForwarded(t, up.upstream)
		})
	}

	t.Run("upstream 400 is kept", func(t *testing.T) {
		key := uuid()
		up.answerWith(400, "application/json", `{"message":{"base":["Reference not found"]}}`)
		first := g.post(t, path, body, "Idempotency-Key", key)
		up.answerWith(0, "", "")
		if first.Status != 400 || len(up.take()) != 1 {
			t.Fatalf("first: %s", first)
		}
		replayed := g.delta(t, counter{"caddy_trigger_gateway_requests_total", []string{"route", "pipeline", "source", "trigger", "outcome", "replayed"}})
		assertReplayed(t, first, g.post(t, path, body, "Idempotency-Key", key))
		assertNothingForwarded(t, up.upstream)
		if got := replayed(); got != 1 {
			t.Errorf("requests_total{outcome=replayed} moved by %v, want 1", got)
		}
	})

	t.Run("one key, two triggers", func(t *testing.T) {
		key := uuid()
		a := g.post(t, path, body, "Idempotency-Key", key)
		b := g.post(t, path, urlencoded("token", other.Token, "ref", "main"), "Idempotency-Key", key)
		if a.Status != 201 || b.Status != 201 || len(up.take()) != 2 || b.Header.Get("Idempotent-Replayed") != "" {
			t.Errorf("two triggers with one key: %s and %s, want both forwarded", a, b)
		}
	})

	t.Run("a key after its trigger is revoked", func(t *testing.T) {
		doomed := g.addTrigger(t, addOpts{Project: "9", Description: "doomed", Owner: "carol"})
		key := uuid()
		doomedBody := urlencoded("token", doomed.Token, "ref", "main")
		if first := g.post(t, path, doomedBody, "Idempotency-Key", key); first.Status != 201 {
			t.Fatalf("first: %s", first)
		}
		up.take()
		g.revokeTrigger(t, doomed.ID)
		resp := g.post(t, path, doomedBody, "Idempotency-Key", key)
		assertJSONAnswer(t, resp, 404, `{"message":"404 Not Found"}`)
		if resp.Header.Get("Idempotent-Replayed") != "" {
			t.Errorf("a revoked token's key was replayed")
		}
		assertNothingForwarded(t, up.upstream)
	})

	t.Run("a repeat waiting on a first request whose caller gives up", func(t *testing.T) {
		key := uuid()
		up.delay.Store(int64(3 * time.Second))
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, g.base()+path, bytes.NewReader(body.Data))
			req.Header.Set("Content-Type", body.ContentType)
			req.Header.Set("Idempotency-Key", key)
			impatient := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			if resp, err := impatient.Do(req); err == nil {
				resp.Body.Close()
				t.Errorf("the impatient caller got %d", resp.StatusCode)
			}
		}()
		time.Sleep(300 * time.Millisecond)
		g.siteRequests++
		start := time.Now()
		repeat := g.post(t, path, body, "Idempotency-Key", key)
		wg.Wait()
		up.delay.Store(0)
		t.Logf("repeat: %s after %s, %d forwarded, replayed %q", repeat, time.Since(start), len(up.take()), repeat.Header.Get("Idempotent-Replayed"))
		if repeat.Status != 201 {
			t.Errorf("the repeat got %s, want the CI's 201", repeat)
		}
	})
}
