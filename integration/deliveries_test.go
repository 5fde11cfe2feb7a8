package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// delivery is one entry of a trigger's recent deliveries, as the admin API
// and `caddy trigger show --json` show it.
type delivery struct {
	Time       string   `json:"time"`
	Source     string   `json:"source"`
	Ref        string   `json:"ref"`
	Variables  []string `json:"variables"`
	Outcome    string   `json:"outcome"`
	Status     int      `json:"status"`
	PipelineID *int64   `json:"pipeline_id"`
	WebURL     string   `json:"web_url"`
}

// summary is what a test compares of a delivery: no time.
func (d delivery) summary() string {
	id := "null"
	if d.PipelineID != nil {
		id = strconv.FormatInt(*d.PipelineID, 10)
	}
	return strings.TrimSpace(fmt.Sprintf("%s %s ref=%s vars=%s status=%d pipeline=%s %s",
		d.Source, d.Outcome, d.Ref, strings.Join(d.Variables, ","), d.Status, id, d.WebURL))
}

func summaries(list []delivery) []string {
	out := make([]string, len(list))
	for i, d := range list {
		out[i] = d.summary()
	}
	return out
}

// deliveries reads a trigger's recent deliveries from the admin API,
// checking that they are newest first and hold no secret of the test.
func (g *gateway) deliveries(t *testing.T, id int64) []delivery {
	t.Helper()
	resp := g.adminGet(t, "/trigger_gateway/triggers/"+strconv.FormatInt(id, 10)+"/deliveries")
	if resp.Status != http.StatusOK {
		t.Fatalf("GET deliveries of %d: %s", id, resp)
	}
	g.assertNoTokenIn(t, "the deliveries route", string(resp.Body))
	var list []delivery
	if err := json.Unmarshal(resp.Body, &list); err != nil || list == nil {
		t.Fatalf("deliveries of %d: %v: %s", id, err, resp.Body)
	}
	var previous time.Time
	for i, d := range list {
		at, err := time.Parse(time.RFC3339Nano, d.Time)
		if err != nil || (i > 0 && at.After(previous)) {
			t.Errorf("deliveries of %d: time %q (%v) after %s: not newest first", id, d.Time, err, previous)
		}
		previous = at
	}
	return list
}

// gitlabPipeline4242 is GitLab's answer to a trigger: 201, the pipeline object.
const gitlabPipeline4242 = `{"id":4242,"iid":12,"project_id":9,"ref":"main","status":"created","source":"trigger",` +
	`"web_url":"https://gitlab.example.com/group/project/-/pipelines/4242",` +
	`"user":{"id":1,"username":"root"},"detailed_status":{"text":"Created"}}`

const webURL4242 = "https://gitlab.example.com/group/project/-/pipelines/4242"

