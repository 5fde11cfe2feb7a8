package integration

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// rateLimitConfig lowers the failed-authentication limit to 5 a minute.
const rateLimitConfig = "failed_auth_limit 5 1m"

// limitedAnswer is the answer to a client over its limit.
const limitedAnswer = `{"message":"429 Too Many Requests"}`

// clientFrom is an HTTP client whose connections leave from ip, a loopback
// address (all of 127.0.0.0/8 is local on Linux): a client Caddy sees as
// another remote address.
func clientFrom(ip string) *http.Client {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{
		Timeout:   15 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true, DialContext: dialer.DialContext},
	}
}

// postAs sends a trigger request for project 9 with client (nil: the
// test's own, from 127.0.0.1) and headers as name, value pairs.
func (g *gateway) postAs(t *testing.T, client *http.Client, token string, headers ...string) response {
	t.Helper()
	body := urlencoded("token", token, "ref", "main")
	req, err := http.NewRequest(http.MethodPost, g.base()+"/api/v4/projects/9/trigger/pipeline", bytes.NewReader(body.Data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", body.ContentType)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if client == nil {
		return g.do(t, req)
	}
	g.siteRequests++
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", req.URL.Path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

// failAuth sends n requests with unknown tokens, each refused with 404.
func (g *gateway) failAuth(t *testing.T, n int, client *http.Client, headers ...string) {
	t.Helper()
	for i := range n {
		if resp := g.postAs(t, client, g.glpttToken(), headers...); resp.Status != http.StatusNotFound {
			t.Fatalf("failure %d of %d: got %s, want 404", i+1, n, resp)
		}
	}
	assertNothingForwarded(t, g.up)
}

// assertLimited checks a 429 in GitLab's shape with a Retry-After within
// the window, and that nothing reached the upstream.
func assertLimited(t *testing.T, g *gateway, resp response, window time.Duration) {
	t.Helper()
	assertJSONAnswer(t, resp, http.StatusTooManyRequests, limitedAnswer)
	retry, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || retry < 1 || retry > int(window.Seconds()) {
		t.Errorf("Retry-After = %q, want the seconds left of the %s window", resp.Header.Get("Retry-After"), window)
	}
	assertNothingForwarded(t, g.up)
}

// assertAccepted checks that a valid token of a client under its limit
// reaches the upstream.
func assertAccepted(t *testing.T, g *gateway, resp response, tr triggerObj) {
	t.Helper()
	assertForwarded(t, resp, g.up.take(), forwarded{
		Project: "9", Token: tr.Token, Ref: "main", Variables: map[string]string{}, Trigger: tr,
	})
}

// The failed-authentication limit against the real binary: past 5 refused
// tokens a minute, a client IP gets 429 with Retry-After even with a valid
// token, and nothing reaches the upstream; another client is not affected;
// without trusted_proxies a spoofed X-Forwarded-For does not get around it;
// the 429s are counted; a reload keeps the counts.
func TestRateLimitFailedAuth(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{Gateway: rateLimitConfig, Site: "header X-Generation one"})
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "rate limit", Owner: "alice"})
	other := clientFrom("127.0.0.2")
	limited := func() float64 {
		return g.metricValue(t, "caddy_trigger_gateway_failed_auth_limited_total", "route", "pipeline")
	}

	t.Run("5 failures, each from a spoofed X-Forwarded-For", func(t *testing.T) {
		for i := range 5 {
			// Caddy trusts no proxy here: the header is the client's word.
			g.failAuth(t, 1, nil, "X-Forwarded-For", "203.0.113."+strconv.Itoa(i+1))
		}
	})
	t.Run("the 6th, with a valid token, is limited", func(t *testing.T) {
		assertLimited(t, g, g.postAs(t, nil, tr.Token), time.Minute)
	})
	t.Run("spoofing X-Forwarded-For does not escape the limit", func(t *testing.T) {
		assertLimited(t, g, g.postAs(t, nil, tr.Token, "X-Forwarded-For", "198.51.100.77"), time.Minute)
	})
	t.Run("another client is not affected", func(t *testing.T) {
		assertAccepted(t, g, g.postAs(t, other, tr.Token), tr)
		g.failAuth(t, 1, other) // its own count: 1 of 5
		assertAccepted(t, g, g.postAs(t, other, tr.Token), tr)
	})
	t.Run("the 429s are counted", func(t *testing.T) {
		if got := limited(); got != 2 {
			t.Errorf("failed_auth_limited_total{route=pipeline} = %v, want 2", got)
		}
		if got := g.metricValue(t, "caddy_trigger_gateway_requests_total", "outcome", "rate_limited"); got != 2 {
			t.Errorf("requests_total{outcome=rate_limited} = %v, want 2", got)
		}
	})
	t.Run("a reload keeps the counts", func(t *testing.T) {
		g.reload(t, config{Gateway: rateLimitConfig, Site: "header X-Generation two"})
		resp := g.postAs(t, nil, tr.Token)
		if got := resp.Header.Get("X-Generation"); got != "two" {
			t.Fatalf("X-Generation = %q: the new config is not serving", got)
		}
		assertLimited(t, g, resp, time.Minute)
		// The other client's one failure is still counted: 4 more reach its limit.
		g.failAuth(t, 4, other)
		assertLimited(t, g, g.postAs(t, other, tr.Token), time.Minute)
		if got := limited(); got != 4 {
			t.Errorf("after the reload: failed_auth_limited_total{route=pipeline} = %v, want 4", got)
		}
	})
}

