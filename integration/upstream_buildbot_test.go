package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The buildbot upstream module end to end (issue 15, contract §8): the
// gateway in front of a real Buildbot master and worker
// (buildbot_harness_test.go). A GitLab trigger, from python-gitlab or the
// seed's curl commands, starts a real build that succeeds with the ref as
// its branch and the variables as properties; the caller gets GitLab's
// pipeline object whose id is the buildset's and whose web_url is its
// build request's page.

// buildbotProperties are the properties the tests' force scheduler declares.
var buildbotProperties = []string{"DEPLOY_ENV", "GREETING", "UPLOAD_TO_S3"}

// newBuildbotGateway starts the gateway with project 9 sent to bb's force
// scheduler, and project 10 to a builder bb does not have.
func newBuildbotGateway(t *testing.T, bb *buildbot) *gateway {
	t.Helper()
	return newGateway(t, config{
		Gateway: fmt.Sprintf(`project 9 {
upstream buildbot {
scheduler %[1]s
builder %[2]s
web_url %[3]s
}
}
project 10 {
upstream buildbot {
scheduler %[1]s
builder no-such-builder
web_url %[3]s
}
}`, buildbotScheduler, buildbotBuilder, bb.base()),
		ProxyTo: bb.addr(),
		Site:    "log_append @trigger trigger_upstream {http.trigger.upstream}",
	})
}

// assertBuildbotStarted checks that the gateway's answer obj (a pipeline
// object) names the one buildset created since before buildsets existed,
// whose build succeeded on ref with vars as properties, and that the
// caller's token reached none of it.
func assertBuildbotStarted(t *testing.T, bb *buildbot, obj map[string]any, before int, ref string, vars map[string]string, token string) {
	t.Helper()
	sets := bb.buildsets(t)
	if len(sets) != before+1 {
		t.Fatalf("Buildbot has %d buildsets, want %d (one new)", len(sets), before+1)
	}
	bs := sets[len(sets)-1]
	brid := bb.assertBuild(t, bs.BSID, ref, vars)
	checkPipelineObject(t, obj, 9, ref, int64p(bs.BSID), fmt.Sprintf("%s/#/buildrequests/%d", bb.base(), brid))

	// The caller's token is in no property, nor in the buildset's reason.
	brs := bb.buildRequests(t, bs.BSID)
	var builds struct {
		Builds []buildbotBuild `json:"builds"`
	}
	bb.get(t, fmt.Sprintf("/api/v2/builds?buildrequestid=%d", brs[0].BuildRequestID), &builds)
	for _, build := range builds.Builds {
		for name, p := range bb.buildProperties(t, build.BuildID) {
			if strings.Contains(fmt.Sprint(p.Value), token) {
				t.Errorf("build property %s holds the caller's token", name)
			}
		}
	}
	if strings.Contains(bs.Reason, token) {
		t.Errorf("the buildset's reason holds the caller's token")
	}
}

// pythonTriggerScript calls python-gitlab's trigger_pipeline and prints the
// pipeline object as the gateway answered it (asdict() without the parent's
// project_id, which python-gitlab would add itself).
const pythonTriggerScript = `
import json, sys
import gitlab

url, token, ref, variables = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
gl = gitlab.Gitlab(url)
project = gl.projects.get(9, lazy=True)
pipeline = project.trigger_pipeline(ref, token, variables=variables)
print(pipeline.to_json())
`

// runPythonTrigger triggers a pipeline of project 9 with python-gitlab and
// returns the pipeline's attributes.
func (g *gateway) runPythonTrigger(t *testing.T, token, ref string, vars map[string]string) map[string]any {
	t.Helper()
	script := filepath.Join(t.TempDir(), "trigger.py")
	if err := os.WriteFile(script, []byte(pythonTriggerScript), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, pythonWithGitLab(t), script, g.base(), token, ref, mustJSON(vars))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	g.siteRequests++
	if err := cmd.Run(); err != nil {
		t.Fatalf("python-gitlab trigger_pipeline: %v\nstderr: %s", err, redact(stderr.String(), g.secrets.all()))
	}
	var attrs map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &attrs); err != nil {
		t.Fatalf("python-gitlab output %q: %v", stdout.String(), err)
	}
	return attrs
}

