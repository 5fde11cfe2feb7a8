package caddymodule

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/triggergate/caddy-trigger-gateway/tokenstore"
	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// The gateway's collectors exist once per process and are registered in
// the metrics registry of every config that provisions a handler: Caddy
// makes a new registry on each load, and registering the same collectors
// again keeps their counts across reloads. No label holds a token, a
// variable value or anything else unbounded.
var gatewayMetrics = struct {
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	cache        *prometheus.CounterVec
	storageError *prometheus.CounterVec
	storageTime  *prometheus.HistogramVec
	jobTokens    *prometheus.CounterVec
	jwksRefresh  *prometheus.CounterVec
	repeats      *prometheus.CounterVec

	upstreamFailures  *prometheus.CounterVec
	failedAuthLimited *prometheus.CounterVec
	deliveriesDropped prometheus.Counter
	ciAnswers         *prometheus.CounterVec
}{
	requests: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy",
		Subsystem: "trigger_gateway",
		Name:      "requests_total",
		Help:      "Trigger API requests by route, source and outcome (accepted, or the reason refused).",
	}, []string{"route", "source", "outcome"}),
	duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "caddy",
		Subsystem: "trigger_gateway",
		Name:      "duration_seconds",
		Help:      "Time the gateway itself spends on a request, upstream excluded, by route and outcome class.",
		Buckets:   []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1},
	}, []string{"route", "result"}),
	cache: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy",
		Subsystem: "trigger_gateway",
		Name:      "token_cache_total",
		Help:      "Trigger token cache lookups by result (hit or miss).",
	}, []string{"result"}),
	storageError: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy",
		Subsystem: "trigger_gateway",
		Name:      "storage_errors_total",
		Help:      "Failed storage operations by operation.",
	}, []string{"op"}),
	storageTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "caddy",
		Subsystem: "trigger_gateway",
		Name:      "storage_duration_seconds",
		Help:      "Time the token store's storage operations take, failed or not, by operation.",
		Buckets:   []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"op"}),
	jobTokens: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy",
		Subsystem: "trigger_gateway",
		Name:      "job_tokens_total",
		Help:      "CI job-token verifications by outcome (verified, verified_cached, or the reason refused).",
	}, []string{"outcome"}),
	jwksRefresh: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy",
		Subsystem: "trigger_gateway",
		Name:      "jwks_refreshes_total",
		Help:      "Loads of the job-token signing keys (JWKS) by result (ok or error).",
	}, []string{"result"}),
	repeats: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy",
		Subsystem: "trigger_gateway",
		Name:      "idempotency_total",
		Help:      "Requests with an idempotency key by result (saved: a first answer kept; replayed: a repeat answered from it).",
	}, []string{"result"}),
	upstreamFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy",
		Subsystem: "trigger_gateway",
		Name:      "upstream_failures_total",
		Help:      "Accepted requests the upstream did not answer, by route and reason (upstream_error, upstream_timeout, ...).",
	}, []string{"route", "reason"}),
	failedAuthLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy",
		Subsystem: "trigger_gateway",
		Name:      "failed_auth_limited_total",
		Help:      "Requests refused with 429 because their client IP was over its failed-authentication limit, by route.",
	}, []string{"route"}),
	deliveriesDropped: prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "caddy",
		Subsystem: "trigger_gateway",
		Name:      "deliveries_dropped_total",
		Help:      "Recent deliveries dropped unwritten because more were waiting for the storage flush than the bound.",
	}),
	ciAnswers: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy",
		Subsystem: "trigger_gateway",
		Name:      "ci_answers_total",
		Help:      "Triggers sent through an upstream module other than gitlab, by module and result (started, refused: the CI answered outside 2xx, unreachable).",
	}, []string{"upstream", "result"}),
}

