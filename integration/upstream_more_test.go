package integration

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// The rest of issue 15 end to end: what the gateway does before and after
// forwarding (idempotency, job tokens, explain, metrics, the failed-auth
// limit, policies, webhooks, deliveries) works the same whatever CI an
// upstream module speaks to. One Caddy fronts one recording stand-in per
// CI (ci_recorders_test.go), each project sent to its CI by ordinary
// matchers on {http.trigger.upstream}, as docs/upstreams.md's "One Caddy,
// several CI servers" does; anything else would reach the harness's GitLab
// stand-in, which must get nothing.

// fleetCI is one CI of a fleet: the project sent to it and its stand-in.
type fleetCI struct {
	name    string // the recorder's kind, for messages
	module  string
	project string
	ci      *ciRecorder
	cred    string
}

// ciFleet is a gateway in front of one CI per module.
type ciFleet struct {
	g   *gateway
	cis []*fleetCI
}

// byModule returns the fleet's CI of module.
func (f *ciFleet) byModule(t *testing.T, module string) *fleetCI {
	t.Helper()
	for _, c := range f.cis {
		if c.module == module {
			return c
		}
	}
	t.Fatalf("no %s in the fleet", module)
	return nil
}

// takeAll returns what every CI received since the last take, by module.
func (f *ciFleet) takeAll() map[string][]ciRequest {
	got := map[string][]ciRequest{}
	for _, c := range f.cis {
		if reqs := c.ci.take(); len(reqs) > 0 {
			got[c.module] = reqs
		}
	}
	return got
}

// assertNothingSent checks that no CI (and not the GitLab stand-in)
// received anything since the last take.
func (f *ciFleet) assertNothingSent(t *testing.T, what string) {
	t.Helper()
	for module, reqs := range f.takeAll() {
		t.Errorf("%s: %s received %d requests, want none", what, module, len(reqs))
	}
	assertNothingForwarded(t, f.g.up)
}

// jenkinsBasic is the Authorization the fleet's Jenkins accepts.
func jenkinsBasic(cred string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte("ci-bot:"+cred))
}

// newCIFleet starts the gateway with projects 9 (jenkins), 12
// (github_actions, with the facts and the payload input on), 15
// (buildkite), 16 (woodpecker) and 17 (json), and extra lines for the
// trigger_gateway block.
func newCIFleet(t *testing.T, extra string) *ciFleet {
	t.Helper()
	f := &ciFleet{}
	add := func(name, module, project string, newCI func(cred string) *ciRecorder) {
		cred := name + "-credential-" + randomHex(12)
		f.cis = append(f.cis, &fleetCI{name: name, module: module, project: project, ci: newCI(cred), cred: cred})
	}
	add("jenkins", "jenkins", "9", func(cred string) *ciRecorder { return newJenkinsRecorder(t, "ci-bot", cred) })
	add("github", "github_actions", "12", func(cred string) *ciRecorder { return newGitHubRecorder(t, ciGitHub, cred) })
	add("buildkite", "buildkite", "15", func(cred string) *ciRecorder { return newBearerRecorder(t, ciBuildkite, cred) })
	add("woodpecker", "woodpecker", "16", func(cred string) *ciRecorder { return newBearerRecorder(t, ciWoodpecker, cred) })
	add("tekton", "json", "17", func(string) *ciRecorder { return newTektonRecorder(t) })

	env := map[string]string{}
	for _, c := range f.cis {
		env["FLEET_"+strings.ToUpper(c.name)] = c.cred
	}
	gw := extra + `
project 9 {
upstream jenkins {
job folder/deploy-app
ref_parameter GIT_REF
user ci-bot
api_token {env.FLEET_JENKINS}
}
}
project 12 {
upstream github_actions {
repository acme/app
workflow deploy.yml
token {env.FLEET_GITHUB}
facts
payload_input payload
}
}
project 15 {
upstream buildkite {
organization acme
pipeline deploy
token {env.FLEET_BUILDKITE}
}
}
project 16 {
upstream woodpecker {
repository_id 7
token {env.FLEET_WOODPECKER}
web_url https://ci.example.com
}
}
project 17 {
upstream json {
path /hooks/deploy
}
}`
	var site strings.Builder
	site.WriteString("log_append @trigger trigger_upstream {http.trigger.upstream}\n")
	for _, c := range f.cis {
		fmt.Fprintf(&site, "@%[1]s vars {http.trigger.upstream} %[1]s\nreverse_proxy @%[1]s %[2]s\n", c.module, c.ci.addr())
	}
	f.g = newGateway(t, config{Gateway: gw, Site: site.String(), Env: env})
	for _, c := range f.cis {
		if c.module != "json" {
			f.g.secrets.addSecret(c.cred, c.name+" credential")
		}
	}
	f.g.secrets.addSecret(strings.TrimPrefix(jenkinsBasic(f.byModule(t, "jenkins").cred), "Basic "), "jenkins Basic credential")
	return f
}

