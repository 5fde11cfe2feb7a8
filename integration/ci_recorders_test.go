package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Recording stand-ins for the CI servers the upstream modules speak to
// (issue 15), other than Buildbot, which the tests run for real
// (buildbot_harness_test.go). Each records every request, checks the
// credential the way that CI does and answers the way its API documents
// (the page is cited beside each answer). Switches make it refuse with a
// status, answer late (past the proxy's timeout), or close (unreachable).

// ciKind names the CI a recorder stands in for.
type ciKind string

const (
	ciJenkins    ciKind = "jenkins"
	ciGitHub     ciKind = "github"     // github.com: the answer with the run (return_run_details)
	ciGitea      ciKind = "gitea"      // Gitea under /api/v1: 204 and no run
	ciBuildkite  ciKind = "buildkite"  // api.buildkite.com
	ciWoodpecker ciKind = "woodpecker" // a Woodpecker server
	ciTekton     ciKind = "tekton"     // a Tekton EventListener, for the json module
)

// ciRequest is one request as the CI received it.
type ciRequest struct {
	Method      string
	Path        string // unescaped
	EscapedPath string
	RawQuery    string
	Header      http.Header
	Body        []byte
}

// ciRecorder is one stand-in CI server.
type ciRecorder struct {
	kind ciKind
	srv  *httptest.Server
	// authorization is the Authorization header the CI accepts, exactly;
	// "" for a CI without credentials (a Tekton EventListener).
	authorization string

	mu     sync.Mutex
	reqs   []ciRequest
	builds int64 // builds started: the last number handed out

	refuse atomic.Int32 // when set, the status every request is answered with
	delay  atomic.Int64 // nanoseconds to wait before answering
}

// The first build numbers the recorders hand out, distinct per CI and
// from each CI's other identifiers, so that a test sees which one the
// gateway took.
const (
	jenkinsFirstQueueItem = 4100
	githubFirstRunID      = 23_456_789_012 // beyond 32 bits, as GitHub's run IDs are
	buildkiteFirstNumber  = 810
	woodpeckerFirstNumber = 57
	woodpeckerIDOffset    = 9000 // a pipeline's id (global) is not its number (per repository)
)

// newJenkinsRecorder stands in for Jenkins, accepting HTTP Basic
// user:apiToken (Jenkins 2.96 and later need no CSRF crumb with an API token).
func newJenkinsRecorder(t *testing.T, user, apiToken string) *ciRecorder {
	return newCIRecorder(t, ciJenkins, "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+apiToken)))
}

// newGitHubRecorder stands in for GitHub's REST API (kind ciGitHub) or
// Gitea's (ciGitea), accepting the Bearer token.
func newGitHubRecorder(t *testing.T, kind ciKind, token string) *ciRecorder {
	return newCIRecorder(t, kind, "Bearer "+token)
}

// newBearerRecorder stands in for Buildkite or Woodpecker, accepting the
// Bearer token.
func newBearerRecorder(t *testing.T, kind ciKind, token string) *ciRecorder {
	return newCIRecorder(t, kind, "Bearer "+token)
}

// newTektonRecorder stands in for a Tekton EventListener, which takes any
// POST without credentials.
func newTektonRecorder(t *testing.T) *ciRecorder { return newCIRecorder(t, ciTekton, "") }

func newCIRecorder(t *testing.T, kind ciKind, authorization string) *ciRecorder {
	t.Helper()
	r := &ciRecorder{kind: kind, authorization: authorization}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

// url is the CI's base URL; addr its host:port, as reverse_proxy takes it.
func (r *ciRecorder) url() string  { return r.srv.URL }
func (r *ciRecorder) addr() string { return r.srv.Listener.Addr().String() }
func (r *ciRecorder) port() int    { return r.srv.Listener.Addr().(*net.TCPAddr).Port }

// refuseWith makes the CI answer every request with status (its documented
// error for it); 0 ends that.
func (r *ciRecorder) refuseWith(status int) { r.refuse.Store(int32(status)) }

// slowBy makes the CI wait d before answering; 0 ends that.
func (r *ciRecorder) slowBy(d time.Duration) { r.delay.Store(int64(d)) }

// close shuts the CI down: its port refuses connections from now on.
func (r *ciRecorder) close() { r.srv.Close() }

// take returns the requests received since the last take and forgets them.
func (r *ciRecorder) take() []ciRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	reqs := r.reqs
	r.reqs = nil
	return reqs
}

// nextBuild hands out the next build's sequence number, from 0.
func (r *ciRecorder) nextBuild() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.builds
	r.builds++
	return n
}

