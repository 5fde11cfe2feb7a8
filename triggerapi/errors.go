package triggerapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// Error is a refusal in GitLab's own JSON shape. Scripts written for
// GitLab parse these bodies, so the shapes and codes follow GitLab's API:
// Grape's parameter validation answers {"error": ...}, the endpoint's own
// refusals answer {"message": ...}.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Reason is a short, bounded identifier of why the request was refused,
	// used as a metric label and in logs ("missing_token", "unknown_token", ...).
	Reason string
	// Body is the JSON body sent to the caller.
	Body []byte
}

// Error returns the reason and status; it never holds caller input.
func (e *Error) Error() string {
	return "trigger refused: " + e.Reason + " (" + http.StatusText(e.Status) + ")"
}

// WithReason returns a copy of e that reports a more precise reason while
// answering the caller exactly the same: a 404 must not tell an unknown
// token from a revoked one or from another project's token.
func (e *Error) WithReason(reason string) *Error {
	c := *e
	c.Reason = reason
	return &c
}

// ValidationError is Grape's shape for a failed parameter declaration.
func ValidationError(reason string, messages ...string) *Error {
	body, _ := json.Marshal(map[string]string{"error": strings.Join(messages, ", ")})
	return &Error{Status: http.StatusBadRequest, Reason: reason, Body: body}
}

// MessageError answers {"message": message} with the given status.
func MessageError(status int, reason, message string) *Error {
	body, _ := json.Marshal(map[string]string{"message": message})
	return &Error{Status: status, Reason: reason, Body: body}
}

// PipelineError answers GitLab's shape for a pipeline that could not be
// created: {"message": {"base": [message]}}.
func PipelineError(reason, message string) *Error {
	body, _ := json.Marshal(map[string]map[string][]string{"message": {"base": {message}}})
	return &Error{Status: http.StatusBadRequest, Reason: reason, Body: body}
}

func statusError(status int, reason string) *Error {
	return MessageError(status, reason, strconv.Itoa(status)+" "+http.StatusText(status))
}

// Grape's messages for the declared parameters, joined when several fail.
const (
	msgTokenMissing = "token is missing"
	msgTokenInvalid = "token is invalid"
	msgRefMissing   = "ref is missing"
	msgRefEmpty     = "ref is empty"
	msgRefInvalid   = "ref is invalid"
)

// The refusals GitLab's trigger API answers with.
var (
	ErrTokenMissing       = ValidationError("missing_token", msgTokenMissing)
	ErrRefMissing         = ValidationError("missing_ref", msgRefMissing)
	ErrRefAndTokenMissing = ValidationError("missing_ref", msgRefMissing, msgTokenMissing)
	ErrRefEmpty           = ValidationError("missing_ref", msgRefEmpty)
	ErrTokenInvalid       = ValidationError("invalid_token_param", msgTokenInvalid)
	ErrRefInvalidParam    = ValidationError("invalid_ref", msgRefInvalid)
	ErrVariablesShape     = MessageError(http.StatusBadRequest, "invalid_variables",
		"variables needs to be a map of key-valued strings")
	ErrInputsShape = MessageError(http.StatusBadRequest, "invalid_inputs",
		"inputs needs to be a map of named values")
	// ErrNotFound is the single answer for an unknown, revoked or expired
	// token, and for a token of another project: GitLab never says which.
	ErrNotFound = &Error{Status: http.StatusNotFound, Reason: "not_found",
		Body: []byte(`{"message":"404 Not Found"}`)}
	// ErrPipelineHook refuses pipeline events, which would trigger pipelines in a loop.
	ErrPipelineHook = &Error{Status: http.StatusForbidden, Reason: "pipeline_hook", Body: []byte(`{"message":"403 Forbidden"}`)}
	ErrBodyTooLarge = statusError(http.StatusRequestEntityTooLarge, "body_too_large")
	ErrBadBody      = MessageError(http.StatusBadRequest, "malformed_body", "400 Bad request - the request body could not be parsed")
	ErrMediaType    = statusError(http.StatusUnsupportedMediaType, "unsupported_media_type")
	ErrMethod       = statusError(http.StatusMethodNotAllowed, "method_not_allowed")
	ErrUnavailable  = statusError(http.StatusServiceUnavailable, "storage_unavailable")
)

// ErrCommitSHA refuses a commit SHA as ref: triggers run branches and tags only.
var ErrCommitSHA = PipelineError("commit_sha_ref",
	"Reference not found: only branches and tags can be triggered, not a commit SHA")

// ErrRefFormat refuses a ref git itself would not accept as a branch or tag name.
var ErrRefFormat = PipelineError("invalid_ref", "Reference not found: not a valid branch or tag name")
