package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// The pipeline the CI's answer names (GitLab answers 201 with the pipeline
// object) is kept: pipeline_id in the decision log line, beside trigger_id,
// {http.trigger.pipeline_id} in the access log, and the trigger's
// last_pipeline in the admin API and `caddy trigger show`, written to
// storage with the usage. An answer that names no pipeline (not JSON, an
// error, a server error) keeps the last one.
func TestPipelineOfTheCIAnswerKept(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{
		Gateway: "usage_flush_interval 1h", // written on the graceful stop only
		Site:    "log_append @trigger trigger_pipeline_id {http.trigger.pipeline_id}",
	})
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "pipelines", Owner: "alice"})
	const path = "/api/v4/projects/9/trigger/pipeline"
	const webURL = "https://gitlab.example.com/group/project/-/pipelines/4242"
	gitlabAnswer := `{"id":4242,"iid":12,"project_id":9,"sha":"a91957a858320c0e17f3a0eca7cfacbff50ea29a","ref":"main",` +
		`"status":"created","source":"trigger","created_at":"2026-12-05T09:40:12.345Z","web_url":"` + webURL + `",` +
		`"user":{"id":1,"username":"root","web_url":"https://gitlab.example.com/root"},` +
		`"detailed_status":{"icon":"status_created","text":"Created","details_path":"/group/project/-/pipelines/4242"}}`

	answers := []struct {
		name               string
		status             int
		contentType, body  string
		wantAnswer         int
		wantPipelineLogged bool
	}{
		{"GitLab's pipeline object", http.StatusCreated, "application/json", gitlabAnswer, http.StatusCreated, true},
		{"not JSON", http.StatusCreated, "text/html", `{"id":9001,"web_url":"https://evil.example/9001"}`, http.StatusCreated, false},
		{"an error", http.StatusBadRequest, "application/json", `{"id":9002,"message":{"base":["Reference not found"]}}`, http.StatusBadRequest, false},
		{"a server error", http.StatusInternalServerError, "application/json", `{"id":9003,"message":"500 Internal Server Error"}`, http.StatusInternalServerError, false},
	}
	for i, a := range answers {
		g.up.answerWith(a.status, a.contentType, a.body)
		resp := g.post(t, path, urlencoded("token", tr.Token, "ref", "main"))
		if resp.Status != a.wantAnswer || string(resp.Body) != a.body {
			t.Fatalf("%s: answer %s, want the upstream's %d", a.name, resp, a.wantAnswer)
		}
		if got := len(g.up.take()); got != 1 {
			t.Fatalf("%s: upstream got %d requests, want 1", a.name, got)
		}

		// The decision log line, written once the upstream answered.
		lines := g.logLines(t, regexp.MustCompile(`"msg":"trigger accepted"`))
		if len(lines) != i+1 {
			t.Fatalf("%s: %d accepted lines, want %d", a.name, len(lines), i+1)
		}
		var line map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &line); err != nil {
			t.Fatalf("%s: log line %q: %v", a.name, lines[i], err)
		}
		if line["trigger_id"] != float64(tr.ID) {
			t.Errorf("%s: log line trigger_id %v, want %d", a.name, line["trigger_id"], tr.ID)
		}
		got, logged := line["pipeline_id"]
		switch {
		case a.wantPipelineLogged && got != float64(4242):
			t.Errorf("%s: log line pipeline_id %v, want 4242: %s", a.name, got, lines[i])
		case !a.wantPipelineLogged && logged:
			t.Errorf("%s: log line has pipeline_id %v, from an answer that names no pipeline", a.name, got)
		}

		// The trigger's last pipeline, from this instance's memory.
		shown, res := g.showTrigger(t, tr.ID)
		if res.ExitCode != 0 {
			t.Fatalf("show: exit %d: %s", res.ExitCode, res.Stderr)
		}
		if p := shown.LastPipeline; p == nil || p.ID != 4242 || p.WebURL != webURL {
			t.Fatalf("%s: last_pipeline %+v, want 4242 %s", a.name, p, webURL)
		}
	}

	// The access log's placeholder: 4242 for the first answer, absent for the others.
	entries := g.accessLogEntries(t, len(answers))
	if len(entries) != len(answers) {
		t.Fatalf("%d access-log entries, want %d", len(entries), len(answers))
	}
	for i, a := range answers {
		got, present := entries[i]["trigger_pipeline_id"]
		switch {
		case a.wantPipelineLogged && got != float64(4242):
			t.Errorf("%s: access log trigger_pipeline_id %v, want 4242", a.name, got)
		case !a.wantPipelineLogged && present && got != nil:
			t.Errorf("%s: access log trigger_pipeline_id %v, want none", a.name, got)
		}
	}

	// A graceful stop writes it with the usage; restarted, the instance
	// reads it back from storage.
	if err := g.interrupt(g.proc); err != nil {
		t.Fatalf("caddy exited with %v on a graceful stop:\n%s", err, tail(g.proc.logPath))
	}
	g.start()
	shown, res := g.showTrigger(t, tr.ID)
	if res.ExitCode != 0 {
		t.Fatalf("show: exit %d: %s", res.ExitCode, res.Stderr)
	}
	p := shown.LastPipeline
	if p == nil || p.ID != 4242 || p.WebURL != webURL || shown.UseCount != int64(len(answers)) {
		t.Fatalf("after a restart: last_pipeline %+v, use_count %d; want 4242 %s and %d uses", p, shown.UseCount, webURL, len(answers))
	}
	if at, err := time.Parse(time.RFC3339Nano, p.TriggeredAt); err != nil || shown.LastUsed == nil || at.After(time.Now()) {
		t.Errorf("last_pipeline triggered_at %q (%v), last_used %v", p.TriggeredAt, err, shown.LastUsed)
	}
	list := findTrigger(t, g.listTriggers(t, "9"), tr.ID)
	if list.LastPipeline == nil || list.LastPipeline.ID != 4242 {
		t.Errorf("list: last_pipeline %+v, want 4242", list.LastPipeline)
	}
	table := g.mustCLI(t, "trigger", "show", "--address", g.adminAddr(), strconv.FormatInt(tr.ID, 10))
	if want := fmt.Sprintf("Last pipeline: 4242 %s (triggered ", webURL); !regexp.MustCompile(regexp.QuoteMeta(want)).MatchString(table.Stdout) {
		t.Errorf("caddy trigger show lacks %q:\n%s", want, table.Stdout)
	}
}
