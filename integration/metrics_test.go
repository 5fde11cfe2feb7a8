package integration

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
	"testing"
)

// metricValue sums the samples of a metric whose labels include every
// wanted label pair, as Caddy's admin endpoint serves them.
func (g *gateway) metricValue(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	resp := g.adminGet(t, "/metrics")
	if resp.Status != 200 {
		t.Fatalf("GET /metrics: %s", resp)
	}
	var sum float64
	scanner := bufio.NewScanner(bytes.NewReader(resp.Body))
	for scanner.Scan() {
		line := scanner.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		matches := true
		for i := 0; i+1 < len(labels); i += 2 {
			if !strings.Contains(line, labels[i]+`="`+labels[i+1]+`"`) {
				matches = false
			}
		}
		if !matches {
			continue
		}
		value, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += value
	}
	return sum
}

// The gateway's metrics are served on Caddy's metrics endpoint, count
// decisions by route, source and outcome, survive a reload, and never hold
// a token in a label.
func TestMetrics(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{Site: "header X-Generation one"})
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "metrics", Owner: "alice"})

	g.triggerOK(t, tr)
	g.triggerOK(t, tr)
	unknown := g.glpttToken()
	if resp := g.post(t, "/api/v4/projects/9/trigger/pipeline", urlencoded("token", unknown, "ref", "main")); resp.Status != 404 {
		t.Fatalf("unknown token: %s", resp)
	}
	if got := g.up.take(); len(got) != 0 {
		t.Fatalf("a refused request reached the upstream: %d requests", len(got))
	}

	accepted := func() float64 {
		return g.metricValue(t, "caddy_trigger_gateway_requests_total",
			"route", "pipeline", "source", "trigger", "outcome", "accepted")
	}
	if got := accepted(); got != 2 {
		t.Errorf("accepted = %v, want 2", got)
	}
	if got := g.metricValue(t, "caddy_trigger_gateway_requests_total", "outcome", "unknown_token"); got != 1 {
		t.Errorf("unknown_token = %v, want 1", got)
	}
	if got := g.metricValue(t, "caddy_trigger_gateway_duration_seconds_count", "route", "pipeline"); got != 3 {
		t.Errorf("duration count = %v, want 3", got)
	}
	if got := g.metricValue(t, "caddy_trigger_gateway_token_cache_total"); got < 3 {
		t.Errorf("token cache lookups = %v, want at least 3", got)
	}

	g.reload(t, config{Site: "header X-Generation two"})
	g.triggerOK(t, tr)
	if got := accepted(); got != 3 {
		t.Errorf("after reload: accepted = %v, want 3 (counts must survive a reload)", got)
	}

	metrics := string(g.adminGet(t, "/metrics").Body)
	for _, secret := range []string{tr.Token, unknown} {
		if strings.Contains(metrics, secret) {
			t.Errorf("a token appears in the metrics")
		}
	}
}
