package integration

import (
	"bytes"
	"net/http"
	"testing"
	"time"
)

// A caller that gives up before the CI answers leaves nothing behind: the
// status Caddy's reverse_proxy records for it (499) is no answer of the
// CI, so the retry with the same key reaches the CI and gets its answer,
// which is then the one replayed.
func TestIdempotencyCallerGaveUp(t *testing.T) {
	t.Parallel()
	up := newSlowUpstream(t)
	g := newGatewayFor(t, config{}, up.upstream)
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "impatient caller", Owner: "alice"})
	const path = "/api/v4/projects/9/trigger/pipeline"
	body := urlencoded("token", tr.Token, "ref", "main")
	want := forwarded{Project: "9", Token: tr.Token, Ref: "main", Variables: map[string]string{}, Trigger: tr}

	for _, header := range []string{"Idempotency-Key", "X-Gitlab-Event-UUID"} {
		t.Run(header, func(t *testing.T) {
			key := uuid()
			up.delay.Store(int64(time.Minute)) // the CI hangs
			req, err := http.NewRequest(http.MethodPost, g.base()+path, bytes.NewReader(body.Data))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", body.ContentType)
			req.Header.Set(header, key)
			impatient := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			g.siteRequests++
			if resp, err := impatient.Do(req); err == nil {
				resp.Body.Close()
				t.Fatalf("the caller got %d from a hanging CI, want its own timeout", resp.StatusCode)
			} else if !isNetTimeout(err) {
				t.Fatalf("the caller's request failed with %v, want its own timeout", err)
			}

			up.delay.Store(0) // the CI is back
			retry := g.post(t, path, body, header, key)
			assertForwarded(t, retry, up.take(), want)
			if got := retry.Header.Get("Idempotent-Replayed"); got != "" {
				t.Errorf("the retry was answered from storage (Idempotent-Replayed %q): %s", got, retry)
			}
			again := g.post(t, path, body, header, key)
			assertReplayed(t, retry, again)
			assertNothingForwarded(t, up.upstream)
		})
	}
}

// A key belongs to whoever authenticated: another trigger token of the
// same project with the same key is another caller's request, forwarded
// and answered on its own. The same caller reusing the key for a different
// request (ref, variables, payload) gets 422 in GitLab's shape and nothing
// is forwarded; the same request, in any form, is replayed.
func TestIdempotencyKeyReused(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{})
	trA := g.addTrigger(t, addOpts{Project: "9", Description: "caller A", Owner: "alice"})
	trB := g.addTrigger(t, addOpts{Project: "9", Description: "caller B", Owner: "bob"})
	const path = "/api/v4/projects/9/trigger/pipeline"
	v := g.varValue()
	key := uuid()
	const reused = `{"message":"422 Unprocessable Entity - this idempotency key or delivery ID was already used for a different request"}`

	first := g.post(t, path, urlencoded("token", trA.Token, "ref", "main", "variables[V]", v), "Idempotency-Key", key)
	assertForwarded(t, first, g.up.take(), forwarded{Project: "9", Token: trA.Token, Ref: "main",
		Variables: map[string]string{"V": v}, Trigger: trA})

	refused := []struct {
		name string
		path string
		body reqBody
	}{
		{"another ref", path, urlencoded("token", trA.Token, "ref", "other", "variables[V]", v)},
		{"another variable value", path, urlencoded("token", trA.Token, "ref", "main", "variables[V]", g.varValue())},
		{"another variable", path, urlencoded("token", trA.Token, "ref", "main", "variables[V]", v, "variables[W]", v)},
		{"no variables", path, urlencoded("token", trA.Token, "ref", "main")},
		{"a payload", "/api/v4/projects/9/ref/main/trigger/pipeline?token=" + trA.Token,
			jsonBody(map[string]any{"variables": map[string]string{"V": v}, "object_kind": "push"})},
	}
	for _, r := range refused {
		t.Run(r.name, func(t *testing.T) {
			resp := g.post(t, r.path, r.body, "Idempotency-Key", key)
			assertJSONAnswer(t, resp, http.StatusUnprocessableEntity, reused)
			assertNothingForwarded(t, g.up)
		})
	}

	t.Run("the same request in another form is replayed", func(t *testing.T) {
		for _, body := range []reqBody{
			urlencoded("token", trA.Token, "ref", "main", "variables[V]", v),
			jsonBody(map[string]any{"token": trA.Token, "ref": "refs/heads/main", "variables": map[string]string{"V": v}}),
		} {
			assertReplayed(t, first, g.post(t, path, body, "Idempotency-Key", key))
		}
		assertNothingForwarded(t, g.up)
	})

	t.Run("another token of the project has its own keys", func(t *testing.T) {
		body := urlencoded("token", trB.Token, "ref", "other")
		own := g.post(t, path, body, "Idempotency-Key", key)
		assertForwarded(t, own, g.up.take(), forwarded{Project: "9", Token: trB.Token, Ref: "other",
			Variables: map[string]string{}, Trigger: trB})
		if bytes.Equal(own.Body, first.Body) || own.Header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("token B got %s (Idempotent-Replayed %q), want its own answer", own, own.Header.Get("Idempotent-Replayed"))
		}
		assertReplayed(t, own, g.post(t, path, body, "Idempotency-Key", key))
		assertNothingForwarded(t, g.up)
	})

	t.Run("a webhook delivery ID reused for another payload", func(t *testing.T) {
		hook := "/api/v4/projects/9/ref/main/trigger/pipeline?token=" + trA.Token
		id := uuid()
		delivered := g.post(t, hook, rawJSON(pushEvent), "X-Gitlab-Event", "Push Hook", "X-Gitlab-Event-UUID", id)
		if delivered.Status != http.StatusCreated || len(g.up.take()) != 1 {
			t.Fatalf("first delivery: %s", delivered)
		}
		other := g.post(t, hook, rawJSON(`{"object_kind":"tag_push"}`), "X-Gitlab-Event", "Tag Push Hook", "X-Gitlab-Event-UUID", id)
		assertJSONAnswer(t, other, http.StatusUnprocessableEntity, reused)
		assertNothingForwarded(t, g.up)
		assertReplayed(t, delivered, g.post(t, hook, rawJSON(pushEvent), "X-Gitlab-Event", "Push Hook", "X-Gitlab-Event-UUID", id))
	})

	t.Run("metrics and usage", func(t *testing.T) {
		if got := g.metricValue(t, "caddy_trigger_gateway_requests_total", "outcome", "idempotency_key_reused"); got != float64(len(refused)+1) {
			t.Errorf("requests_total{outcome=idempotency_key_reused} = %v, want %d", got, len(refused)+1)
		}
		g.wantUsage(t, trA, 2) // the first request and the first delivery
		g.wantUsage(t, trB, 1)
	})
}

