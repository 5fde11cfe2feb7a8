package tokenstore

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.uber.org/zap"
)

// maxKeySegment keeps an escaped project name within one file name on
// common file systems (FileStorage maps a key segment to a file name).
const maxKeySegment = 255

// MaxDescription and MaxOwner bound a trigger's description and owner, in
// bytes, as GitLab's ci_triggers.description column (varchar 255) and a
// user name do: a record, and the shard of 64 records rewritten whole on
// every change, stay small.
const (
	MaxDescription = 255
	MaxOwner       = 255
)

// checkProjectKey refuses, wrapping ErrInvalid, a project whose name
// cannot be one storage key segment: no trigger can have it.
func checkProjectKey(project string) error {
	segments := strings.Split(project, "/")
	switch {
	case slices.Contains(segments, "."), slices.Contains(segments, ".."):
		// Storage keys are paths: "." and ".." would leave projects/.
		return fmt.Errorf("%w: project must not have . or .. as a path segment", ErrInvalid)
	case len(url.PathEscape(FoldProject(project))) > maxKeySegment:
		return fmt.Errorf("%w: project is too long", ErrInvalid)
	}
	return nil
}

// CreateRequest describes a trigger to create.
type CreateRequest struct {
	// Project is the project the token may trigger; required.
	Project string
	// Description says what the trigger is for; required.
	Description string
	// Owner is who the trigger acts as; empty makes a legacy trigger.
	Owner string
	// ExpiresAt, when set, must be in the future.
	ExpiresAt *time.Time
	// ImportToken, when set, registers this existing token instead of
	// generating one (see ValidImportToken).
	ImportToken string
	// Refs, when set, are the ref globs the token may trigger; the caller
	// validates their syntax.
	Refs []string
}

// validate checks the request; errors wrap ErrInvalid.
func (req *CreateRequest) validate(now time.Time) error {
	switch {
	case strings.TrimSpace(req.Project) == "":
		return fmt.Errorf("%w: project is required", ErrInvalid)
	case strings.ContainsFunc(req.Project, unicode.IsControl):
		return fmt.Errorf("%w: project must not contain control characters", ErrInvalid)
	}
	if err := checkProjectKey(req.Project); err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(req.Description) == "":
		return fmt.Errorf("%w: description is required", ErrInvalid)
	case len(req.Description) > MaxDescription:
		return fmt.Errorf("%w: description is longer than %d bytes", ErrInvalid, MaxDescription)
	case len(req.Owner) > MaxOwner:
		return fmt.Errorf("%w: owner is longer than %d bytes", ErrInvalid, MaxOwner)
	case req.ExpiresAt != nil && !req.ExpiresAt.After(now):
		return fmt.Errorf("%w: expires_at must be in the future", ErrInvalid)
	}
	if req.ImportToken != "" {
		return ValidImportToken(req.ImportToken)
	}
	return nil
}

// Create registers a new trigger and returns it with its token, which is
// never available again. The trigger is durable in storage when Create
// returns, and its token works only once every record is written.
func (s *Store) Create(ctx context.Context, req CreateRequest) (t *Trigger, token string, err error) {
	now := s.now().UTC()
	if err := req.validate(now); err != nil {
		return nil, "", err
	}
	token = req.ImportToken
	if token == "" {
		if token, err = NewToken(); err != nil {
			return nil, "", err
		}
	}
	sum := HashToken(token)
	t = &Trigger{
		TokenHash:   hex.EncodeToString(sum[:]),
		TokenPrefix: TokenPrefix(token),
		Project:     req.Project,
		Description: req.Description,
		Owner:       req.Owner,
		Refs:        slices.Clone(req.Refs),
		CreatedAt:   now,
	}
	if req.ExpiresAt != nil {
		e := req.ExpiresAt.UTC()
		t.ExpiresAt = &e
	}

	// The storage lock makes ID allocation and the check that an imported
	// token is new atomic across instances.
	s.createMu.Lock()
	defer s.createMu.Unlock()
	if err := s.storage.Lock(ctx, nextIDLock); err != nil {
		return nil, "", s.unavailable(ctx, "lock", "locking trigger IDs", err)
	}
	defer s.unlockIDs(ctx)

	if req.ImportToken != "" {
		_, err := s.storage.Load(ctx, tokenKey(t.TokenHash))
		if err == nil {
			return nil, "", ErrTokenExists
		}
		if !isNotExist(err) {
			return nil, "", s.unavailable(ctx, "load", "checking imported token", err)
		}
	}
	if t.ID, err = s.allocateID(ctx); err != nil {
		return nil, "", err
	}
	if err := s.writeTrigger(ctx, t); err != nil {
		return nil, "", err
	}
	s.cache.invalidate(&sum)
	s.logger.Debug("trigger created",
		zap.Int64("id", t.ID),
		zap.String("project", t.Project),
		zap.String("token_prefix", t.TokenPrefix),
		zap.Bool("imported", req.ImportToken != ""))
	return t.clone(), token, nil
}

