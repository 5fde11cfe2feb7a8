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
	errIdempotencyKeyTooLong = triggerapi.ValidationError("invalid_idempotency_key", "Idempotency-Key is too long")
	errRepeatInProgress      = triggerapi.MessageError(http.StatusConflict, "repeat_in_progress",
		"409 Conflict - a request with this idempotency key is still in progress")
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

// idempotencyKey derives the key of a request that may be a repeat: the
// caller's Idempotency-Key, or a webhook's delivery ID. Keys are scoped to
// the project so two projects never share one.
func idempotencyKey(r *http.Request, project string) (string, *triggerapi.Error) {
	for _, source := range [...]struct{ header, name string }{
		{headerIdempotencyKey, idempotency.SourceHeader},
		{headerGitlabEventID, idempotency.SourceGitLab},
		{headerGithubDelivery, idempotency.SourceGitHub},
	} {
		value := headerValue(r.Header, source.header)
		if value == "" {
			continue
		}
		if len(value) > maxIdempotencyKey {
			return "", errIdempotencyKeyTooLong
		}
		return idempotency.Key(project, source.name, value), nil
	}
	return "", nil
}

// beginOnce looks the request's key up: it returns the first answer to
// replay, or the claim under which to forward (every repeat, on any
// instance, waits until it is saved or released), or a refusal.
func (h *Handler) beginOnce(r *http.Request, d *decision, key string) (*idempotency.Answer, *idempotency.Claim, *triggerapi.Error) {
	ctx, cancel := context.WithTimeout(r.Context(), maxRepeatWait)
	defer cancel()
	answer, claim, err := h.repeats.Begin(ctx, idempotency.Request{Key: key})
	switch {
	case errors.Is(err, idempotency.ErrInProgress):
		return nil, nil, errRepeatInProgress
	case err != nil:
		// Fail closed: whether this request was seen is unknown.
		h.logger.Error("idempotency storage unavailable", zap.String("project", d.project), zap.Error(err))
		return nil, nil, triggerapi.ErrUnavailable
	}
	return answer, claim, nil
}

// serveAndSave forwards a claimed request and saves the upstream's answer
// for repeats, unless it failed (5xx or an error) and may be retried.
func (h *Handler) serveAndSave(w http.ResponseWriter, r *http.Request, d *decision, claim *idempotency.Claim, next caddyhttp.Handler) error {
	uw := newUpstreamWriter(w, true)
	err := h.serveUpstream(uw, r, d, next)
	if err != nil || !finalAnswer(uw.status()) || uw.overflow {
		return err
	}
	saved := &idempotency.Answer{Status: uw.status(), Header: idempotency.SafeHeader(w.Header()), Body: uw.body.Bytes()}
	if saveErr := claim.Save(context.WithoutCancel(r.Context()), saved); saveErr != nil {
		h.logger.Warn("idempotent answer not saved", zap.String("project", d.project), zap.Error(saveErr))
	}
	return nil
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

// finalAnswer reports whether an upstream answer is final, and so replayed
// to repeats: not a server error, and not a "try again later" (408, 425,
// 429), which a retry must be able to get past.
func finalAnswer(status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
		return false
	}
	return status < http.StatusInternalServerError
}
