package caddymodule

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/triggergate/caddy-trigger-gateway/tokenstore"
)

// explainRedactPrefix is the path prefix of the redaction tests' handler,
// served by no other test's handler.
const explainRedactPrefix = "/explain-redact/api/v4"

// explainJSON explains req and decodes the answer; raw is the answer as
// the admin API client gets it, for leak checks.
func explainJSON(t *testing.T, req explainRequest) (got explanation, raw string) {
	t.Helper()
	rec := explainCall(t, mustJSON(t, req))
	raw = rec.Body.String()
	if rec.Code != 200 {
		t.Fatalf("explain: %d %s", rec.Code, raw)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("explanation %s: %v", raw, err)
	}
	if got.Decision != "accepted" || got.Forward == nil {
		t.Fatalf("explanation %s, want an accepted request with what it forwards", raw)
	}
	return got, raw
}

// The explain answer shows every header the upstream would get, but never
// the value of a credential the gateway sets: the artifacts credential,
// whatever header it is configured under, is shown by its name only.
func TestExplainRedactsArtifactsCredential(t *testing.T) {
	const (
		globalSecret   = "deploy-secret-5b1e9c0d"
		projectSecret  = "project-secret-0a7f3e21"
		upstreamSecret = "upstream-secret-93d2c4b8"
	)
	t.Setenv("EXPLAIN_DEPLOY_TOKEN", globalSecret)
	h, _ := jobTokenHandler(t, &Handler{
		PathPrefix: explainRedactPrefix,
		JobTokens:  &JobTokens{ArtifactsHeader: "Deploy-Token", ArtifactsCredential: "{env.EXPLAIN_DEPLOY_TOKEN}"},
		Projects: map[string]*Project{
			"9":  {JobTokenAllow: []string{"12"}},
			"30": {JobTokenAllow: []string{"12"}, ArtifactsHeader: "X-Artifacts-Key", ArtifactsCredential: "static " + projectSecret},
			"40": {UpstreamToken: new(upstreamSecret)},
		},
	})
	jobTok := jobToken(t, "12", "infra/deployer")

	tests := []struct {
		name, project, header string
	}{
		{"global credential under Deploy-Token", "9", "Deploy-Token"},
		{"project credential under a header of its own", "30", "X-Artifacts-Key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, raw := explainJSON(t, explainRequest{Method: "GET",
				URL: explainRedactPrefix + "/projects/" + tt.project + "/jobs/artifacts/main/download?job=build&job_token=" + jobTok})
			for _, secret := range []string{globalSecret, projectSecret, upstreamSecret, jobTok} {
				if strings.Contains(raw, secret) {
					t.Errorf("the explanation holds a secret (%.12s…): %s", secret, raw)
				}
			}
			if v, ok := got.Forward.Headers[tt.header]; !ok || v != redactionMarker {
				t.Errorf("forward header %s = %q (present %v), want it shown by name as %q", tt.header, v, ok, redactionMarker)
			}
			if got.Forward.Headers["X-Trigger-Source"] != "pipeline" {
				t.Errorf("forward headers %v lack the gateway's own X-Trigger-Source", got.Forward.Headers)
			}
		})
	}

	// A configured secret is blanked in any header that holds it, whoever
	// put it there, and the body shows the token by its prefix only.
	t.Run("a header holding a configured secret", func(t *testing.T) {
		_, token := createToken(t, h, "40", "alice")
		got, raw := explainJSON(t, explainRequest{URL: explainRedactPrefix + "/projects/40/trigger/pipeline",
			Headers: map[string]string{"Content-Type": "application/json", "X-Upstream-Auth": "token=" + upstreamSecret},
			Body:    mustJSON(t, map[string]string{"token": token, "ref": "main"})})
		for _, secret := range []string{upstreamSecret, token} {
			if strings.Contains(raw, secret) {
				t.Errorf("the explanation holds a secret (%.12s…): %s", secret, raw)
			}
		}
		if v := got.Forward.Headers["X-Upstream-Auth"]; v != redactionMarker {
			t.Errorf("forward header X-Upstream-Auth = %q, want %q", v, redactionMarker)
		}
		if v := got.Forward.Headers["Content-Type"]; v != "application/json" {
			t.Errorf("forward header Content-Type = %q: only secrets are blanked", v)
		}
	})

	// The caller's own token, wherever else the request carries it (a
	// webhook payload's field, a variable, a header of its own), is shown
	// nowhere past its prefix: the upstream gets it, the explanation not.
	t.Run("the caller's token elsewhere in the request", func(t *testing.T) {
		_, token := createToken(t, h, "40", "alice")
		got, raw := explainJSON(t, explainRequest{URL: explainRedactPrefix + "/projects/40/trigger/pipeline",
			Headers: map[string]string{"Content-Type": "application/json", "X-Caller-Copy": token},
			Body: mustJSON(t, map[string]any{"token": token, "ref": "main", "variables": map[string]string{"COPY": token},
				"object_attributes": map[string]string{"token": token}})})
		if strings.Contains(raw, token) {
			t.Errorf("the explanation holds the caller's token: %s", raw)
		}
		if v := got.Forward.Headers["X-Caller-Copy"]; v != redactionMarker {
			t.Errorf("forward header X-Caller-Copy = %q, want %q", v, redactionMarker)
		}
	})
}

