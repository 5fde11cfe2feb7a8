package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/triggergate/caddy-trigger-gateway/policy"
	"github.com/triggergate/caddy-trigger-gateway/tokenstore"
	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

func init() {
	caddy.RegisterModule(adminAPI{})
}

// adminEndpointBase is where the module's routes live on Caddy's admin endpoint.
const adminEndpointBase = "/trigger_gateway/"

// adminMaxBody bounds a creation request: its fields are short strings, so
// anything larger is a mistake or an abuse of the admin endpoint.
const adminMaxBody = 64 << 10

// adminAPI serves /trigger_gateway/ on Caddy's admin endpoint: creating,
// listing, showing and revoking trigger tokens, and their recent deliveries. It has no configuration of
// its own; it finds the token stores of the running handlers in gateways.
type adminAPI struct {
	log *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (adminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.trigger_gateway",
		New: func() caddy.Module { return new(adminAPI) },
	}
}

// Provision sets up the module's logger.
func (a *adminAPI) Provision(ctx caddy.Context) error {
	a.log = ctx.Logger(a)
	return nil
}

// Routes returns the admin routes of the module.
func (a *adminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{
		Pattern: adminEndpointBase,
		Handler: caddy.AdminHandlerFunc(a.handleAPI),
	}, {
		Pattern: adminUIBase,
		Handler: caddy.AdminHandlerFunc(a.handleUI),
	}}
}