// pipelinePath is the trigger API's path for project.
func pipelinePath(project string) string { return "/api/v4/projects/" + project + "/trigger/pipeline" }

// startedBy is the id and web_url the caller gets for the seq-th build
// (from 0) of c's CI.
func (c *fleetCI) startedBy(seq int64) (*int64, string) {
	for _, cc := range ciCases {
		if cc.module == c.module && (cc.name == c.name || cc.module != "github_actions") {
			return cc.started(c.ci, seq)
		}
	}
	panic("no ciCase for " + c.name)
}

// An idempotent repeat (Idempotency-Key, or a webhook delivery's
// X-Gitlab-Event-UUID) through any module replays the first answer, the
// pipeline object with the CI's id, and the CI gets one request. A CI's
// refusal is not kept: the retry with the same key reaches the CI again,
// and its success is what is replayed from then on.
func TestUpstreamIdempotentRepeats(t *testing.T) {
	t.Parallel()
	f := newCIFleet(t, "")
	g := f.g
	for _, c := range f.cis {
		t.Run(c.name, func(t *testing.T) {
			tr := g.addTrigger(t, addOpts{Project: c.project, Description: "repeats " + c.name, Owner: "alice"})
			project, _ := strconv.ParseInt(c.project, 10, 64)
			seq := int64(0)
			sends := []struct {
				header string
				send   func(key string) response
			}{
				{"Idempotency-Key", func(key string) response {
					return g.post(t, pipelinePath(c.project), urlencoded("token", tr.Token, "ref", "main", "variables[DEPLOY_ENV]", "staging"),
						"Idempotency-Key", key)
				}},
				{"X-Gitlab-Event-UUID", func(key string) response {
					return g.post(t, "/api/v4/projects/"+c.project+"/ref/main/trigger/pipeline?token="+tr.Token, rawJSON(pushEvent),
						"X-Gitlab-Event", "Push Hook", "X-Gitlab-Event-UUID", key)
				}},
			}
			for _, s := range sends {
				key := uuid()
				first := s.send(key)
				id, webURL := c.startedBy(seq)
				seq++
				assertPipelineObject(t, first, project, "main", id, webURL)
				again := s.send(key)
				assertReplayed(t, first, again)
				if got := c.ci.take(); len(got) != 1 {
					t.Errorf("%s: the CI got %d requests for a request and its repeat, want 1", s.header, len(got))
				}

				// Refused by the CI: not kept, the retry reaches the CI.
				key = uuid()
				c.ci.refuseWith(http.StatusServiceUnavailable)
				refused := s.send(key)
				assertJSONAnswer(t, refused, http.StatusBadGateway, ciRefusal(http.StatusServiceUnavailable))
				c.ci.refuseWith(0)
				retry := s.send(key)
				id, webURL = c.startedBy(seq)
				seq++
				assertPipelineObject(t, retry, project, "main", id, webURL)
				if got := retry.Header.Get("Idempotent-Replayed"); got != "" {
					t.Errorf("%s: the retry after a refusal was replayed (%q)", s.header, got)
				}
				assertReplayed(t, retry, s.send(key))
				if got := c.ci.take(); len(got) != 2 {
					t.Errorf("%s: the CI got %d requests for a refused request, its retry and a repeat, want 2", s.header, len(got))
				}
			}
		})
	}
	f.assertNothingSent(t, "after the repeats")
}

