package integration

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// redisKeyPrefix is the key_prefix of the tests' Redis storage.
const redisKeyPrefix = "tg"

// cluster is several Caddy processes sharing their triggers, usage and
// revocations through one real Redis server, each with its own admin
// endpoint, site, upstream, data directory and log files. The secrets of
// the test are shared: a token created through one node must not show up
// in any node's output.
type cluster struct {
	t       *testing.T
	redis   *redisServer
	nodes   []*gateway
	secrets *secretSet
	// gatewayCfg is the body of every node's trigger_gateway block.
	gatewayCfg string
}

// newCluster starts Redis and n Caddy nodes whose trigger_gateway blocks
// hold extra (after the storage redis block). sameIDAs maps a node to an
// earlier node whose Caddy data directory it copies, so both start with
// the same Caddy instance ID.
func newCluster(t *testing.T, n int, extra string, sameIDAs map[int]int) *cluster {
	t.Helper()
	c := &cluster{t: t, redis: startRedis(t), secrets: &secretSet{}}
	c.gatewayCfg = redisStorageBlock(c.redis.port) + extra
	// Cleanups run last-registered first: this one runs once every node
	// has stopped (and written its last usage) and before Redis stops.
	t.Cleanup(c.scanRedisForSecrets)
	for i := range n {
		var prepare func(g *gateway)
		if j, ok := sameIDAs[i]; ok {
			prepare = func(g *gateway) { copyInstanceID(t, c.nodes[j], g) }
		}
		c.nodes = append(c.nodes, c.startNode(prepare))
	}
	return c
}

// redisStorageBlock is the storage block of a node whose Redis listens on
// port.
func redisStorageBlock(port int) string {
	return "storage redis {\nhost 127.0.0.1\nport " + strconv.Itoa(port) +
		"\nkey_prefix " + redisKeyPrefix + "\n}\n"
}

// startNode starts one node, as newGateway does, after prepare.
func (c *cluster) startNode(prepare func(g *gateway)) *gateway {
	t := c.t
	t.Helper()
	g := &gateway{
		t:         t,
		dir:       t.TempDir(),
		adminPort: freePort(t),
		httpPort:  freePort(t),
		secrets:   c.secrets,
		client: &http.Client{
			Timeout:       15 * time.Second,
			Transport:     &http.Transport{DisableKeepAlives: true},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	g.caddyfile = filepath.Join(g.dir, "Caddyfile")
	t.Cleanup(g.scanForLeaks)
	g.up = newUpstream(t)
	g.writeCaddyfile(config{Gateway: c.gatewayCfg})
	if prepare != nil {
		prepare(g)
	}
	g.start()
	return g
}

// instanceIDFile is where the gateway keeps its instance ID: in Caddy's
// configuration directory, which no storage holds.
func instanceIDFile(g *gateway) string {
	return filepath.Join(g.dir, "xdg-config", "caddy", "trigger_gateway_instance_id")
}

// copyInstanceID gives dst the gateway instance ID of src, as copying a
// whole machine image would.
func copyInstanceID(t *testing.T, src, dst *gateway) {
	t.Helper()
	id, err := os.ReadFile(instanceIDFile(src))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(instanceIDFile(dst)), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(instanceIDFile(dst), id, 0o600); err != nil {
		t.Fatal(err)
	}
}

// instanceID is the node's gateway instance ID.
func (g *gateway) instanceID(t *testing.T) string {
	t.Helper()
	id, err := os.ReadFile(instanceIDFile(g))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(id))
}

// usageWriters lists the instance names whose usage records in Redis hold
// an entry for the trigger.
func (c *cluster) usageWriters(t *testing.T, tr triggerObj) []string {
	t.Helper()
	var names []string
	for _, dir := range c.redis.strings("ZRANGE", redisKeyPrefix+"/trigger_gateway/instance_usage", "0", "-1") {
		name, err := url.PathUnescape(strings.TrimSuffix(dir, "/"))
		if err != nil {
			t.Fatal(err)
		}
		if rec, ok := c.storedUsageShard(t, tr, name); ok {
			if _, ok := rec.Triggers[tr.idString()]; ok {
				names = append(names, name)
			}
		}
	}
	sort.Strings(names)
	return names
}

// scanRedisForSecrets fails the test if any token or variable value the
// test used is stored in Redis in the clear.
func (c *cluster) scanRedisForSecrets() {
	if !c.redis.running() {
		return
	}
	keys := c.redis.strings("KEYS", "*")
	var dump bytes.Buffer
	for _, key := range keys {
		dump.WriteString(key + "\n")
		if v, err := c.redis.command("GET", key); err == nil {
			if s, ok := v.(string); ok {
				dump.WriteString(s + "\n")
			}
		}
	}
	f := filepath.Join(c.t.TempDir(), "redis-dump.txt")
	if err := os.WriteFile(f, dump.Bytes(), 0o600); err != nil {
		c.t.Error(err)
		return
	}
	leaks, err := findLeaks([]string{f}, c.secrets.all())
	if err != nil {
		c.t.Error(err)
	}
	for _, l := range leaks {
		c.t.Errorf("secret stored in Redis in the clear: %s", l)
	}
	if len(keys) == 0 {
		c.t.Error("Redis scan: no keys, the cluster stored nothing there")
	}
}

// triggerStatus sends one trigger request for tr and returns the status,
// without touching the gateway's bookkeeping, so that it may run in many
// goroutines; the caller adds to siteRequests.
func (g *gateway) triggerStatus(ctx context.Context, tr triggerObj) (int, error) {
	body := urlencoded("token", tr.Token, "ref", "main")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		g.base()+"/api/v4/projects/"+tr.Project+"/trigger/pipeline", bytes.NewReader(body.Data))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", body.ContentType)
	resp, err := g.client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// statusCounts counts answers by status, safely from many goroutines.
type statusCounts struct {
	mu     sync.Mutex
	counts map[int]int64
	errs   []error
}

func (s *statusCounts) add(status int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.errs = append(s.errs, err)
		return
	}
	if s.counts == nil {
		s.counts = map[int]int64{}
	}
	s.counts[status]++
}

func (s *statusCounts) get(status int) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[status]
}

func (s *statusCounts) total() (n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.counts {
		n += c
	}
	return n + int64(len(s.errs))
}

// hammer sends n requests for tr from workers goroutines and returns the
// answers by status.
func (g *gateway) hammer(t *testing.T, tr triggerObj, workers, n int) *statusCounts {
	t.Helper()
	counts := &statusCounts{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				counts.add(g.triggerStatus(context.Background(), tr))
			}
		}()
	}
	wg.Wait()
	g.siteRequests += n
	return counts
}

// eventually retries check every 50ms until it returns "" or timeout
// passes, then fails with its last complaint.
func eventually(t *testing.T, timeout time.Duration, check func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logLines returns the lines of the node's current Caddy output that
// match re.
func (g *gateway) logLines(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	data, err := os.ReadFile(g.proc.logPath)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		if re.MatchString(sc.Text()) {
			lines = append(lines, sc.Text())
		}
	}
	return lines
}
