package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A real Buildbot (Debian's buildbot 3.7 master and buildbot-worker) on
// loopback, for the buildbot upstream module's end-to-end tests: a master
// with one ForceScheduler ("force") and one builder ("runtests") whose only
// step echoes the branch and the declared properties, and one worker. Each
// test starts its own (about 5 s on an idle machine: create-master,
// create-worker, start, worker connected), so no test sees another's builds.

const (
	buildbotScheduler = "force"
	buildbotBuilder   = "runtests"
	// buildbotStep is the builder's step that records what the build got.
	buildbotStep = "record"
	// buildbotReady bounds the start of master and worker: the machine is
	// shared, and twistd imports a lot.
	buildbotReady = 90 * time.Second
	// buildbotBuildTimeout bounds a build from its request to its end.
	buildbotBuildTimeout = 90 * time.Second
)

// buildbotPropertyName is what the master.cfg template accepts as a
// property name (it is written into Python source).
var buildbotPropertyName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// buildbot is one running master and worker.
type buildbot struct {
	t       *testing.T
	dir     string
	wwwPort int
	pbPort  int
	client  *http.Client
	// declared are the properties the force scheduler declares by name.
	declared map[string]bool
	// workerPass is the worker's password on the master.
	workerPass string
	master     *buildbotProcess
	worker     *buildbotProcess
}

// buildbotProcess is a `buildbot start --nodaemon` or `buildbot-worker
// start --nodaemon`: twistd runs in that process, in its own process group.
type buildbotProcess struct {
	name    string
	cmd     *exec.Cmd
	basedir string
	out     string // stdout and stderr
	done    chan struct{}
	waitErr error
}

// newBuildbot starts a master whose ForceScheduler declares properties (a
// StringParameter each, as a force scheduler passes on only the properties
// it declares) plus one AnyPropertyParameter pair (property1_name,
// property1_value), and a worker connected to it.
func newBuildbot(t *testing.T, properties ...string) *buildbot {
	t.Helper()
	for _, tool := range []string{"buildbot", "buildbot-worker"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("these tests need %s (apt-get install buildbot buildbot-worker): %v", tool, err)
		}
	}
	for _, p := range properties {
		if !buildbotPropertyName.MatchString(p) {
			t.Fatalf("buildbot property name %q: not an identifier", p)
		}
	}
	b := &buildbot{
		t:       t,
		dir:     t.TempDir(),
		wwwPort: freePort(t),
		pbPort:  freePort(t),
		client:  &http.Client{Timeout: 15 * time.Second},
		// Not a secret of the gateway's: the worker's own.
		workerPass: "worker-pass-" + randomHex(6),
		declared:   map[string]bool{},
	}
	for _, p := range properties {
		b.declared[p] = true
	}
	started := time.Now()
	// Registered first, so it runs after both processes have stopped and
	// written their last lines.
	t.Cleanup(b.dumpLogsOnFailure)

	www := b.writeRESTOnlyWWWPlugin()
	masterDir := filepath.Join(b.dir, "master")
	b.run("buildbot", "create-master", "--relocatable", masterDir)
	b.writeMasterConfig(masterDir, properties)
	workerDir := filepath.Join(b.dir, "worker")
	b.run("buildbot-worker", "create-worker", "--relocatable", workerDir,
		"127.0.0.1:"+strconv.Itoa(b.pbPort), "gateway-worker", b.workerPass)

	b.master = b.start("master", masterDir, www, "buildbot", "start", "--nodaemon", masterDir)
	b.waitFor("the master's REST API", b.master, func() bool {
		var w buildbotWorkers
		return b.tryGet("/api/v2/workers", &w) == nil
	})
	b.worker = b.start("worker", workerDir, "", "buildbot-worker", "start", "--nodaemon", workerDir)
	b.waitFor("the worker to connect", b.worker, func() bool {
		var w buildbotWorkers
		if b.tryGet("/api/v2/workers", &w) != nil {
			return false
		}
		return len(w.Workers) == 1 && len(w.Workers[0].ConnectedTo) > 0
	})
	t.Logf("buildbot master and worker ready in %s (REST API %s)", time.Since(started).Round(100*time.Millisecond), b.base())
	return b
}