// assertStartedFor checks a 201 pipeline object's source, id and web_url.
func assertStartedFor(t *testing.T, resp response, source string, id *int64, webURL string) {
	t.Helper()
	if resp.Status != http.StatusCreated {
		t.Fatalf("answer %s, want 201", resp)
	}
	obj := decodeObject(t, "pipeline object", resp.Body)
	if obj["source"] != source {
		t.Errorf("source = %#v, want %q", obj["source"], source)
	}
	gotID := "null"
	if n, ok := obj["id"].(json.Number); ok {
		gotID = n.String()
	}
	wantID := "null"
	if id != nil {
		wantID = strconv.FormatInt(*id, 10)
	}
	if gotID != wantID {
		t.Errorf("id = %#v, want %s", obj["id"], wantID)
	}
	if w, _ := obj["web_url"].(string); w != webURL {
		t.Errorf("web_url = %#v, want %q", obj["web_url"], webURL)
	}
}

// A CI job token through each module: the CI gets source pipeline and the
// job's facts where it has a place for them (Jenkins parameters, GitHub
// inputs when configured, Buildkite env, Woodpecker variables, the json
// module's job), never the JWT; the caller gets source pipeline.
func TestUpstreamJobTokens(t *testing.T) {
	t.Parallel()
	key := jobKey(0, "gitlab-1")
	jwks := newJWKSServer(t, key)
	f := newCIFleet(t, jobTokenBlock(jwks))
	g := f.g
	facts := func(j job) map[string]string {
		return map[string]string{
			"TRIGGER_SOURCE": "pipeline", "TRIGGER_SOURCE_PROJECT": j.ProjectID, "TRIGGER_SOURCE_PROJECT_PATH": j.ProjectPath,
			"TRIGGER_SOURCE_PIPELINE": j.PipelineID, "TRIGGER_SOURCE_JOB": j.JobID,
		}
	}
	for i, c := range f.cis {
		t.Run(c.name, func(t *testing.T) {
			j := job{ProjectID: c.project, ProjectPath: "group/app-" + c.project, PipelineID: strconv.Itoa(5000 + i), JobID: strconv.Itoa(7000 + i)}
			tok := g.jobToken(t, key, j, nil)
			resp := g.post(t, pipelinePath(c.project), urlencoded("token", tok, "ref", "main", "variables[DEPLOY_ENV]", "staging"))
			id, webURL := c.startedBy(0)
			assertStartedFor(t, resp, "pipeline", id, webURL)
			got := c.ci.take()
			if len(got) != 1 {
				t.Fatalf("the CI got %d requests, want 1", len(got))
			}
			assertTokenNotSent(t, got, tok)
			r := got[0]
			want := facts(j)
			want["DEPLOY_ENV"] = "staging"
			switch c.module {
			case "jenkins":
				form, err := url.ParseQuery(string(r.Body))
				if err != nil {
					t.Fatal(err)
				}
				wantForm := url.Values{"GIT_REF": {"main"}}
				for k, v := range want {
					wantForm.Set(k, v)
				}
				if !reflect.DeepEqual(form, wantForm) {
					t.Errorf("Jenkins got the parameters %v, want %v", form, wantForm)
				}
			case "github_actions":
				var body struct {
					Inputs map[string]string `json:"inputs"`
				}
				if err := json.Unmarshal(r.Body, &body); err != nil || !reflect.DeepEqual(body.Inputs, want) {
					t.Errorf("GitHub got the inputs %s (%v), want %v", r.Body, err, want)
				}
			case "buildkite":
				if env := stringMap(t, "env", decodeJSONBody(t, r)["env"]); !reflect.DeepEqual(env, want) {
					t.Errorf("Buildkite got the env %v, want %v", env, want)
				}
			case "woodpecker":
				if vars := stringMap(t, "variables", decodeJSONBody(t, r)["variables"]); !reflect.DeepEqual(vars, want) {
					t.Errorf("Woodpecker got the variables %v, want %v", vars, want)
				}
			case "json":
				body := decodeJSONBody(t, r)
				wantJob := map[string]string{"project_id": j.ProjectID, "project_path": j.ProjectPath, "pipeline_id": j.PipelineID, "job_id": j.JobID}
				if body["source"] != "pipeline" || body["trigger_id"] != nil || body["token_prefix"] != nil ||
					!reflect.DeepEqual(stringMap(t, "job", body["job"]), wantJob) {
					t.Errorf("the JSON body %s, want source pipeline, null trigger_id and token_prefix, job %v", r.Body, wantJob)
				}
			}
		})
	}
	f.assertNothingSent(t, "after the job tokens")
}

