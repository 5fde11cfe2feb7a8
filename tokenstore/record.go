package tokenstore

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Errors returned by the store; test for them with errors.Is.
var (
	// ErrNotFound: the token is unknown or revoked, or no trigger has the ID.
	ErrNotFound = errors.New("trigger not found")
	// ErrRevoked: the token's trigger was revoked. Authenticate answers a
	// revoked token with a *RevokedError, which is ErrRevoked and
	// ErrNotFound both, so callers that only tell found from not found
	// need no change.
	ErrRevoked = errors.New("trigger revoked")
	// ErrTokenExists: an imported token is already registered or was revoked.
	ErrTokenExists = errors.New("token already exists")
	// ErrInvalid: a request to create a trigger is malformed; the wrapping
	// error says why.
	ErrInvalid = errors.New("invalid trigger")
	// ErrUnavailable: the storage failed (other than by a missing key), so the
	// answer is unknown; it is never cached.
	ErrUnavailable = errors.New("token storage unavailable")
)

// Trigger is one trigger token's record. It never holds the token itself.
type Trigger struct {
	// ID is the trigger's integer ID, unique within the storage.
	ID int64 `json:"id"`
	// TokenHash is the hex SHA-256 of the token.
	TokenHash string `json:"token_hash"`
	// TokenPrefix is the part of the token that may be displayed.
	TokenPrefix string `json:"token_prefix"`
	// Project is the project (numeric ID or full path) the token may trigger.
	Project string `json:"project"`
	// Description says what the trigger is for.
	Description string `json:"description"`
	// Owner is who the trigger acts as; empty for a legacy trigger.
	Owner string `json:"owner,omitempty"`
	// Refs, when not empty, are the ref globs this token may trigger, on
	// top of the project's and the gateway's ref rules.
	Refs []string `json:"refs,omitempty"`
	// CreatedAt is when the trigger was created.
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt, when set, is the instant from which the token no longer works.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// UpdatedAt, when set, is when the description was last changed
	// (UpdateDescription). It is kept in the record found by ID only.
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
	// RevokedAt is when the trigger was revoked; nil while it is not.
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	// RevokedBy says who revoked the trigger (an admin API caller's name,
	// a management token's name); empty when not revoked or not known,
	// as in revocations written before it was recorded.
	RevokedBy string `json:"revoked_by,omitempty"`
}

// Revoked reports whether the trigger was revoked.
func (t *Trigger) Revoked() bool { return t.RevokedAt != nil }

// RevokedError is Authenticate's answer for a revoked token: it names the
// trigger, for the logs, and matches ErrRevoked and ErrNotFound. The store
// keeps one per revoked token in its negative cache, so that answering a
// cached revoked token allocates nothing.
type RevokedError struct {
	// TriggerID is the ID of the revoked trigger.
	TriggerID int64
}

func (e *RevokedError) Error() string { return fmt.Sprintf("trigger %d was revoked", e.TriggerID) }

// Is makes a RevokedError match ErrRevoked and ErrNotFound.
func (e *RevokedError) Is(target error) bool { return target == ErrRevoked || target == ErrNotFound }

// Legacy reports whether the trigger has no owner, as GitLab's old triggers.
func (t *Trigger) Legacy() bool { return t.Owner == "" }

// Expired reports whether the trigger has expired at now.
func (t *Trigger) Expired(now time.Time) bool {
	return t.ExpiresAt != nil && !now.Before(*t.ExpiresAt)
}

// clone returns a deep copy, so callers of admin operations can never
// modify a record the cache shares with the request path.
func (t *Trigger) clone() *Trigger {
	c := *t
	if t.ExpiresAt != nil {
		e := *t.ExpiresAt
		c.ExpiresAt = &e
	}
	if t.RevokedAt != nil {
		r := *t.RevokedAt
		c.RevokedAt = &r
	}
	if t.UpdatedAt != nil {
		u := *t.UpdatedAt
		c.UpdatedAt = &u
	}
	c.Refs = slices.Clone(t.Refs)
	return &c
}

// Usage is a trigger's usage summed over every instance, plus what this
// instance has not flushed yet.
type Usage struct {
	// LastUsed is the latest use; nil when the trigger was never used.
	LastUsed *time.Time `json:"last_used"`
	// UseCount is the number of uses.
	UseCount int64 `json:"use_count"`
	// LastPipeline is the pipeline the latest use that the CI answered
	// with one started; nil when none is known.
	LastPipeline *Pipeline `json:"last_pipeline,omitempty"`
}

// Pipeline is a pipeline a trigger started, as the CI's answer named it.
type Pipeline struct {
	// ID is the pipeline's ID in the CI.
	ID int64 `json:"id"`
	// WebURL is the pipeline's page; empty when the CI named none.
	WebURL string `json:"web_url,omitempty"`
	// TriggeredAt is when the request that started it came: in a cluster,
	// the latest by this time is the trigger's last pipeline.
	TriggeredAt time.Time `json:"triggered_at"`
}

// newerThan orders pipelines by TriggeredAt, then ID: every instance
// picks the same one of two.
func (p *Pipeline) newerThan(q *Pipeline) bool {
	if q == nil {
		return true
	}
	if !p.TriggeredAt.Equal(q.TriggeredAt) {
		return p.TriggeredAt.After(q.TriggeredAt)
	}
	return p.ID > q.ID
}

// TriggerUsage pairs a trigger with its usage, for listings.
type TriggerUsage struct {
	// Trigger is the record (a copy the caller owns).
	Trigger *Trigger
	// Usage is the trigger's usage.
	Usage Usage
}
