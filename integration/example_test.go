package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The README's quickstart runs Caddyfile.example as it is: `./xcaddy.sh
// run` is `caddy run --config Caddyfile.example --adapter caddyfile`. Run
// so, with its ports from the environment: Caddy prints no "not formatted"
// warning, listens on loopback only, serves the quickstart's commands, and
// the example's timeouts bound slow clients (408 for a trickled body, the
// connection closed for trickled headers).
func TestCaddyfileExample(t *testing.T) {
	t.Parallel()
	g, ports := startExample(t, nil)

	if out := tail(g.proc.logPath); strings.Contains(out, "not formatted") {
		t.Errorf("Caddy warns that Caddyfile.example is not formatted:\n%s", out)
	}
	for _, port := range ports {
		assertLoopbackOnly(t, g.proc, port)
	}

	// The quickstart, as the README writes it, with the ports of this run.
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "nightly build", Owner: "alice"})
	out, err := exec.Command("curl", "--silent", "--show-error", "--request", "POST",
		"--form", "token="+tr.Token, "--form", "ref=master",
		fmt.Sprintf("http://localhost:%d/api/v4/projects/9/trigger/pipeline", g.httpPort)).Output()
	if want := `{"id":1,"ref":"master","status":"created","source":"trigger"}`; err != nil || string(out) != want {
		t.Errorf("the quickstart's curl: %v: %s, want %s", err, out, want)
	}

	host := fmt.Sprintf("localhost:%d", g.httpPort) // the example's site address
	t.Run("trickled body", func(t *testing.T) {
		t.Parallel()
		res := g.rawExchange("POST /api/v4/projects/9/trigger/pipeline?ref=master&token="+tr.Token+" HTTP/1.1\r\nHost: "+host+
			"\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n",
			feedEvery([]byte("a"), time.Second), 30*time.Second)
		if res.Resp == nil || res.Resp.StatusCode != http.StatusRequestTimeout || !jsonEqualString(res.Body, requestTimeout) ||
			res.Elapsed > 15*time.Second {
			t.Errorf("got %s, want 408 %s after the example's read_body_timeout 10s", res, requestTimeout)
		}
	})
	t.Run("trickled headers", func(t *testing.T) {
		t.Parallel()
		res := g.rawExchange("POST /api/v4/projects/9/trigger/pipeline HTTP/1.1\r\nHost: "+host+"\r\n",
			feedEvery([]byte("X-Slow: a\r\n"), time.Second), 30*time.Second)
		if isNetTimeout(res.Err) || res.Elapsed > 15*time.Second {
			t.Errorf("got %s, want the connection closed after the example's read_header 10s", res)
		}
	})
}

// A CI server that takes the request and never answers gets the caller
// GitLab's 504 after the example's response_header_timeout (30s), not a
// wait as long as the CI server hangs.
func TestCaddyfileExampleHangingCI(t *testing.T) {
	t.Parallel()
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hang.Close() })
	go func() { // accept, read the request, never answer
		for {
			conn, err := hang.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_, _ = io.Copy(io.Discard, conn)
			}()
		}
	}()
	const proxy = "reverse_proxy localhost:{$CI_PORT:8081} {"
	g, _ := startExample(t, func(example string) string {
		if strings.Count(example, proxy) != 1 {
			t.Fatalf("Caddyfile.example has no %q line to point at the hanging CI server", proxy)
		}
		return strings.Replace(example, proxy, "reverse_proxy "+hang.Addr().String()+" {", 1)
	})
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "hanging CI", Owner: "alice"})

	client := &http.Client{Timeout: time.Minute}
	start := time.Now()
	resp, err := client.Post(fmt.Sprintf("http://localhost:%d/api/v4/projects/9/trigger/pipeline", g.httpPort),
		"application/x-www-form-urlencoded", strings.NewReader("token="+tr.Token+"&ref=master"))
	if err != nil {
		t.Fatalf("no answer after %s: %v", time.Since(start), err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	elapsed := time.Since(start)
	assertJSONAnswer(t, response{Status: resp.StatusCode, Header: resp.Header, Body: body},
		http.StatusGatewayTimeout, `{"message":"504 Gateway Timeout"}`)
	if elapsed < 29*time.Second || elapsed > 40*time.Second {
		t.Errorf("answered after %s, want after the example's response_header_timeout 30s", elapsed)
	}
}

// startExample runs Caddyfile.example (edited by edit, if given) as the
// README does, on free ports given through its environment variables. It
// returns the gateway and the ports the example listens on.
func startExample(t *testing.T, edit func(string) string) (*gateway, []int) {
	t.Helper()
	example, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	text := string(example)
	if edit != nil {
		text = edit(text)
	}
	g := &gateway{
		t:         t,
		dir:       t.TempDir(),
		adminPort: freePort(t),
		httpPort:  freePort(t),
		secrets:   &secretSet{},
		client:    &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
	}
	ciPort := freePort(t)
	g.cfg = config{Env: map[string]string{
		"ADMIN_PORT": strconv.Itoa(g.adminPort),
		"HTTP_PORT":  strconv.Itoa(g.httpPort),
		"CI_PORT":    strconv.Itoa(ciPort),
	}}
	g.caddyfile = filepath.Join(g.dir, "Caddyfile.example")
	if err := os.WriteFile(g.caddyfile, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.scanForLeaks)
	g.start()
	ports := []int{g.adminPort, g.httpPort}
	if edit == nil {
		ports = append(ports, ciPort)
	}
	return g, ports
}

// assertLoopbackOnly checks that every socket listening on port (there
// must be one) is bound to 127.0.0.1 or ::1, as the kernel lists them for
// the process's network namespace.
func assertLoopbackOnly(t *testing.T, p *caddyProcess, port int) {
	t.Helper()
	const listening = "0A"
	loopback := map[string]bool{
		"0100007F":                         true, // 127.0.0.1
		"00000000000000000000000001000000": true, // ::1
	}
	found := 0
	for _, table := range []string{"tcp", "tcp6"} {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", p.cmd.Process.Pid, table))
		if err != nil {
			t.Fatalf("listing the sockets: %v", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Scan() // the header line
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 4 || fields[3] != listening {
				continue
			}
			addr, portHex, ok := strings.Cut(fields[1], ":")
			if n, err := strconv.ParseInt(portHex, 16, 32); !ok || err != nil || int(n) != port {
				continue
			}
			found++
			if !loopback[addr] {
				t.Errorf("port %d listens on %s (%s), not on loopback only", port, addr, table)
			}
		}
	}
	if found == 0 {
		t.Errorf("nothing listens on port %d", port)
	}
}
