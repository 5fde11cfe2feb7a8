package caddymodule

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// Defaults of the failed-authentication limit.
const (
	DefaultFailedAuthLimit  = 20
	DefaultFailedAuthWindow = time.Minute
	// failedAuthClients bounds the clients remembered; the least recently
	// seen are forgotten first.
	failedAuthClients = 100000
)

var errRateLimited = triggerapi.MessageError(http.StatusTooManyRequests, "rate_limited", "429 Too Many Requests")

// failedAuthLimiter counts, per client (an IPv4 address or an IPv6 /64,
// see failedAuthClient), the requests whose token was refused, in fixed
// windows; past the limit the client is refused with 429
// until its window ends, before any token lookup. Other clients are not
// affected.
type failedAuthLimiter struct {
	limit   int
	window  time.Duration
	clients *lru.Cache[string, *failureWindow]
}

type failureWindow struct {
	mu    sync.Mutex
	start time.Time
	count int
}

func newFailedAuthLimiter(limit int, window time.Duration) *failedAuthLimiter {
	clients, _ := lru.New[string, *failureWindow](failedAuthClients) // size is positive
	return &failedAuthLimiter{limit: limit, window: window, clients: clients}
}

// Destruct makes the limiter a caddy.Destructor; it holds nothing to release.
func (l *failedAuthLimiter) Destruct() error { return nil }

// limiters holds the failed-authentication limiters of the running
// configuration, keyed by their storage, limit and window: a reload that
// keeps the settings keeps the counts (the new handler takes a reference
// before the old one drops its own), so a client over its limit stays
// limited across `caddy reload`; one that changes them starts afresh.
// Handlers sharing a storage and the same settings share the counts.
var limiters = caddy.NewUsagePool()

// joinLimiter takes a reference to the limiter of this handler's storage
// and settings, after joinGateway.
func (h *Handler) joinLimiter() error {
	if h.DisableFailedAuthLimit {
		return nil
	}
	limit, window := h.FailedAuthLimit, time.Duration(h.FailedAuthWindow)
	key := fmt.Sprintf("%s|failed_auth|%d/%s", h.poolKey, limit, window)
	value, _, err := limiters.LoadOrNew(key, func() (caddy.Destructor, error) {
		return newFailedAuthLimiter(limit, window), nil
	})
	if err != nil {
		return fmt.Errorf("failed_auth_limit: %v", err)
	}
	h.limiterKey = key
	h.limiter = value.(*failedAuthLimiter)
	return nil
}

// leaveLimiter drops this handler's reference to its limiter.
func (h *Handler) leaveLimiter() error {
	if h.limiterKey == "" {
		return nil
	}
	_, err := limiters.Delete(h.limiterKey)
	h.limiterKey = ""
	return err
}

// retryAfter reports how long client must wait, or 0 when it may go on.
func (l *failedAuthLimiter) retryAfter(client string, now time.Time) time.Duration {
	w, ok := l.clients.Get(client)
	if !ok {
		return 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	elapsed := now.Sub(w.start)
	if elapsed >= l.window || w.count < l.limit {
		return 0
	}
	return l.window - elapsed
}

// failed records a refused token of client.
func (l *failedAuthLimiter) failed(client string, now time.Time) {
	w, _, _ := l.clients.PeekOrAdd(client, &failureWindow{start: now})
	if w == nil {
		w, _ = l.clients.Get(client)
		if w == nil {
			return // evicted meanwhile: forgetting a client is the LRU's bound
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if now.Sub(w.start) >= l.window {
		w.start, w.count = now, 0
	}
	w.count++
}

// overFailedAuthLimit reports the request's client and whether it is over
// its failed-authentication limit; if it is, the answer gets its
// Retry-After header and the refusal is counted.
func (h *Handler) overFailedAuthLimit(w http.ResponseWriter, r *http.Request, kind triggerapi.Kind, now time.Time) (client string, limited bool) {
	if h.limiter == nil {
		return "", false
	}
	client = failedAuthClient(clientIP(r))
	wait := h.limiter.retryAfter(client, now)
	if wait <= 0 {
		return client, false
	}
	w.Header().Set("Retry-After", retryAfterHeader(wait))
	gatewayMetrics.failedAuthLimited.WithLabelValues(kind.String()).Inc()
	return client, true
}

// checkFailedAuthLimit refuses a client over its failed-authentication
// limit before anything is read or looked up, and keeps the client on d:
// account counts its failed authentications.
func (h *Handler) checkFailedAuthLimit(w http.ResponseWriter, r *http.Request, d *decision) {
	client, limited := h.overFailedAuthLimit(w, r, d.route.Kind, d.start)
	d.client = client
	if limited {
		d.refusal = errRateLimited
	}
}

// clientIP is the client's address as Caddy determined it, honouring the
// server's trusted_proxies for X-Forwarded-For.
func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	if !strings.Contains(r.RemoteAddr, ":") { // SplitHostPort's error, without allocating it
		return r.RemoteAddr
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// failedAuthClient is whom the failed-authentication limit counts for an
// address: an IPv4 address alone, an IPv6 address by its /64. One host
// gets a whole /64 (RFC 7421) and can pick any address in it for each
// request, so counting IPv6 addresses alone would give it 2^64 limits.
// An IPv4-mapped IPv6 address is its IPv4 address; what is not an IP
// address is counted as it is.
func failedAuthClient(ip string) string {
	if strings.IndexByte(ip, ':') < 0 {
		return ip // IPv4, without parsing it
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	if addr.Is4In6() {
		return addr.Unmap().String()
	}
	prefix, _ := addr.WithZone("").Prefix(64) // cannot fail for IPv6
	return prefix.String()
}

// failedAuthentication are the refusals that count against a client: its
// credential was wrong, unknown or not allowed.
var failedAuthentication = map[*triggerapi.Error]bool{
	errUnknownToken:                true,
	errRevokedToken:                true,
	errWrongProject:                true,
	errExpiredToken:                true,
	errLegacyDenied:                true,
	errJobTokenInvalid:             true,
	errJobTokenDenied:              true,
	errArtifactsBadJob:             true,
	triggerapi.ErrArtifactsNoToken: true,
	errWebhookRefused:              true,
}

// retryAfterHeader is a Retry-After value in whole seconds, rounded up.
func retryAfterHeader(wait time.Duration) string {
	return strconv.Itoa(int(math.Ceil(wait.Seconds())))
}