// base is the master's web address: its REST API is base()+"/api/v2".
func (b *buildbot) base() string { return "http://127.0.0.1:" + strconv.Itoa(b.wwwPort) }

// addr is the master's web address as reverse_proxy takes it.
func (b *buildbot) addr() string { return "127.0.0.1:" + strconv.Itoa(b.wwwPort) }

// writeRESTOnlyWWWPlugin writes the www plugin Buildbot's master needs to
// serve its REST API. The master refuses to start its web server without a
// "base" plugin in the entry-point group buildbot.www, which is Buildbot's
// JS UI (buildbot-www, not packaged by Debian); an Application over an
// empty static folder stands in for it. It returns the folder for
// PYTHONPATH.
func (b *buildbot) writeRESTOnlyWWWPlugin() string {
	root := filepath.Join(b.dir, "www")
	files := map[string]string{
		"gateway_rest_only_www/__init__.py": "from buildbot.www.plugin import Application\n\n" +
			"ep = Application(__name__, \"REST API only: no web UI\")\n",
		"gateway_rest_only_www/VERSION":                          "0.0.0\n",
		"gateway_rest_only_www/static/.keep":                     "",
		"gateway_rest_only_www-0.0.0.dist-info/METADATA":         "Metadata-Version: 2.1\nName: gateway-rest-only-www\nVersion: 0.0.0\n",
		"gateway_rest_only_www-0.0.0.dist-info/entry_points.txt": "[buildbot.www]\nbase = gateway_rest_only_www:ep\n",
	}
	for name, content := range files {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			b.t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
	return root
}

// writeMasterConfig writes master.cfg: loopback ports, one force
// scheduler declaring properties, one builder whose step echoes the branch
// and each property, no usage reporting.
func (b *buildbot) writeMasterConfig(masterDir string, properties []string) {
	var params, echoes []string
	for _, p := range properties {
		params = append(params, fmt.Sprintf("util.StringParameter(name=%q)", p))
		echoes = append(echoes, fmt.Sprintf("util.Interpolate(%q)", p+"=%(prop:"+p+")s"))
	}
	params = append(params, `util.AnyPropertyParameter("property1")`)
	cfg := fmt.Sprintf(`# Written by the gateway's integration tests.
from buildbot.plugins import schedulers, steps, util, worker

c = BuildmasterConfig = {}
c["title"] = "trigger gateway test"
c["buildbotURL"] = %[1]q
c["buildbotNetUsageData"] = None
c["db"] = {"db_url": "sqlite:///state.sqlite"}
c["protocols"] = {"pb": {"port": "tcp:%[2]d:interface=127.0.0.1"}}
c["www"] = {"port": "tcp:%[3]d:interface=127.0.0.1", "plugins": {}}
c["workers"] = [worker.Worker("gateway-worker", %[4]q)]
c["change_source"] = []
c["schedulers"] = [
    schedulers.ForceScheduler(
        name=%[5]q,
        builderNames=[%[6]q],
        properties=[%[7]s],
    ),
]
factory = util.BuildFactory()
factory.addStep(steps.ShellCommand(
    name=%[8]q,
    command=["echo", util.Interpolate("branch=%%(src::branch)s")%[9]s],
))
c["builders"] = [util.BuilderConfig(name=%[6]q, workernames=["gateway-worker"], factory=factory)]
`, b.base()+"/", b.pbPort, b.wwwPort, b.workerPass, buildbotScheduler, buildbotBuilder,
		strings.Join(params, ", "), buildbotStep, prefixEach(", ", echoes))
	if err := os.WriteFile(filepath.Join(masterDir, "master.cfg"), []byte(cfg), 0o600); err != nil {
		b.t.Fatal(err)
	}
}

func prefixEach(prefix string, items []string) string {
	var s strings.Builder
	for _, it := range items {
		s.WriteString(prefix + it)
	}
	return s.String()
}

// buildbotEnviron is the environment of Buildbot's commands: only what
// Python and a shell step need (the worker logs a step's whole
// environment), with PYTHONPATH when set.
func buildbotEnviron(pythonPath string) []string {
	env := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
	if home, err := os.UserHomeDir(); err == nil {
		env = append(env, "HOME="+home)
	}
	if pythonPath != "" {
		env = append(env, "PYTHONPATH="+pythonPath)
	}
	return env
}

// run runs one of Buildbot's setup commands to its end.
func (b *buildbot) run(name string, args ...string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), buildbotReady)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = b.dir
	cmd.Env = buildbotEnviron("")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// start starts a long-running Buildbot process; t.Cleanup stops it.
