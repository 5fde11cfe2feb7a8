package idempotency

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"time"
)

// Answer is the first answer to a request, replayed verbatim to its
// repeats. Answers returned by Begin are shared by every replay: treat them
// as read-only.
type Answer struct {
	// Status is the HTTP status code.
	Status int `json:"status"`
	// Header holds the answer's headers that are safe to replay (see
	// SafeHeader); Save drops any other.
	Header map[string][]string `json:"header,omitempty"`
	// Body is the answer's body.
	Body []byte `json:"body"`
	// SavedAt is when the answer was saved; Save sets it. The window runs
	// from it.
	SavedAt time.Time `json:"saved_at"`
	// Fingerprint is the Request.Fingerprint of the request answered (a
	// hash, never its values); Save sets it. Empty in answers saved before
	// fingerprints existed, which match any request with their key.
	Fingerprint string `json:"fingerprint,omitempty"`
}

// safeHeaders are the answer headers worth replaying and harmless to store
// and hand to another caller: they describe the answer's content, never a
// session (Set-Cookie), a connection or a hop. Content-Encoding is the
// encoding Body is in: whoever saves an answer keeps it with the body it
// describes, or the replay cannot be read.
var safeHeaders = map[string]bool{
	"Cache-Control":    true,
	"Content-Encoding": true,
	"Content-Language": true,
	"Content-Type":     true,
	"Etag":             true,
	"Last-Modified":    true,
	"Location":         true,
	"X-Request-Id":     true,
}

// SafeHeader returns a copy of the headers of h that an Answer keeps:
// Cache-Control, Content-Encoding, Content-Language, Content-Type, ETag, Last-Modified,
// Location and X-Request-Id. It returns nil when there are none.
func SafeHeader(h http.Header) map[string][]string {
	var out map[string][]string
	for name, values := range h {
		canonical := textproto.CanonicalMIMEHeaderKey(name)
		if !safeHeaders[canonical] || len(values) == 0 {
			continue
		}
		if out == nil {
			out = make(map[string][]string, len(safeHeaders))
		}
		out[canonical] = append(out[canonical], values...)
	}
	return out
}

// errCorrupt is the cause of an entry that cannot be decoded; it holds no
// stored text.
var errCorrupt = errors.New("saved answer is corrupt")

// decodeAnswer reads a stored answer.
func decodeAnswer(data []byte) (*Answer, error) {
	var a Answer
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, errCorrupt
	}
	if !validStatus(a.Status) || a.SavedAt.IsZero() || (a.Fingerprint != "" && !validKey(a.Fingerprint)) {
		return nil, errCorrupt
	}
	return &a, nil
}

// validStatus accepts the status codes an HTTP answer can have.
func validStatus(status int) bool { return status >= 100 && status <= 599 }

// snapshot copies a for saving: only safe headers, a private body (the
// caller may reuse its buffer), the time of saving and the fingerprint of
// the request answered.
func snapshot(a *Answer, fingerprint string, now time.Time) (*Answer, error) {
	if a == nil {
		return nil, errors.New("idempotency: nil answer")
	}
	if !validStatus(a.Status) {
		return nil, fmt.Errorf("idempotency: invalid status %d", a.Status)
	}
	return &Answer{
		Status:      a.Status,
		Header:      SafeHeader(a.Header),
		Body:        append([]byte{}, a.Body...),
		SavedAt:     now,
		Fingerprint: fingerprint,
	}, nil
}
