// Package integration drives the real Caddy binary, built with the trigger
// gateway plugin, the way its users do: curl and Go HTTP clients, the
// `caddy trigger` CLI, `caddy reload` and signals, in front of a real
// upstream HTTP server that records every request reaching it.
package integration

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// caddyBinary is the Caddy binary under test (Caddy + the plugin).
var caddyBinary string

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	// Caddy writes its autosave and default data under the XDG folders:
	// keep them out of the user's home.
	for _, name := range []string{"XDG_DATA_HOME", "XDG_CONFIG_HOME"} {
		if os.Getenv(name) != "" {
			continue
		}
		dir, err := os.MkdirTemp("", "trigger-gateway-xdg-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		os.Setenv(name, dir)
	}
	bin, err := resolveBinary()
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	caddyBinary = bin
	return m.Run()
}

// resolveBinary returns $CADDY_BINARY, or builds ../caddy once with ../xcaddy.sh.
func resolveBinary() (string, error) {
	if bin := os.Getenv("CADDY_BINARY"); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			return "", err
		}
		if _, err := os.Stat(abs); err != nil {
			return "", fmt.Errorf("CADDY_BINARY: %w", err)
		}
		return abs, nil
	}
	cmd := exec.Command("./xcaddy.sh", "build")
	cmd.Dir = ".."
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("../xcaddy.sh build: %w", err)
	}
	return filepath.Abs("../caddy")
}

// config is what varies between the tests' Caddyfiles.
type config struct {
	// Gateway is the body of the trigger_gateway block.
	Gateway string
	// Site holds extra directives for the site block.
	Site string
	// Proxy holds subdirectives for reverse_proxy.
	Proxy string
	// ProxyTo is reverse_proxy's upstream address (host:port), for a CI
	// server in place of GitLab; default: the recording upstream.
	ProxyTo string
	// Env is added to the environment of every Caddy process (for {env.X}).
	Env map[string]string
	// Global holds extra global options (e.g. servers { trusted_proxies ... }).
	Global string
	// Sites holds more site blocks, after the test's own.
	Sites string
}

// gateway is one test's world: a directory, a recording upstream, the Caddy
// processes run on one storage, and the secrets the test used (which must
// never show up in Caddy's output).
type gateway struct {
	t         *testing.T
	dir       string
	caddyfile string
	adminPort int
	httpPort  int
	up        *upstream
	cfg       config
	secrets   *secretSet
	client    *http.Client

	proc  *caddyProcess   // the current process
	procs []*caddyProcess // every process started, for the log scan
	// siteRequests counts requests sent to the site: the access log must
	// then have lines, or the log scan would pass vacuously.
	siteRequests int
	// cliRuns numbers the CLI runs whose output is kept for the log scan.
	cliRuns atomic.Int64
}

// newGateway starts Caddy with cfg in front of a fresh recording upstream.
func newGateway(t *testing.T, cfg config) *gateway {
	t.Helper()
	return newGatewayFor(t, cfg, newUpstream(t))
}

