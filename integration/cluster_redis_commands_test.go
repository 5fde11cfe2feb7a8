package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// redisMonitor records every command the Redis server runs (MONITOR), so
// that a test can tell which commands a window of its own requests caused,
// by key, from those of the gateway's background loops.
type redisMonitor struct {
	conn  net.Conn
	mu    sync.Mutex
	lines []string
	done  chan struct{}
}

func (r *redisServer) monitor(t *testing.T) *redisMonitor {
	t.Helper()
	conn, err := net.DialTimeout("tcp", r.addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, "*1\r\n$7\r\nMONITOR\r\n"); err != nil {
		t.Fatal(err)
	}
	m := &redisMonitor{conn: conn, done: make(chan struct{})}
	rd := bufio.NewReader(conn)
	if line, err := rd.ReadString('\n'); err != nil || line != "+OK\r\n" {
		t.Fatalf("MONITOR: %q, %v", line, err)
	}
	go func() {
		defer close(m.done)
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				return
			}
			m.mu.Lock()
			m.lines = append(m.lines, strings.TrimSuffix(line, "\r\n"))
			m.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-m.done
	})
	return m
}

// monitoredCommand is one command MONITOR showed: its name (lower case)
// and its first argument, the key for the commands the storage sends.
type monitoredCommand struct{ name, key string }

