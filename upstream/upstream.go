// Package upstream holds the trigger gateway's upstream modules: guest
// modules of the trigger_gateway handler, in the namespace
// http.trigger_gateway.upstreams, that turn an accepted trigger into the
// request a CI server documents for starting a build with parameters
// (GitLab, Jenkins, GitHub Actions, Buildbot, Buildkite, Woodpecker, or
// plain JSON), and read the CI's answer back into the id and web page of
// the build it started.
//
// A module builds a request and reads an answer; it sends nothing itself.
// The gateway hands the request to the next handler (normally
// reverse_proxy, pointed at the CI), so TLS, load balancing and health
// checks stay Caddy's.
package upstream

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// Namespace is the Caddy module namespace of the upstream modules, named
// the way reverse_proxy names its guest modules
// (http.reverse_proxy.transport.*).
const Namespace = "http.trigger_gateway.upstreams"

// Trigger is an accepted trigger after every rule: what a module turns into
// its CI's request.
type Trigger struct {
	Project     string                     // canonical project: a numeric ID or a folded path
	Ref         string                     // normalized branch or tag name
	Variables   triggerapi.Variables       // after the variable rules, sorted by name
	Inputs      map[string]json.RawMessage // GitLab inputs, JSON values
	Payload     map[string]json.RawMessage // other top-level fields of a JSON body (a webhook's event); nil if none
	Source      string                     // "trigger", "pipeline" (job token) or "schedule"
	TriggerID   int64                      // 0 for a job token
	TokenPrefix string                     // e.g. "glptt-0a1b2c3d"; "" for a job token
	Job         *Job                       // the job behind a job token; nil otherwise
	Token       string                     // the token the GitLab request carries; ONLY the gitlab module may read it
	PathPrefix  string                     // the gateway's path_prefix (gitlab module)
}

// Job is the CI job behind a job token: where a multi-project trigger
// comes from.
type Job struct{ ProjectID, ProjectPath, PipelineID, JobID string }

// Request is the request a module builds for its CI. The gateway sets it on
// the forwarded *http.Request (method, URL, these headers replacing any the
// caller sent, body, Content-Length) and hands it to the next handler
// (normally reverse_proxy, pointed at the CI).
type Request struct {
	Method   string
	Path     string // unescaped path
	RawPath  string // its escaped form when it differs (url.URL.RawPath rules), else ""
	RawQuery string
	Header   http.Header // Content-Type, Accept, Authorization, API version headers...
	Secret   []string    // canonical names of the headers in Header that hold credentials: explain masks them
	Body     []byte
}

// Answer is the CI's answer: status, headers, and at most MaxAnswer bytes
// of body.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// MaxAnswer is the most of a CI's answer body a module reads; a longer
// body is not looked into at all.
const MaxAnswer = 64 << 10

// Started is what the CI's answer says of the build it started.
type Started struct {
	ID     *int64 // nil: the CI named none
	WebURL string // "": none (an http(s) URL without user info, at most triggerapi.MaxPipelineWebURL)
}

// Module is what the gateway needs of an upstream module.
type Module interface {
	// Build returns the CI's request for t, or a GitLab-shaped refusal
	// (400 for GitHub's 25-input limit...), in which case nothing is
	// sent. It must not modify t.
	Build(t *Trigger) (*Request, *triggerapi.Error)
	// Read reads the CI's answer. A non-2xx status is a refusal: it
	// returns *RefusedError{Status}. A 2xx answer it cannot read is still
	// a started build: Started{} (id and web_url null).
	Read(a *Answer) (Started, error)
}

// RefusedError is a CI's refusal to start a build: its status code only,
// never its body, which may echo what was sent (credentials included).
type RefusedError struct{ Status int }

func (e *RefusedError) Error() string {
	return "the CI server answered " + strconv.Itoa(e.Status)
}

// CIRefusal is the caller's answer when the CI refused: a GitLab-shaped
// 502 {"message":"502 Bad Gateway: the CI server answered 401"} (reason
// "ci_refused"), never the CI's body.
func CIRefusal(status int) *triggerapi.Error {
	return triggerapi.MessageError(http.StatusBadGateway, "ci_refused",
		"502 Bad Gateway: "+(&RefusedError{Status: status}).Error())
}

// refused is Read's answer to a status outside 2xx.
func refused(a *Answer) (Started, error) {
	return Started{}, &RefusedError{Status: a.Status}
}

// success reports whether status is a 2xx.
func success(status int) bool { return status >= 200 && status < 300 }
