package caddymodule

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// idemKey returns a fresh idempotency key or delivery ID.
func idemKey() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// idemResult is what a caller got.
type idemResult struct {
	status   int
	body     string
	replayed string // the Idempotent-Replayed header
	outcome  string
}

// idemSend sends a POST to target with the headers (name, value pairs).
func idemSend(t *testing.T, h *Handler, next *scriptedNext, target, body string, headers ...string) idemResult {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w, repl, err := serve(h, r, next)
	if err != nil {
		t.Fatalf("ServeHTTP: %v", err)
	}
	outcome, _ := repl.GetString("http.trigger.outcome")
	return idemResult{status: w.Code, body: w.Body.String(), replayed: w.Header().Get(headerReplayed), outcome: outcome}
}

// A repeat with the same Idempotency-Key, or a webhook delivery with the
// same ID, answers as the first did, reaches the next handler once, counts
// one use, and is counted in caddy_trigger_gateway_idempotency_total.
func TestServeHTTPIdempotentRepeats(t *testing.T) {
	h := provisionHandler(t, &Handler{}, "")
	trigger, token := createToken(t, h, "9", "alice")
	pipeline := "/api/v4/projects/9/trigger/pipeline?ref=main&token=" + token
	webhook := "/api/v4/projects/9/ref/main/trigger/pipeline?token=" + token
	const push = `{"object_kind":"push","ref":"refs/heads/main"}`
	saved := gatewayMetrics.repeats.WithLabelValues("saved")
	replayed := gatewayMetrics.repeats.WithLabelValues("replayed")

	tests := []struct {
		name, target, body, header string
	}{
		{"Idempotency-Key, pipeline route", pipeline, "", "Idempotency-Key"},
		{"Idempotency-Key, webhook route", webhook, push, "Idempotency-Key"},
		{"X-Gitlab-Event-UUID, webhook route", webhook, push, "X-Gitlab-Event-UUID"},
		{"X-Gitlab-Event-UUID, pipeline route", pipeline, push, "X-Gitlab-Event-UUID"},
		{"X-GitHub-Delivery, webhook route", webhook, push, "X-GitHub-Delivery"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			savedBefore, replayedBefore := policyCounter(t, saved), policyCounter(t, replayed)
			next := &scriptedNext{}
			key := idemKey()
			first := idemSend(t, h, next, tt.target, tt.body, tt.header, key)
			if first.status != http.StatusCreated || first.replayed != "" || first.outcome != "accepted" {
				t.Fatalf("first: %+v, want 201 accepted, not replayed", first)
			}
			for range 2 {
				again := idemSend(t, h, next, tt.target, tt.body, tt.header, key)
				if again.status != first.status || again.body != first.body || again.replayed != "true" || again.outcome != "replayed" {
					t.Errorf("repeat: %+v, want the first answer %q replayed", again, first.body)
				}
			}
			if got := next.count(); got != 1 {
				t.Errorf("the next handler was called %d times, want 1", got)
			}
			if got := policyCounter(t, saved) - savedBefore; got != 1 {
				t.Errorf("idempotency_total{result=saved} grew by %v, want 1", got)
			}
			if got := policyCounter(t, replayed) - replayedBefore; got != 2 {
				t.Errorf("idempotency_total{result=replayed} grew by %v, want 2", got)
			}
			_, usage, err := h.gateway.store.Get(context.Background(), trigger.ID)
			if err != nil {
				t.Fatal(err)
			}
			if usage.UseCount != int64(i+1) {
				t.Errorf("use_count %d, want %d: a replay triggers nothing and is no use", usage.UseCount, i+1)
			}
		})
	}
}

// Five deliveries of one webhook at once: one reaches the next handler,
// every caller gets its answer.
func TestServeHTTPIdempotentConcurrentRepeats(t *testing.T) {
	h := provisionHandler(t, &Handler{}, "")
	_, token := createToken(t, h, "9", "alice")
	next := &scriptedNext{wait: make(chan struct{})}
	uuid := idemKey()
	const n = 5
	results := make([]idemResult, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = idemSend(t, h, next, "/api/v4/projects/9/ref/main/trigger/pipeline?token="+token,
				`{"object_kind":"push"}`, "X-Gitlab-Event-UUID", uuid)
		}()
	}
	time.Sleep(200 * time.Millisecond) // every delivery is in: one forwarded, the others waiting
	close(next.wait)
	wg.Wait()

	if got := next.count(); got != 1 {
		t.Fatalf("the next handler was called %d times, want 1", got)
	}
	var repeats int
	for _, res := range results {
		if res.status != http.StatusCreated || res.body != results[0].body {
			t.Errorf("a caller got %+v, want 201 %s", res, results[0].body)
		}
		if res.replayed == "true" {
			repeats++
		}
	}
	if repeats != n-1 {
		t.Errorf("%d answers marked Idempotent-Replayed, want %d", repeats, n-1)
	}
}

