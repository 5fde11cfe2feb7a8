package integration

import (
	"bytes"
	"io"
	"net/http"
	"sync"
	"testing"
)

// Repeats are recognised across the cluster: a webhook delivery (or a
// request with an Idempotency-Key) forwarded by node A and repeated on
// node B reaches the upstreams once, and B answers as A did; the same
// delivery arriving on both nodes at once is forwarded by one of them only.
func TestClusterIdempotency(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, "failed_auth_limit off", nil)
	a, b := c.nodes[0], c.nodes[1]
	tr := a.addTrigger(t, addOpts{Project: "9", Description: "webhooks, cluster", Owner: "alice"})
	hook := "/api/v4/projects/9/ref/main/trigger/pipeline?token=" + tr.Token
	wantHook := forwarded{Project: "9", Token: tr.Token, Ref: "main", Variables: map[string]string{},
		Payload: payloadWithout(t, pushEvent, "ref"), Trigger: tr}

	for _, header := range []string{"X-Gitlab-Event-UUID", "X-GitHub-Delivery"} {
		t.Run(header+": delivered to A, repeated on B", func(t *testing.T) {
			id := uuid()
			first := a.post(t, hook, rawJSON(pushEvent), "X-Gitlab-Event", "Push Hook", header, id)
			assertForwarded(t, first, a.up.take(), wantHook)
			again := b.post(t, hook, rawJSON(pushEvent), "X-Gitlab-Event", "Push Hook", header, id)
			assertReplayed(t, first, again)
			assertNothingForwarded(t, b.up)
			assertNothingForwarded(t, a.up)
		})
	}

	t.Run("Idempotency-Key: sent to A, repeated on B", func(t *testing.T) {
		key := uuid()
		body := urlencoded("token", tr.Token, "ref", "main")
		first := a.post(t, "/api/v4/projects/9/trigger/pipeline", body, "Idempotency-Key", key)
		assertForwarded(t, first, a.up.take(), forwarded{Project: "9", Token: tr.Token, Ref: "main",
			Variables: map[string]string{}, Trigger: tr})
		again := b.post(t, "/api/v4/projects/9/trigger/pipeline", body, "Idempotency-Key", key)
		assertReplayed(t, first, again)
		assertNothingForwarded(t, b.up)
		assertNothingForwarded(t, a.up)

		// Another key is another request, on either node.
		other := b.post(t, "/api/v4/projects/9/trigger/pipeline", body, "Idempotency-Key", uuid())
		assertForwarded(t, other, b.up.take(), forwarded{Project: "9", Token: tr.Token, Ref: "main",
			Variables: map[string]string{}, Trigger: tr})
	})

	t.Run("a key reused for another request, on the other node", func(t *testing.T) {
		key := uuid()
		first := a.post(t, "/api/v4/projects/9/trigger/pipeline", urlencoded("token", tr.Token, "ref", "main"), "Idempotency-Key", key)
		assertForwarded(t, first, a.up.take(), forwarded{Project: "9", Token: tr.Token, Ref: "main",
			Variables: map[string]string{}, Trigger: tr})
		other := b.post(t, "/api/v4/projects/9/trigger/pipeline", urlencoded("token", tr.Token, "ref", "other"), "Idempotency-Key", key)
		assertJSONAnswer(t, other, http.StatusUnprocessableEntity,
			`{"message":"422 Unprocessable Entity - this idempotency key or delivery ID was already used for a different request"}`)
		assertNothingForwarded(t, a.up)
		assertNothingForwarded(t, b.up)

		// Another trigger token of the project: its own key, on either node.
		tr2 := b.addTrigger(t, addOpts{Project: "9", Description: "second caller, cluster", Owner: "bob"})
		own := b.post(t, "/api/v4/projects/9/trigger/pipeline", urlencoded("token", tr2.Token, "ref", "other"), "Idempotency-Key", key)
		assertForwarded(t, own, b.up.take(), forwarded{Project: "9", Token: tr2.Token, Ref: "other",
			Variables: map[string]string{}, Trigger: tr2})
		assertReplayed(t, own, a.post(t, "/api/v4/projects/9/trigger/pipeline", urlencoded("token", tr2.Token, "ref", "other"), "Idempotency-Key", key))
		assertNothingForwarded(t, a.up)
	})

	t.Run("one delivery on both nodes at once", func(t *testing.T) {
		answers := postOnEach(t, []*gateway{a, b}, hook, rawJSON(pushEvent),
			"X-Gitlab-Event", "Push Hook", "X-Gitlab-Event-UUID", uuid())
		got := append(a.up.take(), b.up.take()...)
		var first, repeat response
		switch {
		case answers[0].Header.Get("Idempotent-Replayed") == "" && answers[1].Header.Get("Idempotent-Replayed") == "true":
			first, repeat = answers[0], answers[1]
		case answers[1].Header.Get("Idempotent-Replayed") == "" && answers[0].Header.Get("Idempotent-Replayed") == "true":
			first, repeat = answers[1], answers[0]
		default:
			t.Fatalf("answers %s and %s (Idempotent-Replayed %q, %q), want one first answer and one replay; upstreams got %d requests",
				answers[0], answers[1], answers[0].Header.Get("Idempotent-Replayed"), answers[1].Header.Get("Idempotent-Replayed"), len(got))
		}
		assertForwarded(t, first, got, wantHook)
		assertReplayed(t, first, repeat)
	})
}

// postOnEach sends the same POST to every node at once and returns their
// answers, in the order of nodes.
func postOnEach(t *testing.T, nodes []*gateway, path string, body reqBody, headers ...string) []response {
	t.Helper()
	answers := make([]response, len(nodes))
	errs := make([]error, len(nodes))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, g := range nodes {
		g.siteRequests++
		req, err := http.NewRequest(http.MethodPost, g.base()+path, bytes.NewReader(body.Data))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", body.ContentType)
		for j := 0; j+1 < len(headers); j += 2 {
			req.Header.Set(headers[j], headers[j+1])
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := g.client.Do(req)
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			data, err := io.ReadAll(resp.Body)
			answers[i], errs[i] = response{Status: resp.StatusCode, Header: resp.Header, Body: data}, err
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
	}
	return answers
}
