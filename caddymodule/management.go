package caddymodule

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/triggergate/caddy-trigger-gateway/tokenstore"
	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// GitLab's trigger-management API (lib/api/ci/triggers.rb) on the
// gateway's own port, so that scripts and Terraform's gitlab provider
// (resource gitlab_pipeline_trigger) manage the gateway's trigger tokens
// as they manage GitLab's:
//
//	GET    {path_prefix}/projects/:id/triggers               200, the project's triggers
//	GET    {path_prefix}/projects/:id/triggers/:trigger_id   200, or 404 Not found
//	POST   {path_prefix}/projects/:id/triggers               201, with the token (this once only)
//	PUT    {path_prefix}/projects/:id/triggers/:trigger_id   200, the description changed
//	DELETE {path_prefix}/projects/:id/triggers/:trigger_id   204, revoked for good
//
// Requests authenticate with one of the configured management tokens in
// the PRIVATE-TOKEN header, or as Authorization: Bearer. The query forms
// GitLab also accepts (private_token, access_token) are not: a URL ends up
// in access logs and proxies, and a management token can mint trigger
// tokens. The management tokens themselves: management_tokens.go.

// managementMaxBody bounds a create or update body: a description and an
// expiry are short.
const managementMaxBody = 64 << 10

// Refusals of the management API: one answer, several reasons for the logs.
var (
	errManagementNoToken      = triggerapi.ErrUnauthorized.WithReason("missing_management_token")
	errManagementBadToken     = triggerapi.ErrUnauthorized.WithReason("unknown_management_token")
	errManagementProject      = triggerapi.ErrProjectNotFound.WithReason("project_not_allowed")
	errManagementOtherProject = triggerapi.ErrTriggerNotFound.WithReason("trigger_of_another_project")
)

// Actions of the management API, for logs.
const (
	actionList   = "list"
	actionShow   = "show"
	actionCreate = "create"
	actionUpdate = "update"
	actionRevoke = "revoke"
)

// managementDecision is what the handler found out about one management
// request, for the answer, the log line and the metrics.
type managementDecision struct {
	action      string
	name        string // the management token's name, once authenticated
	project     string // canonical
	triggerID   int64
	tokenPrefix string // of the trigger created, updated or revoked
	refusal     *triggerapi.Error
	detail      string // why, when the refusal does not say; never a value
	status      int    // the answer's status on success
	start       time.Time
}

// serveManagement is the management API's flow, for a request that is not
// a trigger API request, when management tokens are configured: a
// trigger-management request, GET /user or GET /projects/:id, GitLab's
// JSON 404 for any other path under path_prefix; the handler's plain 404
// otherwise. Every refusal leaves at the step that finds it; the answer,
// its log line and its metrics are written once, at the end.
func (h *Handler) serveManagement(w http.ResponseWriter, r *http.Request, start time.Time) error {
	if len(h.management) == 0 {
		return caddyhttp.Error(http.StatusNotFound, errNotTriggerAPI)
	}
	h.boundBodyRead(w, r, start)
	route, isTriggers := triggerapi.ParseManagementRoute(h.PathPrefix, r.URL.EscapedPath())
	resource := triggerapi.ResourceUnserved
	if !isTriggers {
		path, underPrefix := triggerapi.ParseGitLabPath(h.PathPrefix, r.URL.EscapedPath())
		if !underPrefix {
			return caddyhttp.Error(http.StatusNotFound, errNotTriggerAPI)
		}
		if path.Resource == triggerapi.ResourceUnserved {
			writeRefusal(w, h.unservedPath) // no credential asked, nothing logged: as Caddy's 404 was
			return nil
		}
		resource, route = path.Resource, triggerapi.ManagementRoute{Project: path.Project}
	}
	d := managementDecision{project: h.canonicalProject(route.Project), start: start}
	allow := route.Allow()
	if isTriggers {
		d.action = managementAction(route, r.Method)
	} else {
		d.action, allow = readAction(resource, r.Method), allowRead
	}
	body := h.decideManagement(w, r, &d, route, resource, allow)
	h.answerManagement(w, &d, body)
	drainRefusedBody(w, r, d.refusal)
	return nil
}

// decideManagement runs the steps of an authenticated management request:
// the caller's management token, the projects it may manage, the method,
// then the action itself. It returns the answer's body, or sets
// d.refusal.
func (h *Handler) decideManagement(w http.ResponseWriter, r *http.Request, d *managementDecision, route triggerapi.ManagementRoute, resource triggerapi.Resource, allow string) any {
	cred := h.authenticateManagement(w, r, d)
	if cred == nil {
		return nil
	}
	if resource != triggerapi.ResourceUser && !cred.mayManage(d.project) {
		d.refusal = errManagementProject
		d.detail = "project not among the management token's projects"
		return nil
	}
	switch d.action {
	case "":
		w.Header().Set("Allow", allow)
		d.refusal = triggerapi.ErrMethod
		return nil
	case actionUser:
		d.status = http.StatusOK
		return triggerapi.NewUser(cred.name)
	case actionProject:
		d.status = http.StatusOK
		return h.newManagementProject(d.project)
	case actionList:
		return h.manageList(w, r, d)
	}
	return h.manage(r, route, d)
}

