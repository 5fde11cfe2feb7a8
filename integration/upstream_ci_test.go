package integration

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The upstream modules end to end (issue 15, contract §8, /work/wt/UPSTREAM.md):
// the real gateway in front of a recording stand-in of each CI server
// (ci_recorders_test.go). A caller's GitLab trigger becomes exactly the
// request the CI's API documents; the caller gets GitLab's 201 pipeline
// object with id and web_url from the CI's answer; a CI that refuses gives
// a GitLab-shaped 502 naming its status and nothing else of its answer; an
// unreachable CI 502, a slow one 504; the caller's token reaches no CI and
// no CI credential reaches Caddy's logs (the log scan of every gateway).

// ciProxyTimeout is reverse_proxy's response_header_timeout in these
// tests; ciSlow is how late a slow CI answers.
const (
	ciProxyTimeout = time.Second
	ciSlow         = 4 * time.Second
)

// pipelineObjectKeys are the members of the pipeline object a caller gets
// whatever the CI (contract §8).
var pipelineObjectKeys = []string{"id", "iid", "project_id", "ref", "sha", "status", "source", "created_at", "updated_at", "web_url"}

// assertPipelineObject checks a gateway's answer for a build the CI
// started: 201 and GitLab's pipeline object, with id (nil: null) and
// webURL ("": null) from the CI's answer, and GitLab's JSON types.
func assertPipelineObject(t *testing.T, resp response, project int64, ref string, id *int64, webURL string) map[string]any {
	t.Helper()
	if resp.Status != http.StatusCreated {
		t.Fatalf("answer %s, want 201 and a pipeline object", resp)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	obj := decodeObject(t, "pipeline object", resp.Body)
	checkPipelineObject(t, obj, project, ref, id, webURL)
	return obj
}

// checkPipelineObject checks the members of a pipeline object decoded with
// UseNumber (or by python-gitlab, whose numbers come back as float64).
func checkPipelineObject(t *testing.T, obj map[string]any, project int64, ref string, id *int64, webURL string) {
	t.Helper()
	var keys []string
	for k := range obj {
		keys = append(keys, k)
	}
	if len(obj) != len(pipelineObjectKeys) {
		t.Errorf("pipeline object has members %v, want exactly %v", keys, pipelineObjectKeys)
	}
	number := func(name string, want *int64) {
		t.Helper()
		v, ok := obj[name]
		if !ok {
			t.Errorf("pipeline object: no %s", name)
			return
		}
		if want == nil {
			if v != nil {
				t.Errorf("%s = %#v, want null", name, v)
			}
			return
		}
		switch n := v.(type) {
		case json.Number:
			if got, err := n.Int64(); err != nil || got != *want {
				t.Errorf("%s = %s, want %d", name, n, *want)
			}
		case float64:
			if n != float64(*want) {
				t.Errorf("%s = %v, want %d", name, n, *want)
			}
		default:
			t.Errorf("%s = %#v (%T), want the number %d", name, v, v, *want)
		}
	}
	number("id", id)
	number("iid", nil)
	number("project_id", &project)
	number("sha", nil)
	if obj["ref"] != ref {
		t.Errorf("ref = %#v, want %q", obj["ref"], ref)
	}
	if obj["status"] != "created" {
		t.Errorf("status = %#v, want created", obj["status"])
	}
	if obj["source"] != "trigger" {
		t.Errorf("source = %#v, want trigger", obj["source"])
	}
	if webURL == "" {
		if v, ok := obj["web_url"]; !ok || v != nil {
			t.Errorf("web_url = %#v, want null", v)
		}
	} else if obj["web_url"] != webURL {
		t.Errorf("web_url = %#v, want %q", obj["web_url"], webURL)
	}
	created, _ := obj["created_at"].(string)
	at, err := time.Parse(time.RFC3339Nano, created)
	if err != nil || time.Since(at).Abs() > 5*time.Minute {
		t.Errorf("created_at = %#v, want GitLab's time of now (%v)", obj["created_at"], err)
	}
	if obj["updated_at"] != obj["created_at"] {
		t.Errorf("updated_at = %#v, want created_at %#v", obj["updated_at"], obj["created_at"])
	}
}

// ciRefusal is the caller's answer when the CI answered status.
func ciRefusal(status int) string {
	return fmt.Sprintf(`{"message":"502 Bad Gateway: the CI server answered %d"}`, status)
}

// assertTokenNotSent checks that the caller's token (and its secret part)
// is nowhere in what reached the CI.
func assertTokenNotSent(t *testing.T, reqs []ciRequest, token string) {
	t.Helper()
	needles := []string{token, url.QueryEscape(token)}
	if len(token) > 18 {
		needles = append(needles, token[10:])
	}
	for _, r := range reqs {
		var all bytes.Buffer
		fmt.Fprintf(&all, "%s\n%s\n%s\n", r.EscapedPath, r.Path, r.RawQuery)
		for name, vs := range r.Header {
			fmt.Fprintf(&all, "%s: %s\n", name, strings.Join(vs, ", "))
		}
		all.Write(r.Body)
		for _, n := range needles {
			if bytes.Contains(all.Bytes(), []byte(n)) {
				t.Errorf("the caller's token %s reached the CI in %s %s", describeToken(token), r.Method, r.EscapedPath)
			}
		}
	}
}

// sentTrigger is what a test's caller sent.
type sentTrigger struct {
	Trigger   triggerObj
	Ref       string
	Variables map[string]string
}

// ciCase is one CI server behind the gateway.
type ciCase struct {
	name   string
	module string // the upstream module's name
	// newCI starts the stand-in; secrets are the CI credentials the
	// gateway's environment holds: ciEnv maps their variable names.
	newCI func(t *testing.T, cred string) *ciRecorder
	// block is the upstream block for a credential held in {env.<envVar>}.
	block func(ci *ciRecorder, envVar string) string
	// noCredential: the module takes none (json), so no wrong-credential case.
	noCredential bool
	// checkRequest checks the one request the CI got for s.
	checkRequest func(t *testing.T, ci *ciRecorder, r ciRequest, s sentTrigger, cred string)
	// started is the id and web_url the caller gets for the CI's seq-th build (from 0).
	started func(ci *ciRecorder, seq int64) (*int64, string)
	// ciHeaders are headers of the CI's answers that must not reach the caller.
	ciHeaders []string
}

func int64p(v int64) *int64 { return &v }

// assertMethodPathAuth checks the request line and the credential.
func assertMethodPathAuth(t *testing.T, r ciRequest, path, authorization, contentType string) {
	t.Helper()
	if r.Method != http.MethodPost || r.EscapedPath != path || r.RawQuery != "" {
		t.Errorf("request %s %s?%s, want POST %s", r.Method, r.EscapedPath, r.RawQuery, path)
	}
	if got := r.Header.Get("Authorization"); got != authorization {
		t.Errorf("Authorization = %q, want the CI credential", redactValue(got))
	}
	if got := r.Header.Values("Authorization"); len(got) > 1 {
		t.Errorf("%d Authorization headers", len(got))
	}
	if mt, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); strings.TrimSpace(mt) != contentType {
		t.Errorf("Content-Type = %q, want %s", r.Header.Get("Content-Type"), contentType)
	}
	for _, h := range []string{"Job-Token", "Private-Token", "X-Gitlab-Token"} {
		if r.Header.Get(h) != "" {
			t.Errorf("the CI got a %s header", h)
		}
	}
}

