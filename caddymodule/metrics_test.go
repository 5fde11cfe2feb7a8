package caddymodule

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// countRequest serves accepted requests from cached series: each must
// still land in the series its labels name, and every other outcome in its
// own.
func TestCountRequestSeries(t *testing.T) {
	tests := []struct {
		route                   triggerapi.Kind
		source, outcome, result string
		wantSource              string // the source label
	}{
		{triggerapi.KindPipeline, sourceTrigger, "accepted", "accepted", "trigger"},
		{triggerapi.KindPipeline, sourcePipeline, "accepted", "accepted", "pipeline"},
		{triggerapi.KindWebhook, sourceTrigger, "accepted", "accepted", "trigger"},
		{triggerapi.KindArtifacts, sourcePipeline, "accepted", "accepted", "pipeline"},
		{triggerapi.KindPipeline, sourceTrigger, "replayed", "accepted", "trigger"},
		{triggerapi.KindPipeline, "", "unknown_token", "refused", "none"},
	}
	for _, tt := range tests {
		t.Run(tt.route.String()+"/"+tt.wantSource+"/"+tt.outcome, func(t *testing.T) {
			counter := gatewayMetrics.requests.WithLabelValues(tt.route.String(), tt.wantSource, tt.outcome)
			histogram := gatewayMetrics.duration.WithLabelValues(tt.route.String(), tt.result)
			countBefore, observedBefore := counterValue(t, counter), histogramCount(t, histogram)
			for range 2 { // the second use goes through the cached series
				countRequest(tt.route, tt.source, tt.outcome, tt.result, time.Millisecond)
			}
			if got := counterValue(t, counter) - countBefore; got != 2 {
				t.Errorf("requests_total{route=%q,source=%q,outcome=%q} grew by %v, want 2",
					tt.route, tt.wantSource, tt.outcome, got)
			}
			if got := histogramCount(t, histogram) - observedBefore; got != 2 {
				t.Errorf("duration_seconds{route=%q,result=%q} observed %d more, want 2", tt.route, tt.result, got)
			}
		})
	}
}

func histogramCount(t *testing.T, o prometheus.Observer) uint64 {
	t.Helper()
	var m dto.Metric
	if err := o.(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// Every metric the gateway registers, and each of its labels, is in the
// metrics table of docs/logs-and-metrics.md, its name in backquotes at the
// start of a row.
func TestMetricsDocumented(t *testing.T) {
	data, err := os.ReadFile("../docs/logs-and-metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if m := metricRow.FindStringSubmatch(line); m != nil {
			rows[m[1]] = line
		}
	}
	registry := prometheus.NewRegistry()
	if err := registerMetrics(registry); err != nil {
		t.Fatal(err)
	}
	descs := make(chan *prometheus.Desc)
	go func() {
		for _, c := range []prometheus.Collector{
			gatewayMetrics.requests, gatewayMetrics.duration, gatewayMetrics.cache, gatewayMetrics.storageError,
			gatewayMetrics.storageTime, gatewayMetrics.jobTokens, gatewayMetrics.jwksRefresh, gatewayMetrics.repeats,
			gatewayMetrics.upstreamFailures, gatewayMetrics.failedAuthLimited, gatewayMetrics.deliveriesDropped,
			gatewayMetrics.ciAnswers,
		} {
			c.Describe(descs)
		}
		close(descs)
	}()
	for desc := range descs {
		m := descFields.FindStringSubmatch(desc.String())
		if m == nil {
			t.Fatalf("cannot read %s", desc)
		}
		name, labels := m[1], m[2]
		row, ok := rows[name]
		if !ok {
			t.Errorf("docs/logs-and-metrics.md has no row for %s", name)
			continue
		}
		for _, label := range strings.FieldsFunc(labels, func(r rune) bool { return r == ',' || r == '{' || r == '}' }) {
			if !strings.Contains(row, "`"+label+"`") {
				t.Errorf("docs/logs-and-metrics.md: the row of %s does not name its label %s", name, label)
			}
		}
	}
}

var (
	metricRow  = regexp.MustCompile("^\\| `(caddy_trigger_gateway_[a-z_]+)`")
	descFields = regexp.MustCompile(`fqName: "([a-z_]+)".*variableLabels: (\{[a-z_,]*\})`)
)
