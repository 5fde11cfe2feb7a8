package triggerapi

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// ManagementRoute is what the URL path says about a request to GitLab's
// trigger-management API (lib/api/ci/triggers.rb):
//
//	GET    /projects/:id/triggers               list
//	POST   /projects/:id/triggers               create
//	GET    /projects/:id/triggers/:trigger_id   show
//	PUT    /projects/:id/triggers/:trigger_id   update the description
//	DELETE /projects/:id/triggers/:trigger_id   revoke
type ManagementRoute struct {
	// Project is the project as the URL names it, unescaped.
	Project string
	// TriggerID is the :trigger_id segment as sent, unescaped and not yet
	// validated (GitLab answers 400 "trigger_id is invalid" for a
	// non-integer); empty on the collection route.
	TriggerID string
	// Item is true on /triggers/:trigger_id, false on /triggers.
	Item bool
}

// Allow is the Allow header of the route: the methods GitLab serves on it.
func (r ManagementRoute) Allow() string {
	if r.Item {
		return "GET, HEAD, PUT, DELETE"
	}
	return "GET, HEAD, POST"
}

// ParseManagementRoute recognizes a trigger-management path under prefix,
// reading the escaped path as ParseRoute does.
func ParseManagementRoute(prefix, escapedPath string) (ManagementRoute, bool) {
	if strings.IndexByte(escapedPath, '%') >= 0 {
		escapedPath = decodeUnreserved(escapedPath)
	}
	rest, ok := strings.CutPrefix(escapedPath, strings.TrimSuffix(prefix, "/"))
	if !ok {
		return ManagementRoute{}, false
	}
	rest, ok = strings.CutPrefix(rest, "/projects/")
	if !ok {
		return ManagementRoute{}, false
	}
	rawProject, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return ManagementRoute{}, false
	}
	project, ok := unescapeSegment(rawProject)
	if !ok {
		return ManagementRoute{}, false
	}
	if rest == "triggers" {
		return ManagementRoute{Project: project}, true
	}
	rawID, ok := strings.CutPrefix(rest, "triggers/")
	if !ok || strings.IndexByte(rawID, '/') >= 0 {
		return ManagementRoute{}, false
	}
	id, ok := unescapeSegment(rawID)
	if !ok {
		return ManagementRoute{}, false
	}
	return ManagementRoute{Project: project, TriggerID: id, Item: true}, true
}

// Resource is what a path under the prefix that is neither a trigger API
// route nor a trigger-management route names: the two GitLab resources
// that clients read before managing triggers, or nothing the gateway
// serves.
type Resource uint8

const (
	// ResourceUnserved is any other path under the prefix.
	ResourceUnserved Resource = iota
	// ResourceUser is /user, the authenticated user (python-gitlab's
	// auth(), Terraform's early authentication check).
	ResourceUser
	// ResourceProject is /projects/:id (python-gitlab's projects.get).
	ResourceProject
)

// GitLabPath is what ParseGitLabPath found.
type GitLabPath struct {
	Resource Resource
	// Project is the project as the URL names it, unescaped
	// (ResourceProject only).
	Project string
}

// ParseGitLabPath reads a path that ParseRoute and ParseManagementRoute
// did not recognize; ok is false when it is not under prefix at all.
func ParseGitLabPath(prefix, escapedPath string) (GitLabPath, bool) {
	if strings.IndexByte(escapedPath, '%') >= 0 {
		escapedPath = decodeUnreserved(escapedPath)
	}
	rest, ok := strings.CutPrefix(escapedPath, strings.TrimSuffix(prefix, "/"))
	if !ok || (rest != "" && rest[0] != '/') {
		return GitLabPath{}, false
	}
	if rest == "/user" {
		return GitLabPath{Resource: ResourceUser}, true
	}
	if raw, ok := strings.CutPrefix(rest, "/projects/"); ok && strings.IndexByte(raw, '/') < 0 {
		if project, ok := unescapeSegment(raw); ok {
			return GitLabPath{Resource: ResourceProject, Project: project}, true
		}
	}
	return GitLabPath{Resource: ResourceUnserved}, true
}

// UnknownRouteError is GitLab's answer for a path it has no route for
// (lib/api/api.rb's catch-all route): 404 {"error": message}, where GitLab's
// message is "404 Not Found".
func UnknownRouteError(reason, message string) *Error {
	e := ValidationError(reason, message)
	e.Status = http.StatusNotFound
	return e
}

// ParseTriggerID validates a :trigger_id as GitLab's Integer parameter:
// a positive decimal number.
func ParseTriggerID(s string) (int64, *Error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, ErrTriggerIDInvalid
	}
	return id, nil
}