// Explain, through the admin API and `caddy trigger explain`, shows the
// module and the request the CI would get, its Authorization masked, and
// no credential anywhere; nothing is sent.
func TestUpstreamExplain(t *testing.T) {
	t.Parallel()
	f := newCIFleet(t, "")
	g := f.g
	jenkins := f.byModule(t, "jenkins")
	buildkite := f.byModule(t, "buildkite")
	trJ := g.addTrigger(t, addOpts{Project: "9", Description: "explain jenkins", Owner: "alice"})
	trB := g.addTrigger(t, addOpts{Project: "15", Description: "explain buildkite", Owner: "alice"})

	type explainedCI struct {
		Decision string            `json:"decision"`
		Upstream string            `json:"upstream"`
		Forward  *explainedForward `json:"forward"`
	}
	noCredential := func(t *testing.T, what, out string) {
		t.Helper()
		g.assertNoTokenBeyondPrefix(t, what, out)
		for _, c := range f.cis {
			if c.module != "json" && strings.Contains(out, c.cred) {
				t.Errorf("%s shows the %s credential", what, c.name)
			}
		}
		if strings.Contains(out, jenkinsBasic(jenkins.cred)) {
			t.Errorf("%s shows Jenkins' Basic credential", what)
		}
	}
	check := func(t *testing.T, what string, raw []byte, module, url string, body func(json.RawMessage) bool) {
		t.Helper()
		noCredential(t, what, string(raw))
		var e explainedCI
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("%s: %v: %s", what, err, raw)
		}
		if e.Decision != "accepted" || e.Upstream != module || e.Forward == nil {
			t.Fatalf("%s: %s, want accepted for %s with the CI's request", what, raw, module)
		}
		if e.Forward.Method != http.MethodPost || e.Forward.URL != url {
			t.Errorf("%s: would send %s %s, want POST %s", what, e.Forward.Method, e.Forward.URL, url)
		}
		if got := e.Forward.Headers["Authorization"]; got != "[redacted]" {
			t.Errorf("%s: Authorization shown as %q, want [redacted]", what, redactValue(got))
		}
		if !body(e.Forward.Body) {
			t.Errorf("%s: would send the body %s", what, e.Forward.Body)
		}
	}
	jenkinsBody := func(b json.RawMessage) bool {
		var form string
		if json.Unmarshal(b, &form) != nil {
			return false
		}
		v, err := url.ParseQuery(form)
		return err == nil && v.Get("GIT_REF") == "main" && v.Get("DEPLOY_ENV") == "staging" && v.Get("TRIGGER_SOURCE") == "trigger"
	}
	buildkiteBody := func(b json.RawMessage) bool {
		var build struct {
			Branch string            `json:"branch"`
			Env    map[string]string `json:"env"`
		}
		return json.Unmarshal(b, &build) == nil && build.Branch == "main" && build.Env["DEPLOY_ENV"] == "staging"
	}

	t.Run("admin API", func(t *testing.T) {
		for _, tt := range []struct {
			c    *fleetCI
			tr   triggerObj
			url  string
			body func(json.RawMessage) bool
		}{
			{jenkins, trJ, "/job/folder/job/deploy-app/buildWithParameters", jenkinsBody},
			{buildkite, trB, "/v2/organizations/acme/pipelines/deploy/builds", buildkiteBody},
		} {
			resp := g.adminPostJSON(t, "/trigger_gateway/explain", map[string]any{
				"method":  "POST",
				"url":     pipelinePath(tt.c.project),
				"headers": map[string]string{"Content-Type": "application/json", "Authorization": "Bearer caller-own-" + randomHex(4)},
				"body":    mustJSON(map[string]any{"token": tt.tr.Token, "ref": "main", "variables": map[string]string{"DEPLOY_ENV": "staging"}}),
			})
			if resp.Status != http.StatusOK {
				t.Fatalf("explain: %s", resp)
			}
			check(t, "explain of "+tt.c.module, resp.Body, tt.c.module, tt.url, tt.body)
		}
	})
	t.Run("CLI", func(t *testing.T) {
		data := filepath.Join(t.TempDir(), "body.json")
		if err := os.WriteFile(data, []byte(mustJSON(map[string]any{"token": trJ.Token, "ref": "main", "variables": map[string]string{"DEPLOY_ENV": "staging"}})), 0o600); err != nil {
			t.Fatal(err)
		}
		args := []string{"trigger", "explain", "--address", g.adminAddr(), "--url", pipelinePath("9"), "--header", "Content-Type: application/json", "--data", "@" + data}
		res := g.cli(t, args...)
		if res.ExitCode != 0 {
			t.Fatalf("explain: exit %d: %s", res.ExitCode, res.Stderr)
		}
		noCredential(t, "caddy trigger explain", res.Stdout+res.Stderr)
		for _, want := range []string{"jenkins", "POST /job/folder/job/deploy-app/buildWithParameters", "Authorization: [redacted]", "GIT_REF=main"} {
			if !strings.Contains(res.Stdout, want) {
				t.Errorf("caddy trigger explain does not say %q:\n%s", want, redact(res.Stdout, g.secrets.all()))
			}
		}
		res = g.cli(t, append(args, "--json")...)
		if res.ExitCode != 0 {
			t.Fatalf("explain --json: exit %d: %s", res.ExitCode, res.Stderr)
		}
		check(t, "caddy trigger explain --json", []byte(res.Stdout), "jenkins", "/job/folder/job/deploy-app/buildWithParameters", jenkinsBody)
	})
	f.assertNothingSent(t, "explain")
}