// Explain judges a token's expiry at the time of the explanation, as
// serving judges it at the request's: an expired token is refused with
// the 404 a served request gets, not shown as accepted.
func TestExplainRefusesExpiredToken(t *testing.T) {
	const prefix = "/explain-expiry/api/v4"
	h := provisionHandler(t, &Handler{PathPrefix: prefix}, "")
	expires := time.Now().Add(50 * time.Millisecond)
	_, token, err := h.gateway.store.Create(context.Background(), tokenstore.CreateRequest{
		Project: "9", Description: "expiring", Owner: "alice", ExpiresAt: &expires,
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(expires) + 10*time.Millisecond)
	req := explainRequest{URL: prefix + "/projects/9/trigger/pipeline?ref=main&token=" + token}

	rec := explainCall(t, mustJSON(t, req))
	var got explanation
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("explanation %s: %v", rec.Body, err)
	}
	served, _, _ := serve(h, httptest.NewRequest(http.MethodPost, req.URL, nil), &recorder{})
	if served.Code != http.StatusNotFound {
		t.Fatalf("served: %d %s, want 404 for an expired token", served.Code, served.Body)
	}
	if got.Decision != resultRefused || got.Status != http.StatusNotFound || got.Reason != "expired_token" || got.Forward != nil {
		t.Errorf("explanation %s, want refused 404 expired_token, as served", rec.Body)
	}
}

// Explain takes any request the handler would read: a body up to
// max_body (a webhook's push payload easily passes 64 KiB) is explained
// as served, and one past it is explained as the 413 serving answers.
func TestExplainLargeBodies(t *testing.T) {
	const prefix = "/explain-large/api/v4"
	h := provisionHandler(t, &Handler{PathPrefix: prefix}, "")
	_, token := createToken(t, h, "9", "alice")
	payload := func(size int) string {
		return mustJSON(t, map[string]any{"token": token, "ref": "main", "commits": strings.Repeat("c", size)})
	}
	tests := []struct {
		name     string
		size     int
		decision string
		status   int
	}{
		{"200 KiB, within max_body", 200 << 10, resultAccepted, 0},
		{"past max_body", DefaultMaxBody + 1, resultRefused, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := explainCall(t, mustJSON(t, explainRequest{URL: prefix + "/projects/9/trigger/pipeline",
				Headers: map[string]string{"Content-Type": "application/json"}, Body: payload(tt.size)}))
			var got explanation
			if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &got) != nil {
				t.Fatalf("explain: %d %.300s", rec.Code, rec.Body)
			}
			if got.Decision != tt.decision || got.Status != tt.status {
				t.Errorf("explained %s %d, want %s %d", got.Decision, got.Status, tt.decision, tt.status)
			}
		})
	}
}

// Explain tells a repeat from a first request as serving does, without
// claiming its key: a key already answered is explained as replayed (its
// first answer's status, nothing to forward), and a key answered for a
// different request as the 422 serving gives.
func TestExplainRepeats(t *testing.T) {
	const prefix = "/explain-repeats/api/v4"
	h := provisionHandler(t, &Handler{PathPrefix: prefix}, "")
	_, token := createToken(t, h, "9", "alice")
	pipeline := prefix + "/projects/9/trigger/pipeline"
	key := idemKey()
	body := func(ref string) string { return mustJSON(t, map[string]string{"token": token, "ref": ref}) }
	first := httptest.NewRequest(http.MethodPost, pipeline, strings.NewReader(body("main")))
	first.Header.Set("Content-Type", "application/json")
	first.Header.Set("Idempotency-Key", key)
	next := &recorder{}
	if w, _, err := serve(h, first, next); err != nil || w.Code != http.StatusCreated || next.calls != 1 {
		t.Fatalf("first request: %d, %v, %d forwarded", w.Code, err, next.calls)
	}

	explain := func(ref, key string) (explanation, string) {
		rec := explainCall(t, mustJSON(t, explainRequest{URL: pipeline, Body: body(ref),
			Headers: map[string]string{"Content-Type": "application/json", "Idempotency-Key": key}}))
		var got explanation
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &got) != nil {
			t.Fatalf("explain: %d %s", rec.Code, rec.Body)
		}
		return got, rec.Body.String()
	}
	t.Run("the same request: replayed", func(t *testing.T) {
		got, raw := explain("main", key)
		if got.Decision != resultAccepted || !got.Replayed || got.Status != http.StatusCreated || got.Forward != nil {
			t.Errorf("explanation %s, want accepted, replayed with the first answer's 201, nothing to forward", raw)
		}
	})
	t.Run("another request under the key: 422", func(t *testing.T) {
		got, raw := explain("other", key)
		if got.Decision != resultRefused || got.Status != http.StatusUnprocessableEntity || got.Reason != "idempotency_key_reused" || got.Forward != nil {
			t.Errorf("explanation %s, want refused 422 idempotency_key_reused", raw)
		}
	})
	t.Run("a new key: forwarded, and not claimed", func(t *testing.T) {
		fresh := idemKey()
		if got, raw := explain("main", fresh); got.Decision != resultAccepted || got.Replayed || got.Forward == nil {
			t.Errorf("explanation %s, want accepted and forwarded", raw)
		}
		again := httptest.NewRequest(http.MethodPost, pipeline, strings.NewReader(body("main")))
		again.Header.Set("Content-Type", "application/json")
		again.Header.Set("Idempotency-Key", fresh)
		if w, _, _ := serve(h, again, next); w.Code != http.StatusCreated || next.calls != 2 {
			t.Errorf("served after the explanation: %d, %d forwarded, want it forwarded", w.Code, next.calls)
		}
	})
	if next.calls != 2 {
		t.Errorf("%d requests forwarded, want 2", next.calls)
	}
}
