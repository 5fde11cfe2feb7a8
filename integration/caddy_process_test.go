package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	startTimeout = 20 * time.Second
	stopTimeout  = 15 * time.Second
	cliTimeout   = 20 * time.Second
)

// Ports handed to Caddy processes come from below Linux's ephemeral range
// (32768-60999 by default): a port picked there and released is free for
// any outgoing connection to take before Caddy binds it, which happened
// under load (300 client connections in another test).
const (
	firstTestPort = 20000
	testPorts     = 12000
)

var (
	portsMu     sync.Mutex
	portsHanded = map[int]bool{}
)

// freePort returns a TCP port that was free a moment ago on every
// interface (Caddy binds ":port"), outside the ephemeral range, and never
// handed out before in this test process.
func freePort(t *testing.T) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		port := firstTestPort + rand.IntN(testPorts)
		if portsHanded[port] {
			continue
		}
		l, err := net.Listen("tcp", ":"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		l.Close()
		portsHanded[port] = true
		return port
	}
	t.Fatal("no free port found below the ephemeral range")
	return 0
}

// caddyProcess is one `caddy run`.
type caddyProcess struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	waitErr error
}

// exited reports whether the process has ended.
func (p *caddyProcess) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitExit waits up to timeout for the process to end; waitErr is then set.
func (p *caddyProcess) waitExit(timeout time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// environ is the environment of every Caddy process and CLI run of the test.
func (g *gateway) environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "XDG_DATA_HOME=") || strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"XDG_DATA_HOME="+filepath.Join(g.dir, "xdg-data"),
		"XDG_CONFIG_HOME="+filepath.Join(g.dir, "xdg-config"))
	for k, v := range g.cfg.Env {
		env = append(env, k+"="+v)
	}
	return env
}

// start runs `caddy run` on the test's Caddyfile and waits until both the
// admin endpoint and the site answer.
func (g *gateway) start() *caddyProcess {
	t := g.t
	t.Helper()
	p := &caddyProcess{
		logPath: filepath.Join(g.dir, fmt.Sprintf("caddy-%d.log", len(g.procs)+1)),
		done:    make(chan struct{}),
	}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(caddyBinary, "run", "--config", g.caddyfile, "--adapter", "caddyfile")
	p.cmd.Dir = g.dir
	p.cmd.Env = g.environ()
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		t.Fatal(err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	g.procs = append(g.procs, p)
	g.proc = p
	t.Cleanup(func() { g.stopOrKill(p) })
	g.waitReady(p)
	return p
}

// waitReady waits until Caddy's admin endpoint serves its config and the
// site port accepts connections.
func (g *gateway) waitReady(p *caddyProcess) {
	t := g.t
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	client := &http.Client{Timeout: time.Second}
	for {
		if p.exited() {
			t.Fatalf("caddy exited before it was ready (%v):\n%s", p.waitErr, tail(p.logPath))
		}
		if adminReady(client, g.adminAddr()) && portOpen(g.httpPort) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("caddy not ready after %s:\n%s", startTimeout, tail(p.logPath))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func adminReady(client *http.Client, addr string) bool {
	resp, err := client.Get("http://" + addr + "/config/")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func portOpen(port int) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// tail returns the end of a log file for failure messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	const max = 6000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// interrupt stops the process gracefully with SIGINT and waits for it.
func (g *gateway) interrupt(p *caddyProcess) error {
	g.t.Helper()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil && !p.exited() {
		g.t.Fatal(err)
	}
	if !p.waitExit(stopTimeout) {
		g.t.Fatalf("caddy did not stop within %s of SIGINT:\n%s", stopTimeout, tail(p.logPath))
	}
	return p.waitErr
}

// stopViaCLI stops the process with `caddy stop --address` and waits for it.
func (g *gateway) stopViaCLI(p *caddyProcess) error {
	g.t.Helper()
	g.mustCLI(g.t, "stop", "--address", g.adminAddr())
	if !p.waitExit(stopTimeout) {
		g.t.Fatalf("caddy did not exit within %s of `caddy stop`:\n%s", stopTimeout, tail(p.logPath))
	}
	return p.waitErr
}

// kill ends the process with SIGKILL: no cleanup runs in Caddy.
func (g *gateway) kill(p *caddyProcess) {
	g.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !p.exited() {
		g.t.Fatal(err)
	}
	if !p.waitExit(stopTimeout) {
		g.t.Fatal("caddy survived SIGKILL")
	}
}

// stopOrKill is the cleanup of every process: graceful first, so its last
// log lines are written for the log scan, then SIGKILL.
func (g *gateway) stopOrKill(p *caddyProcess) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	if p.waitExit(stopTimeout) {
		return
	}
	g.t.Errorf("caddy did not stop within %s of SIGINT; killing it", stopTimeout)
	_ = p.cmd.Process.Kill()
	p.waitExit(stopTimeout)
}

// cliResult is the outcome of one CLI run.
type cliResult struct {
	Stdout, Stderr string
	ExitCode       int
}

// cli runs the Caddy binary with args, as a user runs `caddy ...`.
func (g *gateway) cli(t *testing.T, args ...string) cliResult {
	t.Helper()
	return g.cliWithInput(t, "", args...)
}

// cliWithInput runs the Caddy binary with args and stdin.
func (g *gateway) cliWithInput(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, caddyBinary, args...)
	cmd.Dir = g.dir
	cmd.Env = g.environ()
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cliResult{Stdout: stdout.String(), Stderr: stderr.String()}
	g.keepCLIOutput(t, args, stdin, err == nil, res) // for the log scan
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr) && ctx.Err() == nil:
		res.ExitCode = exitErr.ExitCode()
	default:
		t.Fatalf("caddy %s: %v\nstderr: %s", strings.Join(args, " "), err, res.Stderr)
	}
	return res
}

// mustCLI runs the CLI and fails the test unless it exits 0.
func (g *gateway) mustCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	res := g.cli(t, args...)
	if res.ExitCode != 0 {
		t.Fatalf("caddy %s: exit %d\nstdout: %s\nstderr: %s",
			strings.Join(args, " "), res.ExitCode, res.Stdout, res.Stderr)
	}
	return res
}

// reload writes cfg and applies it with `caddy reload`.
func (g *gateway) reload(t *testing.T, cfg config) {
	t.Helper()
	g.writeCaddyfile(cfg)
	g.mustCLI(t, "reload", "--config", g.caddyfile, "--adapter", "caddyfile", "--address", g.adminAddr())
}

// adminGet fetches path from Caddy's admin endpoint.
func (g *gateway) adminGet(t *testing.T, path string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+g.adminAddr()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return g.do(t, req)
}
