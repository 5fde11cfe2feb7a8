package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// readBodyTimeout is the servers { timeouts { read_body } } of the body
// tests: the most a client that stops sending may hold a request open.
const readBodyTimeout = 5 * time.Second

// Bodies that never end or never arrive, and headers far too large, are
// refused promptly and cleanly: 413 as soon as the body passes max_body
// (or declares it will), the server's read timeout for a client that
// stalls, 431 for 2 MB of headers; nothing reaches the upstream and Caddy
// keeps serving.
func TestFaultBodiesAndHeaders(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{Gateway: "max_body 64KiB",
		Global: fmt.Sprintf("servers {\ntimeouts {\nread_body %s\n}\n}", readBodyTimeout)})
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "faults", Owner: "alice"})
	host := strings.TrimPrefix(g.base(), "http://")
	head := func(headers ...string) string {
		return "POST /api/v4/projects/9/trigger/pipeline?ref=main&token=" + tr.Token + " HTTP/1.1\r\n" +
			"Host: " + host + "\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
			strings.Join(headers, "\r\n") + "\r\n\r\n"
	}
	value := g.varValue()
	// A chunk of the chunked encoding: 32 KiB of one variable's value.
	endless := []byte(fmt.Sprintf("%x\r\n%s\r\n", 32<<10, strings.Repeat(value, (32<<10)/len(value)+1)[:32<<10]))
	tooLarge := `{"message":"413 Request Entity Too Large"}`

	t.Run("refused promptly", func(t *testing.T) {
		tests := []struct {
			name string
			head string
			feed func(io.Writer, <-chan struct{})
		}{
			{"chunked body that never ends", head("Transfer-Encoding: chunked"), feedEvery(endless, 20*time.Millisecond)},
			{"Content-Length beyond max_body, sent slowly", head("Content-Length: 104857600"), feedEvery([]byte("variables[A]="+value), 100*time.Millisecond)},
			{"Content-Length beyond max_body, nothing sent", head("Content-Length: 104857600"), nil},
		}
		for _, tt := range tests {
			g.siteRequests++
			res := g.rawExchange(tt.head, tt.feed, readBodyTimeout)
			switch {
			case res.Resp == nil || res.Resp.StatusCode != http.StatusRequestEntityTooLarge || !jsonEqualString(res.Body, tooLarge):
				t.Errorf("%s: got %s, want 413 %s promptly", tt.name, res, tooLarge)
			case res.Elapsed > readBodyTimeout/2:
				// The limit, not the read timeout, must end it.
				t.Errorf("%s: 413 only after %s, the read timeout is %s", tt.name, res.Elapsed, readBodyTimeout)
			}
		}
	})

	t.Run("client stops sending", func(t *testing.T) {
		tests := []struct {
			name string
			head string
			body string
		}{
			{"Content-Length not reached", head("Content-Length: 1000"), "variables[A]=" + value},
			{"chunked, no last chunk", head("Transfer-Encoding: chunked"), "10\r\nvariables[A]=xyz\r\n"},
		}
		// Both at once: each waits for the server's read timeout.
		results := make([]rawResult, len(tests))
		var wg sync.WaitGroup
		for i, tt := range tests {
			g.siteRequests++
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = g.rawExchange(tt.head, feedThenStall([]byte(tt.body)), 3*readBodyTimeout)
			}()
		}
		wg.Wait()
		for i, tt := range tests {
			res := results[i]
			switch {
			case res.Resp == nil && isNetTimeout(res.Err):
				t.Errorf("%s: still open after %s, the read timeout is %s", tt.name, res.Elapsed, readBodyTimeout)
			case res.Elapsed < readBodyTimeout-time.Second || res.Elapsed > readBodyTimeout+3*time.Second:
				t.Errorf("%s: ended after %s (%s), want at the read timeout %s", tt.name, res.Elapsed, res, readBodyTimeout)
			case res.Resp != nil && (res.Resp.StatusCode < 400 || res.Resp.StatusCode >= 500):
				t.Errorf("%s: got %s, want the connection closed or a 4xx", tt.name, res)
			}
			t.Logf("%s: %s", tt.name, res)
		}
	})

	t.Run("huge headers", func(t *testing.T) {
		pad := strings.Repeat("p", 1000)
		tests := []struct {
			name  string
			lines func(w io.Writer) error
		}{
			{"2 MB in 2000 headers", func(w io.Writer) error {
				for i := range 2000 {
					if _, err := fmt.Fprintf(w, "X-Pad-%d: %s\r\n", i, pad); err != nil {
						return err
					}
				}
				return nil
			}},
			{"2 MB in one header", func(w io.Writer) error {
				_, err := io.WriteString(w, "X-Pad: "+strings.Repeat(pad, 2000)+"\r\n")
				return err
			}},
		}
		for _, tt := range tests {
			res := g.rawExchange("POST /api/v4/projects/9/trigger/pipeline HTTP/1.1\r\nHost: "+host+"\r\n",
				func(w io.Writer, _ <-chan struct{}) {
					if tt.lines(w) == nil {
						_, _ = io.WriteString(w, "Content-Length: 0\r\n\r\n")
					}
				}, readBodyTimeout)
			if res.Resp == nil || res.Resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("%s: got %s, want 431", tt.name, res)
			}
		}
	})

	assertNothingForwarded(t, g.up)
	g.assertNoCrash(t)
	// Caddy still serves, and the token was never the problem.
	g.triggerOK(t, tr)
}