// authenticateManagement finds the management token the request carries,
// once its client is found under its failed-authentication limit and no
// credential is given twice; nil, with d.refusal set, otherwise. An
// unknown token counts against its client.
func (h *Handler) authenticateManagement(w http.ResponseWriter, r *http.Request, d *managementDecision) *managementCredential {
	client, limited := h.overFailedAuthLimit(w, r, triggerapi.KindManagement, d.start)
	if limited {
		d.refusal = errRateLimited
		return nil
	}
	if refusal, detail := refuseConflictingCredential(r.Header); refusal != nil {
		d.refusal, d.detail = refusal, detail
		return nil
	}
	cred, refusal := h.managementCredentialOf(r)
	switch {
	case refusal == errManagementBadToken && h.limiter != nil:
		h.limiter.failed(client, d.start)
	case refusal == errConflictingCredential:
		d.detail = "Private-Token and Authorization carry different tokens"
	}
	if refusal != nil {
		d.refusal = refusal
		return nil
	}
	d.name = cred.name
	return cred
}

// managementAction names what a method does on a route; "" for a method
// the route does not serve.
func managementAction(route triggerapi.ManagementRoute, method string) string {
	switch {
	case method == http.MethodGet || method == http.MethodHead:
		if route.Item {
			return actionShow
		}
		return actionList
	case method == http.MethodPost && !route.Item:
		return actionCreate
	case method == http.MethodPut && route.Item:
		return actionUpdate
	case method == http.MethodDelete && route.Item:
		return actionRevoke
	}
	return ""
}

// manage carries out an authenticated, authorized request on one trigger,
// or a creation; it returns the answer's body, or sets d.refusal.
func (h *Handler) manage(r *http.Request, route triggerapi.ManagementRoute, d *managementDecision) any {
	store := h.gateway.store
	ctx := r.Context()
	if d.action == actionCreate {
		return h.manageCreate(r, d)
	}

	id, refusal := triggerapi.ParseTriggerID(route.TriggerID)
	if refusal != nil {
		d.refusal = refusal
		return nil
	}
	d.triggerID = id
	var params triggerapi.ManagementParams
	if d.action == actionUpdate {
		if params, d.refusal = h.readManagementParams(r); d.refusal != nil {
			return nil
		}
	}
	t, u, err := store.Get(ctx, id)
	if err != nil {
		d.refusal = h.managementStoreError(d, err)
		return nil
	}
	if h.canonicalProject(t.Project) != d.project {
		d.refusal = errManagementOtherProject
		return nil
	}
	d.tokenPrefix = t.TokenPrefix
	switch d.action {
	case actionShow:
	case actionUpdate:
		if params.HasDescription {
			if t, u, err = store.UpdateDescription(ctx, id, params.Description); err != nil {
				d.refusal = h.managementStoreError(d, err)
				return nil
			}
		}
	case actionRevoke:
		if err := store.Revoke(ctx, id, revokedByManagementToken+d.name); err != nil {
			d.refusal = h.managementStoreError(d, err)
			return nil
		}
		d.status = http.StatusNoContent
		return nil
	}
	d.status = http.StatusOK
	return newManagementTrigger(t, u)
}

// manageList answers one page of the project's triggers, ordered by ID,
// with GitLab's pagination headers.
func (h *Handler) manageList(w http.ResponseWriter, r *http.Request, d *managementDecision) any {
	query := r.URL.Query()
	if d.refusal = triggerapi.CheckPage(query); d.refusal != nil {
		return nil
	}
	list, err := h.gateway.listProject(r.Context(), d.project, false) // GitLab lists no revoked trigger here
	if err != nil {
		d.refusal = h.managementStoreError(d, err)
		return nil
	}
	page := triggerapi.ParsePage(query, len(list))
	page.SetHeaders(w.Header(), requestURL(r))
	start, end := page.Bounds()
	out := make([]triggerapi.Trigger, 0, end-start)
	for _, tu := range list[start:end] {
		out = append(out, newManagementTrigger(tu.Trigger, tu.Usage))
	}
	d.status = http.StatusOK
	return out
}

// manageCreate creates a trigger of d.project owned by the management
// token's name; the answer holds the token, this once only.
func (h *Handler) manageCreate(r *http.Request, d *managementDecision) any {
	params, refusal := h.readManagementParams(r)
	if refusal != nil {
		d.refusal = refusal
		return nil
	}
	if !params.HasDescription {
		d.refusal = triggerapi.ErrDescriptionMissing
		return nil
	}
	req := tokenstore.CreateRequest{Project: d.project, Description: params.Description, Owner: d.name}
	if params.HasExpiresAt && params.ExpiresAt != "" {
		exp, ok := triggerapi.ParseExpiresAt(params.ExpiresAt)
		if !ok {
			d.refusal = triggerapi.ErrExpiresAtInvalid
			return nil
		}
		req.ExpiresAt = &exp
	}
	t, token, err := h.gateway.store.Create(r.Context(), req)
	if err != nil {
		d.refusal = h.managementStoreError(d, err)
		return nil
	}
	d.triggerID, d.tokenPrefix = t.ID, t.TokenPrefix
	out := newManagementTrigger(t, tokenstore.Usage{})
	out.Token = token
	d.status = http.StatusCreated
	return out
}