// redactValue shows the start of a credential only.
func redactValue(s string) string {
	if len(s) > 12 {
		return s[:12] + "…"
	}
	return s
}

// decodeJSONBody decodes a request body that must be a JSON object.
func decodeJSONBody(t *testing.T, r ciRequest) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("the CI's request body is not a JSON object: %v: %q", err, r.Body)
	}
	return m
}

// stringMap converts a decoded JSON object of strings.
func stringMap(t *testing.T, what string, v any) map[string]string {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Errorf("%s = %#v, want a JSON object", what, v)
		return nil
	}
	out := map[string]string{}
	for k, x := range m {
		s, ok := x.(string)
		if !ok {
			t.Errorf("%s[%s] = %#v, want a string", what, k, x)
		}
		out[k] = s
	}
	return out
}

// assertContains checks that got holds every entry of want, and that its
// other entries (source facts, where the module puts them) are named
// otherwise and carry no secret of the caller's.
func assertContains(t *testing.T, what string, got, want map[string]string, token string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s[%s] = %q, want %q", what, k, got[k], v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok && strings.Contains(v, token) {
			t.Errorf("%s[%s] holds the caller's token", what, k)
		}
	}
}

var ciCases = []ciCase{
	{
		name: "jenkins", module: "jenkins",
		newCI: func(t *testing.T, cred string) *ciRecorder { return newJenkinsRecorder(t, "ci-bot", cred) },
		block: func(_ *ciRecorder, env string) string {
			return "job folder/deploy-app\nref_parameter GIT_REF\nuser ci-bot\napi_token {env." + env + "}"
		},
		checkRequest: func(t *testing.T, ci *ciRecorder, r ciRequest, s sentTrigger, cred string) {
			assertMethodPathAuth(t, r, "/job/folder/job/deploy-app/buildWithParameters",
				"Basic "+base64.StdEncoding.EncodeToString([]byte("ci-bot:"+cred)), "application/x-www-form-urlencoded")
			form, err := url.ParseQuery(string(r.Body))
			if err != nil {
				t.Fatalf("the form Jenkins got: %v", err)
			}
			// The variables, the ref, and the gateway's facts under their
			// default names (Jenkins ignores parameters a job does not
			// declare); no payload was sent.
			want := url.Values{"GIT_REF": {s.Ref}, "TRIGGER_SOURCE": {"trigger"},
				"TRIGGER_ID": {strconv.FormatInt(s.Trigger.ID, 10)}, "TRIGGER_TOKEN_PREFIX": {s.Trigger.TokenPrefix}}
			for k, v := range s.Variables {
				want.Set(k, v)
			}
			if !reflect.DeepEqual(form, want) {
				t.Errorf("Jenkins got the parameters %v, want %v", form, want)
			}
		},
		started: func(ci *ciRecorder, seq int64) (*int64, string) {
			n := jenkinsFirstQueueItem + seq
			return &n, fmt.Sprintf("%s/queue/item/%d/", ci.url(), n)
		},
		ciHeaders: []string{"Location"},
	},
	{
		name: "github", module: "github_actions",
		newCI: func(t *testing.T, cred string) *ciRecorder { return newGitHubRecorder(t, ciGitHub, cred) },
		block: func(_ *ciRecorder, env string) string {
			return "repository acme/app\nworkflow deploy.yml\ntoken {env." + env + "}"
		},
		checkRequest: func(t *testing.T, ci *ciRecorder, r ciRequest, s sentTrigger, cred string) {
			checkGitHubRequest(t, r, "", s, cred)
		},
		started: func(ci *ciRecorder, seq int64) (*int64, string) {
			id := githubFirstRunID + seq
			return &id, fmt.Sprintf("https://github.com/acme/app/actions/runs/%d", id)
		},
		ciHeaders: []string{"X-Github-Request-Id"},
	},
	{
		name: "gitea", module: "github_actions",
		newCI: func(t *testing.T, cred string) *ciRecorder { return newGitHubRecorder(t, ciGitea, cred) },
		block: func(_ *ciRecorder, env string) string {
			return "repository acme/app\nworkflow deploy.yml\ntoken {env." + env + "}\napi_prefix /api/v1"
		},
		checkRequest: func(t *testing.T, ci *ciRecorder, r ciRequest, s sentTrigger, cred string) {
			checkGitHubRequest(t, r, "/api/v1", s, cred)
		},
		// Gitea answers 204: no run to name.
		started:   func(*ciRecorder, int64) (*int64, string) { return nil, "" },
		ciHeaders: []string{"X-Github-Request-Id"},
	},
	{
		name: "buildkite", module: "buildkite",
		newCI: func(t *testing.T, cred string) *ciRecorder { return newBearerRecorder(t, ciBuildkite, cred) },
		block: func(_ *ciRecorder, env string) string {
			return "organization acme\npipeline deploy\ntoken {env." + env + "}"
		},
		checkRequest: func(t *testing.T, ci *ciRecorder, r ciRequest, s sentTrigger, cred string) {
			assertMethodPathAuth(t, r, "/v2/organizations/acme/pipelines/deploy/builds", "Bearer "+cred, "application/json")
			body := decodeJSONBody(t, r)
			for k := range body {
				switch k {
				case "commit", "branch", "message", "env", "meta_data":
				default:
					t.Errorf("Buildkite got an undocumented member %q", k)
				}
			}
			if body["commit"] != "HEAD" || body["branch"] != s.Ref {
				t.Errorf("commit %#v branch %#v, want HEAD and %q", body["commit"], body["branch"], s.Ref)
			}
			if msg, _ := body["message"].(string); msg == "" {
				t.Errorf("message = %#v, want a message", body["message"])
			}
			assertContains(t, "env", stringMap(t, "env", body["env"]), s.Variables, s.Trigger.Token)
			if md, ok := body["meta_data"]; ok {
				stringMap(t, "meta_data", md)
			}
		},
		started: func(ci *ciRecorder, seq int64) (*int64, string) {
			n := buildkiteFirstNumber + seq
			return &n, fmt.Sprintf("https://buildkite.com/acme/deploy/builds/%d", n)
		},
	},
	{
		name: "woodpecker", module: "woodpecker",
		newCI: func(t *testing.T, cred string) *ciRecorder { return newBearerRecorder(t, ciWoodpecker, cred) },
		block: func(_ *ciRecorder, env string) string {
			return "repository_id 7\ntoken {env." + env + "}\nweb_url https://ci.example.com"
		},
		checkRequest: func(t *testing.T, ci *ciRecorder, r ciRequest, s sentTrigger, cred string) {
			assertMethodPathAuth(t, r, "/api/repos/7/pipelines", "Bearer "+cred, "application/json")
			body := decodeJSONBody(t, r)
			if len(body) != 2 || body["branch"] != s.Ref {
				t.Errorf("Woodpecker got %s, want {\"branch\",\"variables\"} on %q", r.Body, s.Ref)
			}
			assertContains(t, "variables", stringMap(t, "variables", body["variables"]), s.Variables, s.Trigger.Token)
		},
		started: func(ci *ciRecorder, seq int64) (*int64, string) {
			// The pipeline's number, not its id (global to the server).
			n := woodpeckerFirstNumber + seq
			return &n, fmt.Sprintf("https://ci.example.com/repos/7/pipeline/%d", n)
		},
	},
	{
		name: "json", module: "json", noCredential: true,
		newCI: func(t *testing.T, _ string) *ciRecorder { return newTektonRecorder(t) },
		block: func(*ciRecorder, string) string { return "path /hooks/deploy" },
		checkRequest: func(t *testing.T, ci *ciRecorder, r ciRequest, s sentTrigger, _ string) {
			assertMethodPathAuth(t, r, "/hooks/deploy", "", "application/json")
			body := decodeJSONBody(t, r)
			want := []string{"project", "ref", "variables", "source", "trigger_id", "token_prefix", "payload"}
			for _, k := range want {
				if _, ok := body[k]; !ok && k != "payload" {
					t.Errorf("the JSON body has no %q: %s", k, r.Body)
				}
			}
			if len(body) > len(want) {
				t.Errorf("the JSON body has members beyond %v: %s", want, r.Body)
			}
			// The canonical project: a numeric ID as GitLab's JSON has it or as text.
			if p := fmt.Sprint(body["project"]); p != s.Trigger.Project {
				t.Errorf("project = %#v, want %s", body["project"], s.Trigger.Project)
			}
			if body["ref"] != s.Ref || body["source"] != "trigger" || body["token_prefix"] != s.Trigger.TokenPrefix {
				t.Errorf("ref %#v source %#v token_prefix %#v, want %q, trigger, %q", body["ref"], body["source"], body["token_prefix"], s.Ref, s.Trigger.TokenPrefix)
			}
			if id, _ := body["trigger_id"].(json.Number); id.String() != strconv.FormatInt(s.Trigger.ID, 10) {
				t.Errorf("trigger_id = %#v, want %d", body["trigger_id"], s.Trigger.ID)
			}
			if got := stringMap(t, "variables", body["variables"]); !reflect.DeepEqual(got, s.Variables) {
				t.Errorf("variables = %v, want %v", got, s.Variables)
			}
			if p, ok := body["payload"]; ok && p != nil {
				t.Errorf("payload = %#v, want null for a trigger without one", p)
			}
		},
		// An EventListener names no run.
		started: func(*ciRecorder, int64) (*int64, string) { return nil, "" },
	},
}

