package jobtoken

import (
	"context"
	"net/url"
	"time"

	"go.uber.org/zap"
)

// refreshLoop reloads the key set every RefreshInterval until Close.
func (v *Verifier) refreshLoop() {
	defer v.wg.Done()
	t := time.NewTicker(v.cfg.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-v.ctx.Done():
			return
		case <-t.C:
			v.reload(v.ctx, false)
		}
	}
}

// reload loads the key set and waits for the load, or for ctx. Concurrent
// callers share one load (singleflight). An onDemand reload (an unknown kid)
// is skipped when the last load attempt of any kind started less than
// MinRefreshInterval ago, so a stream of tokens with made-up kids cannot
// turn into a stream of fetches. The load runs under the verifier's own
// context, so a caller giving up does not abort it for the others.
func (v *Verifier) reload(ctx context.Context, onDemand bool) {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return
	}
	done := v.inflight
	if done == nil {
		now := v.cfg.Now()
		if onDemand && now.Sub(v.lastLoad) < v.cfg.MinRefreshInterval {
			v.mu.Unlock()
			return
		}
		v.lastLoad = now
		done = make(chan struct{})
		v.inflight = done
		v.wg.Add(1)
		go func() {
			defer v.wg.Done()
			_ = v.load(v.ctx)
			v.mu.Lock()
			v.inflight = nil
			v.mu.Unlock()
			close(done)
		}()
	}
	v.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// load reads and parses the JWKS and installs it. On any failure the
// previous key set stays in use.
func (v *Verifier) load(ctx context.Context) error {
	log := v.cfg.Logger.With(zap.String("jwks", v.source))
	data, err := v.loadJWKS(ctx)
	var (
		ks      *keySet
		skipped []skippedKey
	)
	if err == nil {
		ks, skipped, err = parseJWKS(data)
	}
	for _, s := range skipped {
		log.Warn("ignoring JWKS key", zap.String("kid", s.kid), zap.String("reason", s.reason))
	}
	if err != nil {
		v.cfg.Observer.Refresh(false)
		prev := 0
		if old := v.keys.Load(); old != nil {
			prev = old.size
		}
		log.Warn("JWKS load failed; keeping the previous key set",
			zap.Error(err), zap.Int("keys_in_use", prev))
		return err
	}
	v.keys.Store(ks)
	v.cfg.Observer.Refresh(true)
	log.Debug("JWKS loaded", zap.Int("keys", ks.size))
	return nil
}

// jwksSource names the key-set source for logs, with any URL password
// redacted.
func jwksSource(cfg Config) string {
	if cfg.JWKSFile != "" {
		return cfg.JWKSFile
	}
	if u, err := url.Parse(cfg.JWKSURL); err == nil {
		return u.Redacted()
	}
	return ""
}
