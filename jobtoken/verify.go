package jobtoken

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Identity is what a verified job token says about the job that holds it.
// All IDs are canonical decimal strings.
type Identity struct {
	ProjectID   string // source project ID
	ProjectPath string // source project full path, e.g. "group/project"
	PipelineID  string // ID of the pipeline the job belongs to
	JobID       string // ID of the job
	Ref         string // Git ref of the pipeline; may be empty: the claim is optional
	User        string // login of the user the job runs as; may be empty: the claim is optional
	// ExpiresAt is the token's exp.
	ExpiresAt time.Time
}

// Verifier verifies job tokens against a CI server's JWKS. It is safe for
// concurrent use. Create it with [New], call [Verifier.Start] to keep its
// keys fresh and [Verifier.Close] when done.
type Verifier struct {
	cfg    Config
	source string // JWKS URL (redacted) or file, for logs
	parser *jwt.Parser
	cache  *tokenCache
	keys   atomic.Pointer[keySet] // nil until a key set has loaded once

	ctx    context.Context // cancelled by Close; loads run under it
	cancel context.CancelFunc
	wg     sync.WaitGroup // the refresh loop and in-flight loads

	mu       sync.Mutex
	inflight chan struct{} // closed when the load under way ends; nil if none
	lastLoad time.Time     // start of the last load attempt, for rate limiting
	started  bool
	closed   bool
}

// New validates cfg and loads the key set once. A JWKS URL that cannot be
// fetched is not fatal (the failure is logged, the verifier starts with no
// keys, refusing tokens with "keys_unavailable", and retries on schedule and
// on demand); a JWKS file that is missing or invalid is an error, since it is
// a local configuration mistake. The initial fetch blocks for at most the
// HTTP client's timeout.
func New(cfg Config) (*Verifier, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	cache, err := newTokenCache(cfg.CacheSize)
	if err != nil {
		return nil, err
	}
	v := &Verifier{
		cfg:    cfg,
		source: jwksSource(cfg),
		cache:  cache,
		parser: jwt.NewParser(
			jwt.WithValidMethods(validMethods),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(cfg.Leeway),
			jwt.WithTimeFunc(cfg.Now),
		),
	}
	v.ctx, v.cancel = context.WithCancel(context.Background())
	v.lastLoad = cfg.Now()
	if err := v.load(v.ctx); err != nil && cfg.JWKSFile != "" {
		v.cancel()
		return nil, fmt.Errorf("jobtoken: loading JWKS file: %w", err)
	}
	return v, nil
}

// Start starts the scheduled key-set reload, every RefreshInterval. It is a
// no-op if already started or closed.
func (v *Verifier) Start() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.started || v.closed {
		return
	}
	v.started = true
	v.wg.Add(1)
	go v.refreshLoop()
}

// Close stops the refresh loop and waits for any load under way. It is
// idempotent. Tokens still verify afterwards against the last key set, but
// keys are no longer refreshed.
func (v *Verifier) Close() error {
	v.mu.Lock()
	v.closed = true
	v.mu.Unlock()
	v.cancel()
	v.wg.Wait()
	return nil
}

// Verify checks token and returns the identity it carries. A refusal is
// always an *[Error]. ctx bounds only the wait for a key-set refresh caused
// by an unknown kid; the refresh itself is shared and not cancelled by ctx.
func (v *Verifier) Verify(ctx context.Context, token string) (*Identity, error) {
	if token == "" || len(token) > MaxTokenLength {
		return nil, v.refused(refuse(ReasonMalformed, errTooLong))
	}
	key := cacheKey(token)
	if id, ok := v.cache.get(key, v.cfg.Now()); ok {
		v.cfg.Observer.Verified(true)
		return id, nil
	}
	id, err := v.verify(ctx, token)
	if err != nil {
		return nil, v.refused(err)
	}
	v.cache.add(key, id, id.ExpiresAt.Add(v.cfg.Leeway))
	v.cfg.Observer.Verified(false)
	return &id, nil
}