// checkGitHubRequest checks a workflow_dispatch request.
func checkGitHubRequest(t *testing.T, r ciRequest, prefix string, s sentTrigger, cred string) {
	t.Helper()
	assertMethodPathAuth(t, r, prefix+"/repos/acme/app/actions/workflows/deploy.yml/dispatches", "Bearer "+cred, "application/json")
	if got := r.Header.Get("Accept"); got != "application/vnd.github+json" {
		t.Errorf("Accept = %q, want application/vnd.github+json", got)
	}
	if got := r.Header.Get("X-Github-Api-Version"); got != "2022-11-28" {
		t.Errorf("X-GitHub-Api-Version = %q, want 2022-11-28", got)
	}
	var body struct {
		Ref              string            `json:"ref"`
		Inputs           map[string]string `json:"inputs"`
		ReturnRunDetails bool              `json:"return_run_details"`
	}
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("the dispatch body %s: %v", r.Body, err)
	}
	// No source_input is configured: the inputs are the variables.
	if body.Ref != s.Ref || !reflect.DeepEqual(body.Inputs, s.Variables) || !body.ReturnRunDetails {
		t.Errorf("dispatch body %s, want ref %q, inputs %v, return_run_details true", r.Body, s.Ref, s.Variables)
	}
}

// newCIGateway starts the gateway in front of ci: project 9 with the right
// credential, project 10 (unless the module takes none) with a wrong one.
func newCIGateway(t *testing.T, c ciCase, ci *ciRecorder, cred, wrong string) *gateway {
	t.Helper()
	env := map[string]string{"CI_CREDENTIAL": cred, "CI_WRONG_CREDENTIAL": wrong}
	projects := fmt.Sprintf("project 9 {\nupstream %s {\n%s\n}\n}", c.module, c.block(ci, "CI_CREDENTIAL"))
	if !c.noCredential {
		projects += fmt.Sprintf("\nproject 10 {\nupstream %s {\n%s\n}\n}", c.module, c.block(ci, "CI_WRONG_CREDENTIAL"))
	}
	g := newGateway(t, config{
		Gateway: projects,
		ProxyTo: ci.addr(),
		Proxy:   fmt.Sprintf("transport http {\nresponse_header_timeout %s\n}", ciProxyTimeout),
		Env:     env,
		Site:    "log_append @trigger trigger_upstream {http.trigger.upstream}",
	})
	for _, secret := range []string{cred, wrong} {
		g.secrets.addSecret(secret, c.name+" credential")
		// As HTTP Basic carries it (Jenkins): Caddy's logs must not hold it either.
		g.secrets.addSecret(base64.StdEncoding.EncodeToString([]byte("ci-bot:"+secret)), c.name+" Basic credential")
	}
	return g
}