// An answer that says the request may be retried is not kept: the retry
// is forwarded. Other answers are kept and replayed.
func TestServeHTTPIdempotencyKeepsOnlyFinalAnswers(t *testing.T) {
	h := provisionHandler(t, &Handler{}, "")
	_, token := createToken(t, h, "9", "alice")
	target := "/api/v4/projects/9/trigger/pipeline?ref=main&token=" + token

	tests := []struct {
		name        string
		first       int // the upstream's first answer; 0: unreachable
		wantFirst   int // what the caller gets for it
		wantRetried bool
	}{
		{"500", 500, 500, true},
		{"503", 503, 503, true},
		{"unreachable upstream", 0, 502, true},
		{"429 Too Many Requests", 429, 429, true},
		{"400 is final", 400, 400, false},
		{"404 is final", 404, 404, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := &scriptedNext{statuses: []int{tt.first, http.StatusCreated}}
			key := idemKey()
			first := idemSend(t, h, next, target, "", "Idempotency-Key", key)
			if first.status != tt.wantFirst {
				t.Fatalf("first answer %+v, want %d", first, tt.wantFirst)
			}
			retry := idemSend(t, h, next, target, "", "Idempotency-Key", key)
			third := idemSend(t, h, next, target, "", "Idempotency-Key", key)
			if tt.wantRetried {
				if next.count() != 2 || retry.status != http.StatusCreated || retry.replayed != "" {
					t.Fatalf("retry after a %d answer: %+v with %d upstream calls; want it forwarded again, "+
						"since the first answer tells the caller to retry", tt.wantFirst, retry, next.count())
				}
				if third.replayed != "true" || third.status != http.StatusCreated || third.body != retry.body {
					t.Errorf("after the retry's 201: %+v, want it replayed", third)
				}
				return
			}
			if next.count() != 1 {
				t.Errorf("the next handler was called %d times, want 1", next.count())
			}
			for _, again := range []idemResult{retry, third} {
				if again.status != first.status || again.body != first.body || again.replayed != "true" {
					t.Errorf("repeat %+v, want the first answer %d %s replayed", again, first.status, first.body)
				}
			}
		})
	}
}

func TestFinalAnswer(t *testing.T) {
	for status, want := range map[int]bool{
		200: true, 201: true, 204: true, 400: true, 403: true, 404: true, 409: true, 422: true,
		301: false, 302: false, 304: false, 408: false, 425: false, 429: false, statusClientClosed: false,
		500: false, 502: false, 503: false, 504: false,
	} {
		if got := finalAnswer(status); got != want {
			t.Errorf("finalAnswer(%d) = %v, want %v", status, got, want)
		}
	}
}