// The metrics endpoint counts what each CI answered, by module and result
// (started, refused, unreachable), beside the gateway's request counters.
func TestUpstreamMetrics(t *testing.T) {
	t.Parallel()
	f := newCIFleet(t, "")
	g := f.g
	type watch struct {
		module           string
		started, refused func() float64
		unreachable      func() float64
	}
	ciAnswers := func(module, result string) counter {
		return counter{"caddy_trigger_gateway_ci_answers_total", []string{"upstream", module, "result", result}}
	}
	accepted := g.delta(t, counter{"caddy_trigger_gateway_requests_total", []string{"route", "pipeline", "source", "trigger", "outcome", "accepted"}})
	unknownToken := g.delta(t, counter{"caddy_trigger_gateway_requests_total", []string{"route", "pipeline", "outcome", "unknown_token"}})
	var watches []watch
	for _, c := range f.cis {
		watches = append(watches, watch{c.module,
			g.delta(t, ciAnswers(c.module, "started")), g.delta(t, ciAnswers(c.module, "refused")), g.delta(t, ciAnswers(c.module, "unreachable"))})
	}
	for _, c := range f.cis {
		tr := g.addTrigger(t, addOpts{Project: c.project, Description: "metrics " + c.name, Owner: "alice"})
		send := func() response {
			return g.post(t, pipelinePath(c.project), urlencoded("token", tr.Token, "ref", "main"))
		}
		for range 2 {
			if resp := send(); resp.Status != http.StatusCreated {
				t.Fatalf("%s: %s, want 201", c.name, resp)
			}
		}
		c.ci.refuseWith(http.StatusInternalServerError)
		if resp := send(); resp.Status != http.StatusBadGateway {
			t.Fatalf("%s refusing: %s, want 502", c.name, resp)
		}
		c.ci.refuseWith(0)
		c.ci.take()
		if c.module == "woodpecker" {
			c.ci.close()
			if resp := send(); resp.Status != http.StatusBadGateway {
				t.Fatalf("%s closed: %s, want 502", c.name, resp)
			}
		}
		if resp := g.post(t, pipelinePath(c.project), urlencoded("token", g.glpttToken(), "ref", "main")); resp.Status != http.StatusNotFound {
			t.Fatalf("%s, unknown token: %s, want 404", c.name, resp)
		}
	}
	for _, w := range watches {
		wantUnreachable := 0.0
		if w.module == "woodpecker" {
			wantUnreachable = 1
		}
		if s, r, u := w.started(), w.refused(), w.unreachable(); s != 2 || r != 1 || u != wantUnreachable {
			t.Errorf("ci_answers_total of %s: started %v refused %v unreachable %v, want 2, 1, %v", w.module, s, r, u, wantUnreachable)
		}
	}
	// Every request the gateway accepted is counted as accepted, whatever
	// the CI said of it: 2 started, 1 refused per CI, 1 unreachable.
	if got, want := accepted(), float64(3*len(f.cis)+1); got != want {
		t.Errorf("requests_total accepted: %v, want %v", got, want)
	}
	if got := unknownToken(); got != float64(len(f.cis)) {
		t.Errorf("requests_total unknown_token: %v, want %v", got, len(f.cis))
	}
	metrics := g.adminGet(t, "/metrics")
	g.assertNoTokenIn(t, "the metrics", string(metrics.Body))
	for _, c := range f.cis {
		if c.module != "json" && bytes.Contains(metrics.Body, []byte(c.cred)) {
			t.Errorf("the metrics hold the %s credential", c.name)
		}
	}
	assertNothingForwarded(t, g.up)
}