// window returns the commands run between the ECHO of mark's start and
// end markers (see mark).
func (m *redisMonitor) window(t *testing.T, r *redisServer, label string) []monitoredCommand {
	t.Helper()
	end := `"ECHO" "` + label + `-end"`
	deadline := time.Now().Add(10 * time.Second)
	for {
		m.mu.Lock()
		lines := append([]string(nil), m.lines...)
		m.mu.Unlock()
		var out []monitoredCommand
		in := false
		for _, line := range lines {
			switch {
			case strings.HasSuffix(line, `"ECHO" "`+label+`-start"`):
				in = true
			case strings.HasSuffix(line, end):
				return out
			case in:
				out = append(out, parseMonitorLine(line))
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("MONITOR did not show the end of window %s", label)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// parseMonitorLine reads `<time> [<db> <client>] "CMD" "arg" ...`.
func parseMonitorLine(line string) monitoredCommand {
	_, rest, _ := strings.Cut(line, "] ")
	fields := strings.SplitN(rest, `" "`, 3)
	c := monitoredCommand{name: strings.ToLower(strings.Trim(fields[0], `"`))}
	if len(fields) > 1 {
		c.key = strings.Trim(fields[1], `"`)
	}
	return c
}

// mark sends the ECHO that opens or closes a window in MONITOR's output.
func (r *redisServer) mark(t *testing.T, marker string) {
	t.Helper()
	if _, err := r.command("ECHO", marker); err != nil {
		t.Fatal(err)
	}
}

// commandStats is INFO commandstats: calls by command name.
func (r *redisServer) commandStats(t *testing.T) map[string]int64 {
	t.Helper()
	reply, err := r.command("INFO", "commandstats")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := reply.(string)
	stats := map[string]int64{}
	for line := range strings.SplitSeq(text, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok {
			continue
		}
		calls, _, _ := strings.Cut(rest, ",")
		n, err := strconv.ParseInt(calls, 10, 64)
		if err == nil {
			stats[strings.TrimPrefix(name, "cmdstat_")] = n
		}
	}
	return stats
}

// statsDelta is after minus before, without the commands of the test's own
// connections (info, echo, monitor) and without zeros.
func statsDelta(before, after map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for name, n := range after {
		if d := n - before[name]; d != 0 && name != "info" && name != "echo" && name != "monitor" {
			out[name] = d
		}
	}
	return out
}

// betweenStats is the commands of a window that ran between its first and
// its last INFO, which are left out, as statsDelta leaves them out.
func betweenStats(cmds []monitoredCommand) []monitoredCommand {
	isInfo := func(c monitoredCommand) bool { return c.name == "info" }
	first, last := slices.IndexFunc(cmds, isInfo), -1
	for i := len(cmds) - 1; i > first; i-- {
		if isInfo(cmds[i]) {
			last = i
			break
		}
	}
	if first < 0 || last < 0 {
		return nil // the caller's counts then disagree, and it says so
	}
	var out []monitoredCommand
	for _, c := range cmds[first+1 : last] {
		if c.name != "echo" && c.name != "info" && c.name != "monitor" {
			out = append(out, c)
		}
	}
	return out
}

// background reports whether a command is one of the gateway's background
// loops: the change feed's poll (a listing of the changes directory), the
// instance heartbeat, confirmations.
func background(c monitoredCommand) bool {
	for _, dir := range []string{"/trigger_gateway/changes", "/trigger_gateway/instances", "/trigger_gateway/confirmations"} {
		if strings.HasPrefix(c.key, redisKeyPrefix+dir) {
			return true
		}
	}
	return false
}

// requestCommands is the commands of a window other than background ones,
// counted by "name key" (a token index's key ends in "…").
func requestCommands(cmds []monitoredCommand) map[string]int {
	out := map[string]int{}
	tokens := redisKeyPrefix + "/trigger_gateway/tokens/"
	for _, c := range cmds {
		// A ZADD keeps caddy-storage-redis's directory listing of a key it
		// SETs: it is part of that write, counted with its SET.
		if background(c) || c.name == "zadd" {
			continue
		}
		key := c.key
		if strings.HasPrefix(key, tokens) {
			key = tokens + "…" // a token's hash
		}
		out[c.name+" "+key]++
	}
	return out
}

// On Redis, a request whose token is cached sends Redis no command at all:
// in a window of cachedRequests accepted requests, Redis runs only the
// gateway's background loops (the change feed's poll every
// change_poll_interval, the heartbeat). A cache miss of a valid token is
// one GET of its token index, one round trip; a miss of an unknown token
// is that GET, the listing that shows Redis answers and a second GET after
// it that confirms the missing key (caddy-storage-redis answers "missing"
// for failed reads too, and Redis may have come back between the first
// GET and the listing). INFO commandstats gives
// the counts (logged for BENCHMARKS.md); MONITOR tells the requests'
// commands from the loops', and the test asserts those.
func TestRedisCommandCounts(t *testing.T) {
	t.Parallel()
	const cachedRequests = 200
	c := newCluster(t, 1, "usage_flush_interval 1h", nil)
	g := c.nodes[0]
	cached := g.addTrigger(t, addOpts{Project: "9", Description: "cached", Owner: "alice"})
	fresh := g.addTrigger(t, addOpts{Project: "9", Description: "fresh", Owner: "alice"})
	unknown := triggerObj{Project: "9", Token: "glptt-" + strings.Repeat("0", 40)}
	g.secrets.addToken(unknown.Token)
	ctx := context.Background()
	send := func(tr triggerObj, want int) {
		t.Helper()
		if status, err := g.triggerStatus(ctx, tr); err != nil || status != want {
			t.Fatalf("trigger: %d, %v; want %d", status, err, want)
		}
	}
	send(cached, http.StatusCreated) // cached from now on
	mon := c.redis.monitor(t)

	windows := []struct {
		label string
		run   func()
		// want: the request's own commands (see requestCommands).
		want map[string]int
	}{
		{"cached", func() {
			for range cachedRequests {
				send(cached, http.StatusCreated)
			}
		}, map[string]int{}},
		{"miss", func() { send(fresh, http.StatusCreated) },
			map[string]int{"get " + redisKeyPrefix + "/trigger_gateway/tokens/…": 1}},
		{"unknown", func() { send(unknown, http.StatusNotFound) },
			map[string]int{"get " + redisKeyPrefix + "/trigger_gateway/tokens/…": 2, "zrange " + redisKeyPrefix + "/trigger_gateway/probe": 1}},
		{"unknown-again", func() { send(unknown, http.StatusNotFound) }, map[string]int{}}, // negative cache
	}
	for _, w := range windows {
		// The markers enclose the two INFO calls, and the commands counted
		// are those MONITOR shows between them: a background write landing
		// next to a marker is on the same side of both counts.
		c.redis.mark(t, w.label+"-start")
		before := c.redis.commandStats(t)
		start := time.Now()
		w.run()
		took := time.Since(start)
		delta := statsDelta(before, c.redis.commandStats(t))
		c.redis.mark(t, w.label+"-end")
		cmds := betweenStats(mon.window(t, c.redis, w.label))
		got := requestCommands(cmds)
		t.Logf("%s (%s): INFO commandstats delta %v; MONITOR: %d commands, of the requests %v", w.label, took.Round(time.Millisecond), delta, len(cmds), got)
		if fmt.Sprint(got) != fmt.Sprint(w.want) {
			t.Errorf("%s: the requests sent Redis %v, want %v", w.label, got, w.want)
		}
		// The counts agree: every command commandstats counted is in the
		// window's MONITOR output.
		var monitored int64
		for _, n := range delta {
			monitored += n
		}
		if monitored != int64(len(cmds)) {
			t.Errorf("%s: INFO commandstats counted %d commands, MONITOR showed %d", w.label, monitored, len(cmds))
		}
	}
}