// Pre-resolved children of the cache counter: the hot path must not look
// labels up on every request.
var (
	cacheHits   = gatewayMetrics.cache.WithLabelValues("hit")
	cacheMisses = gatewayMetrics.cache.WithLabelValues("miss")

	jobTokensVerified       = gatewayMetrics.jobTokens.WithLabelValues("verified")
	jobTokensVerifiedCached = gatewayMetrics.jobTokens.WithLabelValues("verified_cached")
	jwksRefreshOK           = gatewayMetrics.jwksRefresh.WithLabelValues("ok")
	jwksRefreshFailed       = gatewayMetrics.jwksRefresh.WithLabelValues("error")
)

// acceptedChildren are the series an accepted trigger request updates.
type acceptedChildren struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// acceptedSeries caches acceptedChildren by route and source (trigger,
// pipeline), resolved on first use: accepted requests are the hot path,
// and a label lookup hashes every value under the vector's lock. A series
// appears when first used, as with WithLabelValues.
var acceptedSeries [triggerapi.KindManagement + 1][2]atomic.Pointer[acceptedChildren]

// countRequest counts one trigger API request and the gateway's time on it.
func countRequest(route triggerapi.Kind, source, outcome, result string, took time.Duration) {
	if outcome == outcomeAccepted && route <= triggerapi.KindManagement && (source == sourceTrigger || source == sourcePipeline) {
		i := 0
		if source == sourcePipeline {
			i = 1
		}
		slot := &acceptedSeries[route][i]
		m := slot.Load()
		if m == nil {
			m = &acceptedChildren{
				requests: gatewayMetrics.requests.WithLabelValues(route.String(), source, outcome),
				duration: gatewayMetrics.duration.WithLabelValues(route.String(), result),
			}
			slot.Store(m) // a racing first use stores the same children
		}
		m.requests.Inc()
		m.duration.Observe(took.Seconds())
		return
	}
	gatewayMetrics.requests.WithLabelValues(route.String(), sourceLabel(source), outcome).Inc()
	gatewayMetrics.duration.WithLabelValues(route.String(), result).Observe(took.Seconds())
}

// registerMetrics adds the gateway's collectors to a config's registry;
// a second handler in the same config finds them already there.
func registerMetrics(registry prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{
		gatewayMetrics.requests, gatewayMetrics.duration, gatewayMetrics.cache, gatewayMetrics.storageError,
		gatewayMetrics.storageTime,
		gatewayMetrics.jobTokens, gatewayMetrics.jwksRefresh, gatewayMetrics.repeats,
		gatewayMetrics.upstreamFailures, gatewayMetrics.failedAuthLimited, gatewayMetrics.deliveriesDropped, gatewayMetrics.ciAnswers,
	} {
		if err := registry.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				return err
			}
		}
	}
	return nil
}

// storeObserver feeds the token store's events into the metrics.
type storeObserver struct{}

func (storeObserver) CacheHit()  { cacheHits.Inc() }
func (storeObserver) CacheMiss() { cacheMisses.Inc() }
func (storeObserver) StorageError(op string) {
	gatewayMetrics.storageError.WithLabelValues(op).Inc()
}

// StorageDuration makes storeObserver a tokenstore.StorageObserver.
func (storeObserver) StorageDuration(op string, d time.Duration) {
	gatewayMetrics.storageTime.WithLabelValues(op).Observe(d.Seconds())
}

// DeliveriesDropped makes storeObserver a tokenstore.DeliveryObserver.
func (storeObserver) DeliveriesDropped(n int64) {
	gatewayMetrics.deliveriesDropped.Add(float64(n))
}

// idempotencyObserver feeds the idempotency store's events into the metrics.
type idempotencyObserver struct{}

func (idempotencyObserver) Replayed() { gatewayMetrics.repeats.WithLabelValues("replayed").Inc() }
func (idempotencyObserver) Saved()    { gatewayMetrics.repeats.WithLabelValues("saved").Inc() }
func (idempotencyObserver) StorageError(op string) {
	gatewayMetrics.storageError.WithLabelValues(op).Inc()
}

var (
	_ tokenstore.StorageObserver  = storeObserver{}
	_ tokenstore.DeliveryObserver = storeObserver{}
)