// The failed-authentication limit and the policies refuse before anything
// reaches any CI.
func TestUpstreamRefusedBeforeTheCI(t *testing.T) {
	t.Parallel()
	f := newCIFleet(t, "failed_auth_limit 5 1m\nrefs main release/*\nvariables {\ndeny *_PASSWORD\n}")
	g := f.g
	for _, c := range f.cis {
		t.Run(c.name, func(t *testing.T) {
			tr := g.addTrigger(t, addOpts{Project: c.project, Description: "policies " + c.name, Owner: "alice"})
			path := pipelinePath(c.project)
			resp := g.post(t, path, urlencoded("token", tr.Token, "ref", "feature/x"))
			if resp.Status != http.StatusBadRequest || !strings.Contains(string(resp.Body), "feature/x") {
				t.Errorf("a ref no rule allows: %s, want 400 naming it", resp)
			}
			resp = g.post(t, path, urlencoded("token", tr.Token, "ref", "main", "variables[DB_PASSWORD]", g.varValue()))
			if resp.Status != http.StatusBadRequest || !strings.Contains(string(resp.Body), "DB_PASSWORD") {
				t.Errorf("a denied variable: %s, want 400 naming it", resp)
			}
			f.assertNothingSent(t, "refused by a policy")
			// Allowed: it does reach the CI.
			resp = g.post(t, path, urlencoded("token", tr.Token, "ref", "release/2.0"))
			if resp.Status != http.StatusCreated {
				t.Errorf("an allowed ref: %s, want 201", resp)
			}
			if got := c.ci.take(); len(got) != 1 {
				t.Errorf("an allowed ref: the CI got %d requests, want 1", len(got))
			}
		})
	}
	t.Run("failed-auth limit", func(t *testing.T) {
		client := clientFrom("127.0.0.3")
		c := f.byModule(t, "jenkins")
		tr := g.addTrigger(t, addOpts{Project: c.project, Description: "limited", Owner: "alice"})
		g.failAuth(t, 5, client)
		resp := g.postAs(t, client, tr.Token)
		assertJSONAnswer(t, resp, http.StatusTooManyRequests, limitedAnswer)
		f.assertNothingSent(t, "past the failed-auth limit")
		// Another client with the same token reaches the CI.
		if resp := g.postAs(t, clientFrom("127.0.0.4"), tr.Token); resp.Status != http.StatusCreated {
			t.Errorf("another client: %s, want 201", resp)
		}
		if got := c.ci.take(); len(got) != 1 {
			t.Errorf("another client: the CI got %d requests, want 1", len(got))
		}
	})
}

