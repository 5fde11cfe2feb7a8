package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
)

// policyTrigger is a trigger as `caddy trigger add --json` shows it,
// with its ref rules.
type policyTrigger struct {
	triggerObj
	Refs []string `json:"refs"`
}

// addTriggerWithRefs creates a trigger limited to refs with
// `caddy trigger add --ref GLOB ...`.
func (g *gateway) addTriggerWithRefs(t *testing.T, project, owner string, refs ...string) policyTrigger {
	t.Helper()
	args := []string{"trigger", "add", "--address", g.adminAddr(), "--json",
		"--project", project, "--description", "limited to " + strings.Join(refs, " "), "--owner", owner}
	for _, r := range refs {
		args = append(args, "--ref", r)
	}
	res := g.mustCLI(t, args...)
	var tr policyTrigger
	if err := json.Unmarshal([]byte(res.Stdout), &tr); err != nil {
		t.Fatalf("caddy trigger add --json: %v\nstdout: %s", err, redact(res.Stdout, g.secrets.all()))
	}
	g.secrets.addToken(tr.Token)
	if tr.Token == "" || tr.ID == 0 {
		t.Fatalf("caddy trigger add --json gave no token or id: %s", redact(res.Stdout, g.secrets.all()))
	}
	return tr
}

// adminPostJSON posts a JSON body to Caddy's admin endpoint.
func (g *gateway) adminPostJSON(t *testing.T, path string, body any) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+g.adminAddr()+path, strings.NewReader(mustJSON(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return g.do(t, req)
}

// postConcurrently sends n copies of one POST at once and returns every
// answer, in no particular order.
func (g *gateway) postConcurrently(t *testing.T, n int, path string, body reqBody, headers ...string) []response {
	t.Helper()
	g.siteRequests += n
	answers := make([]response, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := http.NewRequest(http.MethodPost, g.base()+path, bytes.NewReader(body.Data))
			if err != nil {
				errs[i] = err
				return
			}
			req.Header.Set("Content-Type", body.ContentType)
			for j := 0; j+1 < len(headers); j += 2 {
				req.Header.Set(headers[j], headers[j+1])
			}
			<-start
			resp, err := g.client.Do(req)
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			data, err := io.ReadAll(resp.Body)
			answers[i] = response{Status: resp.StatusCode, Header: resp.Header, Body: data}
			errs[i] = err
		}()
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("concurrent POST %s: %v", strings.SplitN(path, "?", 2)[0], err)
		}
	}
	return answers
}

// flakyUpstream answers the statuses it is given, in turn (the last one
// repeating), with a GitLab-like JSON body, and counts the requests.
type flakyUpstream struct {
	srv      *httptest.Server
	mu       sync.Mutex
	statuses []int
	calls    int
}

func newFlakyUpstream(t *testing.T, statuses ...int) *flakyUpstream {
	t.Helper()
	f := &flakyUpstream{statuses: statuses}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		f.mu.Lock()
		f.calls++
		call := f.calls
		status := f.statuses[min(call, len(f.statuses))-1]
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if status >= 400 {
			fmt.Fprintf(w, `{"message":"%d %s","call":%d}`, status, http.StatusText(status), call)
			return
		}
		fmt.Fprintf(w, `{"id":%d,"status":"created","call":%d}`, 7000+call, call)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *flakyUpstream) addr() string { return f.srv.Listener.Addr().(*net.TCPAddr).String() }

func (f *flakyUpstream) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// processOutput is everything the test's Caddy processes wrote (not the
// site's access log, which logs the caller's request headers as Caddy
// does for any site).
func (g *gateway) processOutput(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, p := range g.procs {
		data, err := os.ReadFile(p.logPath)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	return b.String()
}

// assertReplayed checks that again is first's answer, replayed.
func assertReplayed(t *testing.T, first, again response) {
	t.Helper()
	if again.Status != first.Status || !bytes.Equal(again.Body, first.Body) {
		t.Errorf("repeat got %s, want the first answer %s", again, first)
	}
	if got := again.Header.Get("Idempotent-Replayed"); got != "true" {
		t.Errorf("repeat's Idempotent-Replayed = %q, want true", got)
	}
	if got := again.Header.Get("Content-Type"); got != first.Header.Get("Content-Type") {
		t.Errorf("repeat's Content-Type = %q, want the first's %q", got, first.Header.Get("Content-Type"))
	}
}