// ManagementParams are the parameters of a create or update request.
type ManagementParams struct {
	// Description is the trigger's description; HasDescription says
	// whether the caller sent one at all (it is optional on update).
	Description    string
	HasDescription bool
	// ExpiresAt is the optional expiry as sent (ISO 8601); the caller
	// parses it.
	ExpiresAt    string
	HasExpiresAt bool
}

// The refusals of the trigger-management API, in GitLab's shapes.
var (
	ErrUnauthorized       = statusError(http.StatusUnauthorized, "unauthorized")
	ErrProjectNotFound    = MessageError(http.StatusNotFound, "project_not_found", "404 Project Not Found")
	ErrTriggerIDInvalid   = ValidationError("invalid_trigger_id", "trigger_id is invalid")
	ErrDescriptionMissing = ValidationError("missing_description", "description is missing")
	ErrDescriptionEmpty   = ValidationError("missing_description", "description is empty")
	ErrDescriptionInvalid = ValidationError("invalid_description", "description is invalid")
	ErrExpiresAtInvalid   = ValidationError("invalid_expires_at", "expires_at is invalid")
	ErrInternal           = statusError(http.StatusInternalServerError, "internal_error")
)

// ErrTriggerNotFound is GitLab's answer for a trigger ID the project does
// not have: triggers.rb looks it up with triggers.find, whose
// RecordNotFound lib/api/api.rb answers {"message":"404 Not found"}
// (lower-case "found"; the not_found!('Trigger') after it never runs).
var ErrTriggerNotFound = MessageError(http.StatusNotFound, "trigger_not_found", "404 Not found")

// ParseManagementParams reads description and expires_at from the query
// string and the body, in any form GitLab accepts: a form
// (application/x-www-form-urlencoded or multipart/form-data) or a JSON
// object. Body fields win over query fields of the same name.
func ParseManagementParams(contentType, rawQuery string, body []byte) (ManagementParams, *Error) {
	var p ManagementParams
	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		return p, ErrBadBody
	}
	p.setForm(query)
	if len(bytes.TrimSpace(body)) == 0 {
		return p, p.check()
	}
	mediaType, mediaParams, err := mime.ParseMediaType(contentType)
	switch {
	case err != nil && contentType != "":
		return p, ErrMediaType
	case mediaType == "application/json" || strings.HasSuffix(mediaType, "+json"):
		if refusal := p.parseJSON(body); refusal != nil {
			return p, refusal
		}
	case mediaType == "application/x-www-form-urlencoded" || contentType == "":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return p, ErrBadBody
		}
		p.setForm(form)
	case mediaType == "multipart/form-data":
		if refusal := p.parseMultipart(body, mediaParams["boundary"]); refusal != nil {
			return p, refusal
		}
	default:
		return p, ErrMediaType
	}
	return p, p.check()
}

func (p *ManagementParams) setForm(form url.Values) {
	if values, ok := form["description"]; ok {
		p.Description, p.HasDescription = values[len(values)-1], true
	}
	if values, ok := form["expires_at"]; ok {
		p.ExpiresAt, p.HasExpiresAt = values[len(values)-1], true
	}
}

// parseJSON reads a JSON object; description and expires_at must be
// strings (null counts as absent), other fields are ignored as Grape does.
func (p *ManagementParams) parseJSON(body []byte) *Error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return ErrBadBody
	}
	if raw, ok := fields["description"]; ok && !isJSONNull(raw) {
		if json.Unmarshal(raw, &p.Description) != nil {
			return ErrDescriptionInvalid
		}
		p.HasDescription = true
	}
	if raw, ok := fields["expires_at"]; ok && !isJSONNull(raw) {
		if json.Unmarshal(raw, &p.ExpiresAt) != nil {
			return ErrExpiresAtInvalid
		}
		p.HasExpiresAt = true
	}
	return nil
}

// parseMultipart reads the form fields of a multipart body; files named
// description or expires_at are not strings.
func (p *ManagementParams) parseMultipart(body []byte, boundary string) *Error {
	if boundary == "" {
		return ErrBadBody
	}
	reader := multipart.NewReader(bytes.NewReader(body), boundary)
	for {
		part, err := reader.NextPart()
		if err == io.EOF { //nolint:errorlint // only a bare io.EOF is the closing boundary
			return nil
		}
		if err != nil {
			return ErrBadBody
		}
		name := part.FormName()
		if name != "description" && name != "expires_at" {
			continue
		}
		if part.FileName() != "" {
			if name == "description" {
				return ErrDescriptionInvalid
			}
			return ErrExpiresAtInvalid
		}
		value, err := io.ReadAll(part)
		if err != nil {
			return ErrBadBody
		}
		p.setForm(url.Values{name: {string(value)}})
	}
}

// check refuses a description that is sent but blank, as Grape does for
// the gateway's required, non-blank description.
func (p *ManagementParams) check() *Error {
	if p.HasDescription && strings.TrimSpace(p.Description) == "" {
		return ErrDescriptionEmpty
	}
	return nil
}