// Every CI through its module: the request it documents, the answer the
// caller gets, and every way the CI can fail.
func TestUpstreamCIs(t *testing.T) {
	t.Parallel()
	for _, c := range ciCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cred := c.name + "-credential-" + randomHex(12)
			wrong := c.name + "-wrong-" + randomHex(12)
			ci := c.newCI(t, cred)
			g := newCIGateway(t, c, ci, cred, wrong)
			tr := g.addTrigger(t, addOpts{Project: "9", Description: c.name, Owner: "alice"})
			const path = "/api/v4/projects/9/trigger/pipeline"
			seq := int64(0)

			// Accepted, as a form and as JSON: the CI's documented request,
			// and the pipeline object from its answer.
			sends := []struct {
				name string
				s    sentTrigger
				body func(s sentTrigger) reqBody
			}{
				{"form", sentTrigger{tr, "main", map[string]string{"DEPLOY_ENV": g.varValue(), "GREETING": "hello world"}},
					func(s sentTrigger) reqBody {
						kv := []string{"token", s.Trigger.Token, "ref", s.Ref}
						for k, v := range s.Variables {
							kv = append(kv, "variables["+k+"]", v)
						}
						return urlencoded(kv...)
					}},
				{"json", sentTrigger{tr, "release/2.0", map[string]string{"DEPLOY_ENV": g.varValue()}},
					func(s sentTrigger) reqBody {
						return rawJSON(mustJSON(map[string]any{"token": s.Trigger.Token, "ref": s.Ref, "variables": s.Variables}))
					}},
			}
			for _, send := range sends {
				resp := g.post(t, path, send.body(send.s))
				id, webURL := c.started(ci, seq)
				seq++
				assertPipelineObject(t, resp, 9, send.s.Ref, id, webURL)
				got := ci.take()
				if len(got) != 1 {
					t.Fatalf("%s: the CI got %d requests, want 1", send.name, len(got))
				}
				c.checkRequest(t, ci, got[0], send.s, cred)
				assertTokenNotSent(t, got, tr.Token)
				if bytes.Contains(resp.Body, []byte(cred)) {
					t.Errorf("%s: the caller's answer holds the CI credential", send.name)
				}
			}
			assertNothingForwarded(t, g.up)
			entries := g.accessLogEntries(t, 1)
			if len(entries) == 0 || entries[0]["trigger_upstream"] != c.module {
				t.Errorf("{http.trigger.upstream} in the access log: %v, want %q", entries, c.module)
			}

			// Refusals: a GitLab-shaped 502 naming the status, nothing of
			// the CI's answer (body or headers).
			refuse := func(name string, status int, project string, trig triggerObj) {
				t.Helper()
				resp := g.post(t, "/api/v4/projects/"+project+"/trigger/pipeline",
					urlencoded("token", trig.Token, "ref", "main", "variables[DEPLOY_ENV]", g.varValue()))
				assertJSONAnswer(t, resp, http.StatusBadGateway, ciRefusal(status))
				for _, h := range c.ciHeaders {
					if resp.Header.Get(h) != "" {
						t.Errorf("%s: the CI's %s header reached the caller", name, h)
					}
				}
				if bytes.Contains(resp.Body, []byte(cred)) || bytes.Contains(resp.Body, []byte(wrong)) {
					t.Errorf("%s: the answer holds a CI credential", name)
				}
				got := ci.take()
				if len(got) != 1 {
					t.Errorf("%s: the CI got %d requests, want 1", name, len(got))
				}
				assertTokenNotSent(t, got, trig.Token)
			}
			for _, status := range []int{404, 422, 500, 502, 503} {
				ci.refuseWith(status)
				refuse(fmt.Sprintf("CI %d", status), status, "9", tr)
			}
			ci.refuseWith(0)
			if !c.noCredential {
				other := g.addTrigger(t, addOpts{Project: "10", Description: c.name + " wrong credential", Owner: "alice"})
				refuse("wrong credential", http.StatusUnauthorized, "10", other)
			}

			// Too slow: reverse_proxy's timeout, 504.
			ci.slowBy(ciSlow)
			start := time.Now()
			resp := g.post(t, path, urlencoded("token", tr.Token, "ref", "main"))
			assertJSONAnswer(t, resp, http.StatusGatewayTimeout, `{"message":"504 Gateway Timeout"}`)
			if elapsed := time.Since(start); elapsed > ciSlow-time.Second {
				t.Errorf("the slow CI was waited for %s, want about %s", elapsed, ciProxyTimeout)
			}
			ci.slowBy(0)
			ci.take()

			// Unreachable: 502.
			ci.close()
			resp = g.post(t, path, urlencoded("token", tr.Token, "ref", "main"))
			assertJSONAnswer(t, resp, http.StatusBadGateway, `{"message":"502 Bad Gateway"}`)
			g.assertNoCrash(t)
		})
	}
}

