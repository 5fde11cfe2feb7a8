package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/triggergate/caddy-trigger-gateway/idempotency"
	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// DefaultIdempotencyWindow is how long a repeated request answers as the first did.
const DefaultIdempotencyWindow = 24 * time.Hour

// Limits of idempotency handling.
const (
	// maxIdempotencyKey bounds the length of a caller's key.
	maxIdempotencyKey = 255
	// maxRepeatWait bounds how long a repeat waits for the first request
	// with its key to finish before answering 409.
	maxRepeatWait = 30 * time.Second
	// maxSavedAnswer is the largest upstream answer kept for replay.
	maxSavedAnswer = 64 << 10
)

// headerReplayed marks an answer replayed from the first request.
const headerReplayed = "Idempotent-Replayed"

var (
	errRepeatInProgress = triggerapi.MessageError(http.StatusConflict, "repeat_in_progress",
		"409 Conflict - a request with this idempotency key is still in progress")
	// errKeyReused answers a key reused for a different request, as the
	// IETF Idempotency-Key draft does (422).
	errKeyReused = triggerapi.MessageError(http.StatusUnprocessableEntity, "idempotency_key_reused",
		"422 Unprocessable Entity - this idempotency key or delivery ID was already used for a different request")
)

// repeatStores holds the idempotency stores of the running configuration,
// keyed by their storage and window: a reload that keeps both keeps the
// store (its cache and the repeats waiting in memory), one that changes the
// window gets a store with the new window.
var repeatStores = caddy.NewUsagePool()

// sharedRepeats is an idempotency store that holds a reference on the
// gateway whose storage it uses, so that the storage outlives it.
type sharedRepeats struct {
	*idempotency.Store
	gatewayKey string
}

func (s sharedRepeats) Destruct() error {
	err := s.Close()
	_, gwErr := gateways.Delete(s.gatewayKey)
	return errors.Join(err, gwErr)
}

// joinRepeats takes a reference to the idempotency store of this handler's
// storage and window.
func (h *Handler) joinRepeats(ctx caddy.Context) error {
	if h.DisableIdempotency {
		return nil
	}
	key := h.poolKey + "|idempotency|" + time.Duration(h.IdempotencyWindow).String()
	value, _, err := repeatStores.LoadOrNew(key, func() (caddy.Destructor, error) {
		// A second reference on the gateway, dropped by Destruct.
		if _, _, err := gateways.LoadOrNew(h.poolKey, func() (caddy.Destructor, error) {
			return nil, errors.New("the token store is gone")
		}); err != nil {
			return nil, err
		}
		store, err := idempotency.New(idempotency.Config{
			Storage:  h.gateway.storage,
			Window:   time.Duration(h.IdempotencyWindow),
			MaxBody:  maxSavedAnswer,
			Logger:   ctx.Logger().Named("idempotency"),
			Observer: idempotencyObserver{},
		})
		if err != nil {
			_, _ = gateways.Delete(h.poolKey)
			return nil, err
		}
		return sharedRepeats{Store: store, gatewayKey: h.poolKey}, nil
	})
	if err != nil {
		return fmt.Errorf("opening idempotency store: %v", err)
	}
	h.repeatsKey = key
	h.repeats = value.(sharedRepeats).Store
	return nil
}

func (h *Handler) leaveRepeats() error {
	if h.repeatsKey == "" {
		return nil
	}
	_, err := repeatStores.Delete(h.repeatsKey)
	h.repeatsKey = ""
	return err
}

// checkRepeat is step 7's idempotency rule: it keeps on d the key under
// which the request may repeat an earlier one (repeatRequest), when
// idempotency is on; a key too long is refused.
func (h *Handler) checkRepeat(r *http.Request, d *decision) *triggerapi.Error {
	if h.repeats == nil {
		return nil
	}
	var refusal *triggerapi.Error
	d.repeat, refusal = repeatRequest(r, d)
	if d.explain && d.repeat.Key != "" { // formatting boxes its arguments: not on the request path
		d.note("idempotency: a repeat within %s answers as the first request did", time.Duration(h.IdempotencyWindow))
	}
	return refusal
}

// repeatSources are where a request names itself as a repeat, in the order
// they are read, each with the refusal of a value too long, which names
// the header the caller sent.
var repeatSources = [...]struct {
	header, name string
	tooLong      *triggerapi.Error
}{
	{headerIdempotencyKey, idempotency.SourceHeader, keyTooLong("Idempotency-Key")},
	{headerGitlabEventID, idempotency.SourceGitLab, keyTooLong("X-Gitlab-Event-UUID")},
	{headerGithubDelivery, idempotency.SourceGitHub, keyTooLong("X-GitHub-Delivery")},
}

func keyTooLong(header string) *triggerapi.Error {
	return triggerapi.ValidationError("invalid_idempotency_key",
		fmt.Sprintf("%s is too long (at most %d bytes)", header, maxIdempotencyKey))
}

// repeatRequest identifies a request that may be a repeat, by the caller's
// Idempotency-Key or a webhook's delivery ID: the key, scoped to the
// authenticated principal, and the fingerprint of what the request asks
// for. The zero Request means the request carries neither. It runs after
// authentication.
func repeatRequest(r *http.Request, d *decision) (idempotency.Request, *triggerapi.Error) {
	for _, source := range &repeatSources {
		value := headerValue(r.Header, source.header)
		if value == "" {
			continue
		}
		if len(value) > maxIdempotencyKey {
			return idempotency.Request{}, source.tooLong
		}
		return idempotency.Request{
			Key:         idempotency.Key(repeatPrincipal(d), source.name, value),
			Fingerprint: requestFingerprint(d),
			LegacyKey:   idempotency.LegacyKey(d.project, source.name, value),
		}, nil
	}
	return idempotency.Request{}, nil
}