// 10,000 variables are refused: within max_body with a 400 that names the
// limit, in every body form; beyond max_body with a 413. Nothing reaches
// the upstream, and no value shows up in the answer.
func TestFaultTenThousandVariables(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{Gateway: "max_body 2MiB"})
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "many variables", Owner: "alice"})
	// One secret covers every value: each starts with it.
	base := g.varValue()
	const n = 10000
	vars := func(pad int) map[string]string {
		m := make(map[string]string, n)
		for i := range n {
			m[fmt.Sprintf("VAR_%05d", i)] = base + "-" + strconv.Itoa(i) + strings.Repeat("x", pad)
		}
		return m
	}
	pairs := func(m map[string]string) []string {
		kv := []string{"token", tr.Token, "ref", "main"}
		for k, v := range m {
			kv = append(kv, "variables["+k+"]", v)
		}
		return kv
	}
	small, padded := vars(0), vars(256)
	const path = "/api/v4/projects/9/trigger/pipeline"

	tests := []struct {
		name   string
		body   reqBody
		status int
	}{
		{"urlencoded, within max_body", urlencoded(pairs(small)...), http.StatusBadRequest},
		{"JSON, within max_body", jsonBody(map[string]any{"token": tr.Token, "ref": "main", "variables": small}), http.StatusBadRequest},
		{"multipart, within max_body", multipartForm(pairs(small)...), http.StatusBadRequest},
		{"urlencoded, beyond max_body", urlencoded(pairs(padded)...), http.StatusRequestEntityTooLarge},
		{"JSON, beyond max_body", jsonBody(map[string]any{"token": tr.Token, "ref": "main", "variables": padded}), http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if size := len(tt.body.Data); (size <= 2<<20) != (tt.status == http.StatusBadRequest) {
				t.Fatalf("the test's body is %d bytes: on the wrong side of max_body", size)
			}
			var resp response
			if tt.status == http.StatusBadRequest {
				resp = g.post(t, path, tt.body)
			} else {
				// Answered before the body is read: see rawPost.
				res := g.rawPost(path, tt.body, 10*time.Second)
				if res.Resp == nil {
					t.Fatalf("got %s, want %d", res, tt.status)
				}
				resp = response{Status: res.Resp.StatusCode, Header: res.Resp.Header, Body: res.Body}
			}
			if resp.Status != tt.status {
				t.Errorf("got %s, want %d", resp, tt.status)
			}
			if bytes.Contains(resp.Body, []byte(base)) {
				t.Errorf("the answer echoes a variable's value")
			}
			if tt.status == http.StatusBadRequest {
				msg := decodeObject(t, "answer", resp.Body)["message"]
				if s, _ := msg.(string); !strings.Contains(s, "variables") || !strings.Contains(s, "at most 100") {
					t.Errorf("message %q does not name the limit of 100 variables", msg)
				}
			}
			assertNothingForwarded(t, g.up)
		})
	}
	g.assertNoCrash(t)
	g.triggerOK(t, tr)
}

// jsonEqualString compares a JSON answer with the wanted JSON text.
func jsonEqualString(got []byte, want string) bool {
	var a, b any
	if json.Unmarshal(got, &a) != nil || json.Unmarshal([]byte(want), &b) != nil {
		return false
	}
	return reflect.DeepEqual(a, b)
}
