package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/triggergate/caddy-trigger-gateway/tokenstore"
	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
	"github.com/triggergate/caddy-trigger-gateway/triggerui"
)

// Who revoked a trigger on the Triggers page, as its revoked_by says.
const (
	revokedByPage     = "Triggers page"
	revokedByPageUser = "Triggers page, user "
)

// pageBackend is the token store as the Triggers page uses it, on either
// mount: the gateway it serves, its listings, the store's own validation
// of a new trigger, and the admin API's error statuses. Errors are
// *triggerui.Error values.
type pageBackend struct {
	log *zap.Logger
	// site is set on a site's mount; nil on the admin endpoint's, which
	// finds the gateway as the admin API does (findGateway, ?storage=
	// included) for the operators who reach it.
	site *sitePage
}

// sitePage is what a site's mount of the page serves: the gateway of one
// storage, never one its viewers name. They are not operators: with
// ?storage=, a maintainer of one site's page could manage the triggers
// another site keeps in another storage; and a storage's key can name a
// Redis host or a path, so the page never tells it.
type sitePage struct {
	// storage is the key of the storage the page is bound to (its
	// storage setting); "" when unbound, and then the page serves the
	// storage in use if there is only one.
	storage string
	// warned: the operator was told in the log, once per configuration,
	// why the page cannot serve.
	warned sync.Once
}

// gateway returns the gateway a request of the page is about, or the
// page's error.
func (b pageBackend) gateway(r *http.Request) (*gateway, error) {
	if b.site != nil {
		return b.site.gateway(b.log)
	}
	g, err := findGateway(r)
	if err != nil {
		return nil, pageError(err)
	}
	return g, nil
}

// gateway is the gateway of the page's storage, or, unbound, of the only
// storage in use. It does not read the request: nothing a viewer sends
// chooses the storage.
func (p *sitePage) gateway(log *zap.Logger) (*gateway, error) {
	running := runningGateways()
	if p.storage != "" {
		for _, g := range running {
			if g.key == p.storage {
				return g, nil
			}
		}
		p.warned.Do(func() {
			log.Warn("no trigger_gateway uses the storage the Triggers page on this site is bound to",
				zap.String("storage", p.storage), zap.Strings("storages", gatewayKeys(running)))
		})
		return nil, errPageStorageNotServed
	}
	switch len(running) {
	case 1:
		return running[0], nil
	case 0:
		return nil, pageError(caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: errNoGateway})
	}
	p.warned.Do(func() {
		log.Warn("several trigger_gateway storages are in use; the Triggers page on this site serves none of them until it is bound to one",
			zap.Strings("storages", gatewayKeys(running)),
			zap.String("fix", "give trigger_gateway_ui the storage of the trigger_gateway it serves: storage <module> ..."))
	})
	return nil, errPageStorageNotChosen
}

// The site page's answers when its configuration leaves it no gateway to
// serve: they say so without naming a storage.
var (
	errPageStorageNotChosen = &triggerui.Error{Status: http.StatusServiceUnavailable,
		Message: "503 Service Unavailable - several trigger_gateway storages are in use and this page is bound to none of them; " +
			"the site's operator finds them in Caddy's log"}
	errPageStorageNotServed = &triggerui.Error{Status: http.StatusServiceUnavailable,
		Message: "503 Service Unavailable - no trigger_gateway uses the storage this page is bound to; " +
			"the site's operator finds it in Caddy's log"}
)

// List lists a project's triggers (an alias works), as the admin API does.
func (b pageBackend) List(r *http.Request, project string, revoked bool) ([]triggerui.Trigger, error) {
	g, err := b.gateway(r)
	if err != nil {
		return nil, err
	}
	list, err := g.listProject(r.Context(), project, revoked)
	if err != nil {
		return nil, pageError(adminError(storeFailureStatus(err), fmt.Errorf("listing triggers: %w", err)))
	}
	out := make([]triggerui.Trigger, len(list))
	for i, tu := range list {
		out[i] = pageTrigger(tu.Trigger, tu.Usage)
	}
	return out, nil
}

// Create creates a trigger as the admin API's POST does for a generated
// token: the project by its ID or alias, the expiry in the formats every
// other way of creating a trigger reads, the rest checked by the store.
func (b pageBackend) Create(r *http.Request, req triggerui.CreateRequest) (triggerui.Trigger, error) {
	g, err := b.gateway(r)
	if err != nil {
		return triggerui.Trigger{}, err
	}
	create := tokenstore.CreateRequest{
		Project:     g.canonicalProject(req.Project),
		Description: req.Description,
		Owner:       req.Owner,
	}
	if req.ExpiresAt != "" {
		exp, ok := triggerapi.ParseExpiresAt(req.ExpiresAt)
		if !ok {
			return triggerui.Trigger{}, badPageRequest("expires_at must be " + triggerapi.ExpiresAtFormats)
		}
		create.ExpiresAt = &exp
	}
	t, token, err := g.store.Create(r.Context(), create)
	switch {
	case errors.Is(err, tokenstore.ErrInvalid):
		return triggerui.Trigger{}, badPageRequest(err.Error())
	case err != nil:
		return triggerui.Trigger{}, pageError(adminError(storeFailureStatus(err), fmt.Errorf("creating trigger: %w", err)))
	}
	b.log.Info("trigger created",
		zap.Int64("id", t.ID),
		zap.String("project", t.Project),
		zap.String("token_prefix", t.TokenPrefix),
		zap.String("owner", t.Owner),
		zap.Bool("imported", false),
	)
	out := pageTrigger(t, tokenstore.Usage{})
	out.Token = token
	return out, nil
}