func (r *ciRecorder) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		return
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, ciRequest{
		Method:      req.Method,
		Path:        req.URL.Path,
		EscapedPath: req.URL.EscapedPath(),
		RawQuery:    req.URL.RawQuery,
		Header:      req.Header.Clone(),
		Body:        body,
	})
	r.mu.Unlock()

	if d := time.Duration(r.delay.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-req.Context().Done():
			return // the proxy gave up
		}
	}
	if r.authorization != "" && req.Header.Get("Authorization") != r.authorization {
		r.answerError(w, http.StatusUnauthorized, "")
		return
	}
	if status := int(r.refuse.Load()); status != 0 {
		r.answerError(w, status, "")
		return
	}
	switch r.kind {
	case ciJenkins:
		r.serveJenkins(w, req, body)
	case ciGitHub, ciGitea:
		r.serveGitHub(w, req, body)
	case ciBuildkite:
		r.serveBuildkite(w, req, body)
	case ciWoodpecker:
		r.serveWoodpecker(w, req, body)
	case ciTekton:
		r.serveTekton(w, req, body)
	}
}

// answerError writes the CI's own error answer for status; detail is the
// message where the CI's has one.
func (r *ciRecorder) answerError(w http.ResponseWriter, status int, detail string) {
	switch r.kind {
	case ciJenkins:
		// Jenkins answers errors with an HTML page (Jetty's error page);
		// a bad API token: 401 "Invalid password/token for user".
		if detail == "" {
			detail = map[int]string{401: "Invalid password/token for user", 404: "Not Found"}[status]
		}
		w.Header().Set("Content-Type", "text/html;charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprintf(w, "<html><head><title>Error %d %s</title></head><body><h2>HTTP ERROR %d %s</h2></body></html>", status, detail, status, detail)
	case ciGitHub, ciGitea:
		// https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api:
		// {"message","documentation_url","status"}; a bad token is 401 "Bad credentials".
		if detail == "" {
			detail = map[int]string{401: "Bad credentials", 404: "Not Found", 422: "Unprocessable Entity"}[status]
			if detail == "" {
				detail = http.StatusText(status)
			}
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("X-GitHub-Request-Id", "C0DE:1234:"+randomHex(4))
		w.WriteHeader(status)
		fmt.Fprint(w, mustJSON(map[string]string{"message": detail,
			"documentation_url": "https://docs.github.com/rest/actions/workflows#create-a-workflow-dispatch-event",
			"status":            strconv.Itoa(status)}))
	case ciBuildkite:
		// https://buildkite.com/docs/apis/rest-api: errors are {"message"}
		// (422 adds "errors"); a missing or bad token is 401.
		if detail == "" {
			detail = map[int]string{401: "Authentication required. Please supply a valid API Access Token: https://buildkite.com/docs/apis/rest-api#authentication",
				404: "No pipeline found", 422: "Validation Failed"}[status]
			if detail == "" {
				detail = http.StatusText(status)
			}
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprint(w, mustJSON(map[string]string{"message": detail}))
	case ciWoodpecker:
		// Woodpecker's gin handlers answer errors as text (c.String,
		// c.AbortWithError): server/api/pipeline.go.
		if detail == "" {
			detail = http.StatusText(status)
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprint(w, detail)
	case ciTekton:
		// The EventListener sink answers a failure with a plain message.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprint(w, http.StatusText(status))
	}
}

var jenkinsBuildPath = regexp.MustCompile(`^(/job/[^/]+)+/buildWithParameters$`)

// serveJenkins answers POST /job/<a>/job/<b>/buildWithParameters.
// Jenkins "Remote access API" (https://www.jenkins.io/doc/book/using/remote-access-api/,
// "Submitting jobs"): 201 Created with Location: <jenkins>/queue/item/<N>/,
// no body; the queue item later names the build (executable.number).
func (r *ciRecorder) serveJenkins(w http.ResponseWriter, req *http.Request, body []byte) {
	if !jenkinsBuildPath.MatchString(req.URL.Path) {
		r.answerError(w, http.StatusNotFound, "")
		return
	}
	if req.Method != http.MethodPost {
		// Jenkins refuses a GET of buildWithParameters without a form: 405.
		r.answerError(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	if mt := mediaType(req); mt != "application/x-www-form-urlencoded" && mt != "multipart/form-data" && len(body) > 0 {
		r.answerError(w, http.StatusBadRequest, "Nothing is submitted")
		return
	}
	n := jenkinsFirstQueueItem + r.nextBuild()
	w.Header().Set("Location", fmt.Sprintf("%s/queue/item/%d/", r.url(), n))
	w.WriteHeader(http.StatusCreated)
}

var githubDispatchPath = regexp.MustCompile(`^(/api/v[13])?/repos/([^/]+)/([^/]+)/actions/workflows/([^/]+)/dispatches$`)

// serveGitHub answers POST {api_prefix}/repos/{owner}/{repo}/actions/workflows/{workflow}/dispatches.
// GitHub, "Create a workflow dispatch event"
// (https://docs.github.com/en/rest/actions/workflows#create-a-workflow-dispatch-event):
// body {"ref","inputs","return_run_details"}; at most 25 inputs; 204 No
// Content, or with return_run_details true 200 {"workflow_run_id","run_url","html_url"}
// (changelog 2026-02-19, "Workflow dispatch API now returns run IDs").
// Gitea (ActionsDispatchWorkflow in its swagger, under /api/v1): {ref,
// inputs}, 204 No Content. Inputs are strings, for GitHub as for Gitea.
func (r *ciRecorder) serveGitHub(w http.ResponseWriter, req *http.Request, body []byte) {
	m := githubDispatchPath.FindStringSubmatch(req.URL.Path)
	wantPrefix := ""
	if r.kind == ciGitea {
		wantPrefix = "/api/v1"
	}
	if m == nil || m[1] != wantPrefix || req.Method != http.MethodPost {
		r.answerError(w, http.StatusNotFound, "")
		return
	}
	// https://docs.github.com/en/rest/using-the-rest-api/getting-started-with-the-rest-api#user-agent:
	// "Requests with no User-Agent header will be rejected" (403).
	if r.kind == ciGitHub && req.Header.Get("User-Agent") == "" {
		r.answerError(w, http.StatusForbidden, "Request forbidden by administrative rules. "+
			"Please make sure your request has a User-Agent header")
		return
	}
	var in struct {
		Ref              *string                    `json:"ref"`
		Inputs           map[string]json.RawMessage `json:"inputs"`
		ReturnRunDetails bool                       `json:"return_run_details"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		r.answerError(w, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	// Every input's value is a string: GitHub answers 422 "For
	// 'additionalProperties', false is not a string." to any other JSON
	// type; Gitea (CreateActionWorkflowDispatch) and Forgejo
	// (DispatchWorkflowOption) decode inputs as map[string]string.
	for _, value := range in.Inputs {
		if len(value) == 0 || value[0] != '"' {
			r.answerError(w, http.StatusUnprocessableEntity,
				"Invalid request.\n\nFor 'additionalProperties', "+string(value)+" is not a string.")
			return
		}
	}
	if in.Ref == nil || *in.Ref == "" {
		r.answerError(w, http.StatusUnprocessableEntity, "Invalid request.\n\n\"ref\" wasn't supplied.")
		return
	}
	if len(in.Inputs) > 25 {
		r.answerError(w, http.StatusUnprocessableEntity, "you may only define up to 25 `inputs` for a workflow_dispatch event")
		return
	}
	if r.kind == ciGitea || !in.ReturnRunDetails {
		r.nextBuild()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	owner, repo := m[2], m[3]
	id := githubFirstRunID + r.nextBuild()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, mustJSON(map[string]any{
		"workflow_run_id": id,
		"run_url":         fmt.Sprintf("https://api.github.com/repos/%s/%s/actions/runs/%d", owner, repo, id),
		"html_url":        fmt.Sprintf("https://github.com/%s/%s/actions/runs/%d", owner, repo, id),
	}))
}

var buildkiteBuildsPath = regexp.MustCompile(`^/v2/organizations/([^/]+)/pipelines/([^/]+)/builds$`)

// serveBuildkite answers POST /v2/organizations/{org}/pipelines/{pipeline}/builds.
// Buildkite REST API, Builds, "Create a build"
// (https://buildkite.com/docs/apis/rest-api/builds#create-a-build):
// commit and branch required; 201 Created with the build object (id a
// UUID, number, url, web_url, state "scheduled", message, commit, branch,
// env, meta_data...).
func (r *ciRecorder) serveBuildkite(w http.ResponseWriter, req *http.Request, body []byte) {
	m := buildkiteBuildsPath.FindStringSubmatch(req.URL.Path)
	if m == nil || req.Method != http.MethodPost {
		r.answerError(w, http.StatusNotFound, "")
		return
	}
	var in struct {
		Commit   string            `json:"commit"`
		Branch   string            `json:"branch"`
		Message  string            `json:"message"`
		Env      map[string]string `json:"env"`
		MetaData map[string]string `json:"meta_data"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		r.answerError(w, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	var missing []map[string]string
	for field, v := range map[string]string{"commit": in.Commit, "branch": in.Branch} {
		if v == "" {
			missing = append(missing, map[string]string{"field": field, "code": "missing"})
		}
	}
	if len(missing) > 0 {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusUnprocessableEntity)
		fmt.Fprint(w, mustJSON(map[string]any{"message": "Validation Failed", "errors": missing}))
		return
	}
	org, pipeline := m[1], m[2]
	seq := r.nextBuild()
	number := buildkiteFirstNumber + seq
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	env, meta := in.Env, in.MetaData
	if env == nil {
		env = map[string]string{}
	}
	if meta == nil {
		meta = map[string]string{}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprint(w, mustJSON(map[string]any{
		"id":           fmt.Sprintf("f62a1b4d-10f9-4790-bc1c-e2c3a0c8%04d", seq),
		"graphql_id":   "QnVpbGQtLS1mNjJhMWI0ZA==",
		"url":          fmt.Sprintf("https://api.buildkite.com/v2/organizations/%s/pipelines/%s/builds/%d", org, pipeline, number),
		"web_url":      fmt.Sprintf("https://buildkite.com/%s/%s/builds/%d", org, pipeline, number),
		"number":       number,
		"state":        "scheduled",
		"blocked":      false,
		"message":      in.Message,
		"commit":       in.Commit,
		"branch":       in.Branch,
		"env":          env,
		"source":       "api",
		"creator":      map[string]any{"id": "3d3c3bf0-7d58-4afe-8fe7-b3017d5504de", "name": "Keith Pitt"},
		"jobs":         []any{},
		"created_at":   now,
		"scheduled_at": now,
		"started_at":   nil,
		"finished_at":  nil,
		"meta_data":    meta,
		"pull_request": nil,
	}))
}

var woodpeckerPipelinesPath = regexp.MustCompile(`^/api/repos/([0-9]+)/pipelines$`)

// serveWoodpecker answers POST /api/repos/{repo_id}/pipelines.
// Woodpecker's API (server/api/pipeline.go CreatePipeline, body
// model.PipelineOptions {"branch","variables"}; https://woodpecker-ci.org/api):
// 200 OK with the pipeline (id, number, status "pending", event "manual",
// branch, variables...); its page is <server>/repos/<repo_id>/pipeline/<number>.
func (r *ciRecorder) serveWoodpecker(w http.ResponseWriter, req *http.Request, body []byte) {
	if woodpeckerPipelinesPath.FindStringSubmatch(req.URL.Path) == nil || req.Method != http.MethodPost {
		r.answerError(w, http.StatusNotFound, "")
		return
	}
	var in struct {
		Branch    string            `json:"branch"`
		Variables map[string]string `json:"variables"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		r.answerError(w, http.StatusBadRequest, err.Error())
		return
	}
	number := woodpeckerFirstNumber + r.nextBuild()
	now := time.Now().Unix()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, mustJSON(map[string]any{
		"id": woodpeckerIDOffset + number, "number": number, "author": "ci-bot", "parent": 0,
		"event": "manual", "status": "pending", "errors": nil,
		"created": now, "updated": now, "started": 0, "finished": 0,
		"deploy_to": "", "commit": "d1b1f2c3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9", "branch": in.Branch,
		"ref": in.Branch, "refspec": "", "title": "", "message": "MANUAL PIPELINE @ " + in.Branch,
		"timestamp": now, "sender": "", "author_avatar": "", "author_email": "",
		"forge_url": "", "reviewed_by": "", "reviewed": 0, "variables": in.Variables,
	}))
}

// serveTekton answers a POST to the EventListener.
// Tekton Triggers, EventListener (https://tekton.dev/docs/triggers/eventlisteners/;
// tektoncd/triggers#931: it answers once it has read the body, 202 Accepted
// with {"eventListener","namespace","eventListenerUID","eventID"} for a
// JSON body, 400 otherwise), even when no PipelineRun gets created
// (tektoncd/triggers#1183): there is no run to name.
func (r *ciRecorder) serveTekton(w http.ResponseWriter, req *http.Request, body []byte) {
	if req.Method != http.MethodPost {
		r.answerError(w, http.StatusMethodNotAllowed, "")
		return
	}
	if !json.Valid(body) {
		r.answerError(w, http.StatusBadRequest, "")
		return
	}
	seq := r.nextBuild()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprint(w, mustJSON(map[string]string{
		"eventListener":    "gateway-listener",
		"namespace":        "default",
		"eventListenerUID": "ea71a6e4-9531-43a1-94fe-6136515d938c",
		"eventID":          fmt.Sprintf("14a657c3-6816-45bf-b214-4afdaefc%04d", seq),
	}))
}

func mediaType(req *http.Request) string {
	ct := req.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.ToLower(strings.TrimSpace(ct))
}

// The recorders themselves, driven with plain HTTP: each accepts what its
// CI's API documents and answers as documented, refuses a wrong
// credential with 401 and an unknown path with 404, and its switches
// work (refuse, slow, closed).
func TestCIRecorders(t *testing.T) {
	t.Parallel()
	const secret = "ci-secret-0123456789"
	tests := []struct {
		name   string
		rec    func(t *testing.T) *ciRecorder
		path   string
		ctype  string
		body   string
		status int
		// check reads the answer of an accepted request.
		check func(t *testing.T, r *ciRecorder, resp *http.Response, body []byte)
		// wrongPath is a path the CI does not serve.
		wrongPath string
	}{
		{
			name:  "jenkins",
			rec:   func(t *testing.T) *ciRecorder { return newJenkinsRecorder(t, "ci-bot", secret) },
			path:  "/job/folder/job/deploy-app/buildWithParameters",
			ctype: "application/x-www-form-urlencoded", body: "GIT_REF=main&A=1",
			status: http.StatusCreated,
			check: func(t *testing.T, r *ciRecorder, resp *http.Response, body []byte) {
				if want := fmt.Sprintf("%s/queue/item/%d/", r.url(), jenkinsFirstQueueItem); resp.Header.Get("Location") != want || len(body) != 0 {
					t.Errorf("Location %q body %q, want %q and none", resp.Header.Get("Location"), body, want)
				}
			},
			wrongPath: "/job/folder/deploy-app/buildWithParameters",
		},
		{
			name:  "github",
			rec:   func(t *testing.T) *ciRecorder { return newGitHubRecorder(t, ciGitHub, secret) },
			path:  "/repos/acme/app/actions/workflows/deploy.yml/dispatches",
			ctype: "application/json", body: `{"ref":"main","inputs":{"A":"1"},"return_run_details":true}`,
			status: http.StatusOK,
			check: func(t *testing.T, r *ciRecorder, resp *http.Response, body []byte) {
				want := fmt.Sprintf(`{"html_url":"https://github.com/acme/app/actions/runs/%[1]d","run_url":"https://api.github.com/repos/acme/app/actions/runs/%[1]d","workflow_run_id":%[1]d}`, int64(githubFirstRunID))
				if string(body) != want {
					t.Errorf("body %s, want %s", body, want)
				}
			},
			wrongPath: "/repos/acme/app/actions/workflows/deploy.yml/dispatch",
		},
		{
			name:  "gitea",
			rec:   func(t *testing.T) *ciRecorder { return newGitHubRecorder(t, ciGitea, secret) },
			path:  "/api/v1/repos/acme/app/actions/workflows/deploy.yml/dispatches",
			ctype: "application/json", body: `{"ref":"main","inputs":{"A":"1"},"return_run_details":true}`,
			status: http.StatusNoContent,
			check: func(t *testing.T, r *ciRecorder, resp *http.Response, body []byte) {
				if len(body) != 0 {
					t.Errorf("body %q, want none", body)
				}
			},
			wrongPath: "/repos/acme/app/actions/workflows/deploy.yml/dispatches",
		},
		{
			name:  "buildkite",
			rec:   func(t *testing.T) *ciRecorder { return newBearerRecorder(t, ciBuildkite, secret) },
			path:  "/v2/organizations/acme/pipelines/deploy/builds",
			ctype: "application/json", body: `{"commit":"HEAD","branch":"main","message":"m","env":{"A":"1"}}`,
			status: http.StatusCreated,
			check: func(t *testing.T, r *ciRecorder, resp *http.Response, body []byte) {
				var b struct {
					ID     string `json:"id"`
					Number int64  `json:"number"`
					URL    string `json:"url"`
					WebURL string `json:"web_url"`
					State  string `json:"state"`
					Branch string `json:"branch"`
				}
				if err := json.Unmarshal(body, &b); err != nil || len(b.ID) != 36 || b.Number != buildkiteFirstNumber || b.State != "scheduled" || b.Branch != "main" ||
					b.WebURL != fmt.Sprintf("https://buildkite.com/acme/deploy/builds/%d", buildkiteFirstNumber) ||
					b.URL != fmt.Sprintf("https://api.buildkite.com/v2/organizations/acme/pipelines/deploy/builds/%d", buildkiteFirstNumber) {
					t.Errorf("build %s (%v)", body, err)
				}
			},
			wrongPath: "/v2/organizations/acme/pipelines/deploy/build",
		},
		{
			name:  "woodpecker",
			rec:   func(t *testing.T) *ciRecorder { return newBearerRecorder(t, ciWoodpecker, secret) },
			path:  "/api/repos/7/pipelines",
			ctype: "application/json", body: `{"branch":"main","variables":{"A":"1"}}`,
			status: http.StatusOK,
			check: func(t *testing.T, r *ciRecorder, resp *http.Response, body []byte) {
				var p struct {
					ID, Number int64
					Status     string
					Branch     string
					Variables  map[string]string
				}
				if err := json.Unmarshal(body, &p); err != nil || p.Number != woodpeckerFirstNumber || p.ID != woodpeckerIDOffset+woodpeckerFirstNumber ||
					p.Status != "pending" || p.Branch != "main" || p.Variables["A"] != "1" {
					t.Errorf("pipeline %s (%v)", body, err)
				}
			},
			wrongPath: "/api/repos/acme/app/pipelines",
		},
		{
			name:  "tekton",
			rec:   func(t *testing.T) *ciRecorder { return newTektonRecorder(t) },
			path:  "/hooks/deploy",
			ctype: "application/json", body: `{"project":"9","ref":"main"}`,
			status: http.StatusAccepted,
			check: func(t *testing.T, r *ciRecorder, resp *http.Response, body []byte) {
				var e map[string]string
				if err := json.Unmarshal(body, &e); err != nil || len(e) != 4 || e["eventListener"] == "" || e["namespace"] == "" || e["eventListenerUID"] == "" || e["eventID"] == "" {
					t.Errorf("answer %s (%v)", body, err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := tt.rec(t)
			send := func(path, auth string, timeout time.Duration) (*http.Response, []byte, error) {
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				defer cancel()
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url()+path, strings.NewReader(tt.body))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", tt.ctype)
				if auth != "" {
					req.Header.Set("Authorization", auth)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return nil, nil, err
				}
				defer resp.Body.Close()
				body, err := io.ReadAll(resp.Body)
				return resp, body, err
			}
			mustSend := func(path, auth string) (*http.Response, []byte) {
				t.Helper()
				resp, body, err := send(path, auth, 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				return resp, body
			}

			resp, body := mustSend(tt.path, r.authorization)
			if resp.StatusCode != tt.status {
				t.Fatalf("accepted request: %d %s, want %d", resp.StatusCode, body, tt.status)
			}
			tt.check(t, r, resp, body)
			got := r.take()
			if len(got) != 1 || got[0].Method != http.MethodPost || got[0].Path != tt.path || string(got[0].Body) != tt.body ||
				got[0].Header.Get("Content-Type") != tt.ctype {
				t.Errorf("recorded %+v, want the one request sent", got)
			}

			if r.authorization != "" {
				for _, auth := range []string{"", "Bearer wrong", "Basic " + base64.StdEncoding.EncodeToString([]byte("ci-bot:wrong"))} {
					if resp, body := mustSend(tt.path, auth); resp.StatusCode != http.StatusUnauthorized {
						t.Errorf("Authorization %q: %d %s, want 401", auth, resp.StatusCode, body)
					}
				}
			}
			if tt.wrongPath != "" {
				if resp, body := mustSend(tt.wrongPath, r.authorization); resp.StatusCode != http.StatusNotFound {
					t.Errorf("%s: %d %s, want 404", tt.wrongPath, resp.StatusCode, body)
				}
			}
			for _, status := range []int{404, 422, 500, 503} {
				r.refuseWith(status)
				if resp, body := mustSend(tt.path, r.authorization); resp.StatusCode != status || len(body) == 0 {
					t.Errorf("refusing with %d: %d %q", status, resp.StatusCode, body)
				}
			}
			r.refuseWith(0)
			r.slowBy(2 * time.Second)
			if _, _, err := send(tt.path, r.authorization, 300*time.Millisecond); err == nil || !strings.Contains(err.Error(), "deadline") {
				t.Errorf("slow: %v, want the client's deadline", err)
			}
			r.slowBy(0)
			if resp, _ := mustSend(tt.path, r.authorization); resp.StatusCode != tt.status {
				t.Errorf("after slow: %d, want %d", resp.StatusCode, tt.status)
			}
			r.take()
			r.close()
			if _, _, err := send(tt.path, r.authorization, 2*time.Second); err == nil || !strings.Contains(err.Error(), "refused") {
				t.Errorf("closed: %v, want connection refused", err)
			}
		})
	}
}

// GitHub's 25-input limit and required ref, Buildkite's required commit
// and branch: the recorders refuse with 422 as the APIs do.
func TestCIRecordersValidate(t *testing.T) {
	t.Parallel()
	inputs := map[string]string{}
	for i := range 26 {
		inputs["IN"+strconv.Itoa(i)] = "v"
	}
	gh := newGitHubRecorder(t, ciGitHub, "tok")
	bk := newBearerRecorder(t, ciBuildkite, "tok")
	tests := []struct {
		name string
		r    *ciRecorder
		path string
		body string
	}{
		{"github 26 inputs", gh, "/repos/a/b/actions/workflows/w.yml/dispatches", mustJSON(map[string]any{"ref": "main", "inputs": inputs})},
		{"github no ref", gh, "/repos/a/b/actions/workflows/w.yml/dispatches", `{"inputs":{}}`},
		{"buildkite no commit", bk, "/v2/organizations/a/pipelines/b/builds", `{"branch":"main"}`},
		{"buildkite no branch", bk, "/v2/organizations/a/pipelines/b/builds", `{"commit":"HEAD"}`},
	}
	for _, tt := range tests {
		req, err := http.NewRequest(http.MethodPost, tt.r.url()+tt.path, bytes.NewReader([]byte(tt.body)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer tok")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var msg struct{ Message string }
		if resp.StatusCode != http.StatusUnprocessableEntity || json.Unmarshal(body, &msg) != nil || msg.Message == "" {
			t.Errorf("%s: %d %s, want 422 with a message", tt.name, resp.StatusCode, body)
		}
	}
}