func (b *buildbot) start(name, basedir, pythonPath string, argv ...string) *buildbotProcess {
	b.t.Helper()
	p := &buildbotProcess{name: name, basedir: basedir, out: filepath.Join(b.dir, name+".out"), done: make(chan struct{})}
	out, err := os.Create(p.out)
	if err != nil {
		b.t.Fatal(err)
	}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Dir = basedir
	p.cmd.Env = buildbotEnviron(pythonPath)
	p.cmd.Stdout, p.cmd.Stderr = out, out
	// Its own process group, so that stopping it also stops the commands a
	// build runs; killed if the test binary dies first.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		out.Close()
		b.t.Fatal(err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		out.Close()
		close(p.done)
	}()
	b.t.Cleanup(func() { b.stop(p) })
	return p
}

// stop ends p with SIGTERM (twistd's graceful stop), then SIGKILL.
func (b *buildbot) stop(p *buildbotProcess) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		b.t.Errorf("buildbot %s did not stop within %s of SIGTERM; killing it", p.name, stopTimeout)
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// waitFor polls ready until it holds, failing the test if p exits first
// or buildbotReady passes.
func (b *buildbot) waitFor(what string, p *buildbotProcess, ready func() bool) {
	b.t.Helper()
	deadline := time.Now().Add(buildbotReady)
	for !ready() {
		select {
		case <-p.done:
			b.t.Fatalf("buildbot %s exited (%v) while waiting for %s:\n%s", p.name, p.waitErr, what, tail(p.out))
		default:
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("waited %s for %s", buildbotReady, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// dumpLogsOnFailure writes the ends of the master's and the worker's logs
// into a failed test's log.
func (b *buildbot) dumpLogsOnFailure() {
	if !b.t.Failed() {
		return
	}
	for _, p := range []*buildbotProcess{b.master, b.worker} {
		if p == nil {
			continue
		}
		b.t.Logf("buildbot %s twistd.log:\n%s", p.name, tail(filepath.Join(p.basedir, "twistd.log")))
		b.t.Logf("buildbot %s output:\n%s", p.name, tail(p.out))
	}
}

// tryGet reads one REST API resource into v.
func (b *buildbot) tryGet(path string, v any) error {
	resp, err := b.client.Get(b.base() + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, bytes.TrimSpace(body))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %v: %s", path, err, body)
	}
	return nil
}

// get reads one REST API resource into v; failing is fatal.
func (b *buildbot) get(t *testing.T, path string, v any) {
	t.Helper()
	if err := b.tryGet(path, v); err != nil {
		t.Fatal(err)
	}
}

// The REST API's resources, as much of them as the tests read.
type (
	buildbotWorkers struct {
		Workers []struct {
			Name        string            `json:"name"`
			ConnectedTo []json.RawMessage `json:"connected_to"`
		} `json:"workers"`
	}
	buildbotBuildset struct {
		BSID         int64  `json:"bsid"`
		Reason       string `json:"reason"`
		Complete     bool   `json:"complete"`
		Results      *int   `json:"results"`
		Sourcestamps []struct {
			Branch *string `json:"branch"`
		} `json:"sourcestamps"`
	}
	buildbotBuildRequest struct {
		BuildRequestID int64 `json:"buildrequestid"`
		BuildsetID     int64 `json:"buildsetid"`
		BuilderID      int64 `json:"builderid"`
		Complete       bool  `json:"complete"`
		Results        *int  `json:"results"`
	}
	buildbotBuild struct {
		BuildID        int64  `json:"buildid"`
		BuildRequestID int64  `json:"buildrequestid"`
		Number         int64  `json:"number"`
		Complete       bool   `json:"complete"`
		Results        *int   `json:"results"`
		StateString    string `json:"state_string"`
	}
	// buildbotProperty is one build property: its value and its source
	// ("Force Build Form" for what the force scheduler took from the request).
	buildbotProperty struct {
		Value  any
		Source string
	}
)

// buildsets lists every buildset of the master, oldest first.
func (b *buildbot) buildsets(t *testing.T) []buildbotBuildset {
	t.Helper()
	var out struct {
		Buildsets []buildbotBuildset `json:"buildsets"`
	}
	b.get(t, "/api/v2/buildsets?order=bsid", &out)
	return out.Buildsets
}

// buildset reads one buildset.
func (b *buildbot) buildset(t *testing.T, bsid int64) buildbotBuildset {
	t.Helper()
	var out struct {
		Buildsets []buildbotBuildset `json:"buildsets"`
	}
	b.get(t, fmt.Sprintf("/api/v2/buildsets/%d", bsid), &out)
	if len(out.Buildsets) != 1 {
		t.Fatalf("buildset %d: %d answers", bsid, len(out.Buildsets))
	}
	return out.Buildsets[0]
}

// buildRequests lists the build requests of a buildset.
func (b *buildbot) buildRequests(t *testing.T, bsid int64) []buildbotBuildRequest {
	t.Helper()
	var out struct {
		BuildRequests []buildbotBuildRequest `json:"buildrequests"`
	}
	b.get(t, fmt.Sprintf("/api/v2/buildrequests?buildsetid=%d", bsid), &out)
	return out.BuildRequests
}

// waitBuild waits until the build of build request brid completes and
// fails the test unless it succeeded (results 0).
func (b *buildbot) waitBuild(t *testing.T, brid int64) buildbotBuild {
	t.Helper()
	deadline := time.Now().Add(buildbotBuildTimeout)
	for {
		var out struct {
			Builds []buildbotBuild `json:"builds"`
		}
		b.get(t, fmt.Sprintf("/api/v2/builds?buildrequestid=%d", brid), &out)
		if n := len(out.Builds); n > 0 && out.Builds[n-1].Complete {
			build := out.Builds[n-1]
			if build.Results == nil || *build.Results != 0 {
				t.Fatalf("build %d of build request %d: results %v (%q), want 0 (success)", build.BuildID, brid, deref(build.Results), build.StateString)
			}
			return build
		}
		if time.Now().After(deadline) {
			t.Fatalf("build request %d: no complete build after %s (builds: %+v)", brid, buildbotBuildTimeout, out.Builds)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

// buildProperties reads a build's properties.
func (b *buildbot) buildProperties(t *testing.T, buildID int64) map[string]buildbotProperty {
	t.Helper()
	var out struct {
		Properties []map[string][2]any `json:"properties"`
	}
	b.get(t, fmt.Sprintf("/api/v2/builds/%d/properties", buildID), &out)
	props := map[string]buildbotProperty{}
	for _, set := range out.Properties {
		for name, vs := range set {
			source, _ := vs[1].(string)
			props[name] = buildbotProperty{Value: vs[0], Source: source}
		}
	}
	return props
}

// stepOutput is what the build's record step printed (its stdout lines).
func (b *buildbot) stepOutput(t *testing.T, buildID int64) string {
	t.Helper()
	var out struct {
		Logchunks []struct {
			Content string `json:"content"`
		} `json:"logchunks"`
	}
	b.get(t, fmt.Sprintf("/api/v2/builds/%d/steps/%s/logs/stdio/contents", buildID, buildbotStep), &out)
	var lines []string
	for _, c := range out.Logchunks {
		// A stdio log's lines start with their stream: o(ut), e(rr), h(eader).
		for _, l := range strings.Split(c.Content, "\n") {
			if s, ok := strings.CutPrefix(l, "o"); ok {
				lines = append(lines, s)
			}
		}
	}
	return strings.Join(lines, "\n")
}

// buildbotForceResult is the JSON-RPC answer to force: [buildset id,
// {builder id: build request id}].
type buildbotForceResult struct {
	BSID   int64
	BRIDs  map[string]int64
	Status int
	Raw    []byte
}

// force calls the force scheduler straight through the REST API's JSON-RPC,
// as the gateway's buildbot module does.
func (b *buildbot) force(t *testing.T, params map[string]any) buildbotForceResult {
	t.Helper()
	body := mustJSON(map[string]any{"jsonrpc": "2.0", "method": "force", "id": 1, "params": params})
	resp, err := b.client.Post(b.base()+"/api/v2/forceschedulers/"+buildbotScheduler, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	res := buildbotForceResult{Status: resp.StatusCode, Raw: raw}
	var answer struct {
		JSONRPC string            `json:"jsonrpc"`
		ID      int               `json:"id"`
		Result  []json.RawMessage `json:"result"`
		Error   json.RawMessage   `json:"error"`
	}
	if err := json.Unmarshal(raw, &answer); err != nil {
		t.Fatalf("force: %d %s: %v", resp.StatusCode, raw, err)
	}
	if len(answer.Result) == 2 {
		if err := json.Unmarshal(answer.Result[0], &res.BSID); err != nil {
			t.Fatalf("force result %s: %v", raw, err)
		}
		if err := json.Unmarshal(answer.Result[1], &res.BRIDs); err != nil {
			t.Fatalf("force result %s: %v", raw, err)
		}
	}
	return res
}

// assertBuildbotBuild checks that buildset bsid holds one build request,
// whose build succeeded on branch with props (name: value) as properties
// taken from the force request, and returns that build request's id.
func (b *buildbot) assertBuild(t *testing.T, bsid int64, branch string, props map[string]string) int64 {
	t.Helper()
	brs := b.buildRequests(t, bsid)
	if len(brs) != 1 {
		t.Fatalf("buildset %d: %d build requests, want 1: %+v", bsid, len(brs), brs)
	}
	build := b.waitBuild(t, brs[0].BuildRequestID)
	got := b.buildProperties(t, build.BuildID)
	if p := got["branch"]; p.Value != branch {
		t.Errorf("build %d: property branch = %v (%s), want %q", build.BuildID, p.Value, p.Source, branch)
	}
	for name, want := range props {
		p, ok := got[name]
		if !ok {
			t.Errorf("build %d: no property %s", build.BuildID, name)
			continue
		}
		if p.Value != want || p.Source != "Force Build Form" {
			t.Errorf("build %d: property %s = %v from %q, want %q from the force request", build.BuildID, name, p.Value, p.Source, want)
		}
	}
	// The worker's step saw them too (it echoes the declared ones).
	out := b.stepOutput(t, build.BuildID)
	want := "branch=" + branch
	if !strings.Contains(out, want) {
		t.Errorf("build %d: the step printed %q, want it to contain %q", build.BuildID, out, want)
	}
	for name, value := range props {
		if b.declared[name] && !strings.Contains(out, name+"="+value) {
			t.Errorf("build %d: the step printed %q, want it to contain %s=%s", build.BuildID, out, name, value)
		}
	}
	if bs := b.buildset(t, bsid); len(bs.Sourcestamps) != 1 || bs.Sourcestamps[0].Branch == nil || *bs.Sourcestamps[0].Branch != branch {
		t.Errorf("buildset %d: sourcestamps %+v, want one on branch %q", bsid, bs.Sourcestamps, branch)
	}
	return brs[0].BuildRequestID
}

// The harness itself: a build forced straight through Buildbot's JSON-RPC,
// as the gateway's buildbot module sends it, runs on the worker and
// succeeds with the branch and the declared properties; an undeclared one
// is dropped, and a force naming an unknown builder is a JSON-RPC error.
func TestBuildbotHarness(t *testing.T) {
	t.Parallel()
	bb := newBuildbot(t, "DEPLOY_ENV", "GREETING")

	res := bb.force(t, map[string]any{
		"builderNames": []string{buildbotBuilder},
		"branch":       "main",
		"reason":       "harness check",
		"DEPLOY_ENV":   "staging",
		"GREETING":     "hello world",
		"UNDECLARED":   "dropped",
		// An AnyPropertyParameter pair names a property freely.
		"property1_name":  "FREE_FORM",
		"property1_value": "free",
	})
	if res.Status != http.StatusOK || res.BSID == 0 || len(res.BRIDs) != 1 {
		t.Fatalf("force: %d %s, want 200 and [bsid, {builderid: brid}]", res.Status, res.Raw)
	}
	var brid int64
	for _, id := range res.BRIDs {
		brid = id
	}
	got := bb.assertBuild(t, res.BSID, "main", map[string]string{"DEPLOY_ENV": "staging", "GREETING": "hello world", "FREE_FORM": "free"})
	if got != brid {
		t.Errorf("the buildset's build request is %d, force answered %d", got, brid)
	}
	brs := bb.buildRequests(t, res.BSID)
	if key := strconv.FormatInt(brs[0].BuilderID, 10); res.BRIDs[key] != brid {
		t.Errorf("force answered %v: the key is not the builder id %s", res.BRIDs, key)
	}
	var build struct {
		Builds []buildbotBuild `json:"builds"`
	}
	bb.get(t, fmt.Sprintf("/api/v2/builds?buildrequestid=%d", brid), &build)
	if props := bb.buildProperties(t, build.Builds[0].BuildID); props["UNDECLARED"] != (buildbotProperty{}) {
		t.Errorf("an undeclared property reached the build: %+v", props["UNDECLARED"])
	}
	if sets := bb.buildsets(t); len(sets) != 1 || sets[0].BSID != res.BSID {
		t.Errorf("buildsets = %+v, want only %d", sets, res.BSID)
	}

	// Buildbot's refusals: a JSON-RPC error member, with an HTTP status
	// that depends on the fault (rest.py: 400 for a malformed call, 500 for
	// whatever the control method raises: an unknown builder or scheduler).
	refusals := []struct {
		name        string
		path        string
		contentType string
		body        string
		status      int
	}{
		{"unknown builder", "/api/v2/forceschedulers/" + buildbotScheduler, "application/json",
			`{"jsonrpc":"2.0","method":"force","id":1,"params":{"builderNames":["no-such-builder"],"branch":"main"}}`, http.StatusInternalServerError},
		{"unknown scheduler", "/api/v2/forceschedulers/no-such-scheduler", "application/json",
			`{"jsonrpc":"2.0","method":"force","id":1,"params":{"builderNames":["` + buildbotBuilder + `"],"branch":"main"}}`, http.StatusInternalServerError},
		{"not JSON", "/api/v2/forceschedulers/" + buildbotScheduler, "application/x-www-form-urlencoded",
			`branch=main`, http.StatusBadRequest},
	}
	for _, r := range refusals {
		resp, err := bb.client.Post(bb.base()+r.path, r.contentType, strings.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var answer struct {
			Error *struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if resp.StatusCode != r.status || json.Unmarshal(raw, &answer) != nil || answer.Error == nil {
			t.Errorf("%s: %d %s, want %d with a JSON-RPC error member", r.name, resp.StatusCode, raw, r.status)
		}
	}
	if sets := bb.buildsets(t); len(sets) != 1 {
		t.Errorf("a refused force created a buildset: %+v", sets)
	}
}
