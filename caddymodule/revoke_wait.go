package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"go.uber.org/zap"

	"github.com/triggergate/caddy-trigger-gateway/tokenstore"
)

// Waiting for a revocation to reach every instance: DELETE
// /trigger_gateway/triggers/{id}?wait=true (or ?wait=<duration>) and
// 'caddy trigger revoke --wait [--wait-timeout <duration>]' answer only
// once every other live instance sharing the storage has confirmed that it
// read the change feed after the revocation (tokenstore.Store.AwaitChanges),
// or fail after the bound, naming the instances that did not confirm.
const (
	// revokeWaitPolls is the default bound, in change_poll_intervals of
	// the revoking instance: an instance confirms within about one
	// interval and two storage writes.
	revokeWaitPolls = 10
	// minRevokeWait and maxRevokeWait bound the default and the caller's.
	minRevokeWait = time.Second
	maxRevokeWait = 10 * time.Minute
)

// defaultRevokeWait is the bound of a wait without a duration.
func (g *gateway) defaultRevokeWait() time.Duration {
	g.membersMu.Lock()
	poll := g.settings.changePollInterval
	g.membersMu.Unlock()
	if poll <= 0 {
		poll = tokenstore.DefaultChangePollInterval
	}
	return min(max(revokeWaitPolls*poll, minRevokeWait), maxRevokeWait)
}

// parseRevokeWait reads ?wait=: absent, empty or false is no wait (0), true
// the default bound, a duration (Caddy's syntax: 30s, 2m) that bound.
func parseRevokeWait(q url.Values, g *gateway) (time.Duration, error) {
	raw := q.Get("wait")
	if b, err := strconv.ParseBool(raw); err == nil || raw == "" {
		if !b {
			return 0, nil
		}
		return g.defaultRevokeWait(), nil
	}
	d, err := caddy.ParseDuration(raw)
	if err != nil || d <= 0 || d > maxRevokeWait {
		return 0, adminError(http.StatusBadRequest,
			fmt.Errorf("wait must be true, false or a duration up to %s, like 30s", maxRevokeWait))
	}
	return d, nil
}

// unconfirmedAnswer is the body of a revocation that some instances did
// not confirm within the bound: 504, the trigger being revoked anyway.
type unconfirmedAnswer struct {
	Error       string                `json:"error"`
	Unconfirmed []tokenstore.Instance `json:"unconfirmed"`
}

// awaitRevocation waits for every other live instance to confirm the
// revocation of trigger id, then answers 204; or 504 naming those that did
// not confirm within wait; or 503 if the wait could not start.
func (a *adminAPI) awaitRevocation(w http.ResponseWriter, r *http.Request, g *gateway, id int64, wait time.Duration) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	err := g.store.AwaitChanges(ctx)
	var unconfirmed *tokenstore.UnconfirmedError
	switch {
	case err == nil:
		a.logger().Info("trigger revocation confirmed by every live instance",
			zap.Int64("id", id), zap.Duration("waited", time.Since(start)))
		w.WriteHeader(http.StatusNoContent)
		return nil
	case errors.As(err, &unconfirmed):
		msg := fmt.Sprintf("trigger %d is revoked, but not every instance confirmed within %s: %v; "+
			"an instance that cannot read the storage refuses the token at the latest when its cache entry ends (cache_ttl)",
			id, wait, err)
		a.logger().Warn("trigger revocation not confirmed by every live instance",
			zap.Int64("id", id), zap.Duration("waited", wait), zap.Error(err))
		return writeAdminJSON(w, http.StatusGatewayTimeout, unconfirmedAnswer{Error: msg, Unconfirmed: unconfirmed.Instances})
	default:
		return adminError(storeFailureStatus(err),
			fmt.Errorf("trigger %d is revoked, but waiting for the other instances failed: %w", id, err))
	}
}

// awaitRevocationAgain answers DELETE ?wait= for trigger id, revoked
// already, by this instance or another: a wait that ended with 504, run
// again once the instances it named are back. The revocation is announced
// again first (tokenstore.Store.AnnounceRevocation), so that the wait
// covers it whoever revoked it, this instance's cache included. An unknown
// ID is a 404, as without a wait.
func (a *adminAPI) awaitRevocationAgain(w http.ResponseWriter, r *http.Request, g *gateway, id int64, wait time.Duration) error {
	err := g.store.AnnounceRevocation(r.Context(), id)
	switch {
	case errors.Is(err, tokenstore.ErrNotFound), errors.Is(err, tokenstore.ErrInvalid):
		// ErrInvalid: live again after Get missed it, which a revocation
		// never is; answered as Get did.
		return storeLookupError(id, tokenstore.ErrNotFound)
	case err != nil:
		return adminError(storeFailureStatus(err),
			fmt.Errorf("trigger %d is revoked, but announcing it again to wait for it failed: %w", id, err))
	}
	a.logger().Info("trigger revocation announced again, to wait for every live instance", zap.Int64("id", id))
	return a.awaitRevocation(w, r, g, id, wait)
}

// revokeWaitQuery is the query of 'caddy trigger revoke' for its --wait
// and --wait-timeout flags; a timeout implies --wait.
func revokeWaitQuery(fl caddycmd.Flags) (url.Values, error) {
	timeout := fl.String("wait-timeout")
	if timeout == "" {
		if !fl.Bool("wait") {
			return nil, nil
		}
		return url.Values{"wait": {"true"}}, nil
	}
	d, err := caddy.ParseDuration(timeout)
	if err != nil || d <= 0 || d > maxRevokeWait {
		return nil, fmt.Errorf("--wait-timeout must be a duration up to %s, like 30s", maxRevokeWait)
	}
	return url.Values{"wait": {timeout}}, nil
}
