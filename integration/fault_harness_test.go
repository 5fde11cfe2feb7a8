package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The fault tests (fault_*_test.go) need what newGateway does not offer:
// global options (server timeouts), an upstream that can be made slow, a
// sender that many goroutines may share, and raw connections for bodies
// and headers that a well-behaved client would never send.

// slowUpstream is the recording upstream, answering after Delay.
type slowUpstream struct {
	*upstream
	delay atomic.Int64 // nanoseconds
}

func newSlowUpstream(t *testing.T) *slowUpstream {
	t.Helper()
	s := &slowUpstream{upstream: &upstream{nextID: 4000}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := time.Duration(s.delay.Load()); d > 0 {
			// Read the body first, as a CI server does: only then does Go's
			// server notice the proxy hanging up and end r's context.
			body, err := io.ReadAll(r.Body)
			if err != nil {
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return // the proxy gave up: nothing was answered, nothing recorded
			}
		}
		s.serve(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// faultSend sends req without touching the test's state, so that many
// goroutines may use it; the error is returned, not reported. The caller
// accounts for the requests in g.siteRequests afterwards.
func faultSend(client *http.Client, req *http.Request) (response, error) {
	resp, err := client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// loadRequest is an urlencoded trigger of tr on main with one variable.
func (g *gateway) loadRequest(ctx context.Context, tr triggerObj, value string) *http.Request {
	body := urlencoded("token", tr.Token, "ref", "main", "variables[LOAD]", value)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		g.base()+"/api/v4/projects/"+tr.Project+"/trigger/pipeline", bytes.NewReader(body.Data))
	if err != nil {
		panic(err) // a constant URL
	}
	req.Header.Set("Content-Type", body.ContentType)
	return req
}

// createTriggerQuick creates a trigger through the admin API, for loops
// too fast for the CLI. ok is false unless the creation was acknowledged
// with 201; the token is then remembered as a secret.
func (g *gateway) createTriggerQuick(client *http.Client, description string) (tr triggerObj, ok bool) {
	body, _ := json.Marshal(map[string]string{"project": "9", "description": description, "owner": "alice"})
	req, err := http.NewRequest(http.MethodPost, "http://"+g.adminAddr()+"/trigger_gateway/triggers", bytes.NewReader(body))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := faultSend(client, req)
	if err != nil || resp.Status != http.StatusCreated {
		return tr, false
	}
	if json.Unmarshal(resp.Body, &tr) != nil || tr.Token == "" || tr.ID == 0 {
		return tr, false
	}
	g.secrets.addToken(tr.Token)
	return tr, true
}

// assertNoCrash checks that Caddy still runs and that nothing in its
// output so far is a panic, recovered or not.
func (g *gateway) assertNoCrash(t *testing.T) {
	t.Helper()
	if g.proc.exited() {
		t.Fatalf("caddy exited (%v):\n%s", g.proc.waitErr, tail(g.proc.logPath))
	}
	for _, p := range g.procs {
		data, err := os.ReadFile(p.logPath)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if strings.Contains(strings.ToLower(line), "panic") {
				t.Errorf("caddy output has a panic: %s", redact(line, g.secrets.all()))
			}
		}
	}
}

// rawResult is what came back on a raw connection.
type rawResult struct {
	// Resp is the answer; nil when the connection ended without one.
	Resp *http.Response
	Body []byte
	// Err is why no answer could be read (Resp nil), or why its body
	// could not be read in full.
	Err error
	// Elapsed is the time from the dial to the end of the answer.
	Elapsed time.Duration
}

func (r rawResult) String() string {
	if r.Resp == nil {
		return "no answer (" + r.Err.Error() + ") after " + r.Elapsed.Round(time.Millisecond).String()
	}
	return r.Resp.Status + " " + string(bytes.TrimSpace(r.Body)) + " after " + r.Elapsed.Round(time.Millisecond).String()
}

// rawExchange sends head on a new connection to the site, then lets feed
// write the rest (a body, more header lines) while the answer is read, for
// at most limit. feed must return once stop is closed or a write fails.
// It reports nothing itself, so that goroutines may use it.
func (g *gateway) rawExchange(head string, feed func(w io.Writer, stop <-chan struct{}), limit time.Duration) rawResult {
	start := time.Now()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(g.base(), "http://"), 5*time.Second)
	if err != nil {
		return rawResult{Err: err, Elapsed: time.Since(start)}
	}
	defer conn.Close()
	if err := conn.SetDeadline(start.Add(limit)); err != nil {
		return rawResult{Err: err, Elapsed: time.Since(start)}
	}
	if _, err := io.WriteString(conn, head); err != nil {
		return rawResult{Err: err, Elapsed: time.Since(start)}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	if feed != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			feed(conn, stop)
		}()
	}
	defer func() {
		close(stop)
		conn.Close() // unblocks a feed stuck in a write
		wg.Wait()
	}()
	var res rawResult
	res.Resp, res.Err = http.ReadResponse(bufio.NewReader(conn), nil)
	if res.Resp != nil {
		res.Body, res.Err = io.ReadAll(res.Resp.Body)
	}
	res.Elapsed = time.Since(start)
	return res
}

// rawPost sends a POST with a Content-Length on a raw connection and reads
// the answer while the body is still being written: an answer given before
// the whole body was read (413) reaches the caller even when the server
// then closes the connection under the client's writes, which makes Go's
// http.Client report the write error instead.
func (g *gateway) rawPost(path string, body reqBody, limit time.Duration) rawResult {
	g.siteRequests++
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
		path, strings.TrimPrefix(g.base(), "http://"), body.ContentType, len(body.Data))
	return g.rawExchange(head, func(w io.Writer, stop <-chan struct{}) {
		for data := body.Data; len(data) > 0; {
			n := min(len(data), 64<<10)
			if _, err := w.Write(data[:n]); err != nil {
				return
			}
			data = data[n:]
			select {
			case <-stop:
				return
			default:
			}
		}
	}, limit)
}

// feedEvery writes chunk every interval until stopped or refused.
func feedEvery(chunk []byte, interval time.Duration) func(io.Writer, <-chan struct{}) {
	return func(w io.Writer, stop <-chan struct{}) {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}
}

// feedThenStall writes data once, then sends nothing more until stopped:
// a client that stops in the middle of its request.
func feedThenStall(data []byte) func(io.Writer, <-chan struct{}) {
	return func(w io.Writer, stop <-chan struct{}) {
		if _, err := w.Write(data); err != nil {
			return
		}
		<-stop
	}
}

// isNetTimeout reports whether err is a network timeout (the client's own
// bound, as opposed to the server ending the connection).
func isNetTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
