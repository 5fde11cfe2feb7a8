package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// tooLarge is the gateway's answer to a body over its limit.
const tooLarge = `{"message":"413 Request Entity Too Large"}`

// wholeBodyTries is how many times each oversized request is sent: every
// one must read the 413.
const wholeBodyTries = 50

// A client that writes its whole body before it reads the answer, as
// Python's urllib and most scripts do, reads the 413 of a body over
// max_body every time: the gateway reads and discards the rest of the
// body (a bounded amount, for a bounded time) before it closes the
// connection, so that the close does not reset the connection under the
// client's writes and take the answer with it.
func TestFaultOversizedBodyWrittenWhole(t *testing.T) {
	t.Parallel()
	admin := "mgmt-" + randomHex(20)
	g := newGateway(t, config{
		Gateway: "management_token ops {env.GATEWAY_ADMIN_TOKEN}",
		Env:     map[string]string{"GATEWAY_ADMIN_TOKEN": admin},
	})
	g.secrets.addToken(admin)
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "oversized bodies", Owner: "alice"})
	const size = 2 << 20 // max_body is 1 MiB
	pipeline := "/api/v4/projects/9/trigger/pipeline?ref=main&token=" + tr.Token

	t.Run("urllib, Content-Length", func(t *testing.T) {
		g.siteRequests += wholeBodyTries
		for i, got := range urllibPosts(t, g.base()+pipeline, size, wholeBodyTries) {
			if got.Error != "" || got.Status != http.StatusRequestEntityTooLarge || !jsonEqualString([]byte(got.Body), tooLarge) {
				t.Errorf("try %d of %d: got %d %s %s, want 413 %s", i+1, wholeBodyTries, got.Status, got.Body, got.Error, tooLarge)
			}
		}
	})

	host := strings.TrimPrefix(g.base(), "http://")
	form := "Content-Type: application/x-www-form-urlencoded\r\n"
	chunked := func(data []byte) []byte {
		var b bytes.Buffer
		for len(data) > 0 {
			n := min(len(data), 64<<10)
			fmt.Fprintf(&b, "%x\r\n%s\r\n", n, data[:n])
			data = data[n:]
		}
		b.WriteString("0\r\n\r\n")
		return b.Bytes()
	}
	payload := []byte("description=" + strings.Repeat("d", size))
	raw := []struct {
		name string
		head string
		body []byte
	}{
		{"Go, chunked", "POST " + pipeline + " HTTP/1.1\r\nHost: " + host + "\r\n" + form + "Transfer-Encoding: chunked\r\n\r\n", chunked(payload)},
		{"Go, management API", "POST /api/v4/projects/9/triggers HTTP/1.1\r\nHost: " + host + "\r\n" + form +
			"Private-Token: " + admin + "\r\n" + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(payload)), payload},
	}
	// These write at a slow link's pace (2 MiB in about a second), longer
	// than Go's server waits after its answer before it closes (500ms):
	// the close would reset the connection under their writes.
	const pacedTries = 5
	for _, tt := range raw {
		t.Run(tt.name, func(t *testing.T) {
			for i := range pacedTries {
				g.siteRequests++
				status, body, err := writeWholeThenRead(host, append([]byte(tt.head), tt.body...), 64<<10, 30*time.Millisecond)
				if err != nil || status != http.StatusRequestEntityTooLarge || !jsonEqualString(body, tooLarge) {
					t.Errorf("try %d of %d: got %d %s (%v), want 413 %s", i+1, pacedTries, status, body, err, tooLarge)
				}
			}
		})
	}
	assertNothingForwarded(t, g.up)
	g.assertNoCrash(t)
	g.triggerOK(t, tr)
}

// urllibResult is one urllib request's outcome.
type urllibResult struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
	Error  string `json:"error"`
}

// urllibPosts POSTs a urlencoded body of size bytes to url tries times
// with Python's urllib, which sends the whole body before it reads.
func urllibPosts(t *testing.T, url string, size, tries int) []urllibResult {
	t.Helper()
	const script = `
import json, sys, urllib.error, urllib.request
url, size, tries = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
body = b"variables[A]=" + b"a" * (size - len("variables[A]="))
out = []
for _ in range(tries):
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            out.append({"status": resp.status, "body": resp.read().decode()})
    except urllib.error.HTTPError as e:
        out.append({"status": e.code, "body": e.read().decode()})
    except Exception as e:
        out.append({"error": type(e).__name__ + ": " + str(e)})
print(json.dumps(out))
`
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("this test needs python3: %v", err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(python, "-c", script, url, fmt.Sprint(size), fmt.Sprint(tries))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("python3: %v: %s", err, stderr.String())
	}
	var results []urllibResult
	if err := json.Unmarshal(stdout.Bytes(), &results); err != nil || len(results) != tries {
		t.Fatalf("python3 output (%v): %s", err, stdout.String())
	}
	return results
}

// writeWholeThenRead writes the whole request on a new connection, in
// chunks with a pause after each, before it reads anything; then it reads
// the answer.
func writeWholeThenRead(host string, request []byte, chunk int, pause time.Duration) (int, []byte, error) {
	conn, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		return 0, nil, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return 0, nil, err
	}
	for len(request) > 0 {
		n := min(len(request), chunk)
		if _, err := conn.Write(request[:n]); err != nil {
			return 0, nil, fmt.Errorf("writing the request: %w", err)
		}
		request = request[n:]
		time.Sleep(pause)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, nil, fmt.Errorf("reading the answer: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}
