package triggerui

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// Backend is the gateway's token store as the page uses it. Its errors
// are *Error values (answered as they are) or anything else (500, the
// text kept out of the answer). r is the page's request: a backend may
// read its context and query (the storage a request is about).
type Backend interface {
	// List returns project's triggers (every trigger for ""), the revoked
	// ones instead when revoked is set, without token.
	List(r *http.Request, project string, revoked bool) ([]Trigger, error)
	// Create creates a trigger; the answer holds its token, this once.
	Create(r *http.Request, req CreateRequest) (Trigger, error)
	// Revoke revokes trigger id for good; user is who did it ("" on the
	// admin endpoint).
	Revoke(r *http.Request, id int64, user string) error
	// Deliveries returns the recent uses of trigger id, newest first.
	Deliveries(r *http.Request, id int64) ([]Delivery, error)
	// PathPrefix is where the gateway serves the trigger API.
	PathPrefix(r *http.Request) string
}

// Delivery is one recent use of a trigger: the variables by name only.
type Delivery struct {
	Time      time.Time `json:"time"`
	Source    string    `json:"source"`
	Ref       string    `json:"ref,omitempty"`
	Variables []string  `json:"variables"`
	// Outcome is accepted, replayed, or why the request was refused.
	Outcome string `json:"outcome"`
	// Status is the CI's HTTP answer; 0 when nothing was forwarded.
	Status     int    `json:"status,omitempty"`
	PipelineID *int64 `json:"pipeline_id"`
	WebURL     string `json:"web_url,omitempty"`
}

// Trigger is a trigger as the page shows it.
type Trigger struct {
	ID          int64      `json:"id"`
	Token       string     `json:"token,omitempty"`
	TokenPrefix string     `json:"token_prefix"`
	Project     string     `json:"project"`
	Description string     `json:"description"`
	Owner       string     `json:"owner"`
	Legacy      bool       `json:"legacy"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	// Expired is set by the page's API from ExpiresAt.
	Expired   bool       `json:"expired"`
	LastUsed  *time.Time `json:"last_used"`
	UseCount  int64      `json:"use_count"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	RevokedBy string     `json:"revoked_by,omitempty"`
}

// CreateRequest is the body of the page's POST api/triggers.
type CreateRequest struct {
	Project     string `json:"project"`
	Description string `json:"description"`
	Owner       string `json:"owner"`
	// ExpiresAt is empty, a date (midnight UTC) or an RFC 3339 time.
	ExpiresAt string `json:"expires_at"`
}

// session is what the page learns first: who looks, what they may do,
// the CSRF token for their changes, and what the snippets need.
type session struct {
	User       string `json:"user"`
	CanManage  bool   `json:"can_manage"`
	CSRFToken  string `json:"csrf_token"`
	PathPrefix string `json:"path_prefix"`
	GatewayURL string `json:"gateway_url,omitempty"`
}

// maxCreateBody bounds the body of a creation: four short strings.
const maxCreateBody = 16 << 10

// serveAPI routes the page's API: api/session, api/triggers,
// api/triggers/{id} and api/triggers/{id}/deliveries.
func (p *Page) serveAPI(w http.ResponseWriter, r *http.Request, route string, v Viewer) {
	var err error
	collection, item, hasItem := strings.Cut(route, "/")
	if id, ok := strings.CutSuffix(item, "/deliveries"); ok && collection == "triggers" && !strings.Contains(id, "/") {
		if err = allow(r, http.MethodGet); err == nil {
			err = p.handleDeliveries(w, r, id)
		}
		if err != nil {
			writeError(w, err)
		}
		return
	}
	switch {
	case route == "session":
		err = allow(r, http.MethodGet)
		if err == nil {
			writeJSON(w, http.StatusOK, session{
				User: v.User, CanManage: v.CanManage, CSRFToken: startSession(w, r, p.Mount, v.User),
				PathPrefix: p.Backend.PathPrefix(r), GatewayURL: p.GatewayURL,
			})
		}
	case collection != "triggers" || strings.Contains(item, "/"):
		err = errNotFound
	case !hasItem && r.Method == http.MethodPost:
		err = p.handleCreate(w, r, v)
	case !hasItem:
		if err = allow(r, http.MethodGet, http.MethodPost); err == nil {
			err = p.handleList(w, r)
		}
	default:
		if err = allow(r, http.MethodDelete); err == nil {
			err = p.handleRevoke(w, r, item, v)
		}
	}
	if err != nil {
		w.Header().Set("Cache-Control", "no-store")
		writeError(w, err)
	}
}