// Revoke revokes a trigger for good, recording the page and its user.
func (b pageBackend) Revoke(r *http.Request, id int64, user string) error {
	g, err := b.gateway(r)
	if err != nil {
		return err
	}
	by := revokedByPage
	if user != "" {
		by = revokedByPageUser + user
	}
	t, _, err := g.store.Get(r.Context(), id)
	if err == nil {
		err = g.store.Revoke(r.Context(), id, by)
	}
	switch {
	case errors.Is(err, tokenstore.ErrInvalid):
		return badPageRequest(err.Error())
	case err != nil:
		return pageError(storeLookupError(id, err))
	}
	b.log.Info("trigger revoked",
		zap.Int64("id", t.ID),
		zap.String("project", t.Project),
		zap.String("token_prefix", t.TokenPrefix),
		zap.String("owner", t.Owner),
		zap.String("revoked_by", by),
	)
	return nil
}

// Deliveries answers a trigger's recent deliveries, as the admin API's
// GET /trigger_gateway/triggers/{id}/deliveries does: 404 for an unknown
// trigger, a revoked one's kept.
func (b pageBackend) Deliveries(r *http.Request, id int64) ([]triggerui.Delivery, error) {
	g, err := b.gateway(r)
	if err != nil {
		return nil, err
	}
	if _, _, err := g.store.GetIncludingRevoked(r.Context(), id); err != nil {
		return nil, pageError(storeLookupError(id, err))
	}
	list, err := g.store.Deliveries(r.Context(), id)
	if err != nil {
		return nil, pageError(adminError(storeFailureStatus(err), fmt.Errorf("trigger %d: reading its deliveries: %w", id, err)))
	}
	out := make([]triggerui.Delivery, len(list))
	for i, d := range list {
		out[i] = triggerui.Delivery{
			Time: d.Time.UTC(), Source: d.Source, Ref: d.Ref, Variables: d.Variables,
			Outcome: d.Outcome, Status: d.Status, PipelineID: d.PipelineID, WebURL: d.WebURL,
		}
	}
	return out, nil
}

// PathPrefix is the trigger API's prefix of the latest handler of the
// gateway the page serves.
func (b pageBackend) PathPrefix(r *http.Request) string {
	g, err := b.gateway(r)
	if err != nil {
		return triggerapi.DefaultPathPrefix
	}
	g.membersMu.Lock()
	defer g.membersMu.Unlock()
	if len(g.members) == 0 || g.members[len(g.members)-1].PathPrefix == "" {
		return triggerapi.DefaultPathPrefix
	}
	return g.members[len(g.members)-1].PathPrefix
}

// pageTrigger is the page's view of a trigger, times in UTC.
func pageTrigger(t *tokenstore.Trigger, u tokenstore.Usage) triggerui.Trigger {
	return triggerui.Trigger{
		ID:          t.ID,
		TokenPrefix: t.TokenPrefix,
		Project:     t.Project,
		Description: t.Description,
		Owner:       t.Owner,
		Legacy:      t.Legacy(),
		CreatedAt:   t.CreatedAt.UTC(),
		ExpiresAt:   utcPtr(t.ExpiresAt),
		LastUsed:    utcPtr(u.LastUsed),
		UseCount:    u.UseCount,
		RevokedAt:   utcPtr(t.RevokedAt),
		RevokedBy:   t.RevokedBy,
	}
}

func badPageRequest(message string) *triggerui.Error {
	return &triggerui.Error{Status: http.StatusBadRequest, Message: "400 Bad request - " + message}
}

// pageError turns an admin API error into the page's: a refusal (4xx)
// with the admin API's words, a failure (5xx) with its status only, since
// the page may face users who have no business reading storage errors.
func pageError(err error) *triggerui.Error {
	apiErr, ok := errors.AsType[caddy.APIError](err)
	if !ok || apiErr.HTTPStatus >= 500 || apiErr.HTTPStatus == 0 {
		status := http.StatusInternalServerError
		if ok && apiErr.HTTPStatus != 0 {
			status = apiErr.HTTPStatus
		}
		return &triggerui.Error{Status: status, Message: fmt.Sprintf("%d %s", status, http.StatusText(status))}
	}
	message := http.StatusText(apiErr.HTTPStatus)
	if apiErr.Err != nil {
		message = apiErr.Err.Error()
	}
	return &triggerui.Error{Status: apiErr.HTTPStatus, Message: fmt.Sprintf("%d %s - %s", apiErr.HTTPStatus, http.StatusText(apiErr.HTTPStatus), message)}
}

// Interface guard
var _ triggerui.Backend = pageBackend{}
