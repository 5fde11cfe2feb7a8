package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// requestFrom is a trigger request from a client IP as Caddy determined it
// (after trusted_proxies), with the vars table Caddy's server sets up.
func requestFrom(ip, token string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/api/v4/projects/9/trigger/pipeline?ref=main&token="+token, nil)
	ctx := context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: ip})
	return r.WithContext(ctx)
}

// failedAuthCase is one request of a failed-authentication limit table.
type failedAuthCase struct {
	name       string
	ip, token  string
	wantStatus int
}

// runFailedAuthCases sends the table's requests in order to h, checking
// each status and that a 429 is GitLab's, with Retry-After, counted and
// not forwarded.
func runFailedAuthCases(t *testing.T, h *Handler, tests []failedAuthCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := new(recorder)
			w, repl, err := serve(h, requestFrom(tt.ip, tt.token), next)
			if err != nil {
				t.Fatal(err)
			}
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d (%s)", w.Code, tt.wantStatus, w.Body)
			}
			if tt.wantStatus != http.StatusTooManyRequests {
				return
			}
			if next.calls != 0 {
				t.Errorf("a limited request reached the upstream")
			}
			if w.Body.String() != `{"message":"429 Too Many Requests"}` {
				t.Errorf("body %s", w.Body)
			}
			retry, err := strconv.Atoi(w.Header().Get("Retry-After"))
			if err != nil || retry <= 0 || retry > 3600 {
				t.Errorf("Retry-After %q, want seconds until the window ends", w.Header().Get("Retry-After"))
			}
			if outcome, _ := repl.GetString("http.trigger.outcome"); outcome != "rate_limited" {
				t.Errorf("outcome %q", outcome)
			}
		})
	}
}

// wrongToken is a well-formed trigger token that no trigger has.
const wrongToken = "glptt-0000000000000000000000000000000000000000"

func TestFailedAuthLimit(t *testing.T) {
	h := provisionHandler(t, &Handler{FailedAuthLimit: 3, FailedAuthWindow: caddy.Duration(time.Hour)}, "")
	_, token := createToken(t, h, "9", "alice")
	runFailedAuthCases(t, h, []failedAuthCase{
		{"first failure", "198.51.100.1", wrongToken, http.StatusNotFound},
		{"second failure", "198.51.100.1", wrongToken, http.StatusNotFound},
		{"a valid token does not reset the count", "198.51.100.1", token, http.StatusCreated},
		{"third failure reaches the limit", "198.51.100.1", wrongToken, http.StatusNotFound},
		{"over the limit, even with a valid token", "198.51.100.1", token, http.StatusTooManyRequests},
		{"over the limit", "198.51.100.1", wrongToken, http.StatusTooManyRequests},
		{"another client is not affected", "198.51.100.2", token, http.StatusCreated},
		{"another client's failures count for it alone", "198.51.100.2", wrongToken, http.StatusNotFound},
	})
}