// unlockIDs releases the ID lock even if ctx was cancelled meanwhile.
func (s *Store) unlockIDs(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
	defer cancel()
	if err := s.storage.Unlock(ctx, nextIDLock); err != nil {
		s.storageError(ctx, "lock", err)
	}
}

// allocateID takes the next trigger ID. The caller holds the ID lock. An
// ID is never reused, even when the creation that took it fails.
func (s *Store) allocateID(ctx context.Context) (int64, error) {
	id := int64(1)
	data, err := s.storage.Load(ctx, nextIDKey)
	switch {
	case err == nil:
		id, err = strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		if err != nil || id < 1 {
			return 0, s.unavailable(ctx, "load", "reading next trigger ID",
				fmt.Errorf("corrupt value %q", data))
		}
	case !isNotExist(err):
		return 0, s.unavailable(ctx, "load", "reading next trigger ID", err)
	}
	if err := s.storage.Store(ctx, nextIDKey, []byte(strconv.FormatInt(id+1, 10))); err != nil {
		return 0, s.unavailable(ctx, "store", "storing next trigger ID", err)
	}
	return id, nil
}

// writeTrigger writes the trigger's records, the token index last so the
// token never works before the trigger is complete, then announces it to
// the other instances (whose negative caches may hold the token, for an
// import). The caller holds the ID lock (its shard is rewritten). On
// failure it undoes what it wrote.
func (s *Store) writeTrigger(ctx context.Context, t *Trigger) error {
	data, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("encoding trigger record: %w", err)
	}
	changeKey, change, err := s.newChange(opCreate, t.TokenHash, t.ID)
	if err != nil {
		return err
	}
	rec, before, err := s.loadTriggerShard(ctx, triggerShard(t.ID))
	if err != nil {
		return err
	}
	needMarker := !rec.hasProject(t.Project)
	rec.put(t)
	shardData, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encoding trigger records: %w", err)
	}
	type write struct {
		key, what string
		value     []byte
		undo      []byte // what to put back; nil: delete
	}
	writes := []write{{key: triggerKey(t.ID), what: "storing trigger record", value: shardData, undo: before}}
	if needMarker {
		writes = append(writes, write{key: projectKey(t.Project, t.ID), what: "storing project marker",
			value: []byte(strconv.FormatInt(triggerShard(t.ID), 10))})
	}
	writes = append(writes,
		write{key: tokenKey(t.TokenHash), what: "storing token record", value: data},
		write{key: changeKey, what: "announcing the trigger to other instances", value: change})
	for i, w := range writes {
		if err := s.storage.Store(ctx, w.key, w.value); err != nil {
			err = s.unavailable(ctx, "store", w.what, err, zap.Int64("id", t.ID))
			cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
			defer cancel()
			for _, done := range writes[:i] {
				derr := s.storage.Delete(cleanup, done.key)
				if done.undo != nil {
					derr = s.storage.Store(cleanup, done.key, done.undo)
				}
				if derr != nil {
					s.storageError(cleanup, "delete", derr, zap.Int64("id", t.ID))
				}
			}
			return err
		}
	}
	return nil
}

// Get returns the trigger with the given ID and its usage; a revoked
// trigger gives ErrNotFound (see GetIncludingRevoked).
func (s *Store) Get(ctx context.Context, id int64) (*Trigger, Usage, error) {
	return s.get(ctx, id, s.loadTrigger)
}

// GetIncludingRevoked is Get for a trigger revoked or not: a revoked one
// has RevokedAt (and RevokedBy, when known) set, and the usage it had.
// A trigger revoked before revoked triggers were kept gives ErrNotFound.
func (s *Store) GetIncludingRevoked(ctx context.Context, id int64) (*Trigger, Usage, error) {
	return s.get(ctx, id, s.loadRecord)
}

func (s *Store) get(ctx context.Context, id int64, load func(context.Context, int64) (*Trigger, error)) (*Trigger, Usage, error) {
	t, err := load(ctx, id)
	if err != nil {
		return nil, Usage{}, err
	}
	u, err := s.usageOf(ctx, id)
	if err != nil {
		return nil, Usage{}, err
	}
	return t, u, nil
}

// errCorrupt marks a record that cannot be decoded or does not match its key.
var errCorrupt = errors.New("corrupt trigger record")