// repeatPrincipal names whom a key belongs to, so that two callers' keys
// never meet: the trigger whose token was presented or, for a CI job
// token, the job's source project acting on this project. Not the job: a
// retried job is a new job with a new token, and the key it sends again
// (derived from the pipeline or the commit, say) must replay the first
// answer rather than trigger twice; a key meant per job can include
// CI_JOB_ID.
func repeatPrincipal(d *decision) string {
	if d.identity != nil {
		return "job " + d.identity.ProjectID + " " + d.project // IDs are digits: no ambiguity
	}
	return "trigger " + strconv.FormatInt(d.triggerID, 10)
}

// requestFingerprint hashes what an accepted trigger asks for: the
// project, the normalized ref, and the caller's variables, inputs and
// payload, encoded canonically (so the form used, the route and the order
// of fields do not matter). The token is left out: the key's principal
// stands for it, and a job token differs on every retry.
func requestFingerprint(d *decision) string {
	req := d.request
	return idempotency.Fingerprint([]byte(d.project),
		triggerapi.CanonicalBody("", d.ref, req.Variables, req.Inputs, req.Payload))
}

// serveOnce forwards a request with an idempotency key at most once per
// key: a repeat is answered with the first answer (d.replayed), or refused
// while the first is in progress or when the key was used for another
// request; the first goes to the next handler under the key's claim, and
// its answer is saved for repeats when it is the CI's final answer (see
// ciFinalAnswer). Otherwise the claim is released, and a retry is
// forwarded.
func (h *Handler) serveOnce(w http.ResponseWriter, r *http.Request, d *decision, next caddyhttp.Handler) error {
	answer, claim, refusal := h.beginOnce(r, d)
	switch {
	case refusal != nil:
		d.refusal = refusal
		return nil
	case answer != nil:
		d.replayed, d.upstreamStatus = true, answer.Status
		d.pipeline = replayedPipeline(answer) // for the trigger's recent deliveries
		replay(w, answer)
		return nil
	}
	defer claim.Release() // unless saved: a failed request may be retried
	uw := d.state().capturingWriter(r.Context(), w)
	err := h.serveUpstream(uw, r, d, next)
	if err != nil || !ciFinalAnswer(uw) {
		return err
	}
	saved := &idempotency.Answer{Status: uw.status(), Header: savedHeader(w.Header(), uw.encoding.String()), Body: uw.body.Bytes()}
	if saveErr := claim.Save(context.WithoutCancel(r.Context()), saved); saveErr != nil {
		h.logger.Warn("idempotent answer not saved", zap.String("project", d.project), zap.Error(saveErr))
	}
	return nil
}

// savedHeader is the headers of an answer kept for repeats: the safe ones
// (idempotency.SafeHeader), with the Content-Encoding the CI sent the body
// in, which the body is kept in, so that a repeat reads it as the first
// request did. Not the Content-Encoding header has at the end: an encode
// handler wrapping the gateway sets its own there, over bytes the copy
// holds unencoded (and encodes the replay again).
func savedHeader(header http.Header, encoding string) map[string][]string {
	saved := idempotency.SafeHeader(header)
	delete(saved, headerContentEncoding)
	if encoding != "" {
		if saved == nil {
			saved = make(map[string][]string, 1)
		}
		saved[headerContentEncoding] = []string{encoding}
	}
	return saved
}

// beginOnce looks the request up: it returns the first answer to replay,
// or the claim under which to forward (every repeat, on any instance,
// waits until it is saved or released), or a refusal.
func (h *Handler) beginOnce(r *http.Request, d *decision) (*idempotency.Answer, *idempotency.Claim, *triggerapi.Error) {
	ctx, cancel := context.WithTimeout(r.Context(), maxRepeatWait)
	defer cancel()
	answer, claim, err := h.repeats.Begin(ctx, d.repeat)
	switch {
	case errors.Is(err, idempotency.ErrMismatch):
		return nil, nil, errKeyReused
	case errors.Is(err, idempotency.ErrInProgress):
		return nil, nil, errRepeatInProgress
	case err != nil:
		// Fail closed: whether this request was seen is unknown.
		h.logger.Error("idempotency storage unavailable", zap.String("project", d.project), zap.Error(err))
		return nil, nil, triggerapi.ErrUnavailable
	}
	return answer, claim, nil
}

// ciFinalAnswer reports whether what uw passed on is an answer the CI gave
// (not one the gateway made up for an unreachable CI, nor the status
// reverse_proxy records for a caller that gave up), complete (not too
// large to keep, in a coding it can name when replaying it), and final.
func ciFinalAnswer(uw *upstreamWriter) bool {
	return !uw.synthesized && !uw.callerGone && !uw.overflow && uw.encoding != codingOther && finalAnswer(uw.status())
}

// replay writes a saved answer.
func replay(w http.ResponseWriter, a *idempotency.Answer) {
	header := w.Header()
	for name, values := range a.Header {
		header[name] = values
	}
	header.Set(headerReplayed, "true")
	header.Set("Content-Length", strconv.Itoa(len(a.Body)))
	w.WriteHeader(a.Status)
	_, _ = w.Write(a.Body)
}

// statusClientClosed is the status Caddy's reverse_proxy (and nginx)
// records when the caller went away before the answer: never sent by a
// server, since nobody is left to read it.
const statusClientClosed = 499

// finalAnswer reports whether an upstream answer is final, and so replayed
// to repeats: a success (2xx) or a client error (4xx), except a "try again
// later" (408, 425, 429), which a retry must be able to get past, and a
// caller's own give-up (499). A redirect or a server error is not final.
func finalAnswer(status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests, statusClientClosed:
		return false
	}
	return (status >= 200 && status < 300) || (status >= 400 && status < 500)
}