// GitHub allows 25 inputs: a trigger with 26 variables is refused with 400
// before anything is sent; 25 pass.
func TestUpstreamGitHubInputLimit(t *testing.T) {
	t.Parallel()
	c := ciCases[1]
	cred := "github-credential-" + randomHex(12)
	ci := c.newCI(t, cred)
	g := newCIGateway(t, c, ci, cred, "github-wrong-"+randomHex(12))
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "input limit", Owner: "alice"})
	for _, n := range []int{26, 25} {
		kv := []string{"token", tr.Token, "ref", "main"}
		vars := map[string]string{}
		for i := range n {
			name := fmt.Sprintf("IN_%02d", i)
			vars[name] = g.varValue()
			kv = append(kv, "variables["+name+"]", vars[name])
		}
		resp := g.post(t, "/api/v4/projects/9/trigger/pipeline", urlencoded(kv...))
		got := ci.take()
		if n > 25 {
			if resp.Status != http.StatusBadRequest {
				t.Errorf("%d inputs: %s, want 400", n, resp)
			}
			msg := decodeObject(t, "refusal", resp.Body)
			if _, ok := msg["message"]; !ok || len(msg) != 1 {
				t.Errorf("%d inputs: %s, want GitLab's {\"message\"}", n, resp.Body)
			}
			if len(got) != 0 {
				t.Errorf("%d inputs: the CI got %d requests, want none", n, len(got))
			}
			continue
		}
		id, webURL := c.started(ci, 0)
		assertPipelineObject(t, resp, 9, "main", id, webURL)
		if len(got) != 1 {
			t.Fatalf("%d inputs: the CI got %d requests, want 1", n, len(got))
		}
		c.checkRequest(t, ci, got[0], sentTrigger{tr, "main", vars}, cred)
	}
	assertNothingForwarded(t, g.up)
}