// A webhook delivery (GitLab's push event on the webhook route) reaches
// each CI where docs/upstreams.md says: Jenkins' TRIGGER_PAYLOAD
// parameter, GitHub's payload input (when configured), Buildkite's
// meta_data (one key per top-level field), Woodpecker's TRIGGER_PAYLOAD
// variable, the json module's payload. Buildbot's property:
// TestUpstreamBuildbotWebhookPayload.
func TestUpstreamWebhookPayload(t *testing.T) {
	t.Parallel()
	f := newCIFleet(t, "")
	g := f.g
	want := payloadWithout(t, pushEvent, "ref")
	samePayload := func(t *testing.T, what, text string) {
		t.Helper()
		var got map[string]any
		if err := json.Unmarshal([]byte(text), &got); err != nil || !reflect.DeepEqual(normalize(t, got), normalize(t, want)) {
			t.Errorf("%s = %.200s (%v), want the push event without its ref", what, text, err)
		}
	}
	for _, c := range f.cis {
		t.Run(c.name, func(t *testing.T) {
			tr := g.addTrigger(t, addOpts{Project: c.project, Description: "webhook " + c.name, Owner: "alice"})
			resp := g.webhookDelivery(t, "/api/v4/projects/"+c.project+"/ref/main/trigger/pipeline?token="+tr.Token, "Push Hook", pushEvent)
			id, webURL := c.startedBy(0)
			project, _ := strconv.ParseInt(c.project, 10, 64)
			assertPipelineObject(t, resp, project, "main", id, webURL)
			got := c.ci.take()
			if len(got) != 1 {
				t.Fatalf("the CI got %d requests, want 1", len(got))
			}
			assertTokenNotSent(t, got, tr.Token)
			r := got[0]
			switch c.module {
			case "jenkins":
				form, err := url.ParseQuery(string(r.Body))
				if err != nil {
					t.Fatal(err)
				}
				samePayload(t, "Jenkins' TRIGGER_PAYLOAD", form.Get("TRIGGER_PAYLOAD"))
				if form.Get("GIT_REF") != "main" {
					t.Errorf("GIT_REF = %q, want main", form.Get("GIT_REF"))
				}
			case "github_actions":
				var body struct {
					Inputs map[string]json.RawMessage `json:"inputs"`
				}
				var text string
				if err := json.Unmarshal(r.Body, &body); err != nil || json.Unmarshal(body.Inputs["payload"], &text) != nil {
					t.Fatalf("GitHub's inputs %.300s: want the payload input as JSON text", r.Body)
				}
				samePayload(t, "GitHub's payload input", text)
			case "buildkite":
				md := stringMap(t, "meta_data", decodeJSONBody(t, r)["meta_data"])
				if len(md) != len(want) {
					t.Errorf("Buildkite's meta_data has %d keys, want one per top-level field (%d)", len(md), len(want))
				}
				for k, v := range want {
					if s, ok := v.(string); ok {
						if md[k] != s {
							t.Errorf("meta_data[%s] = %q, want %q", k, md[k], s)
						}
						continue
					}
					var got any
					if err := json.Unmarshal([]byte(md[k]), &got); err != nil || !reflect.DeepEqual(normalize(t, got), normalize(t, v)) {
						t.Errorf("meta_data[%s] = %.100q, want the field as JSON text", k, md[k])
					}
				}
			case "woodpecker":
				samePayload(t, "Woodpecker's TRIGGER_PAYLOAD", stringMap(t, "variables", decodeJSONBody(t, r)["variables"])["TRIGGER_PAYLOAD"])
			case "json":
				var body struct {
					Payload json.RawMessage `json:"payload"`
				}
				if err := json.Unmarshal(r.Body, &body); err != nil {
					t.Fatal(err)
				}
				samePayload(t, "the json module's payload", string(body.Payload))
			}
		})
	}
	f.assertNothingSent(t, "after the webhooks")
}