// Only an answer the CI gave is kept. When the caller gives up first,
// Caddy 2.11's reverse_proxy writes 499 for its access log and returns no
// error: that status, or any written after the caller's context ended, is
// not the CI's answer, and the retry must reach the CI. A CI's answer
// written before the caller left is kept.
func TestServeHTTPIdempotencyCallerGaveUp(t *testing.T) {
	h := provisionHandler(t, &Handler{}, "")
	_, token := createToken(t, h, "9", "alice")
	target := "/api/v4/projects/9/trigger/pipeline?ref=main&token=" + token
	answer := func(w http.ResponseWriter, status int) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"id":1}`))
	}

	tests := []struct {
		name      string
		first     func(w http.ResponseWriter, r *http.Request, callerLeaves func())
		wantKept  bool
		wantFirst int
	}{
		{"499 after the caller left, as reverse_proxy writes it", func(w http.ResponseWriter, r *http.Request, leave func()) {
			leave()
			<-r.Context().Done()
			w.WriteHeader(statusClientClosed)
		}, false, statusClientClosed},
		{"a 201 written after the caller left", func(w http.ResponseWriter, r *http.Request, leave func()) {
			leave()
			answer(w, http.StatusCreated)
		}, false, http.StatusCreated},
		{"499 with the caller still there", func(w http.ResponseWriter, r *http.Request, _ func()) {
			w.WriteHeader(statusClientClosed)
		}, false, statusClientClosed},
		{"the CI's 201, then the caller left", func(w http.ResponseWriter, r *http.Request, leave func()) {
			answer(w, http.StatusCreated)
			leave()
		}, true, http.StatusCreated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := idemKey()
			ctx, leave := context.WithCancel(context.Background())
			defer leave()
			r := httptest.NewRequest(http.MethodPost, target, nil).WithContext(ctx)
			r.Header.Set("Idempotency-Key", key)
			first := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				tt.first(w, r, leave)
				return nil
			})
			w, _, err := serve(h, r, first)
			if err != nil || w.Code != tt.wantFirst {
				t.Fatalf("first: %d, %v; want %d", w.Code, err, tt.wantFirst)
			}

			next := &scriptedNext{}
			retry := idemSend(t, h, next, target, "", "Idempotency-Key", key)
			if tt.wantKept {
				if next.count() != 0 || retry.replayed != "true" || retry.status != http.StatusCreated {
					t.Fatalf("retry: %+v with %d calls, want the CI's first answer replayed", retry, next.count())
				}
				return
			}
			if next.count() != 1 || retry.replayed != "" || retry.status != http.StatusCreated {
				t.Fatalf("retry: %+v with %d calls, want it forwarded: the first got no answer from the CI", retry, next.count())
			}
		})
	}
}

// What a key covers: one principal (a trigger token, here), one source,
// one request (the same key for another request is refused with 422);
// refused requests claim nothing; a repeat is authenticated like any
// request before it is answered from the first.
func TestServeHTTPIdempotencyKeyScope(t *testing.T) {
	h := provisionHandler(t, &Handler{Projects: map[string]*Project{"9": {Aliases: []string{"group/app"}}}}, "")
	_, token9 := createToken(t, h, "9", "alice")
	_, token10 := createToken(t, h, "10", "bob")
	_, token9other := createToken(t, h, "9", "carol")
	p9 := "/api/v4/projects/9/trigger/pipeline?ref=main&token=" + token9
	p9other := "/api/v4/projects/9/trigger/pipeline?token=" + token9other
	p10 := "/api/v4/projects/10/trigger/pipeline?ref=main&token=" + token10

	type step struct {
		target, body string
		headers      []string
		wantStatus   int
		wantReplayed bool
		wantOutcome  string
		wantBody     string // when set, the answer's body
	}
	key := idemKey
	tests := []struct {
		name      string
		steps     func(k string) []step
		wantCalls int
	}{
		{"same key, two projects", func(k string) []step {
			return []step{
				{target: p9, headers: []string{"Idempotency-Key", k}, wantStatus: 201, wantOutcome: "accepted"},
				{target: p10, headers: []string{"Idempotency-Key", k}, wantStatus: 201, wantOutcome: "accepted"},
				{target: p10, headers: []string{"Idempotency-Key", k}, wantStatus: 201, wantReplayed: true, wantOutcome: "replayed"},
			}
		}, 2},
		{"an alias shares its project's keys", func(k string) []step {
			return []step{
				{target: p9, headers: []string{"Idempotency-Key", k}, wantStatus: 201, wantOutcome: "accepted"},
				{target: "/api/v4/projects/group%2Fapp/trigger/pipeline?ref=main&token=" + token9,
					headers: []string{"Idempotency-Key", k}, wantStatus: 201, wantReplayed: true, wantOutcome: "replayed"},
			}
		}, 1},
		{"same value, header and delivery ID", func(k string) []step {
			return []step{
				{target: p9, headers: []string{"Idempotency-Key", k}, wantStatus: 201, wantOutcome: "accepted"},
				{target: p9, headers: []string{"X-Gitlab-Event-UUID", k}, wantStatus: 201, wantOutcome: "accepted"},
			}
		}, 2},
		{"a refused request claims nothing", func(k string) []step {
			return []step{
				{target: p9, body: jsonVars(token9, "main", map[string]string{"CI_X": "1"}),
					headers: []string{"Idempotency-Key", k}, wantStatus: 400, wantOutcome: "protected_variable"},
				{target: p9, headers: []string{"Idempotency-Key", k}, wantStatus: 201, wantOutcome: "accepted"},
			}
		}, 1},
		{"a key reused for another request is refused", func(k string) []step {
			return []step{
				{target: p9, headers: []string{"Idempotency-Key", k}, wantStatus: 201, wantOutcome: "accepted"},
				{target: p9, body: jsonVars(token9, "other", map[string]string{}),
					headers: []string{"Idempotency-Key", k}, wantStatus: 422, wantOutcome: "idempotency_key_reused"},
				{target: p9, body: jsonVars(token9, "main", map[string]string{"A": "b"}),
					headers: []string{"Idempotency-Key", k}, wantStatus: 422, wantOutcome: "idempotency_key_reused"},
				{target: p9, headers: []string{"Idempotency-Key", k}, wantStatus: 201, wantReplayed: true, wantOutcome: "replayed"},
			}
		}, 1},
		{"the same request in another form is replayed", func(k string) []step {
			return []step{
				{target: p9, headers: []string{"Idempotency-Key", k}, wantStatus: 201, wantOutcome: "accepted"},
				{target: "/api/v4/projects/9/trigger/pipeline", body: jsonVars(token9, "refs/heads/main", map[string]string{}),
					headers: []string{"Idempotency-Key", k}, wantStatus: 201, wantReplayed: true, wantOutcome: "replayed"},
			}
		}, 1},
		{"another token of the project has its own keys", func(k string) []step {
			return []step{
				{target: p9, headers: []string{"Idempotency-Key", k}, wantStatus: 201, wantOutcome: "accepted"},
				{target: p9other + "&ref=other", headers: []string{"Idempotency-Key", k}, wantStatus: 201, wantOutcome: "accepted"},
				{target: p9other + "&ref=other", headers: []string{"Idempotency-Key", k}, wantStatus: 201, wantReplayed: true, wantOutcome: "replayed"},
			}
		}, 2},
		{"a repeat with a bad token is refused, not replayed", func(k string) []step {
			return []step{
				{target: p9, headers: []string{"Idempotency-Key", k}, wantStatus: 201, wantOutcome: "accepted"},
				{target: "/api/v4/projects/9/trigger/pipeline?ref=main&token=glptt-0000000000000000000000000000000000000000",
					headers: []string{"Idempotency-Key", k}, wantStatus: 404, wantOutcome: "unknown_token"},
				{target: p10, headers: []string{"Idempotency-Key", k}, wantStatus: 201, wantOutcome: "accepted"},
			}
		}, 2},
		{"a key of 255 bytes", func(string) []step {
			k := strings.Repeat("k", 255)
			return []step{
				{target: p10, headers: []string{"Idempotency-Key", k}, wantStatus: 201, wantOutcome: "accepted"},
				{target: p10, headers: []string{"Idempotency-Key", k}, wantStatus: 201, wantReplayed: true, wantOutcome: "replayed"},
			}
		}, 1},
		{"a key of 256 bytes", func(string) []step {
			return []step{
				{target: p9, headers: []string{"Idempotency-Key", strings.Repeat("k", 256)}, wantStatus: 400, wantOutcome: "invalid_idempotency_key",
					wantBody: `{"error":"Idempotency-Key is too long (at most 255 bytes)"}`},
				{target: p9, headers: []string{"X-Gitlab-Event-UUID", strings.Repeat("u", 256)}, wantStatus: 400, wantOutcome: "invalid_idempotency_key",
					wantBody: `{"error":"X-Gitlab-Event-UUID is too long (at most 255 bytes)"}`},
				{target: p9, headers: []string{"X-GitHub-Delivery", strings.Repeat("d", 256)}, wantStatus: 400, wantOutcome: "invalid_idempotency_key",
					wantBody: `{"error":"X-GitHub-Delivery is too long (at most 255 bytes)"}`},
			}
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := &scriptedNext{}
			for i, s := range tt.steps(key()) {
				got := idemSend(t, h, next, s.target, s.body, s.headers...)
				if got.status != s.wantStatus || (got.replayed == "true") != s.wantReplayed || got.outcome != s.wantOutcome ||
					(s.wantBody != "" && got.body != s.wantBody) {
					t.Errorf("step %d: %+v, want %d, replayed %v, outcome %s", i+1, got, s.wantStatus, s.wantReplayed, s.wantOutcome)
				}
			}
			if got := next.count(); got != tt.wantCalls {
				t.Errorf("the next handler was called %d times, want %d", got, tt.wantCalls)
			}
		})
	}
}

// idempotency_window off: repeats are forwarded like any request, and the
// key's length is not checked.
func TestServeHTTPIdempotencyOff(t *testing.T) {
	h := provisionHandler(t, &Handler{DisableIdempotency: true}, "")
	_, token := createToken(t, h, "9", "alice")
	target := "/api/v4/projects/9/trigger/pipeline?ref=main&token=" + token
	next := &scriptedNext{}
	for _, key := range []string{"same", "same", strings.Repeat("k", 300)} {
		got := idemSend(t, h, next, target, "", "Idempotency-Key", key, "X-Gitlab-Event-UUID", key)
		if got.status != http.StatusCreated || got.replayed != "" || got.outcome != "accepted" {
			t.Errorf("key %.10s: %+v, want forwarded", key, got)
		}
	}
	if got := next.count(); got != 3 {
		t.Errorf("the next handler was called %d times, want 3", got)
	}
}

// After the window, a repeat is a new request.
func TestServeHTTPIdempotencyWindowEnds(t *testing.T) {
	h := provisionHandler(t, &Handler{IdempotencyWindow: caddy.Duration(time.Second)}, "")
	_, token := createToken(t, h, "9", "alice")
	assertWindow(t, h, token, time.Second)
}

// assertWindow checks that a repeat within window is replayed and one
// after it forwarded.
func assertWindow(t *testing.T, h *Handler, token string, window time.Duration) {
	t.Helper()
	target := "/api/v4/projects/9/trigger/pipeline?ref=main&token=" + token
	next := &scriptedNext{}
	key := idemKey()
	start := time.Now()
	idemSend(t, h, next, target, "", "Idempotency-Key", key)
	if got := idemSend(t, h, next, target, "", "Idempotency-Key", key); got.replayed != "true" && time.Since(start) < window {
		t.Errorf("repeat within the window: %+v, want replayed", got)
	}
	time.Sleep(time.Until(start.Add(window + 300*time.Millisecond)))
	if got := idemSend(t, h, next, target, "", "Idempotency-Key", key); got.replayed != "" || got.status != http.StatusCreated {
		t.Errorf("repeat after the window: %+v, want forwarded", got)
	}
	if got := next.count(); got != 2 {
		t.Errorf("the next handler was called %d times, want 2", got)
	}
}

// A reload that changes idempotency_window applies the new window, as it
// would any other setting of the new config.
func TestIdempotencyWindowChangedByReload(t *testing.T) {
	dir := t.TempDir()
	old := provisionHandler(t, &Handler{}, dir) // the default window, 24h
	_, token := createToken(t, old, "9", "alice")
	reloaded := provisionHandler(t, &Handler{IdempotencyWindow: caddy.Duration(time.Second)}, dir)
	if err := old.Cleanup(); err != nil {
		t.Fatal(err)
	}
	assertWindow(t, reloaded, token, time.Second)
}

// The window holds across instances: a repeat reaching another instance
// that shares the storage is answered from the first instance's answer.
func TestIdempotencySharedThroughStorage(t *testing.T) {
	dir := t.TempDir()
	// The same files under another name: another store, as another
	// instance of the cluster would have.
	link := filepath.Join(t.TempDir(), "same-storage")
	if err := os.Symlink(dir, link); err != nil {
		t.Skipf("symlinks unavailable: %v", err)
	}
	a := provisionHandler(t, &Handler{}, dir)
	b := provisionHandler(t, &Handler{}, link)
	if a.gateway == b.gateway {
		t.Fatal("both handlers share one store; the test needs two")
	}
	_, token := createToken(t, a, "9", "alice")
	target := "/api/v4/projects/9/ref/main/trigger/pipeline?token=" + token
	uuid := idemKey()
	nextA, nextB := &scriptedNext{}, &scriptedNext{}
	first := idemSend(t, a, nextA, target, `{"object_kind":"push"}`, "X-Gitlab-Event-UUID", uuid)
	again := idemSend(t, b, nextB, target, `{"object_kind":"push"}`, "X-Gitlab-Event-UUID", uuid)
	if first.status != http.StatusCreated || nextA.count() != 1 {
		t.Fatalf("first delivery: %+v, %d calls", first, nextA.count())
	}
	if nextB.count() != 0 || again.replayed != "true" || again.body != first.body {
		t.Errorf("repeat on the other instance: %+v with %d calls there, want the first answer replayed", again, nextB.count())
	}
}
