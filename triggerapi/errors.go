package triggerapi

import (
	"encoding/json"
	"fmt"
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

// caseVariantError refuses a field that differs only in case from one of
// the request's parameters (casefold.go says why).
func caseVariantError(name string) *Error {
	return MessageError(http.StatusBadRequest, "case_variant_parameter", fmt.Sprintf(
		"%s differs only in case from %s: parameter names are case-sensitive", showName(name), caseVariantOf(name)))
}

// nameCaseError refuses two variable or input names that differ only in case.
func nameCaseError(parameter, first, second string) *Error {
	return MessageError(http.StatusBadRequest, "case_variant_name", fmt.Sprintf(
		"%s: %s and %s differ only in case", parameter, showName(first), showName(second)))
}

// inputTypeError refuses an input whose value is of a type inputs do not take.
func inputTypeError(name string) *Error {
	return MessageError(http.StatusBadRequest, "invalid_input_type", fmt.Sprintf(
		"inputs: the value of %s must be a string, a number, a boolean or an array of strings", showName(name)))
}

// maxShownName bounds how much of a caller's field name a message repeats.
const maxShownName = 64

// showName renders a caller's field name for a message: as it is when it
// is made of ASCII letters, digits and '_', else quoted with every other
// character escaped, so that a look-alike (the Kelvin sign of "toKen")
// shows and control characters cannot forge log lines; cut when long.
func showName(name string) string {
	plain := name != "" && len(name) <= maxShownName
	for i := 0; plain && i < len(name); i++ {
		c := name[i]
		plain = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
	}
	switch {
	case plain:
		return name
	case len(name) <= maxShownName:
		return strconv.QuoteToASCII(name)
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.QuoteToASCII(name[:maxShownName]), len(name))
}

// ErrBodyTimeout refuses a body that has not arrived in full within the
// gateway's bound on reading it: a client sending too slowly, or less than
// its Content-Length.
var ErrBodyTimeout = statusError(http.StatusRequestTimeout, "body_timeout")

// ErrCommitSHA refuses a commit SHA as ref: triggers run branches and tags only.
var ErrCommitSHA = PipelineError("commit_sha_ref",
	"Reference not found: only branches and tags can be triggered, not a commit SHA")

// ErrRefFormat refuses a ref git itself would not accept as a branch or tag name.
var ErrRefFormat = PipelineError("invalid_ref", "Reference not found: not a valid branch or tag name")
