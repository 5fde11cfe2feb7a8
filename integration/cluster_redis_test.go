package integration

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// redisServer is a real redis-server run by a test on a free port, with
// its data in the test's directory (appendonly, so a restart keeps it).
type redisServer struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
	runs int
}

// startRedis starts a redis-server for the test; it is stopped at cleanup.
func startRedis(t *testing.T) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("the cluster tests need redis-server (apt-get install redis-server): ", err)
	}
	r := &redisServer{t: t, port: freePort(t), dir: t.TempDir()}
	r.start()
	t.Cleanup(func() {
		if r.running() {
			r.stop()
		}
	})
	return r
}

func (r *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

func (r *redisServer) running() bool {
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}

// start runs redis-server (again) on the same port and data directory,
// and waits until it answers.
func (r *redisServer) start() {
	t := r.t
	t.Helper()
	r.runs++
	logFile, err := os.Create(filepath.Join(r.dir, fmt.Sprintf("redis-%d.log", r.runs)))
	if err != nil {
		t.Fatal(err)
	}
	r.cmd = exec.Command("redis-server",
		"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
		"--appendonly", "yes", "--appendfsync", "always", "--save", "",
		"--daemonize", "no", "--protected-mode", "no")
	r.cmd.Stdout, r.cmd.Stderr = logFile, logFile
	if err := r.cmd.Start(); err != nil {
		logFile.Close()
		t.Fatal(err)
	}
	r.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait()
		logFile.Close()
		close(done)
	}(r.cmd, r.done)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if reply, err := r.command("PING"); err == nil && reply == "PONG" {
			return
		}
		if !r.running() || time.Now().After(deadline) {
			t.Fatalf("redis-server did not start on %s", r.addr())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop shuts redis-server down gracefully (SIGTERM: the data is synced).
func (r *redisServer) stop() {
	r.t.Helper()
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		_ = r.cmd.Process.Kill()
		r.t.Fatal("redis-server did not stop within 30s of SIGTERM")
	}
}

// command sends one command and returns the reply: a string, an int64, nil,
// or a []any of those.
func (r *redisServer) command(args ...string) (any, error) {
	conn, err := net.DialTimeout("tcp", r.addr(), time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return nil, err
	}
	return readRESP(bufio.NewReader(conn))
}

// readRESP reads one reply of the Redis protocol.
func readRESP(rd *bufio.Reader) (any, error) {
	line, err := rd.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("empty reply line")
	}
	switch line[0] {
	case '+':
		return line[1:], nil
	case '-':
		return nil, errors.New(line[1:])
	case ':':
		return strconv.ParseInt(line[1:], 10, 64)
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return nil, err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return nil, err
		}
		items := make([]any, n)
		for i := range items {
			if items[i], err = readRESP(rd); err != nil {
				return nil, err
			}
		}
		return items, nil
	}
	return nil, fmt.Errorf("unexpected reply %q", line)
}

// strings runs a command whose reply is an array of strings.
func (r *redisServer) strings(args ...string) []string {
	r.t.Helper()
	reply, err := r.command(args...)
	if err != nil {
		r.t.Fatalf("redis %s: %v", strings.Join(args, " "), err)
	}
	items, _ := reply.([]any)
	out := make([]string, 0, len(items))
	for _, it := range items {
		s, _ := it.(string)
		out = append(out, s)
	}
	return out
}

func TestReadRESP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string
	}{
		{"+PONG\r\n", "PONG"},
		{":42\r\n", "42"},
		{"$5\r\nhello\r\n", "hello"},
		{"$-1\r\n", "<nil>"},
		{"*2\r\n$1\r\na\r\n:7\r\n", "[a 7]"},
		{"-ERR wrong\r\n", "error: ERR wrong"},
	}
	for _, tt := range tests {
		got, err := readRESP(bufio.NewReader(strings.NewReader(tt.in)))
		s := fmt.Sprint(got)
		if err != nil {
			s = "error: " + err.Error()
		}
		if s != tt.want {
			t.Errorf("readRESP(%q) = %s, want %s", tt.in, s, tt.want)
		}
	}
}
