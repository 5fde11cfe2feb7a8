package integration

import (
	"bytes"
	"testing"
)

// Repeated deliveries against the real binary: the same webhook delivery
// (X-Gitlab-Event-UUID, X-GitHub-Delivery) or the same Idempotency-Key
// reaches the upstream once, sequentially or five at a time, and every
// caller gets the first answer; an upstream failure is not kept, so the
// retry is forwarded; the metrics count what was saved and replayed.
func TestIdempotentDeliveries(t *testing.T) {
	t.Parallel()
	flaky := newFlakyUpstream(t, 500, 201)
	g := newGateway(t, config{Site: `
		@flaky path /api/v4/projects/77/*
		reverse_proxy @flaky ` + flaky.addr()})
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "webhooks", Owner: "alice"})
	flakyTrigger := g.addTrigger(t, addOpts{Project: "77", Description: "flaky upstream", Owner: "bob"})
	hook := "/api/v4/projects/9/ref/main/trigger/pipeline?token=" + tr.Token
	want := forwarded{Project: "9", Token: tr.Token, Ref: "main", Variables: map[string]string{},
		Payload: payloadWithout(t, pushEvent, "ref"), Trigger: tr}
	var saved, replayed float64 // what the metrics must say

	deliveries := []struct {
		name   string
		header string
	}{
		{"GitLab delivery twice", "X-Gitlab-Event-UUID"},
		{"GitHub delivery twice", "X-GitHub-Delivery"},
	}
	for _, d := range deliveries {
		t.Run(d.name, func(t *testing.T) {
			id := uuid()
			first := g.post(t, hook, rawJSON(pushEvent), "X-Gitlab-Event", "Push Hook", d.header, id)
			assertForwarded(t, first, g.up.take(), want)
			if got := first.Header.Get("Idempotent-Replayed"); got != "" {
				t.Errorf("first delivery has Idempotent-Replayed: %q", got)
			}
			again := g.post(t, hook, rawJSON(pushEvent), "X-Gitlab-Event", "Push Hook", d.header, id)
			assertReplayed(t, first, again)
			assertNothingForwarded(t, g.up)
			saved, replayed = saved+1, replayed+1
		})
	}

	t.Run("one delivery five times at once", func(t *testing.T) {
		answers := g.postConcurrently(t, 5, hook, rawJSON(pushEvent), "X-Gitlab-Event", "Push Hook", "X-Gitlab-Event-UUID", uuid())
		var first *response
		repeats := 0
		for i, a := range answers {
			if a.Header.Get("Idempotent-Replayed") == "true" {
				repeats++
			} else {
				first = &answers[i]
			}
		}
		if first == nil || repeats != 4 {
			t.Fatalf("%d of 5 answers replayed, want 4 (answers %v)", repeats, answers)
		}
		assertForwarded(t, *first, g.up.take(), want)
		for _, a := range answers {
			if a.Status != first.Status || !bytes.Equal(a.Body, first.Body) {
				t.Errorf("a caller got %s, want the first answer %s", a, *first)
			}
		}
		saved, replayed = saved+1, replayed+4
	})

	t.Run("Idempotency-Key on the pipeline route", func(t *testing.T) {
		key := uuid()
		body := urlencoded("token", tr.Token, "ref", "main")
		first := g.post(t, "/api/v4/projects/9/trigger/pipeline", body, "Idempotency-Key", key)
		assertForwarded(t, first, g.up.take(), forwarded{Project: "9", Token: tr.Token, Ref: "main", Variables: map[string]string{}, Trigger: tr})
		again := g.post(t, "/api/v4/projects/9/trigger/pipeline", body, "Idempotency-Key", key)
		assertReplayed(t, first, again)
		assertNothingForwarded(t, g.up)
		other := g.post(t, "/api/v4/projects/9/trigger/pipeline", body, "Idempotency-Key", uuid())
		assertForwarded(t, other, g.up.take(), forwarded{Project: "9", Token: tr.Token, Ref: "main", Variables: map[string]string{}, Trigger: tr})
		saved, replayed = saved+2, replayed+1
	})

	t.Run("an upstream 5xx is not kept: the retry is forwarded", func(t *testing.T) {
		key := uuid()
		body := urlencoded("token", flakyTrigger.Token, "ref", "main")
		failed := g.post(t, "/api/v4/projects/77/trigger/pipeline", body, "Idempotency-Key", key)
		if failed.Status != 500 || flaky.count() != 1 {
			t.Fatalf("first try: %s after %d upstream calls, want the upstream's 500", failed, flaky.count())
		}
		retry := g.post(t, "/api/v4/projects/77/trigger/pipeline", body, "Idempotency-Key", key)
		if retry.Status != 201 || flaky.count() != 2 || retry.Header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("retry: %s after %d upstream calls, want it forwarded and answered 201", retry, flaky.count())
		}
		again := g.post(t, "/api/v4/projects/77/trigger/pipeline", body, "Idempotency-Key", key)
		assertReplayed(t, retry, again)
		if flaky.count() != 2 {
			t.Errorf("the upstream was called %d times, want 2", flaky.count())
		}
		assertNothingForwarded(t, g.up)
		saved, replayed = saved+1, replayed+1
	})

	t.Run("metrics", func(t *testing.T) {
		for result, want := range map[string]float64{"saved": saved, "replayed": replayed} {
			if got := g.metricValue(t, "caddy_trigger_gateway_idempotency_total", "result", result); got != want {
				t.Errorf("idempotency_total{result=%q} = %v, want %v", result, got, want)
			}
		}
		if got := g.metricValue(t, "caddy_trigger_gateway_requests_total", "outcome", "replayed"); got != replayed {
			t.Errorf("requests_total{outcome=replayed} = %v, want %v", got, replayed)
		}
	})

	t.Run("replays are no use", func(t *testing.T) {
		// Forwarded: two deliveries, the concurrent one, two keys.
		g.wantUsage(t, tr, 5)
	})
}

// idempotency_window off: a repeated delivery is forwarded again.
func TestIdempotencyWindowOff(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{Gateway: "idempotency_window off"})
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "webhooks", Owner: "alice"})
	id := uuid()
	for range 2 {
		resp := g.post(t, "/api/v4/projects/9/ref/main/trigger/pipeline?token="+tr.Token, rawJSON(pushEvent),
			"X-Gitlab-Event", "Push Hook", "X-Gitlab-Event-UUID", id, "Idempotency-Key", id)
		assertForwarded(t, resp, g.up.take(), forwarded{Project: "9", Token: tr.Token, Ref: "main", Variables: map[string]string{},
			Payload: payloadWithout(t, pushEvent, "ref"), Trigger: tr})
		if got := resp.Header.Get("Idempotent-Replayed"); got != "" {
			t.Errorf("Idempotent-Replayed = %q with idempotency_window off", got)
		}
	}
	if got := g.metricValue(t, "caddy_trigger_gateway_idempotency_total"); got != 0 {
		t.Errorf("idempotency_total = %v with idempotency_window off, want 0", got)
	}
}