// Behind trusted proxies (Caddy's global servers { trusted_proxies ... }),
// the clients named in X-Forwarded-For are limited separately; with
// trusted_proxies_strict, a client that prepends its own X-Forwarded-For
// to the one its proxy appends is still counted as itself.
func TestRateLimitTrustedProxies(t *testing.T) {
	t.Parallel()
	for _, strict := range []bool{false, true} {
		name := "trusted_proxies"
		global := "servers {\n\ttrusted_proxies static 127.0.0.0/8\n}"
		if strict {
			name = "trusted_proxies_strict"
			global = "servers {\n\ttrusted_proxies static 127.0.0.0/8\n\ttrusted_proxies_strict\n}"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g := newGateway(t, config{Gateway: rateLimitConfig, Global: global})
			tr := g.addTrigger(t, addOpts{Project: "9", Description: "behind a proxy", Owner: "alice"})
			const xff = "X-Forwarded-For"

			g.failAuth(t, 5, nil, xff, "198.51.100.1")
			assertLimited(t, g, g.postAs(t, nil, tr.Token, xff, "198.51.100.1"), time.Minute)
			assertAccepted(t, g, g.postAs(t, nil, tr.Token, xff, "198.51.100.2"), tr)
			// The proxy itself, with no client named, is a client of its own.
			assertAccepted(t, g, g.postAs(t, nil, tr.Token), tr)
			// The proxy appends the address it saw to what the client sent:
			// the right-most untrusted address is the client's.
			spoofed := g.postAs(t, nil, tr.Token, xff, "203.0.113.9, 198.51.100.1")
			if strict {
				assertLimited(t, g, spoofed, time.Minute)
			} else {
				// Caddy's default takes the left-most address, which the
				// client chose: why docs/policies.md asks for trusted_proxies_strict.
				assertAccepted(t, g, spoofed, tr)
			}

			want := 1.0
			if strict {
				want = 2
			}
			if got := g.metricValue(t, "caddy_trigger_gateway_failed_auth_limited_total", "route", "pipeline"); got != want {
				t.Errorf("failed_auth_limited_total{route=pipeline} = %v, want %v", got, want)
			}
		})
	}
}

// An IPv6 client is counted by its /64: a host that sends each refused
// token from another address of its /64 is still limited, and the next
// /64 is another client. The addresses come through X-Forwarded-For from
// a trusted proxy, the way Caddy learns them behind a load balancer.
func TestRateLimitIPv6Prefix(t *testing.T) {
	t.Parallel()
	global := "servers {\n\ttrusted_proxies static 127.0.0.0/8\n\ttrusted_proxies_strict\n}"
	g := newGateway(t, config{Gateway: rateLimitConfig, Global: global})
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "IPv6 clients", Owner: "alice"})
	const xff = "X-Forwarded-For"
	for i := range 5 {
		g.failAuth(t, 1, nil, xff, fmt.Sprintf("2001:db8:0:1::%x", i+1))
	}
	assertLimited(t, g, g.postAs(t, nil, tr.Token, xff, "2001:db8:0:1:abcd::99"), time.Minute)
	assertAccepted(t, g, g.postAs(t, nil, tr.Token, xff, "2001:db8:0:2::1"), tr)
	// The proxy itself, and IPv4 clients, are counted apart.
	assertAccepted(t, g, g.postAs(t, nil, tr.Token), tr)
}