// The last uses of a trigger (accepted, replayed, refused by a rule, with
// a revoked token) are shown by the admin route and `caddy trigger show`,
// newest first, with the names of the variables and never their values,
// the CI's status and the pipeline its answer named; a graceful restart
// loses none (deliveries are written with the usage, here only on the
// stop), and an unknown trigger is a 404.
func TestDeliveriesShownAndKept(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{Gateway: `
		usage_flush_interval 1h
		project 9 {
			refs main
		}`})
	g.up.answerWith(http.StatusCreated, "application/json", gitlabPipeline4242)
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "deliveries", Owner: "alice"})
	gone := g.addTrigger(t, addOpts{Project: "9", Description: "revoked later", Owner: "bob"})
	const path = "/api/v4/projects/9/trigger/pipeline"
	value := g.varValue()

	steps := []struct {
		name   string
		tr     triggerObj
		ref    string
		key    string
		status int
	}{
		{"accepted", tr, "main", "", http.StatusCreated},
		{"first with a key", tr, "main", "key-1", http.StatusCreated},
		{"replayed", tr, "main", "key-1", http.StatusCreated},
		{"refused by the project's ref rules", tr, "dev", "", http.StatusBadRequest},
		{"accepted, then revoked", gone, "main", "", http.StatusCreated},
	}
	for _, s := range steps {
		var headers []string
		if s.key != "" {
			headers = []string{"Idempotency-Key", s.key}
		}
		resp := g.post(t, path, urlencoded("token", s.tr.Token, "ref", s.ref, "variables[DEPLOY_ENV]", value, "variables[API_KEY]", value), headers...)
		if resp.Status != s.status {
			t.Fatalf("%s: %s, want %d", s.name, resp, s.status)
		}
		time.Sleep(5 * time.Millisecond) // distinct times on any clock
	}
	if res := g.revokeTrigger(t, gone.ID); res.ExitCode != 0 {
		t.Fatalf("revoke: %s", res.Stderr)
	}
	if resp := g.post(t, path, urlencoded("token", gone.Token, "ref", "main", "variables[DEPLOY_ENV]", value)); resp.Status != http.StatusNotFound {
		t.Fatalf("a revoked token: %s, want 404", resp)
	}

	const pipeline = "pipeline=4242 " + webURL4242
	want := map[int64][]string{
		tr.ID: {
			"trigger ref_not_allowed ref=dev vars=API_KEY,DEPLOY_ENV status=0 pipeline=null",
			"trigger replayed ref=main vars=API_KEY,DEPLOY_ENV status=201 " + pipeline,
			"trigger accepted ref=main vars=API_KEY,DEPLOY_ENV status=201 " + pipeline,
			"trigger accepted ref=main vars=API_KEY,DEPLOY_ENV status=201 " + pipeline,
		},
		gone.ID: {
			"trigger revoked_token ref= vars=DEPLOY_ENV status=0 pipeline=null",
			"trigger accepted ref=main vars=API_KEY,DEPLOY_ENV status=201 " + pipeline,
		},
	}
	check := func(when string) {
		t.Helper()
		for _, id := range []int64{tr.ID, gone.ID} {
			if got := summaries(g.deliveries(t, id)); !slices.Equal(got, want[id]) {
				t.Errorf("%s: deliveries of %d:\n got %q\nwant %q", when, id, got, want[id])
			}
		}
	}
	check("before a restart")
	if resp := g.adminGet(t, "/trigger_gateway/triggers/999/deliveries"); resp.Status != http.StatusNotFound ||
		!strings.Contains(string(resp.Body), "trigger 999 not found") {
		t.Errorf("an unknown trigger's deliveries: %s, want 404", resp)
	}

	// The CLI: a table under the trigger, and --json with a deliveries array.
	table := g.mustCLI(t, "trigger", "show", "--address", g.adminAddr(), tr.idString())
	for _, w := range []string{"Recent deliveries (newest first", "TIME", "VARIABLES", "API_KEY,DEPLOY_ENV",
		"ref_not_allowed", "replayed", "4242 " + webURL4242} {
		if !strings.Contains(table.Stdout, w) {
			t.Errorf("caddy trigger show lacks %q:\n%s", w, table.Stdout)
		}
	}
	g.assertNoTokenIn(t, "caddy trigger show", table.Stdout)
	res := g.mustCLI(t, "trigger", "show", "--address", g.adminAddr(), "--json", tr.idString())
	var shown struct {
		triggerObj
		Deliveries []delivery `json:"deliveries"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &shown); err != nil {
		t.Fatalf("show --json: %v: %s", err, res.Stdout)
	}
	if shown.ID != tr.ID || shown.Project != "9" || !slices.Equal(summaries(shown.Deliveries), want[tr.ID]) {
		t.Errorf("show --json: id %d, project %q, deliveries %q", shown.ID, shown.Project, summaries(shown.Deliveries))
	}
	g.assertNoTokenIn(t, "caddy trigger show --json", res.Stdout)

	// A graceful stop writes them; restarted, the instance reads them back.
	if err := g.interrupt(g.proc); err != nil {
		t.Fatalf("caddy exited with %v on a graceful stop:\n%s", err, tail(g.proc.logPath))
	}
	storage := filepath.Join(g.dir, "storage")
	if n := filesHolding(t, storage, "DEPLOY_ENV"); n == 0 {
		t.Fatal("no file of the storage names the variable: deliveries were not written on the graceful stop")
	}
	if n := filesHolding(t, storage, value); n != 0 {
		t.Fatalf("%d files of the storage hold a variable value", n)
	}
	g.start()
	check("after a restart")
}

// filesHolding counts the files under dir that contain s.
func filesHolding(t *testing.T, dir, s string) (n int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(data, []byte(s)) {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Two instances sharing a storage show the same deliveries, merged newest
// first whichever instance served each; the storage holds no variable
// value (the cluster's Redis scan checks it at the end).
func TestDeliveriesAcrossACluster(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, "usage_flush_interval 100ms", nil)
	a, b := c.nodes[0], c.nodes[1]
	for _, n := range c.nodes {
		n.up.answerWith(http.StatusCreated, "application/json", gitlabPipeline4242)
	}
	tr := a.addTrigger(t, addOpts{Project: "9", Description: "cluster", Owner: "alice"})
	const path = "/api/v4/projects/9/trigger/pipeline"
	value := a.varValue()
	var want []string
	for i, node := range []*gateway{a, b, a, b, b} {
		name := fmt.Sprintf("V%d", i)
		if resp := node.post(t, path, urlencoded("token", tr.Token, "ref", "main", "variables["+name+"]", value)); resp.Status != http.StatusCreated {
			t.Fatalf("trigger %d: %s", i, resp)
		}
		want = append([]string{"trigger accepted ref=main vars=" + name + " status=201 pipeline=4242 " + webURL4242}, want...)
		time.Sleep(5 * time.Millisecond)
	}
	eventually(t, 10*time.Second, func() string {
		for name, node := range map[string]*gateway{"A": a, "B": b} {
			if got := summaries(node.deliveries(t, tr.ID)); !slices.Equal(got, want) {
				return fmt.Sprintf("%s shows %q, want %q", name, got, want)
			}
		}
		return ""
	})
}