// allow refuses a method other than those given.
func allow(r *http.Request, methods ...string) error {
	for _, m := range methods {
		if r.Method == m {
			return nil
		}
	}
	return errMethod
}

// authorizeChange lets a state change through only for a viewer who may
// manage, from the page itself (checkStateChange).
func (p *Page) authorizeChange(r *http.Request, v Viewer) error {
	if !v.CanManage {
		return errForbidden
	}
	if why := checkStateChange(r, p.Mount, v.User); why != "" {
		p.logger().Warn("refused a state change on the Triggers page",
			zap.String("mount", p.Mount), zap.String("user", v.User),
			zap.String("method", r.Method), zap.String("reason", why))
		return errForbidden
	}
	return nil
}

// handleCreate creates a trigger and answers 201 with it and its token.
func (p *Page) handleCreate(w http.ResponseWriter, r *http.Request, v Viewer) error {
	if err := p.authorizeChange(r, v); err != nil {
		return err
	}
	var req CreateRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	t, err := p.Backend.Create(r, req)
	if err != nil {
		return err
	}
	p.logger().Info("trigger added on the Triggers page",
		zap.String("mount", p.Mount), zap.String("user", v.User),
		zap.Int64("id", t.ID), zap.String("project", t.Project), zap.String("token_prefix", t.TokenPrefix))
	writeJSON(w, http.StatusCreated, t)
	return nil
}

// handleDeliveries answers a trigger's recent deliveries; anyone who may
// look at the page may look at them: they hold no variable value.
func (p *Page) handleDeliveries(w http.ResponseWriter, r *http.Request, rawID string) error {
	id, err := parseID(rawID)
	if err != nil {
		return err
	}
	list, err := p.Backend.Deliveries(r, id)
	if err != nil {
		return err
	}
	if list == nil {
		list = []Delivery{}
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

// parseID reads a trigger ID as every other API of the gateway does,
// without echoing it: a token may have been pasted in its place.
func parseID(raw string) (int64, error) {
	id, refusal := triggerapi.ParseTriggerID(raw)
	if refusal != nil {
		return 0, &Error{Status: http.StatusBadRequest, Message: "400 Bad request - invalid trigger ID: must be a positive integer"}
	}
	return id, nil
}

// handleRevoke revokes a trigger and answers 204.
func (p *Page) handleRevoke(w http.ResponseWriter, r *http.Request, rawID string, v Viewer) error {
	if err := p.authorizeChange(r, v); err != nil {
		return err
	}
	id, err := parseID(rawID)
	if err != nil {
		return err
	}
	if err := p.Backend.Revoke(r, id, v.User); err != nil {
		return err
	}
	p.logger().Info("trigger revoked on the Triggers page",
		zap.String("mount", p.Mount), zap.String("user", v.User), zap.Int64("id", id))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// decodeJSON reads one JSON object of at most maxCreateBody bytes with no
// unknown field.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return statusError(http.StatusUnsupportedMediaType)
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxCreateBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.Decode(new(json.RawMessage)) != io.EOF {
		err = errors.New("the body must hold a single JSON object")
	}
	if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
		return statusError(http.StatusRequestEntityTooLarge)
	}
	if err != nil {
		// Only the decoder's own words: a field's value is never echoed.
		return &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf("400 Bad request - %s", jsonProblem(err))}
	}
	return nil
}

// jsonProblem describes a decoding error without quoting the body.
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr):
		return typeErr.Field + " must be a " + typeErr.Type.String()
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ")
	case errors.Is(err, io.EOF):
		return "the body is empty"
	}
	return "the body is not a JSON object"
}
