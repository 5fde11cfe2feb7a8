package caddymodule

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// serveUpstream hands the accepted request to the next handler (normally
// reverse_proxy) through w, which reads the CI's answer, once the
// placeholders are set; it notes on d what became of it.
func (h *Handler) serveUpstream(w *upstreamWriter, r *http.Request, d *decision, next caddyhttp.Handler) error {
	setPlaceholders(r, d)                           // before forwarding: reverse_proxy's header_up may use them
	d.forwarded, d.took = true, time.Since(d.start) // the gateway's own time: the CI's is not counted
	if d.ciRequest != nil {
		return h.serveCI(w, r, d, next) // another CI's answer, read by its module (ci_answer.go)
	}
	if d.route.Kind != triggerapi.KindArtifacts {
		w.pipeline.watch()
	}
	err := next.ServeHTTP(w, r)
	if err == nil && w.code == 0 {
		err = errNoAnswer() // Caddy would answer an empty 200, which callers take for a pipeline
	}
	d.pipeline = w.pipeline.finish(err == nil) // the pipeline the CI started, if it named one
	if err != nil {
		err = h.upstreamFailed(w, d, err)
	}
	d.upstreamStatus = int(w.code)
	return err
}

// errNoAnswer is the failure of a next handler that returned without
// answering: no handler after the gateway (a site whose reverse_proxy
// matchers leave the project out) reached a CI server.
func errNoAnswer() error {
	return caddyhttp.Error(http.StatusBadGateway, errors.New("the next handler wrote no answer"))
}

// upstreamFailed answers for an upstream that cannot be reached or times
// out before answering: the caller gets GitLab's shape of the error (502
// or 504 with {"message": ...}) instead of an empty answer. The failure is
// logged here, without the request, because Caddy's own error log line
// would print the caller's URL and headers, tokens included. Any other
// error is returned as it is.
func (h *Handler) upstreamFailed(w *upstreamWriter, d *decision, err error) error {
	status := http.StatusBadGateway
	var handlerErr caddyhttp.HandlerError
	if errors.As(err, &handlerErr) && handlerErr.StatusCode != 0 {
		status = handlerErr.StatusCode
	}
	if status < http.StatusInternalServerError || w.code != 0 {
		return err // not an upstream failure, or the answer has begun
	}
	failure := upstreamFailures[status]
	if failure == nil {
		failure = upstreamFailures[http.StatusBadGateway]
	}
	h.logger.Error("upstream failed",
		zap.String("route", d.route.Kind.String()),
		zap.String("project", d.project),
		zap.Int("status", failure.Status),
		zap.Error(err))
	gatewayMetrics.upstreamFailures.WithLabelValues(d.route.Kind.String(), failure.Reason).Inc()
	header := w.Header()
	header.Set("Content-Type", "application/json")
	header.Del("Content-Length")
	w.synthesized = true
	w.WriteHeader(failure.Status)
	_, _ = w.Write(failure.Body)
	return nil
}

// upstreamFailures are GitLab-shaped answers for an unreachable upstream.
var upstreamFailures = map[int]*triggerapi.Error{
	http.StatusBadGateway:         triggerapi.MessageError(http.StatusBadGateway, "upstream_error", "502 Bad Gateway"),
	http.StatusServiceUnavailable: triggerapi.MessageError(http.StatusServiceUnavailable, "upstream_unavailable", "503 Service Unavailable"),
	http.StatusGatewayTimeout:     triggerapi.MessageError(http.StatusGatewayTimeout, "upstream_timeout", "504 Gateway Timeout"),
}

// upstreamWriter tells whether the upstream's answer has begun and, for
// requests that may be repeated, keeps a copy of it (up to maxSavedAnswer)
// to replay, and notes whether the answer is one the CI gave at all; for
// triggers, it reads the pipeline a 2xx JSON answer names.
type upstreamWriter struct {
	// By value: one allocation per request, not two.
	caddyhttp.ResponseWriterWrapper
	body bytes.Buffer
	// ctx is the request's context when capturing, nil otherwise.
	ctx context.Context
	// code is the answer's status, 0 until it begins: an int32 (net/http
	// takes 100 to 999), so that it and the small fields after it share
	// one word and requestState keeps its size class.
	code     int32
	overflow bool
	// encoding is the Content-Encoding the answer was passed on in, when
	// capturing: the copy kept for repeats is in it (answer_encoding.go).
	encoding contentCoding
	// callerGone: the status was written after the caller had gone.
	// reverse_proxy then writes 499 for its access log, with no answer
	// from the CI behind it (Caddy 2.11; earlier versions returned an
	// error); nor is any other status written then known to be the CI's.
	callerGone bool
	// synthesized: the gateway wrote the answer itself (serveUpstream's
	// GitLab-shaped 502, 503 or 504), not the CI.
	synthesized bool
	pipeline    pipelineCapture // see pipeline.go
}

// begin records the answer's status when the first one is written.
func (u *upstreamWriter) begin(code int) {
	if u.code != 0 {
		return
	}
	u.code = int32(code)
	u.pipeline.begin(code, u.Header())
	if u.ctx != nil {
		// Read before the answer goes on: an encode handler wrapping the
		// gateway sets its own Content-Encoding on the way out, over bytes
		// the copy keeps unencoded.
		u.encoding = parseContentCoding(headerValue(u.Header(), headerContentEncoding))
		u.callerGone = u.ctx.Err() != nil
	}
}

func (u *upstreamWriter) WriteHeader(code int) {
	if code >= 200 {
		u.begin(code)
	}
	u.ResponseWriterWrapper.WriteHeader(code)
}

func (u *upstreamWriter) Write(p []byte) (int, error) {
	u.begin(http.StatusOK)
	u.pipeline.write(p)
	if u.ctx != nil && !u.overflow {
		if u.body.Len()+len(p) > maxSavedAnswer {
			u.overflow = true
			u.body.Reset()
		} else {
			u.body.Write(p)
		}
	}
	return u.ResponseWriterWrapper.Write(p)
}

// ReadFrom goes through Write when capturing, so the copy sees every byte;
// otherwise it keeps the underlying writer's fast path (sendfile).
func (u *upstreamWriter) ReadFrom(r io.Reader) (int64, error) {
	u.begin(http.StatusOK)
	if u.ctx != nil || u.pipeline.capturing() {
		return io.Copy(writerOnly{u}, r)
	}
	return u.ResponseWriterWrapper.ReadFrom(r)
}

func (u *upstreamWriter) status() int {
	if u.code == 0 {
		return http.StatusOK
	}
	return int(u.code)
}

// writerOnly hides every method but Write.
type writerOnly struct{ io.Writer }