// loadRecord reads the record of trigger id, revoked or not, from its
// shard or, for a record not moved into one yet, from where stores before
// shards wrote it: ErrNotFound if missing, an error wrapping
// ErrUnavailable (and errCorrupt for a bad record) otherwise.
func (s *Store) loadRecord(ctx context.Context, id int64) (*Trigger, error) {
	if id < 1 {
		return nil, ErrNotFound
	}
	rec, _, err := s.loadTriggerShard(ctx, triggerShard(id))
	if err != nil {
		return nil, err
	}
	if t := rec.find(id); t != nil {
		return t, nil
	}
	return s.loadPerTriggerRecord(ctx, id)
}

// loadPerTriggerRecord reads triggers/<id>, as stores before shards wrote
// a record (see migrateLayout).
func (s *Store) loadPerTriggerRecord(ctx context.Context, id int64) (*Trigger, error) {
	data, err := s.storage.Load(ctx, perTriggerKey(id))
	if isNotExist(err) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, s.unavailable(ctx, "load", "loading trigger", err, zap.Int64("id", id))
	}
	t, err := decodeTrigger(data)
	if err == nil && t.ID != id {
		err = fmt.Errorf("record holds ID %d", t.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w: %w", ErrUnavailable, errCorrupt, err)
	}
	return t, nil
}

// loadTrigger is loadRecord for a trigger that is not revoked: a revoked
// one gives ErrNotFound.
func (s *Store) loadTrigger(ctx context.Context, id int64) (*Trigger, error) {
	t, err := s.loadRecord(ctx, id)
	if err == nil && t.Revoked() {
		return nil, ErrNotFound
	}
	return t, err
}

// List returns the triggers of project (every trigger when project is ""),
// with their usage, sorted by ID. Revoked triggers are left out (see
// ListRevoked).
func (s *Store) List(ctx context.Context, project string) ([]TriggerUsage, error) {
	return s.list(ctx, project, false)
}

// ListRevoked is List for the revoked triggers only, each with RevokedAt
// set and the usage it had. Triggers revoked before revoked triggers were
// kept are not listed.
func (s *Store) ListRevoked(ctx context.Context, project string) ([]TriggerUsage, error) {
	return s.list(ctx, project, true)
}

// list lists the triggers of project that are revoked, or not.
func (s *Store) list(ctx context.Context, project string, revoked bool) ([]TriggerUsage, error) {
	dirs := []string{triggersDir}
	if project != "" && checkProjectKey(project) != nil {
		// No trigger has it, and its key would fail or leave projects/: a
		// caller's long project path is no storage failure.
		return []TriggerUsage{}, nil
	}
	if project != "" {
		dirs = append([]string{projectDir(project)}, s.variantDirs(ctx, project)...)
	}
	var keys []string
	for _, dir := range dirs {
		listed, err := s.storage.List(ctx, dir, false)
		if err != nil && !isNotExist(err) {
			return nil, s.unavailable(ctx, "list", "listing triggers", err)
		}
		keys = append(keys, listed...)
	}
	records, err := s.loadListedTriggers(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make([]TriggerUsage, 0, len(records))
	for _, t := range records {
		if t.Revoked() != revoked || (project != "" && FoldProject(t.Project) != FoldProject(project)) {
			continue
		}
		out = append(out, TriggerUsage{Trigger: t})
	}
	found := make([]int64, len(out))
	for i, tu := range out {
		found[i] = tu.Trigger.ID
	}
	usage, err := s.usagesOf(ctx, found) // each usage record read once
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Usage = usage[out[i].Trigger.ID]
	}
	return out, nil
}

// loadListedTriggers reads the records that listed keys name, sorted by ID: the
// shards named (s<shard>), and the records stores before shards wrote
// (<id>, a record or a marker), each from its shard if it was moved into
// one, else from triggers/<id>. Unreadable records are left out.
func (s *Store) loadListedTriggers(ctx context.Context, keys []string) ([]*Trigger, error) {
	var shards, perTrigger []int64
	for _, key := range keys {
		if shard, ok := shardFromKey(key); ok {
			shards = append(shards, shard)
		} else if id, ok := idFromKey(key); ok {
			perTrigger = append(perTrigger, id)
			shards = append(shards, triggerShard(id))
		}
	}
	slices.Sort(shards)
	records := make(map[int64]*Trigger)
	for _, shard := range slices.Compact(shards) {
		rec, _, err := s.loadTriggerShard(ctx, shard)
		switch {
		case errors.Is(err, errCorrupt):
			s.logger.Warn("ignoring unreadable trigger records", zap.Int64("shard", shard), zap.Error(err))
			continue
		case err != nil:
			return nil, err
		}
		for _, t := range rec.Triggers {
			records[t.ID] = t
		}
	}
	for _, id := range perTrigger {
		if _, ok := records[id]; ok {
			continue // moved into its shard: the shard's record wins
		}
		t, err := s.loadPerTriggerRecord(ctx, id)
		switch {
		case errors.Is(err, ErrNotFound):
			continue // a marker left by a failed cleanup, or by an old-style revocation
		case errors.Is(err, errCorrupt):
			// Also what a storage's temporary file in the directory looks like.
			s.logger.Warn("ignoring an unreadable trigger record", zap.Int64("id", id), zap.Error(err))
			continue
		case err != nil:
			return nil, err
		}
		records[id] = t
	}
	ids := slices.Sorted(maps.Keys(records))
	out := make([]*Trigger, len(ids))
	for i, id := range ids {
		out[i] = records[id]
	}
	return out, nil
}

