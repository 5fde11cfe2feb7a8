package caddymodule

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/triggergate/caddy-trigger-gateway/jobtoken"
)

// JobTokens configures CI job tokens ($CI_JOB_TOKEN): JWTs signed by the
// CI server, accepted for multi-project pipelines (source `pipeline`) and
// for artifact downloads between projects. A project accepts the job
// tokens of its own jobs, and of the source projects its job_token_allow
// lists; every other job token is refused.
type JobTokens struct {
	// JWKSURL is where the CI server publishes its signing keys, e.g.
	// https://gitlab.example.com/oauth/discovery/keys. The keys are
	// reloaded every refresh_interval and when a token names an unknown key;
	// if the URL fails, the last good keys stay in use. Required unless
	// jwks_file is set (exactly one of the two).
	JWKSURL string `json:"jwks_url,omitempty"`

	// JWKSFile is a file holding the signing keys (a JWKS), instead of a URL.
	// Required unless jwks_url is set (exactly one of the two).
	JWKSFile string `json:"jwks_file,omitempty"`

	// Issuer is the exact "iss" claim job tokens must carry. Required.
	Issuer string `json:"issuer,omitempty"`

	// Audience must be one of the tokens' "aud" values. Required.
	Audience string `json:"audience,omitempty"`

	// Leeway tolerates clock skew on "exp", "nbf" and "iat". Default: 30s.
	Leeway caddy.Duration `json:"leeway,omitempty"`

	// RefreshInterval is how often the keys are reloaded. Default: 1h.
	RefreshInterval caddy.Duration `json:"refresh_interval,omitempty"`

	// MinRefreshInterval is the least time between two reloads caused by
	// tokens naming unknown keys. Default: 10s.
	MinRefreshInterval caddy.Duration `json:"min_refresh_interval,omitempty"`

	// CacheSize is how many verified tokens are remembered (each until it
	// expires). Default: 10000.
	CacheSize int `json:"cache_size,omitempty"`

	// Claims names the claims that carry the job's identity. Defaults:
	// GitLab's ID-token claims (project_id, project_path, pipeline_id,
	// job_id, ref, user_login).
	Claims *JobTokenClaims `json:"claims,omitempty"`

	// ArtifactsHeader, when set, is the header the upstream receives on
	// artifact downloads in place of the caller's job token (which is
	// always removed), e.g. PRIVATE-TOKEN, with ArtifactsCredential as its
	// value. Projects may set their own. Default: none, the upstream gets
	// no credential.
	ArtifactsHeader string `json:"artifacts_header,omitempty"`

	// ArtifactsCredential is the value sent in ArtifactsHeader, e.g.
	// {env.CI_READ_TOKEN}; required with it, and refused without it. Its
	// placeholders are resolved when the config loads; an empty
	// credential, or a placeholder resolving to nothing, stops the config
	// from loading. Default: none.
	ArtifactsCredential string `json:"artifacts_credential,omitempty"`
}

// JobTokenClaims names the JWT claims that carry a job's identity.
type JobTokenClaims struct {
	// ProjectID is the claim of the source project's ID. Default: project_id.
	ProjectID string `json:"project_id,omitempty"`
	// ProjectPath is the claim of the source project's full path. Default: project_path.
	ProjectPath string `json:"project_path,omitempty"`
	// PipelineID is the claim of the source pipeline's ID. Default: pipeline_id.
	PipelineID string `json:"pipeline_id,omitempty"`
	// JobID is the claim of the source job's ID. Default: job_id.
	JobID string `json:"job_id,omitempty"`
	// Ref is the claim of the source pipeline's ref. Default: ref.
	Ref string `json:"ref,omitempty"`
	// User is the claim of the user the job runs as. Default: user_login.
	User string `json:"user,omitempty"`
}

// verifiers holds the job-token verifiers of the running configuration,
// keyed by their configuration: a reload that keeps the job_token block
// keeps the keys and the verified tokens.
var verifiers = caddy.NewUsagePool()

// sharedVerifier stops the key refresh when its last user is cleaned up.
type sharedVerifier struct{ *jobtoken.Verifier }

func (v sharedVerifier) Destruct() error { return v.Close() }

// provisionJobTokens takes a reference to the verifier for this config.
func (h *Handler) provisionJobTokens(ctx caddy.Context) error {
	if h.JobTokens == nil {
		return nil
	}
	// The pool key is the block as resolved, so that a placeholder whose
	// value changed gets a new verifier on reload rather than the old one.
	repl := caddy.NewReplacer()
	cfg := *h.JobTokens
	cfg.ArtifactsCredential = "" // secrets do not belong in a pool key
	cfg.JWKSURL = repl.ReplaceKnown(cfg.JWKSURL, "")
	cfg.JWKSFile = repl.ReplaceKnown(cfg.JWKSFile, "")
	cfg.Issuer = repl.ReplaceKnown(cfg.Issuer, "")
	cfg.Audience = repl.ReplaceKnown(cfg.Audience, "")
	key, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	h.verifierKey = "jobtoken:" + string(key)
	logger := ctx.Logger().Named("job_token")
	value, _, err := verifiers.LoadOrNew(h.verifierKey, func() (caddy.Destructor, error) {
		claims := jobtoken.ClaimNames{}
		if c := h.JobTokens.Claims; c != nil {
			claims = jobtoken.ClaimNames(*c)
		}
		v, err := jobtoken.New(jobtoken.Config{
			JWKSURL:            cfg.JWKSURL,
			JWKSFile:           cfg.JWKSFile,
			Issuer:             cfg.Issuer,
			Audience:           cfg.Audience,
			Leeway:             time.Duration(h.JobTokens.Leeway),
			RefreshInterval:    time.Duration(h.JobTokens.RefreshInterval),
			MinRefreshInterval: time.Duration(h.JobTokens.MinRefreshInterval),
			CacheSize:          h.JobTokens.CacheSize,
			Claims:             claims,
			Logger:             logger,
			Observer:           jobTokenObserver{},
		})
		if err != nil {
			return nil, err
		}
		v.Start()
		return sharedVerifier{v}, nil
	})
	if err != nil {
		h.verifierKey = ""
		return fmt.Errorf("job_token: %v", err)
	}
	h.verifier = value.(sharedVerifier).Verifier
	return nil
}

func (h *Handler) cleanupJobTokens() error {
	if h.verifierKey == "" {
		return nil
	}
	_, err := verifiers.Delete(h.verifierKey)
	h.verifierKey = ""
	return err
}

// jobTokenMayAct applies the permission model: a job token may always act
// on its own project (canonical), and on a project whose allowlist names
// its project.
func (h *Handler) jobTokenMayAct(id *jobtoken.Identity, project string, rules *projectRules) bool {
	if h.canonicalProject(id.ProjectID) == project || h.canonicalProject(id.ProjectPath) == project {
		return true
	}
	return rules.jobTokenAllow != nil && rules.jobTokenAllow.Allows(id.ProjectID, id.ProjectPath)
}

// jobTokenObserver feeds verification events into the metrics.
type jobTokenObserver struct{}

func (jobTokenObserver) Verified(cached bool) {
	if cached {
		jobTokensVerifiedCached.Inc()
		return
	}
	jobTokensVerified.Inc()
}

func (jobTokenObserver) Refused(reason string) {
	gatewayMetrics.jobTokens.WithLabelValues(reason).Inc()
}

func (jobTokenObserver) Refresh(ok bool) {
	if ok {
		jwksRefreshOK.Inc()
		return
	}
	jwksRefreshFailed.Inc()
}