// GitLab inputs of every type (string, number, boolean, array) reach
// GitHub and Gitea as string inputs, the only values their dispatch API
// takes: a number or boolean sent as such is refused with 422.
func TestUpstreamGitHubTypedInputs(t *testing.T) {
	t.Parallel()
	for _, c := range ciCases[1:3] { // github, gitea
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cred := c.name + "-credential-" + randomHex(12)
			ci := c.newCI(t, cred)
			g := newCIGateway(t, c, ci, cred, c.name+"-wrong-"+randomHex(12))
			tr := g.addTrigger(t, addOpts{Project: "9", Description: "typed inputs", Owner: "alice"})
			resp := g.post(t, "/api/v4/projects/9/trigger/pipeline", rawJSON(`{"token":"`+tr.Token+
				`","ref":"main","inputs":{"env":"prod","replicas":3,"ratio":0.5,"dry_run":false,"regions":["eu","us"]}}`))
			id, webURL := c.started(ci, 0)
			assertPipelineObject(t, resp, 9, "main", id, webURL)
			got := ci.take()
			if len(got) != 1 {
				t.Fatalf("the CI got %d requests, want 1", len(got))
			}
			want := map[string]string{"env": "prod", "replicas": "3", "ratio": "0.5", "dry_run": "false", "regions": `["eu","us"]`}
			prefix := map[string]string{"github": "", "gitea": "/api/v1"}[c.name]
			checkGitHubRequest(t, got[0], prefix, sentTrigger{tr, "main", want}, cred)
		})
	}
}

