package caddymodule

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
	"github.com/triggergate/caddy-trigger-gateway/upstream"
)

// ciAnswer stands in for the caller while the next handler relays the
// answer of a CI other than GitLab: it keeps the status, the headers and
// the start of the body (upstream.MaxAnswer bytes; the rest is read and
// dropped) and passes none of it on. The caller gets GitLab's answer
// instead (answerFromCI): the CI's own body may echo what was sent to it,
// credentials included.
type ciAnswer struct {
	header   http.Header
	status   int
	body     bytes.Buffer
	overflow bool
}

func newCIAnswer() *ciAnswer { return &ciAnswer{header: make(http.Header)} }

func (c *ciAnswer) Header() http.Header { return c.header }

// WriteHeader keeps the first final status; 1xx answers are the proxy's
// business, not the CI's verdict.
func (c *ciAnswer) WriteHeader(code int) {
	if code >= 200 && c.status == 0 {
		c.status = code
	}
}

func (c *ciAnswer) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if !c.overflow {
		if c.body.Len()+len(p) > upstream.MaxAnswer {
			c.overflow = true
			c.body.Reset()
		} else {
			c.body.Write(p)
		}
	}
	return len(p), nil
}

// Flush is a no-op: nothing reaches the caller until the CI has answered
// in full. reverse_proxy flushes streamed answers as they come.
func (c *ciAnswer) Flush() {}

// answer is what the CI answered, for the module to read: nil when it
// answered nothing (the proxy failed before any answer). A compressed
// body is handed over decoded (decodeAnswerBody), without its
// Content-Encoding; one the gateway cannot decode is left out, as a body
// too large is: the module reads the status and headers.
func (c *ciAnswer) answer() *upstream.Answer {
	if c.status == 0 {
		return nil
	}
	a := &upstream.Answer{Status: c.status, Header: c.header}
	if c.overflow {
		return a
	}
	encoding := headerValue(c.header, headerContentEncoding)
	if encoding == "" {
		a.Body = c.body.Bytes()
		return a
	}
	a.Body, _ = decodeAnswerBody(encoding, c.body.Bytes(), upstream.MaxAnswer)
	delete(c.header, headerContentEncoding)
	delete(c.header, "Content-Length")
	return a
}

// answerFromCI answers the caller in GitLab's shape once the CI has
// answered: 201 and the pipeline object with the id and web_url the CI
// gave, or a GitLab-shaped 502 naming the CI's status when it refused. It
// returns what the decision keeps: the CI's status, and the pipeline.
func answerFromCI(w http.ResponseWriter, module upstream.Module, t *upstream.Trigger, a *upstream.Answer, now time.Time) (triggerapi.Pipeline, *triggerapi.Error) {
	started, err := module.Read(a)
	if refused, ok := errors.AsType[*upstream.RefusedError](err); ok {
		refusal := upstream.CIRefusal(refused.Status)
		writeJSON(w, refusal.Status, refusal.Body)
		return triggerapi.Pipeline{}, refusal
	}
	if err != nil { // a module that cannot read an answer it accepted: the CI still started a build
		started = upstream.Started{}
	}
	writeJSON(w, http.StatusCreated, upstream.PipelineObject(t, started, now))
	var p triggerapi.Pipeline
	if started.ID != nil {
		p.ID = *started.ID
	}
	p.WebURL = started.WebURL
	return p, nil
}

// writeJSON writes a whole JSON answer.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	header := w.Header()
	header.Set("Content-Type", "application/json")
	header.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// serveCI hands the request a project's upstream module built to the next
// handler, and answers the caller in GitLab's shape from what the CI
// answered (answerFromCI). A CI that cannot be reached, or is too slow for
// the proxy, gets the same GitLab-shaped 502 or 504 as GitLab would
// (upstreamFailed).
func (h *Handler) serveCI(w *upstreamWriter, r *http.Request, d *decision, next caddyhttp.Handler) error {
	answer := newCIAnswer()
	err := next.ServeHTTP(answer, r)
	a := answer.answer()
	if err != nil || a == nil {
		if err == nil {
			err = errNoAnswer()
		}
		err = h.upstreamFailed(w, d, err)
		d.upstreamStatus = int(w.code)
		countCIAnswer(d.settings.upstream.name, ciUnreachable)
		return err
	}
	d.upstreamStatus = a.Status // the CI's own, for the trigger's deliveries
	var refusal *triggerapi.Error
	d.pipeline, refusal = answerFromCI(w, d.settings.upstream.ci, d.ciTrigger, a, time.Now())
	if refusal != nil {
		w.synthesized = true // the gateway's words, not the CI's final answer
		d.detail = "upstream " + d.settings.upstream.name + ": the CI server answered " + strconv.Itoa(a.Status)
		countCIAnswer(d.settings.upstream.name, ciRefused)
		return nil
	}
	// The CI started a build: its answer is final even if the caller left
	// while it came (upstreamWriter.begin saw the context cancelled), so
	// that a retry with the same key replays it rather than starting
	// another. The proxy's own 499 for a caller gone before the CI
	// answered is no 2xx: it was refused above.
	w.callerGone = false
	countCIAnswer(d.settings.upstream.name, ciStarted)
	return nil
}

// Results of a request sent through an upstream module, for
// caddy_trigger_gateway_ci_answers_total.
const (
	ciStarted     = "started"
	ciRefused     = "refused"
	ciUnreachable = "unreachable"
)

// countCIAnswer counts what became of a request sent to another CI; the
// module's name is one of a few configured, a bounded label.
func countCIAnswer(module, result string) {
	gatewayMetrics.ciAnswers.WithLabelValues(module, result).Inc()
}