func (v *Verifier) refused(e *Error) error {
	v.cfg.Observer.Refused(e.Reason)
	return e
}

// verify is the full, uncached verification.
func (v *Verifier) verify(ctx context.Context, token string) (Identity, *Error) {
	var c jobClaims
	tok, err := v.parser.ParseWithClaims(token, &c, v.keyfunc(ctx))
	if err != nil {
		return Identity{}, classify(tok, &c, err)
	}
	id, ok := c.identity(v.cfg.Claims)
	if !ok {
		return Identity{}, refuse(ReasonMissingClaim, errRequiredClaims)
	}
	return id, nil
}

// keyfunc selects the verification key(s) for a token: by kid, and only
// keys whose type matches the token's alg. An unknown kid (or, for a token
// without kid, no key of its type) causes one rate-limited refresh and one
// retry.
func (v *Verifier) keyfunc(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		// RFC 7515 4.1.11: critical extensions not understood must be refused.
		// (Key-carrying headers such as jwk, jku and x5u are simply ignored:
		// keys only ever come from the configured JWKS.)
		if _, ok := t.Header["crit"]; ok {
			return nil, refuse(ReasonMalformed, errCritHeader)
		}
		alg := t.Method.Alg()
		var kid string
		if raw, ok := t.Header["kid"]; ok {
			s, ok := raw.(string)
			if !ok {
				return nil, refuse(ReasonMalformed, errKidNotString)
			}
			kid = s
		}
		hasKid := kid != ""
		for retried := false; ; retried = true {
			ks := v.keys.Load()
			if ks != nil {
				keys, kidKnown := ks.lookup(alg, kid, hasKid)
				switch {
				case len(keys) == 1:
					return keys[0], nil
				case len(keys) > 1:
					set := jwt.VerificationKeySet{Keys: make([]jwt.VerificationKey, len(keys))}
					for i, k := range keys {
						set.Keys[i] = k
					}
					return set, nil
				case kidKnown:
					// The kid names a key of another type: an alg/key mismatch,
					// which a refresh will not fix.
					return nil, refuse(ReasonAlgorithm, errKeyTypeAlg)
				}
			}
			if retried {
				if ks == nil {
					return nil, refuse(ReasonKeysUnavailable, errNoKeySet)
				}
				return nil, refuse(ReasonUnknownKey, errNoKey)
			}
			v.reload(ctx, true)
		}
	}
}

// classify maps a jwt parse error to a refusal. Only fixed causes are kept:
// the jwt library's messages may quote header values such as alg.
func classify(tok *jwt.Token, c *jobClaims, err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return refuse(ReasonMalformed, errNotJWT)
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// alg missing or unknown to the library (keyfunc errors are *Error).
		if tok != nil {
			if alg, ok := tok.Header["alg"].(string); ok && alg != "" {
				return refuse(ReasonAlgorithm, errAlgNotAllowed)
			}
		}
		return refuse(ReasonMalformed, errNotJWT)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		if tok != nil && tok.Method != nil && !slices.Contains(validMethods, tok.Method.Alg()) {
			return refuse(ReasonAlgorithm, errAlgNotAllowed)
		}
		return refuse(ReasonBadSignature, errSignature)
	case errors.Is(err, jwt.ErrTokenExpired):
		return refuse(ReasonExpired, errExpired)
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return refuse(ReasonNotYetValid, errNotYetValid)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return refuse(ReasonWrongIssuer, errIssuer)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return refuse(ReasonWrongAudience, errAudience)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		// The validator requires iss and aud (configured) and exp.
		switch {
		case c.Issuer == "":
			return refuse(ReasonWrongIssuer, errIssuer)
		case len(c.Audience) == 0 || (len(c.Audience) == 1 && c.Audience[0] == ""):
			return refuse(ReasonWrongAudience, errAudience)
		}
		return refuse(ReasonMissingClaim, errRequiredClaims)
	}
	return refuse(ReasonMalformed, errNotJWT)
}