// maxRevokedBy bounds Trigger.RevokedBy.
const maxRevokedBy = 255

// tokenHashSum is t's token hash as bytes, the cache's key.
func tokenHashSum(t *Trigger) (sum [32]byte, err error) {
	if len(t.TokenHash) != hex.EncodedLen(len(sum)) {
		return sum, fmt.Errorf("%w: %w: bad token hash in trigger %d", ErrUnavailable, errCorrupt, t.ID)
	}
	if _, err := hex.Decode(sum[:], []byte(t.TokenHash)); err != nil {
		return sum, fmt.Errorf("%w: %w: bad token hash in trigger %d", ErrUnavailable, errCorrupt, t.ID)
	}
	return sum, nil
}

// AnnounceRevocation is for trigger id, revoked already, by this store or
// another sharing the storage: it drops the token from this store's cache
// and announces the revocation on the change feed again, so that an
// AwaitChanges that follows returns only once every live store refuses the
// token, whoever revoked it. That is how a wait that ended unconfirmed is
// run again, once the stores it named are back. ErrNotFound if no trigger
// has the ID; an error wrapping ErrInvalid if the trigger is not revoked.
func (s *Store) AnnounceRevocation(ctx context.Context, id int64) error {
	t, err := s.loadRecord(ctx, id)
	if err != nil {
		return err
	}
	if !t.Revoked() {
		return fmt.Errorf("%w: trigger %d is not revoked", ErrInvalid, id)
	}
	sum, err := tokenHashSum(t)
	if err != nil {
		return err
	}
	s.cache.invalidate(&sum)
	return s.announce(ctx, opRevoke, t.TokenHash, id)
}

// Revoke revokes the trigger irreversibly; by says who (Trigger.RevokedBy:
// at most 255 characters, no control character, may be empty). Its token
// index becomes a tombstone first (the record, revoked_at and revoked_by
// set), so the token stops working here at once and can never be imported
// again; then the change feed tells the other instances, which refuse the
// token within their ChangePollInterval plus one storage round trip; then
// the record found by ID becomes the same revoked record: the trigger stays
// listed (ListRevoked) and shown (GetIncludingRevoked), with its usage,
// which is kept. Each step is durable before the next; if one fails,
// calling Revoke again completes it. A trigger revoked already gives
// ErrNotFound.
func (s *Store) Revoke(ctx context.Context, id int64, by string) error {
	if len(by) > maxRevokedBy || strings.ContainsFunc(by, unicode.IsControl) {
		return fmt.Errorf("%w: revoked_by must have at most %d characters and no control character", ErrInvalid, maxRevokedBy)
	}
	t, err := s.loadTrigger(ctx, id)
	if err != nil {
		return err
	}
	sum, err := tokenHashSum(t)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	revoked := t.clone()
	revoked.RevokedAt, revoked.RevokedBy = &now, by
	data, err := json.Marshal(revoked)
	if err != nil {
		return fmt.Errorf("encoding tombstone: %w", err)
	}
	if err := s.storage.Store(ctx, tokenKey(t.TokenHash), data); err != nil {
		return s.unavailable(ctx, "store", "storing tombstone", err, zap.Int64("id", id))
	}
	s.cache.invalidate(&sum)
	if err := s.announce(ctx, opRevoke, t.TokenHash, id); err != nil {
		return err
	}
	// The record found by ID goes last: while it is not revoked, a retry
	// finds the trigger. It is read again under the ID lock, so that a
	// description changed meanwhile is kept.
	if _, err := s.rewriteRecord(ctx, id, "storing the revoked trigger record", func(r *Trigger) error {
		if !r.Revoked() {
			r.RevokedAt, r.RevokedBy = revoked.RevokedAt, revoked.RevokedBy
		}
		return nil
	}); err != nil {
		return err
	}
	s.logger.Debug("trigger revoked",
		zap.Int64("id", id),
		zap.String("project", t.Project),
		zap.String("token_prefix", t.TokenPrefix))
	return nil
}