// normalize round-trips a decoded JSON value so that numbers compare alike.
func normalize(t *testing.T, v any) any {
	t.Helper()
	var out any
	if err := json.Unmarshal([]byte(mustJSON(v)), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// A webhook delivery through the buildbot module reaches a real Buildbot's
// build as the TRIGGER_PAYLOAD property (JSON text), the ref its branch.
func TestUpstreamBuildbotWebhookPayload(t *testing.T) {
	t.Parallel()
	bb := newBuildbot(t, "TRIGGER_PAYLOAD", "TRIGGER_SOURCE")
	g := newBuildbotGateway(t, bb)
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "buildbot webhook", Owner: "alice"})
	resp := g.webhookDelivery(t, "/api/v4/projects/9/ref/main/trigger/pipeline?token="+tr.Token, "Push Hook", pushEvent)
	if resp.Status != http.StatusCreated {
		t.Fatalf("webhook: %s, want 201", resp)
	}
	sets := bb.buildsets(t)
	if len(sets) != 1 {
		t.Fatalf("Buildbot has %d buildsets, want 1", len(sets))
	}
	brs := bb.buildRequests(t, sets[0].BSID)
	if len(brs) != 1 {
		t.Fatalf("%d build requests, want 1", len(brs))
	}
	build := bb.waitBuild(t, brs[0].BuildRequestID)
	props := bb.buildProperties(t, build.BuildID)
	if p := props["TRIGGER_SOURCE"]; p.Value != "trigger" {
		t.Errorf("TRIGGER_SOURCE = %v, want trigger", p.Value)
	}
	if p := props["branch"]; p.Value != "main" {
		t.Errorf("branch = %v, want main", p.Value)
	}
	text, _ := props["TRIGGER_PAYLOAD"].Value.(string)
	var got map[string]any
	if err := json.Unmarshal([]byte(text), &got); err != nil || !reflect.DeepEqual(normalize(t, got), normalize(t, payloadWithout(t, pushEvent, "ref"))) {
		t.Errorf("TRIGGER_PAYLOAD = %.200q (%v), want the push event without its ref", text, err)
	}
	assertNothingForwarded(t, g.up)
}

// A trigger's recent deliveries show what each CI answered: its own
// status, and the id and web_url of the build it started (null for a
// refusal).
func TestUpstreamDeliveries(t *testing.T) {
	t.Parallel()
	f := newCIFleet(t, "")
	g := f.g
	for _, c := range f.cis {
		t.Run(c.name, func(t *testing.T) {
			tr := g.addTrigger(t, addOpts{Project: c.project, Description: "deliveries " + c.name, Owner: "alice"})
			send := func() response {
				return g.post(t, pipelinePath(c.project), urlencoded("token", tr.Token, "ref", "main", "variables[DEPLOY_ENV]", "staging"))
			}
			if resp := send(); resp.Status != http.StatusCreated {
				t.Fatalf("%s", resp)
			}
			c.ci.refuseWith(http.StatusUnprocessableEntity)
			if resp := send(); resp.Status != http.StatusBadGateway {
				t.Fatalf("refused: %s", resp)
			}
			c.ci.refuseWith(0)
			c.ci.take()

			status := map[string]int{"jenkins": 201, "github_actions": 200, "buildkite": 201, "woodpecker": 200, "json": 202}[c.module]
			id, webURL := c.startedBy(0)
			pipeline := "pipeline=null"
			if id != nil {
				pipeline = "pipeline=" + strconv.FormatInt(*id, 10) + " " + webURL
			}
			want := []string{
				"trigger accepted ref=main vars=DEPLOY_ENV status=422 pipeline=null",
				fmt.Sprintf("trigger accepted ref=main vars=DEPLOY_ENV status=%d %s", status, pipeline),
			}
			if got := summaries(g.deliveries(t, tr.ID)); !reflect.DeepEqual(got, want) {
				t.Errorf("deliveries:\n got %q\nwant %q", got, want)
			}
		})
	}
}