// adminTrigger is a trigger as the admin API shows it. Token is set only in
// the answer to a creation: the store keeps nothing but its hash.
type adminTrigger struct {
	ID          int64      `json:"id"`
	Token       string     `json:"token,omitempty"`
	TokenPrefix string     `json:"token_prefix"`
	Project     string     `json:"project"`
	Description string     `json:"description"`
	Owner       string     `json:"owner"`
	Legacy      bool       `json:"legacy"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   *time.Time `json:"expires_at"` // null: never expires (contract §4 lists it, as last_used)
	Refs        []string   `json:"refs,omitempty"`
	LastUsed    *time.Time `json:"last_used"`
	UseCount    int64      `json:"use_count"`
	// LastPipeline is the pipeline the trigger's latest answered use
	// started, as the CI's answer named it; null when none is known.
	LastPipeline *tokenstore.Pipeline `json:"last_pipeline"`
	// RevokedAt and RevokedBy are set for a revoked trigger only.
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	RevokedBy string     `json:"revoked_by,omitempty"`
}

// newAdminTrigger builds the admin API's view of a trigger, times in UTC.
func newAdminTrigger(t *tokenstore.Trigger, u tokenstore.Usage) adminTrigger {
	return adminTrigger{
		ID:           t.ID,
		TokenPrefix:  t.TokenPrefix,
		Project:      t.Project,
		Description:  t.Description,
		Owner:        t.Owner,
		Legacy:       t.Legacy(),
		CreatedAt:    t.CreatedAt.UTC(),
		ExpiresAt:    utcPtr(t.ExpiresAt),
		Refs:         t.Refs,
		LastUsed:     utcPtr(u.LastUsed),
		UseCount:     u.UseCount,
		LastPipeline: u.LastPipeline,
		RevokedAt:    utcPtr(t.RevokedAt),
		RevokedBy:    t.RevokedBy,
	}
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// adminCreateRequest is the body of POST /trigger_gateway/triggers.
// ExpiresAt is a string so that a malformed time gets a clear message.
type adminCreateRequest struct {
	Project     string   `json:"project"`
	Description string   `json:"description"`
	Owner       string   `json:"owner"`
	ExpiresAt   string   `json:"expires_at"`
	Token       string   `json:"token"`
	Refs        []string `json:"refs,omitempty"`
}

// handleAPI routes the requests under adminEndpointBase.
func (a *adminAPI) handleAPI(w http.ResponseWriter, r *http.Request) error {
	rest := strings.TrimPrefix(r.URL.Path, adminEndpointBase)
	if rest == "explain" {
		return a.handleExplain(w, r)
	}
	collection, item, hasItem := strings.Cut(rest, "/")
	rawID, sub, hasSub := strings.Cut(item, "/")
	if collection != "triggers" || (hasSub && sub != "deliveries") {
		// The path is not echoed: a mistyped request could carry a token in it.
		return adminError(http.StatusNotFound, errors.New("resource not found"))
	}
	if hasSub {
		if r.Method != http.MethodGet {
			return methodNotAllowed(w, r, http.MethodGet)
		}
		return a.handleDeliveries(w, r, rawID)
	}
	if !hasItem {
		switch r.Method {
		case http.MethodGet:
			return a.handleList(w, r)
		case http.MethodPost:
			return a.handleCreate(w, r)
		}
		return methodNotAllowed(w, r, http.MethodGet, http.MethodPost)
	}
	switch r.Method {
	case http.MethodGet:
		return a.handleShow(w, r, item)
	case http.MethodDelete:
		return a.handleRevoke(w, r, item)
	}
	return methodNotAllowed(w, r, http.MethodGet, http.MethodDelete)
}

// handleCreate creates a trigger (generated or imported token) and answers
// 201 with the trigger and, this one time, its token.
func (a *adminAPI) handleCreate(w http.ResponseWriter, r *http.Request) error {
	g, err := findGateway(r)
	if err != nil {
		return err
	}
	var body adminCreateRequest
	if err := decodeAdminJSON(w, r, &body); err != nil {
		return err
	}
	req := tokenstore.CreateRequest{
		Project:     g.canonicalProject(body.Project),
		Description: body.Description,
		Owner:       body.Owner,
		ImportToken: body.Token,
		Refs:        body.Refs,
	}
	if _, err := policy.CompileRefs(body.Refs); err != nil {
		return adminError(http.StatusBadRequest, fmt.Errorf("refs: %v", err))
	}
	if err := g.checkTokenRefs(req.Project, body.Refs); err != nil {
		return adminError(http.StatusBadRequest, err)
	}
	if body.ExpiresAt != "" {
		exp, ok := triggerapi.ParseExpiresAt(body.ExpiresAt)
		if !ok {
			return adminError(http.StatusBadRequest, errors.New("expires_at must be "+triggerapi.ExpiresAtFormats))
		}
		req.ExpiresAt = &exp
	}

	t, token, err := g.store.Create(r.Context(), req)
	switch {
	case errors.Is(err, tokenstore.ErrInvalid):
		return adminError(http.StatusBadRequest, err)
	case errors.Is(err, tokenstore.ErrTokenExists):
		return adminError(http.StatusConflict, errors.New("this token is already registered or was revoked"))
	case err != nil:
		return adminError(storeFailureStatus(err), fmt.Errorf("creating trigger: %w", err))
	}

	a.logger().Info("trigger created",
		zap.Int64("id", t.ID),
		zap.String("project", t.Project),
		zap.String("token_prefix", t.TokenPrefix),
		zap.String("owner", t.Owner),
		zap.Bool("imported", req.ImportToken != ""),
	)
	out := newAdminTrigger(t, tokenstore.Usage{})
	out.Token = token
	w.Header().Set("Location", adminEndpointBase+"triggers/"+strconv.FormatInt(t.ID, 10))
	return writeAdminJSON(w, http.StatusCreated, out)
}

// handleList answers every trigger, or those of ?project= (an alias works
// too); the revoked ones instead with ?revoked=true.
func (a *adminAPI) handleList(w http.ResponseWriter, r *http.Request) error {
	g, err := findGateway(r)
	if err != nil {
		return err
	}
	query := r.URL.Query()
	revoked := false
	if raw := query.Get("revoked"); raw != "" {
		if revoked, err = strconv.ParseBool(raw); err != nil {
			return adminError(http.StatusBadRequest, errors.New("revoked must be true or false"))
		}
	}
	list, err := g.listProject(r.Context(), query.Get("project"), revoked)
	if err != nil {
		return adminError(storeFailureStatus(err), fmt.Errorf("listing triggers: %w", err))
	}
	out := make([]adminTrigger, 0, len(list))
	for _, tu := range list {
		out = append(out, newAdminTrigger(tu.Trigger, tu.Usage))
	}
	return writeAdminJSON(w, http.StatusOK, out)
}

// handleShow answers one trigger by ID, revoked or not.
func (a *adminAPI) handleShow(w http.ResponseWriter, r *http.Request, rawID string) error {
	id, err := parseTriggerID(rawID)
	if err != nil {
		return err
	}
	g, err := findGateway(r)
	if err != nil {
		return err
	}
	t, u, err := g.store.GetIncludingRevoked(r.Context(), id)
	if err != nil {
		return storeLookupError(id, err)
	}
	return writeAdminJSON(w, http.StatusOK, newAdminTrigger(t, u))
}

// handleDeliveries answers the recent deliveries of a trigger, revoked or
// not, newest first (at most tokenstore.MaxDeliveries): the same list on
// every instance sharing the storage.
func (a *adminAPI) handleDeliveries(w http.ResponseWriter, r *http.Request, rawID string) error {
	id, err := parseTriggerID(rawID)
	if err != nil {
		return err
	}
	g, err := findGateway(r)
	if err != nil {
		return err
	}
	if _, _, err := g.store.GetIncludingRevoked(r.Context(), id); err != nil {
		return storeLookupError(id, err)
	}
	list, err := g.store.Deliveries(r.Context(), id)
	if err != nil {
		return adminError(storeFailureStatus(err), fmt.Errorf("trigger %d: reading its deliveries: %w", id, err))
	}
	return writeAdminJSON(w, http.StatusOK, list)
}

// handleRevoke revokes a trigger for good and answers 204. The trigger
// records who revoked it: revokedByAdminAPI, with the user the request
// names in adminUserHeader, if any.
func (a *adminAPI) handleRevoke(w http.ResponseWriter, r *http.Request, rawID string) error {
	id, err := parseTriggerID(rawID)
	if err != nil {
		return err
	}
	by, err := adminRevokedBy(r.Header)
	if err != nil {
		return err
	}
	g, err := findGateway(r)
	if err != nil {
		return err
	}
	wait, err := parseRevokeWait(r.URL.Query(), g)
	if err != nil {
		return err
	}
	// Read first only for the log line: Revoke reports an unknown ID itself,
	// so a concurrent revocation in between still ends in a 404.
	t, _, err := g.store.Get(r.Context(), id)
	if errors.Is(err, tokenstore.ErrNotFound) {
		if wait > 0 {
			return a.awaitRevocationAgain(w, r, g, id, wait)
		}
		return alreadyRevokedError(r, g, id)
	}
	if err != nil {
		return storeLookupError(id, err)
	}
	if err := g.store.Revoke(r.Context(), id, by); err != nil {
		return storeLookupError(id, err)
	}
	a.logger().Info("trigger revoked",
		zap.Int64("id", t.ID),
		zap.String("project", t.Project),
		zap.String("token_prefix", t.TokenPrefix),
		zap.String("owner", t.Owner),
		zap.String("revoked_by", by),
	)
	if wait > 0 {
		return a.awaitRevocation(w, r, g, id, wait)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// alreadyRevokedError is the answer to revoking trigger id, which the
// store does not hold as a live trigger: 404, saying when and by whom it
// was revoked if it was, since showing it works.
func alreadyRevokedError(r *http.Request, g *gateway, id int64) error {
	t, _, err := g.store.GetIncludingRevoked(r.Context(), id)
	switch {
	case err != nil:
		return storeLookupError(id, err)
	case t.RevokedAt == nil: // the two reads disagree: answer as the first did
		return storeLookupError(id, tokenstore.ErrNotFound)
	}
	return adminError(http.StatusNotFound, fmt.Errorf("trigger %d is already revoked (since %s, by %s)",
		id, t.RevokedAt.UTC().Format(time.RFC3339), orText(t.RevokedBy, "unknown")))
}

func (a *adminAPI) logger() *zap.Logger {
	if a.log == nil {
		return zap.NewNop()
	}
	return a.log
}

// parseTriggerID accepts positive decimal IDs (triggerapi.ParseTriggerID,
// as the management API and the CLI). The raw value is not echoed back:
// someone may paste a token where the ID belongs.
func parseTriggerID(raw string) (int64, error) {
	id, refusal := triggerapi.ParseTriggerID(raw)
	if refusal != nil {
		return 0, adminError(http.StatusBadRequest, errors.New("invalid trigger ID: must be a positive integer"))
	}
	return id, nil
}

// storeLookupError maps a store error about trigger id to the admin answer.
func storeLookupError(id int64, err error) error {
	if errors.Is(err, tokenstore.ErrNotFound) {
		return adminError(http.StatusNotFound, fmt.Errorf("trigger %d not found", id))
	}
	return adminError(storeFailureStatus(err), fmt.Errorf("trigger %d: %w", id, err))
}

// decodeAdminJSON reads exactly one JSON object of at most adminMaxBody bytes
// with no unknown fields, so a typo in a field name is not silently ignored.
func decodeAdminJSON(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeAdminJSONUpTo(w, r, v, adminMaxBody)
}

// decodeAdminJSONUpTo is decodeAdminJSON for a body of at most limit bytes.
func decodeAdminJSONUpTo(w http.ResponseWriter, r *http.Request, v any, limit int64) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		// A second value (or garbage) after the object is an error too.
		switch err2 := dec.Decode(new(json.RawMessage)); {
		case err2 == io.EOF:
			return nil
		case isMaxBytesError(err2):
			err = err2
		default:
			err = errors.New("request body must hold a single JSON object")
		}
	}
	if isMaxBytesError(err) {
		return adminError(http.StatusRequestEntityTooLarge,
			fmt.Errorf("request body larger than %d bytes", limit))
	}
	if errors.Is(err, io.EOF) {
		err = errors.New("empty request body")
	}
	return adminError(http.StatusBadRequest, fmt.Errorf("decoding request body: %w", err))
}

func isMaxBytesError(err error) bool {
	_, ok := errors.AsType[*http.MaxBytesError](err)
	return ok
}

// writeAdminJSON answers v as JSON with status.
func writeAdminJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return adminError(http.StatusInternalServerError, err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return nil
}

// storeFailureStatus tells an unreachable storage (503: try again) from
// any other failure (500).
func storeFailureStatus(err error) int {
	if errors.Is(err, tokenstore.ErrUnavailable) {
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func adminError(status int, err error) error {
	return caddy.APIError{HTTPStatus: status, Err: err}
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allowed ...string) error {
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	return adminError(http.StatusMethodNotAllowed, fmt.Errorf("method not allowed: %s", r.Method))
}

// Interface guards
var (
	_ caddy.AdminRouter = (*adminAPI)(nil)
	_ caddy.Provisioner = (*adminAPI)(nil)
)