// GitHub refuses a request without User-Agent: a caller that sends none
// (a bare HTTP client, a webhook sender) still starts the workflow, the
// gateway naming itself; a caller's own User-Agent goes on as it is.
func TestUpstreamGitHubUserAgent(t *testing.T) {
	t.Parallel()
	c := ciCases[1]
	cred := "github-credential-" + randomHex(12)
	ci := c.newCI(t, cred)
	g := newCIGateway(t, c, ci, cred, "github-wrong-"+randomHex(12))
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "user agent", Owner: "alice"})
	for i, tt := range []struct{ sent, want string }{
		{"", "caddy-trigger-gateway"},
		{"curl/8.5.0", "curl/8.5.0"},
	} {
		resp := g.post(t, "/api/v4/projects/9/trigger/pipeline", urlencoded("token", tr.Token, "ref", "main"), "User-Agent", tt.sent)
		id, webURL := c.started(ci, int64(i))
		assertPipelineObject(t, resp, 9, "main", id, webURL)
		got := ci.take()
		if len(got) != 1 {
			t.Fatalf("User-Agent %q: the CI got %d requests, want 1", tt.sent, len(got))
		}
		if ua := got[0].Header.Get("User-Agent"); ua != tt.want {
			t.Errorf("caller's User-Agent %q: GitHub got %q, want %q", tt.sent, ua, tt.want)
		}
	}
}
