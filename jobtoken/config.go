package jobtoken

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"
)

// Defaults applied by [New] to zero-valued Config fields.
const (
	DefaultLeeway             = 30 * time.Second
	DefaultRefreshInterval    = time.Hour
	DefaultMinRefreshInterval = 10 * time.Second
	DefaultCacheSize          = 10000
	DefaultHTTPTimeout        = 10 * time.Second
)

// Bounds applied before any parsing.
const (
	// MaxTokenLength is the longest token Verify parses; longer ones are
	// refused as malformed without being decoded.
	MaxTokenLength = 8 << 10
	// MaxJWKSSize is the largest JWKS document read from a URL or file.
	MaxJWKSSize = 1 << 20
	// MaxKeys is the largest number of usable keys in a key set. It bounds
	// the work a token without kid can cause.
	MaxKeys = 100
)

// ClaimNames says which JWT claims carry the identity of a job. Empty fields
// take the default, the claim GitLab puts in its CI ID tokens.
type ClaimNames struct {
	// ProjectID is the claim with the source project's numeric ID
	// (required; default "project_id").
	ProjectID string
	// ProjectPath is the claim with the source project's full path
	// (required; default "project_path").
	ProjectPath string
	// PipelineID is the claim with the pipeline's numeric ID
	// (required; default "pipeline_id").
	PipelineID string
	// JobID is the claim with the job's numeric ID (required; default "job_id").
	JobID string
	// Ref is the claim with the Git ref the job runs for (optional; default "ref").
	Ref string
	// User is the claim with the login of the user the job runs as
	// (optional; default "user_login").
	User string
}

func (c ClaimNames) withDefaults() ClaimNames {
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	def(&c.ProjectID, "project_id")
	def(&c.ProjectPath, "project_path")
	def(&c.PipelineID, "pipeline_id")
	def(&c.JobID, "job_id")
	def(&c.Ref, "ref")
	def(&c.User, "user_login")
	return c
}

// Config configures a [Verifier].
type Config struct {
	// JWKSURL is the http(s) URL of the CI server's JSON Web Key Set, for
	// GitLab https://gitlab.example.com/oauth/discovery/keys. Exactly one of
	// JWKSURL and JWKSFile is required.
	JWKSURL string
	// JWKSFile is the path of a file holding the JSON Web Key Set.
	JWKSFile string
	// Issuer is the exact "iss" a token must carry (required).
	Issuer string
	// Audience must be one of the token's "aud" values (required).
	Audience string
	// Leeway is the clock skew tolerated for exp, nbf and iat (default 30s).
	Leeway time.Duration
	// RefreshInterval is the period of the scheduled key-set reload, a URL
	// fetch or a file re-read (default 1h).
	RefreshInterval time.Duration
	// MinRefreshInterval is the minimum time between two loads caused by
	// tokens with unknown kids (default 10s).
	MinRefreshInterval time.Duration
	// Claims names the identity claims; zero fields take GitLab's names.
	Claims ClaimNames
	// CacheSize is the number of verified tokens kept in memory (default 10000).
	CacheSize int
	// HTTPClient fetches JWKSURL (default: a client with a 10s timeout).
	// For an https JWKSURL, a copy of it is used that refuses redirects to
	// any other scheme.
	HTTPClient *http.Client
	// Logger receives key-set load events (default: no logging).
	Logger *zap.Logger
	// Observer, if set, receives metric events.
	Observer Observer
	// Now, if set, replaces time.Now (for tests).
	Now func() time.Time
}

// Observer receives metric events from a [Verifier]. Its methods are called
// synchronously on the request path and must be cheap and safe for
// concurrent use.
type Observer interface {
	// Verified reports an accepted token; cached tells whether the
	// verification came from the cache.
	Verified(cached bool)
	// Refused reports a refused token with its reason, one of [Reasons].
	Refused(reason string)
	// Refresh reports a key-set load attempt and whether it succeeded.
	Refresh(ok bool)
}

type nopObserver struct{}

func (nopObserver) Verified(bool)  {}
func (nopObserver) Refused(string) {}
func (nopObserver) Refresh(bool)   {}

// withDefaults validates c and returns a copy with defaults filled in.
func (c Config) withDefaults() (Config, error) {
	var errs []error
	https := false
	switch {
	case c.JWKSURL == "" && c.JWKSFile == "":
		errs = append(errs, errors.New("one of jwks_url and jwks_file is required"))
	case c.JWKSURL != "" && c.JWKSFile != "":
		errs = append(errs, errors.New("jwks_url and jwks_file are mutually exclusive"))
	case c.JWKSURL != "":
		u, err := url.Parse(c.JWKSURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, errors.New("jwks_url must be an absolute http or https URL"))
		}
		https = err == nil && u.Scheme == "https"
	}
	if c.Issuer == "" {
		errs = append(errs, errors.New("issuer is required"))
	}
	if c.Audience == "" {
		errs = append(errs, errors.New("audience is required"))
	}
	for _, d := range []struct {
		name string
		val  *time.Duration
		def  time.Duration
	}{
		{"leeway", &c.Leeway, DefaultLeeway},
		{"refresh interval", &c.RefreshInterval, DefaultRefreshInterval},
		{"minimum refresh interval", &c.MinRefreshInterval, DefaultMinRefreshInterval},
	} {
		if *d.val < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative", d.name))
		} else if *d.val == 0 {
			*d.val = d.def
		}
	}
	if c.CacheSize < 0 {
		errs = append(errs, errors.New("cache size must not be negative"))
	} else if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	c.Claims = c.Claims.withDefaults()
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if https {
		c.HTTPClient = withoutDowngrade(c.HTTPClient)
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("jobtoken: invalid config: %w", errors.Join(errs...))
	}
	return c, nil
}

// errDowngrade refuses a redirect of an https jwks_url to another scheme.
var errDowngrade = errors.New("JWKS redirect from https to another scheme refused")

// withoutDowngrade returns a copy of client that refuses redirects leaving
// https: keys fetched in the clear could be replaced on the way, and any
// token signed with the replacements would verify. Its own redirect policy
// (by default, at most 10 redirects) still applies.
func withoutDowngrade(client *http.Client) *http.Client {
	c := *client
	next := client.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != "https" {
			return errDowngrade
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &c
}