// readManagementParams reads and parses a create or update body.
func (h *Handler) readManagementParams(r *http.Request) (triggerapi.ManagementParams, *triggerapi.Error) {
	var body bytes.Buffer
	if refusal := readBounded(r, &body, managementMaxBody); refusal != nil {
		return triggerapi.ManagementParams{}, refusal
	}
	return triggerapi.ParseManagementParams(r.Header.Get("Content-Type"), r.URL.RawQuery, body.Bytes())
}

// managementStoreError maps a store error to GitLab's answer.
func (h *Handler) managementStoreError(d *managementDecision, err error) *triggerapi.Error {
	switch {
	case errors.Is(err, tokenstore.ErrNotFound):
		return triggerapi.ErrTriggerNotFound
	case errors.Is(err, tokenstore.ErrInvalid):
		// The store's messages name the rule, never the caller's value.
		return triggerapi.MessageError(http.StatusBadRequest, "invalid_trigger", "400 Bad request - "+err.Error())
	case errors.Is(err, tokenstore.ErrUnavailable):
		h.logger.Error("token storage unavailable", zap.String("project", d.project),
			zap.String("action", d.action), zap.Error(err))
		return triggerapi.ErrUnavailable
	}
	h.logger.Error("trigger management failed", zap.String("project", d.project),
		zap.String("action", d.action), zap.Error(err))
	return triggerapi.ErrInternal
}

// newManagementTrigger is a stored trigger as GitLab's Trigger entity shows
// it, with the token's display prefix as its token.
func newManagementTrigger(t *tokenstore.Trigger, u tokenstore.Usage) triggerapi.Trigger {
	out := triggerapi.Trigger{
		ID:          t.ID,
		Token:       t.TokenPrefix,
		TokenPrefix: t.TokenPrefix,
		Description: t.Description,
		CreatedAt:   triggerapi.Time(t.CreatedAt),
		UpdatedAt:   triggerapi.Time(t.CreatedAt),
		LastUsed:    triggerapi.TimeOf(u.LastUsed),
		ExpiresAt:   triggerapi.TimeOf(t.ExpiresAt),
	}
	if t.UpdatedAt != nil {
		out.UpdatedAt = triggerapi.Time(*t.UpdatedAt)
	}
	if !t.Legacy() {
		out.Owner = &triggerapi.UserBasic{Username: t.Owner, Name: t.Owner}
	}
	return out
}

// answerManagement writes the answer, its log line and its metrics.
func (h *Handler) answerManagement(w http.ResponseWriter, d *managementDecision, body any) {
	header := w.Header()
	header.Set("Cache-Control", "no-store")
	switch {
	case d.refusal != nil:
		writeRefusal(w, d.refusal)
	case d.status == http.StatusNoContent:
		w.WriteHeader(http.StatusNoContent)
	default:
		data, err := json.Marshal(body)
		if err != nil { // plain structs: cannot happen
			d.refusal = triggerapi.ErrInternal
			h.answerManagement(w, d, nil)
			return
		}
		header.Set("Content-Type", "application/json")
		header.Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(d.status)
		_, _ = w.Write(data)
	}
	h.observeManagement(d)
}

// observeManagement writes the decision's log line and metrics. The log
// line names the management token by its name; no label is per token.
func (h *Handler) observeManagement(d *managementDecision) {
	route := triggerapi.KindManagement.String()
	outcome, result := outcomeOf(d.refusal, false)
	source, status := sourceLabel(""), d.status
	if d.name != "" {
		source = route
	}
	if d.refusal != nil {
		status = d.refusal.Status
	}
	gatewayMetrics.requests.WithLabelValues(route, source, outcome).Inc()
	gatewayMetrics.duration.WithLabelValues(route, result).Observe(time.Since(d.start).Seconds())

	msg := "trigger management accepted"
	if d.refusal != nil {
		msg = "trigger management refused"
	}
	if ce := h.logger.Check(zapcore.InfoLevel, msg); ce != nil {
		fields := []zap.Field{
			zap.String("route", route),
			zap.String("management_token", d.name),
			zap.String("project", d.project),
			zap.String("action", d.action),
			zap.String("outcome", outcome),
			zap.Int("status", status),
		}
		if d.triggerID != 0 {
			fields = append(fields, zap.Int64("trigger_id", d.triggerID))
		}
		if d.tokenPrefix != "" {
			fields = append(fields, zap.String("token_prefix", d.tokenPrefix))
		}
		if d.detail != "" {
			fields = append(fields, zap.String("detail", d.detail))
		}
		ce.Write(fields...)
	}
}