// newGatewayFor starts Caddy with cfg in front of up.
func newGatewayFor(t *testing.T, cfg config, up *upstream) *gateway {
	t.Helper()
	g := &gateway{
		t:         t,
		dir:       t.TempDir(),
		adminPort: freePort(t),
		httpPort:  freePort(t),
		cfg:       cfg,
		secrets:   &secretSet{},
		// No keep-alive: a restarted Caddy must not inherit a dead connection.
		client: &http.Client{
			Timeout:       15 * time.Second,
			Transport:     &http.Transport{DisableKeepAlives: true},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	g.caddyfile = filepath.Join(g.dir, "Caddyfile")
	// Registered first so it runs last: after every process has stopped and
	// written its final lines.
	t.Cleanup(g.scanForLeaks)
	g.up = up
	g.writeCaddyfile(cfg)
	g.start()
	return g
}

// base is the gateway's site address.
func (g *gateway) base() string { return "http://127.0.0.1:" + strconv.Itoa(g.httpPort) }

// adminAddr is Caddy's admin endpoint, as the CLI's --address takes it.
func (g *gateway) adminAddr() string { return "127.0.0.1:" + strconv.Itoa(g.adminPort) }

// logFilter is the log filter docs/logs-and-metrics.md and Caddyfile.example
// document, on both the default log and the access log: the values of
// token, job_token, private_token and variables[...] (inputs[...]) in the
// URI, in any case and escaped or not, become REDACTED, and the headers
// carrying credentials are dropped.
const logFilter = `
request>uri regexp (?i)((?:job_|private_)?token|(?:variables|inputs)(?:\[|%5B)[^=&]*)=[^&]* ${1}=REDACTED
uri regexp (?i)((?:job_|private_)?token|(?:variables|inputs)(?:\[|%5B)[^=&]*)=[^&]* ${1}=REDACTED
request>headers>Job-Token delete
request>headers>Private-Token delete
request>headers>X-Gitlab-Token delete
request>headers>X-Hub-Signature-256 delete`

// decisionFields are the log_append lines docs/logs-and-metrics.md and
// Caddyfile.example document: every access-log entry of a trigger API
// request carries the gateway's decision.
const decisionFields = `
@trigger trigger
log_append @trigger trigger_outcome {http.trigger.outcome}
log_append @trigger trigger_project {http.trigger.project}
log_append @trigger trigger_ref {http.trigger.ref}
log_append @trigger trigger_source {http.trigger.source}
log_append @trigger trigger_id {http.trigger.id}
log_append @trigger trigger_token_prefix {http.trigger.token_prefix}`

// writeCaddyfile renders the test Caddyfile for cfg.
func (g *gateway) writeCaddyfile(cfg config) {
	g.t.Helper()
	g.cfg = cfg
	gw := "trigger_gateway"
	if strings.TrimSpace(cfg.Gateway) != "" {
		gw = "trigger_gateway {\n" + indent(cfg.Gateway, "\t\t") + "\n\t}"
	}
	proxy := ""
	if strings.TrimSpace(cfg.Proxy) != "" {
		proxy = " {\n" + indent(cfg.Proxy, "\t\t") + "\n\t}"
	}
	site := ""
	if strings.TrimSpace(cfg.Site) != "" {
		site = indent(cfg.Site, "\t") + "\n"
	}
	global := ""
	if strings.TrimSpace(cfg.Global) != "" {
		global = indent(cfg.Global, "\t") + "\n"
	}
	proxyTo := cfg.ProxyTo
	if proxyTo == "" {
		proxyTo = "127.0.0.1:" + strconv.Itoa(g.up.port())
	}
	text := fmt.Sprintf(`{
	admin 127.0.0.1:%[1]d
	storage file_system %[2]s
	auto_https off
	http_port %[3]d
	log {
		level DEBUG
		format filter {
			wrap json
%[9]s
		}
	}
%[10]s}

http://127.0.0.1:%[3]d {
	log {
		output file %[4]s
		format filter {
%[9]s
		}
	}
%[11]s
%[5]s	%[6]s
	reverse_proxy %[7]s%[8]s
}
%[12]s`, g.adminPort, filepath.Join(g.dir, "storage"), g.httpPort, g.accessLog(), site, gw, proxyTo, proxy,
		indent(logFilter, "\t\t\t"), global, indent(decisionFields, "\t"), cfg.Sites)
	if err := os.WriteFile(g.caddyfile, []byte(text), 0o600); err != nil {
		g.t.Fatal(err)
	}
}

// accessLog is the file the site's access log is written to.
func (g *gateway) accessLog() string { return filepath.Join(g.dir, "access.log") }

func indent(s, prefix string) string {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + strings.TrimLeft(l, "\t")
	}
	return strings.Join(lines, "\n")
}

// response is what a caller got back from the gateway.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) String() string {
	return fmt.Sprintf("%d %s", r.Status, bytes.TrimSpace(r.Body))
}

// do sends req to the gateway and reads the whole answer.
func (g *gateway) do(t *testing.T, req *http.Request) response {
	t.Helper()
	if req.URL.Host == strings.TrimPrefix(g.base(), "http://") {
		g.siteRequests++
	}
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading answer to %s %s: %v", req.Method, req.URL.Path, err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

// post sends a POST to the gateway; path may hold an escaped path and a query.
// headers are name, value pairs.
func (g *gateway) post(t *testing.T, path string, body reqBody, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, g.base()+path, bytes.NewReader(body.Data))
	if err != nil {
		t.Fatal(err)
	}
	if body.ContentType != "" {
		req.Header.Set("Content-Type", body.ContentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return g.do(t, req)
}

// randomHex returns n random bytes, hex-encoded.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// varValue returns a distinctive variable value and remembers it as a secret.
func (g *gateway) varValue() string {
	v := "val-" + randomHex(8)
	g.secrets.addValue(v)
	return v
}

// glpttToken returns a new random GitLab-style trigger token, remembered as a secret.
func (g *gateway) glpttToken() string {
	tok := "glptt-" + randomHex(20)
	g.secrets.addToken(tok)
	return tok
}