// python-gitlab's project.trigger_pipeline(ref, token, variables) through
// the gateway starts a real Buildbot build.
func TestUpstreamBuildbotPythonGitLab(t *testing.T) {
	t.Parallel()
	bb := newBuildbot(t, buildbotProperties...)
	g := newBuildbotGateway(t, bb)
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "buildbot from python-gitlab", Owner: "alice"})

	vars := map[string]string{"DEPLOY_ENV": g.varValue(), "GREETING": "hello from python-gitlab"}
	attrs := g.runPythonTrigger(t, tr.Token, "feature/login", vars)
	assertBuildbotStarted(t, bb, attrs, 0, "feature/login", vars, tr.Token)
	assertNothingForwarded(t, g.up)
	if entries := g.accessLogEntries(t, 1); len(entries) == 0 || entries[0]["trigger_upstream"] != "buildbot" {
		t.Errorf("{http.trigger.upstream} in the access log: %v, want buildbot", entries)
	}
}

// The seed document's curl commands (seed_curl_test.go) through the
// gateway each start a real Buildbot build on master.
func TestUpstreamBuildbotSeedCurl(t *testing.T) {
	t.Parallel()
	bb := newBuildbot(t, buildbotProperties...)
	g := newBuildbotGateway(t, bb)
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "buildbot from curl", Owner: "alice"})

	tests := []struct {
		name    string
		command string
		vars    map[string]string
	}{
		{"form fields", `curl --request POST \
     --form token=TOKEN \
     --form ref=master \
     https://gitlab.example.com/api/v4/projects/9/trigger/pipeline`, nil},
		{"query string", `curl --request POST \
    "https://gitlab.example.com/api/v4/projects/9/trigger/pipeline?token=TOKEN&ref=master"`, nil},
		{"trigger variables", `curl --request POST \
  --form token=TOKEN \
  --form ref=master \
  --form "variables[UPLOAD_TO_S3]=true" \
  https://gitlab.example.com/api/v4/projects/9/trigger/pipeline`, map[string]string{"UPLOAD_TO_S3": "true"}},
	}
	for i, tt := range tests {
		resp := g.curl(t, tt.command, tr.Token)
		if resp.Status != http.StatusCreated {
			t.Fatalf("%s: %s, want 201", tt.name, resp)
		}
		obj := decodeObject(t, tt.name, resp.Body)
		assertBuildbotStarted(t, bb, obj, i, "master", tt.vars, tr.Token)
	}
	assertNothingForwarded(t, g.up)
}

// Buildbot's own refusal (a force naming a builder it does not have: a
// JSON-RPC error, HTTP 500) gives the caller a GitLab-shaped 502 naming
// the status and nothing of Buildbot's answer; no buildset is created.
func TestUpstreamBuildbotRefusal(t *testing.T) {
	t.Parallel()
	bb := newBuildbot(t, buildbotProperties...)
	g := newBuildbotGateway(t, bb)
	tr := g.addTrigger(t, addOpts{Project: "10", Description: "buildbot, unknown builder", Owner: "alice"})

	resp := g.post(t, "/api/v4/projects/10/trigger/pipeline", urlencoded("token", tr.Token, "ref", "main", "variables[GREETING]", g.varValue()))
	assertJSONAnswer(t, resp, http.StatusBadGateway, ciRefusal(http.StatusInternalServerError))
	if sets := bb.buildsets(t); len(sets) != 0 {
		t.Errorf("Buildbot has buildsets %+v after a refused force", sets)
	}
	assertNothingForwarded(t, g.up)
}
