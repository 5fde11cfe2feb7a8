package tokenstore

import (
	"context"
	"fmt"
	"strings"

	"go.uber.org/zap"
)

// UpdateDescription changes the description of trigger id and sets its
// UpdatedAt; it returns the trigger as updated, with its usage. The change
// is durable in storage when UpdateDescription returns. A blank description
// is refused with an error wrapping ErrInvalid; an unknown or revoked ID
// gives ErrNotFound.
//
// Only the record found by ID (in its shard, which Get and List read) is
// rewritten. The token index keeps the description given at creation:
// nothing that authenticates a token reads it, and rewriting it could
// overwrite the tombstone of a concurrent revocation, which would bring
// the token back to life.
//
// The record is rewritten under the ID lock, as every writer of a shard
// does. A revocation writes its tombstone (the revoked record) first and
// the record found by ID last: if the token index is a tombstone already,
// the revoked record is written instead (completing a revocation that
// failed or has not reached that step) and the answer is ErrNotFound, as
// if the revocation had come first.
func (s *Store) UpdateDescription(ctx context.Context, id int64, description string) (*Trigger, Usage, error) {
	if strings.TrimSpace(description) == "" {
		return nil, Usage{}, fmt.Errorf("%w: description is required", ErrInvalid)
	}
	if len(description) > MaxDescription {
		return nil, Usage{}, fmt.Errorf("%w: description is longer than %d bytes", ErrInvalid, MaxDescription)
	}
	// From the write on, it must complete even if the caller goes away.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
	defer cancel()
	now := s.now().UTC()
	revoked := false
	t, err := s.rewriteRecord(ctx, id, "storing trigger record", func(r *Trigger) error {
		if r.Revoked() {
			return ErrNotFound
		}
		index, err := s.storage.Load(ctx, tokenKey(r.TokenHash))
		switch {
		case isNotExist(err):
			// A creation by a store of an older version, still writing
			// its records (the token index comes last): not revoked.
		case err != nil:
			return s.unavailable(ctx, "load", "checking the token index", err, zap.Int64("id", id))
		default:
			if stored, derr := decodeTrigger(index); derr == nil && stored.Revoked() && stored.ID == id {
				*r, revoked = *stored, true
				return nil
			}
		}
		r.Description = description
		r.UpdatedAt = &now
		return nil
	})
	if err != nil {
		return nil, Usage{}, err
	}
	if revoked {
		return nil, Usage{}, ErrNotFound
	}
	u, err := s.usageOf(ctx, id)
	if err != nil {
		return nil, Usage{}, err
	}
	s.logger.Debug("trigger updated",
		zap.Int64("id", id),
		zap.String("project", t.Project),
		zap.String("token_prefix", t.TokenPrefix))
	return t.clone(), u, nil
}
