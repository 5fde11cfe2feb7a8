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

func TestFailedAuthLimit(t *testing.T) {
	h := provisionHandler(t, &Handler{FailedAuthLimit: 3, FailedAuthWindow: caddy.Duration(time.Hour)}, "")
	_, token := createToken(t, h, "9", "alice")
	const wrong = "glptt-0000000000000000000000000000000000000000"

	tests := []struct {
		name       string
		ip, token  string
		wantStatus int
	}{
		{"first failure", "198.51.100.1", wrong, http.StatusNotFound},
		{"second failure", "198.51.100.1", wrong, http.StatusNotFound},
		{"a valid token does not reset the count", "198.51.100.1", token, http.StatusCreated},
		{"third failure reaches the limit", "198.51.100.1", wrong, http.StatusNotFound},
		{"over the limit, even with a valid token", "198.51.100.1", token, http.StatusTooManyRequests},
		{"over the limit", "198.51.100.1", wrong, http.StatusTooManyRequests},
		{"another client is not affected", "198.51.100.2", token, http.StatusCreated},
		{"another client's failures count for it alone", "198.51.100.2", wrong, http.StatusNotFound},
	}
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
		w, _, _ := serve(h, requestFrom("198.51.100.9", "glptt-0000000000000000000000000000000000000000"), new(recorder))
		if w.Code != http.StatusNotFound {
			t.Fatalf("status %d with the limit off", w.Code)
		}
	}
}