// CI job tokens: a key belongs to the job's source project acting on the
// target project, not to the job, so a retried job (a new job, a new
// token) sending its key again is answered from the first; another source
// project's key is its own; a different request gets 422.
func TestIdempotencyJobTokenScope(t *testing.T) {
	t.Parallel()
	signer := jobKey(0, "gitlab-1")
	jwks := newJWKSServer(t, signer)
	g := newGateway(t, config{Gateway: jobTokenBlock(jwks) + `
		project 9 {
			job_token_allow 12 33
		}`})
	const path = "/api/v4/projects/9/trigger/pipeline"
	key := uuid()
	retried := deployJob
	retried.JobID = "7099" // GitLab's retry: the same pipeline, a new job

	firstToken := g.jobToken(t, signer, deployJob, nil)
	first := g.post(t, path, urlencoded("token", firstToken, "ref", "main"), "Idempotency-Key", key)
	if first.Status != http.StatusCreated || len(g.up.take()) != 1 {
		t.Fatalf("first job: %s", first)
	}
	again := g.post(t, path, urlencoded("token", g.jobToken(t, signer, retried, nil), "ref", "main"), "Idempotency-Key", key)
	assertReplayed(t, first, again)
	assertNothingForwarded(t, g.up)

	other := g.post(t, path, urlencoded("token", g.jobToken(t, signer, retried, nil), "ref", "other"), "Idempotency-Key", key)
	assertJSONAnswer(t, other, http.StatusUnprocessableEntity,
		`{"message":"422 Unprocessable Entity - this idempotency key or delivery ID was already used for a different request"}`)
	assertNothingForwarded(t, g.up)

	tool := g.post(t, path, urlencoded("token", g.jobToken(t, signer, toolJob, nil), "ref", "main"), "Idempotency-Key", key)
	if tool.Status != http.StatusCreated || tool.Header.Get("Idempotent-Replayed") != "" || len(g.up.take()) != 1 {
		t.Fatalf("another source project with the same key: %s (Idempotent-Replayed %q), want it forwarded",
			tool, tool.Header.Get("Idempotent-Replayed"))
	}
}
