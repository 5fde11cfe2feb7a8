package tokenstore

import (
	"context"
	"encoding/json"
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
// Only the record found by ID (triggers/<id>, which Get and List read) is
// rewritten. The token index keeps the description given at creation:
// nothing that authenticates a token reads it, and rewriting it could
// overwrite the tombstone of a concurrent revocation, which would bring
// the token back to life.
//
// A revocation that runs meanwhile may have written the revoked record
// before this write replaced it with a live one. Revocations write their
// tombstone (the revoked record) first, so the token index is read after
// the write: if it is a tombstone, it is written back as the record and
// the answer is ErrNotFound, as if the revocation had come first.
func (s *Store) UpdateDescription(ctx context.Context, id int64, description string) (*Trigger, Usage, error) {
	if strings.TrimSpace(description) == "" {
		return nil, Usage{}, fmt.Errorf("%w: description is required", ErrInvalid)
	}
	t, err := s.loadTrigger(ctx, id)
	if err != nil {
		return nil, Usage{}, err
	}
	now := s.now().UTC()
	t.Description = description
	t.UpdatedAt = &now
	data, err := json.Marshal(t)
	if err != nil {
		return nil, Usage{}, fmt.Errorf("encoding trigger record: %w", err)
	}
	// From the write on, the check below must run even if the caller
	// goes away: a record put back over a revocation must be deleted again.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
	defer cancel()
	if err := s.storage.Store(ctx, triggerKey(id), data); err != nil {
		return nil, Usage{}, s.unavailable(ctx, "store", "storing trigger record", err, zap.Int64("id", id))
	}

	index, err := s.storage.Load(ctx, tokenKey(t.TokenHash))
	switch {
	case isNotExist(err):
		// A creation still writing its records (the token index comes
		// last): the trigger is not revoked.
	case err != nil:
		// The update is written; only the check is unknown. Calling again
		// completes it either way.
		return nil, Usage{}, s.unavailable(ctx, "load", "checking the token index", err, zap.Int64("id", id))
	default:
		if stored, derr := decodeTrigger(index); derr == nil && stored.Revoked() && stored.ID == id {
			if err := s.storage.Store(ctx, triggerKey(id), index); err != nil {
				return nil, Usage{}, s.unavailable(ctx, "store", "restoring the record of a revoked trigger", err, zap.Int64("id", id))
			}
			return nil, Usage{}, ErrNotFound
		}
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
