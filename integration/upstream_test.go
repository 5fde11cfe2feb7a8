package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// upstreamRequest is one request as the upstream received it.
type upstreamRequest struct {
	Method      string
	EscapedPath string
	RawQuery    string
	Header      http.Header
	Body        []byte
	// Response is the body the upstream answered with.
	Response []byte
}

// upstream stands in for GitLab: it records every request and answers 201
// with a pipeline object, as GitLab's trigger API does.
type upstream struct {
	srv *httptest.Server

	mu     sync.Mutex
	reqs   []upstreamRequest
	nextID int
	canned *cannedAnswer // answered instead of a pipeline object, when set
}

// cannedAnswer is an answer set by a test.
type cannedAnswer struct {
	status      int
	contentType string
	body        []byte
}

// answerWith makes the upstream answer the next requests with status,
// contentType and body instead of a new pipeline object; status 0 goes
// back to pipeline objects.
func (u *upstream) answerWith(status int, contentType, body string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.canned = nil
	if status != 0 {
		u.canned = &cannedAnswer{status: status, contentType: contentType, body: []byte(body)}
	}
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{nextID: 4000}
	u.srv = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) port() int { return u.srv.Listener.Addr().(*net.TCPAddr).Port }

// pipeline is the part of GitLab's pipeline object the upstream answers with.
type pipeline struct {
	ID        int    `json:"id"`
	IID       int    `json:"iid"`
	ProjectID int    `json:"project_id"`
	SHA       string `json:"sha"`
	Ref       string `json:"ref"`
	Status    string `json:"status"`
	Source    string `json:"source"`
	CreatedAt string `json:"created_at"`
	WebURL    string `json:"web_url"`
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	// The answer echoes the ref like GitLab; what the gateway really sent is
	// recorded raw and checked by the tests, so a body that is not JSON is
	// not an error here.
	var in struct {
		Ref string `json:"ref"`
	}
	_ = json.Unmarshal(body, &in)

	u.mu.Lock()
	u.nextID++
	id := u.nextID
	answer, _ := json.Marshal(pipeline{
		ID:        id,
		IID:       id - 4000,
		ProjectID: 9,
		SHA:       fmt.Sprintf("%040x", id),
		Ref:       in.Ref,
		Status:    "created",
		Source:    "trigger",
		CreatedAt: time.Now().UTC().Format(time.RFC3339),
		WebURL:    fmt.Sprintf("https://gitlab.example.com/group/project/-/pipelines/%d", id),
	})
	status, contentType := http.StatusCreated, "application/json"
	if c := u.canned; c != nil {
		status, contentType, answer = c.status, c.contentType, c.body
	}
	u.reqs = append(u.reqs, upstreamRequest{
		Method:      r.Method,
		EscapedPath: r.URL.EscapedPath(),
		RawQuery:    r.URL.RawQuery,
		Header:      r.Header.Clone(),
		Body:        body,
		Response:    answer,
	})
	u.mu.Unlock()

	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Upstream", "gitlab-stand-in")
	w.WriteHeader(status)
	_, _ = w.Write(answer)
}

// take returns the requests received since the last take and forgets them.
func (u *upstream) take() []upstreamRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	reqs := u.reqs
	u.reqs = nil
	return reqs
}
