package integration

import (
	"net/http"
	"testing"
	"time"
)

// An upstream that is down or too slow gives the caller GitLab's JSON
// shape of 502 or 504, promptly, counts the failure in the metrics, and
// leaves Caddy running; once the upstream is back, the same token works.
func TestFaultUpstream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// proxy is the reverse_proxy configuration.
		proxy string
		// fail breaks the upstream; heal (if set) repairs it.
		fail, heal func(up *slowUpstream)
		status     int
		body       string
		reason     string // label of caddy_trigger_gateway_upstream_failures_total
		within     time.Duration
	}{
		{
			name:   "down",
			fail:   func(up *slowUpstream) { up.srv.Close() }, // its port is closed from now on
			status: http.StatusBadGateway, body: `{"message":"502 Bad Gateway"}`, reason: "upstream_error",
			within: 3 * time.Second,
		},
		{
			name:   "slow",
			proxy:  "transport http {\nresponse_header_timeout 1s\n}",
			fail:   func(up *slowUpstream) { up.delay.Store(int64(4 * time.Second)) },
			heal:   func(up *slowUpstream) { up.delay.Store(0) },
			status: http.StatusGatewayTimeout, body: `{"message":"504 Gateway Timeout"}`, reason: "upstream_timeout",
			within: 3 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := newSlowUpstream(t)
			g := newGatewayFor(t, config{Proxy: tt.proxy}, up.upstream)
			tr := g.addTrigger(t, addOpts{Project: "9", Description: "upstream " + tt.name, Owner: "alice"})
			g.triggerOK(t, tr) // the control: the upstream works before it fails
			tt.fail(up)

			sends := []struct {
				name string
				send func() response
			}{
				{"pipeline, form", func() response {
					return g.post(t, "/api/v4/projects/9/trigger/pipeline", urlencoded("token", tr.Token, "ref", "main", "variables[A]", g.varValue()))
				}},
				{"webhook, JSON", func() response {
					return g.post(t, "/api/v4/projects/9/ref/main/trigger/pipeline?token="+tr.Token, rawJSON(`{"object_kind":"push"}`))
				}},
			}
			for _, s := range sends {
				start := time.Now()
				resp := s.send()
				if elapsed := time.Since(start); elapsed > tt.within {
					t.Errorf("%s: answered after %s, want within %s", s.name, elapsed, tt.within)
				}
				assertJSONAnswer(t, resp, tt.status, tt.body)
				if resp.Header.Get("X-Upstream") != "" {
					t.Errorf("%s: the answer comes from the upstream: %v", s.name, resp.Header)
				}
			}
			if got := g.metricValue(t, "caddy_trigger_gateway_upstream_failures_total", "reason", tt.reason); got != float64(len(sends)) {
				t.Errorf("upstream_failures_total{reason=%q} = %v, want %d", tt.reason, got, len(sends))
			}
			if got := g.metricValue(t, "caddy_trigger_gateway_upstream_failures_total"); got != float64(len(sends)) {
				t.Errorf("upstream_failures_total = %v, want %d", got, len(sends))
			}
			if got := up.take(); len(got) != 0 {
				t.Errorf("the upstream answered %d requests while failing", len(got))
			}
			g.assertNoCrash(t)
			if tt.heal != nil {
				tt.heal(up)
				g.triggerOK(t, tr)
			}
		})
	}
}