func TestFailedAuthClient(t *testing.T) {
	tests := []struct{ ip, want string }{
		{"198.51.100.1", "198.51.100.1"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::ffff", "2001:db8:1:2::/64"}, // the same host's /64
		{"2001:DB8:1:2::1", "2001:db8:1:2::/64"},    // spelled otherwise
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},    // the next /64: another client
		{"fe80::1%eth0", "fe80::/64"},
		{"::ffff:198.51.100.1", "198.51.100.1"}, // IPv4-mapped: its IPv4 address
		{"::1", "::/64"},
		{"not an address", "not an address"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := failedAuthClient(tt.ip); got != tt.want {
			t.Errorf("failedAuthClient(%q) = %q, want %q", tt.ip, got, tt.want)
		}
	}
	if allocs := testing.AllocsPerRun(10, func() { failedAuthClient("198.51.100.1") }); allocs != 0 {
		t.Errorf("an IPv4 client: %v allocations, want none", allocs)
	}
}

// An IPv6 host can send each request from another address of its /64: the
// limit counts the /64, so that does not get around it.
func TestFailedAuthLimitIPv6(t *testing.T) {
	h := provisionHandler(t, &Handler{FailedAuthLimit: 3, FailedAuthWindow: caddy.Duration(time.Hour)}, "")
	_, token := createToken(t, h, "9", "alice")
	runFailedAuthCases(t, h, []failedAuthCase{
		{"first failure", "2001:db8:0:1::1", wrongToken, http.StatusNotFound},
		{"second, from another address of the /64", "2001:db8:0:1::2", wrongToken, http.StatusNotFound},
		{"third, from yet another", "2001:db8:0:1:ffff:ffff:ffff:ffff", wrongToken, http.StatusNotFound},
		{"a new address of the /64 is over the limit", "2001:db8:0:1:1234::9", token, http.StatusTooManyRequests},
		{"the next /64 is not affected", "2001:db8:0:2::1", token, http.StatusCreated},
	})
}

func TestFailedAuthLimiterWindow(t *testing.T) {
	l := newFailedAuthLimiter(2, time.Minute)
	start := time.Unix(1000, 0)
	l.failed("a", start)
	l.failed("a", start.Add(time.Second))
	if wait := l.retryAfter("a", start.Add(2*time.Second)); wait != 58*time.Second {
		t.Errorf("retryAfter = %v, want 58s", wait)
	}
	if wait := l.retryAfter("a", start.Add(time.Minute)); wait != 0 {
		t.Errorf("after the window: retryAfter = %v, want 0", wait)
	}
	l.failed("a", start.Add(time.Minute)) // a new window starts
	if wait := l.retryAfter("a", start.Add(time.Minute+time.Second)); wait != 0 {
		t.Errorf("one failure in a new window: retryAfter = %v, want 0", wait)
	}
	if wait := l.retryAfter("b", start); wait != 0 {
		t.Errorf("unknown client: retryAfter = %v", wait)
	}
}

func TestFailedAuthLimitOff(t *testing.T) {
	h := provisionHandler(t, &Handler{FailedAuthLimit: 1, DisableFailedAuthLimit: true}, "")
	for range 5 {
		w, _, _ := serve(h, requestFrom("198.51.100.9", wrongToken), new(recorder))
		if w.Code != http.StatusNotFound {
			t.Fatalf("status %d with the limit off", w.Code)
		}
	}
}

// A reload provisions the new handler before cleaning up the old one: with
// the same storage and settings it finds the counts there, so a client over
// its limit stays limited; other settings start afresh, and so does a
// handler provisioned after the last one using the limiter is gone.
func TestFailedAuthLimitSurvivesReload(t *testing.T) {
	dir := t.TempDir()
	settings := func() *Handler {
		return &Handler{FailedAuthLimit: 2, FailedAuthWindow: caddy.Duration(time.Hour)}
	}
	status := func(h *Handler, ip string) int {
		t.Helper()
		w, _, err := serve(h, requestFrom(ip, wrongToken), new(recorder))
		if err != nil {
			t.Fatal(err)
		}
		return w.Code
	}
	limited := func() float64 {
		return counterValue(t, gatewayMetrics.failedAuthLimited.WithLabelValues("pipeline"))
	}

	old := provisionHandler(t, settings(), dir)
	for range 2 {
		if got := status(old, "198.51.100.1"); got != http.StatusNotFound {
			t.Fatalf("failure below the limit: status %d", got)
		}
	}
	before := limited()
	if got := status(old, "198.51.100.1"); got != http.StatusTooManyRequests {
		t.Fatalf("over the limit: status %d", got)
	}

	// The reload: the new handler first, then the old one goes.
	reloaded := provisionHandler(t, settings(), dir)
	if err := old.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if got := status(reloaded, "198.51.100.1"); got != http.StatusTooManyRequests {
		t.Errorf("after a reload with the same settings: status %d, want 429 (the count must survive)", got)
	}
	if got := status(reloaded, "198.51.100.2"); got != http.StatusNotFound {
		t.Errorf("another client after the reload: status %d", got)
	}
	if got := limited() - before; got != 2 {
		t.Errorf("failed_auth_limited_total{route=pipeline} grew by %v, want 2", got)
	}

	changed := provisionHandler(t, &Handler{FailedAuthLimit: 3, FailedAuthWindow: caddy.Duration(time.Hour)}, dir)
	if got := status(changed, "198.51.100.1"); got != http.StatusNotFound {
		t.Errorf("other settings: status %d, want 404 (a new limiter)", got)
	}

	if err := reloaded.Cleanup(); err != nil {
		t.Fatal(err)
	}
	fresh := provisionHandler(t, settings(), dir)
	if got := status(fresh, "198.51.100.1"); got != http.StatusNotFound {
		t.Errorf("after the last user of the limiter was cleaned up: status %d, want 404", got)
	}
}

// What naming a request's client for the failed-authentication limit
// costs, from the address Caddy determined: nothing for IPv4, a parse and
// the /64's text for IPv6.
func BenchmarkFailedAuthClient(b *testing.B) {
	for _, ip := range []string{"198.51.100.1", "2001:db8:1:2:3:4:5:6"} {
		b.Run(ip, func(b *testing.B) {
			r := requestFrom(ip, wrongToken)
			b.ReportAllocs()
			for b.Loop() {
				failedAuthClient(clientIP(r))
			}
		})
	}
}
