package triggerui

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
)

// Error is a refusal of the page's API, answered in GitLab's shape
// {"message": ...}. Message never holds a token.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

// statusError is GitLab's plain refusal, e.g. {"message":"403 Forbidden"}.
func statusError(status int) *Error {
	return &Error{Status: status, Message: strconv.Itoa(status) + " " + http.StatusText(status)}
}

var (
	errUnauthorized = statusError(http.StatusUnauthorized)
	errForbidden    = statusError(http.StatusForbidden)
	errNotFound     = statusError(http.StatusNotFound)
	errMethod       = statusError(http.StatusMethodNotAllowed)
	errInternal     = statusError(http.StatusInternalServerError)
)

// WriteUnauthorized answers 401 for a request without an authenticated
// user, for the mounts that require one.
func WriteUnauthorized(w http.ResponseWriter) {
	setSecurityHeaders(w.Header())
	writeError(w, errUnauthorized)
}

// writeError answers err: an *Error as it is, anything else as a 500
// whose text stays out of the answer.
func writeError(w http.ResponseWriter, err error) {
	e, ok := errors.AsType[*Error](err)
	if !ok {
		e = errInternal
	}
	body, _ := json.Marshal(map[string]string{"message": e.Message})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}

// writeJSON answers v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, errInternal)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
