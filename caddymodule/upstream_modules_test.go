package caddymodule

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// ciStandIn is the next handler in front of another CI: it records the
// request it is handed and answers as configured.
type ciStandIn struct {
	calls  int
	method string
	uri    string
	header http.Header
	body   string

	status   int
	location string
	answer   string
	err      error // returned instead of answering: the proxy failed
}

func (c *ciStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	c.calls++
	c.method, c.uri, c.header = r.Method, r.URL.RequestURI(), r.Header.Clone()
	body, _ := io.ReadAll(r.Body)
	c.body = string(body)
	if c.err != nil {
		return c.err
	}
	if c.location != "" {
		w.Header().Set("Location", c.location)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Ci-Secret-Header", "from the CI")
	w.WriteHeader(c.status)
	_, _ = io.WriteString(w, c.answer)
	return nil
}

// jenkinsGateway is a handler whose project 9 triggers a Jenkins job.
func jenkinsGateway(t *testing.T) *Handler {
	t.Helper()
	t.Setenv("TEST_JENKINS_TOKEN", "jenkins-api-token-value")
	h := &Handler{Projects: map[string]*Project{
		"9":  {UpstreamRaw: json.RawMessage(`{"module":"jenkins","job":"folder/deploy app","ref_parameter":"GIT_REF","user":"ci-bot","api_token":"{env.TEST_JENKINS_TOKEN}"}`)},
		"10": {UpstreamRaw: json.RawMessage(`{"module":"github_actions","repository":"acme/app","workflow":"deploy.yml","token":"{env.TEST_JENKINS_TOKEN}"}`)},
	}}
	return provisionHandler(t, h, "")
}

func TestUpstreamModuleServe(t *testing.T) {
	manyVariables := url.Values{}
	for i := range 26 {
		manyVariables.Set("variables[V"+strconv.Itoa(i)+"]", "x")
	}
	tests := []struct {
		name    string
		project string
		ci      ciStandIn
		extra   url.Values // more form fields

		wantStatus int
		wantCalls  int
		wantURI    string
		wantAnswer string // a substring of the caller's answer
	}{
		{
			name: "jenkins started", project: "9",
			ci:         ciStandIn{status: http.StatusCreated, location: "https://jenkins.example.com/queue/item/31/"},
			wantStatus: http.StatusCreated, wantCalls: 1,
			wantURI:    "/job/folder/job/deploy%20app/buildWithParameters",
			wantAnswer: `"id":31,"iid":null,"project_id":9,"ref":"main","sha":null,"status":"created","source":"trigger"`,
		},
		{
			name: "jenkins refuses", project: "9",
			ci:         ciStandIn{status: http.StatusUnauthorized, answer: `<html>jenkins-api-token-value</html>`},
			wantStatus: http.StatusBadGateway, wantCalls: 1,
			wantURI:    "/job/folder/job/deploy%20app/buildWithParameters",
			wantAnswer: `{"message":"502 Bad Gateway: the CI server answered 401"}`,
		},
		{
			name: "jenkins unreachable", project: "9",
			ci:         ciStandIn{err: caddyhttp.Error(http.StatusBadGateway, io.ErrUnexpectedEOF)},
			wantStatus: http.StatusBadGateway, wantCalls: 1,
			wantURI:    "/job/folder/job/deploy%20app/buildWithParameters",
			wantAnswer: `{"message":"502 Bad Gateway"}`,
		},
		{
			name: "github too many inputs", project: "10", extra: manyVariables,
			ci:         ciStandIn{status: http.StatusOK},
			wantStatus: http.StatusBadRequest, wantCalls: 0,
		},
		{
			name: "github started", project: "10",
			ci: ciStandIn{status: http.StatusOK,
				answer: `{"workflow_run_id":4294967297,"run_url":"https://api.github.com/repos/acme/app/actions/runs/4294967297","html_url":"https://github.com/acme/app/actions/runs/4294967297"}`},
			wantStatus: http.StatusCreated, wantCalls: 1,
			wantURI:    "/repos/acme/app/actions/workflows/deploy.yml/dispatches",
			wantAnswer: `"id":4294967297,"iid":null,"project_id":10,`,
		},
	}
	h := jenkinsGateway(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, token := createToken(t, h, tc.project, "alice")
			fields := url.Values{"token": {token}, "ref": {"main"}, "variables[DEPLOY]": {"yes"}}
			for k, v := range tc.extra {
				fields[k] = v
			}
			r := httptest.NewRequest(http.MethodPost, "/api/v4/projects/"+tc.project+"/trigger/pipeline", strings.NewReader(fields.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("Authorization", "Basic Y2FsbGVyOnNlY3JldA==") // the caller's, for GitLab: never another CI's
			r.Header.Set("Remote-User", "admin")                        // a CI behind a proxy may trust it
			r.Header.Set("Range", "bytes=0-1")                          // would change the answer the module reads
			r.Header.Set("User-Agent", "python-gitlab/3.12")
			ci := tc.ci
			w, repl, err := serve(h, r, &ci)
			if err != nil {
				t.Fatalf("ServeHTTP: %v", err)
			}
			if w.Code != tc.wantStatus || ci.calls != tc.wantCalls {
				t.Fatalf("status %d, CI called %d times; want %d, %d: %s", w.Code, ci.calls, tc.wantStatus, tc.wantCalls, w.Body)
			}
			if !strings.Contains(w.Body.String(), tc.wantAnswer) {
				t.Errorf("answer %s, want it to hold %s", w.Body, tc.wantAnswer)
			}
			for _, leaked := range []string{"jenkins-api-token-value", "from the CI", "<html>"} {
				if strings.Contains(w.Body.String(), leaked) || w.Header().Get("X-Ci-Secret-Header") != "" {
					t.Errorf("the caller's answer carries the CI's %q: %s", leaked, w.Body)
				}
			}
			if ci.calls == 0 {
				return
			}
			if ci.uri != tc.wantURI || ci.method != http.MethodPost {
				t.Errorf("CI got %s %s, want POST %s", ci.method, ci.uri, tc.wantURI)
			}
			if strings.Contains(ci.body, token) || strings.Contains(ci.uri, token) || strings.Contains(ci.header.Get("Authorization"), "Y2FsbGVyOnNlY3JldA") {
				t.Errorf("the caller's credentials reached the CI: %s %v %s", ci.uri, ci.header, ci.body)
			}
			for _, name := range []string{"Remote-User", "Range"} {
				if ci.header.Get(name) != "" {
					t.Errorf("the caller's %s reached the CI", name)
				}
			}
			if got := ci.header.Get("User-Agent"); got != "python-gitlab/3.12" {
				t.Errorf("User-Agent %q reached the CI, want the caller's", got)
			}
			for _, values := range ci.header {
				if strings.Contains(strings.Join(values, " "), token) {
					t.Errorf("the caller's token reached the CI in a header: %v", ci.header)
				}
			}
			if got, _ := repl.GetString("http.trigger.upstream"); got == "" || got == "gitlab" {
				t.Errorf("{http.trigger.upstream} = %q", got)
			}
		})
	}
}

func TestUpstreamModuleJenkinsRequest(t *testing.T) {
	h := jenkinsGateway(t)
	_, token := createToken(t, h, "9", "alice")
	body := `{"token":"` + token + `","ref":"refs/heads/release","variables":{"DEPLOY":"yes"}}`
	r := httptest.NewRequest(http.MethodPost, "/api/v4/projects/9/trigger/pipeline", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	ci := ciStandIn{status: http.StatusCreated, location: "https://jenkins.example.com/queue/item/7/"}
	if _, _, err := serve(h, r, &ci); err != nil {
		t.Fatal(err)
	}
	form, err := url.ParseQuery(ci.body)
	if err != nil {
		t.Fatal(err)
	}
	if form.Get("GIT_REF") != "release" || form.Get("DEPLOY") != "yes" {
		t.Errorf("form %v: want GIT_REF=release and DEPLOY=yes", form)
	}
	if got, want := ci.header.Get("Authorization"), basicAuth("ci-bot", "jenkins-api-token-value"); got != want {
		t.Errorf("Authorization %q, want %q", got, want)
	}
	if got := ci.header.Get("Content-Type"); got != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type %q", got)
	}
	if got := ci.header.Get("Content-Length"); got != strconv.Itoa(len(ci.body)) {
		t.Errorf("Content-Length %q for a body of %d bytes", got, len(ci.body))
	}
}

func basicAuth(user, password string) string {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(user, password)
	return r.Header.Get("Authorization")
}

func TestUpstreamModuleExplain(t *testing.T) {
	h := jenkinsGateway(t)
	_, token := createToken(t, h, "9", "alice")
	r := httptest.NewRequest(http.MethodPost, "/api/v4/projects/9/trigger/pipeline?ref=main&token="+token+"&variables[DEPLOY]=yes", nil)
	route, _ := triggerapi.ParseRoute(h.PathPrefix, r.URL.EscapedPath())
	out := h.explain(r, route)
	if out.Decision != "accepted" || out.Upstream != "jenkins" || out.Forward == nil {
		t.Fatalf("explain: %+v", out)
	}
	if out.Forward.URL != "/job/folder/job/deploy%20app/buildWithParameters" {
		t.Errorf("forward URL %q", out.Forward.URL)
	}
	if got := out.Forward.Headers["Authorization"]; got != redactionMarker {
		t.Errorf("Authorization shown as %q, want it masked", got)
	}
	shown, _ := json.Marshal(out)
	if strings.Contains(string(shown), "jenkins-api-token-value") || strings.Contains(string(shown), token) {
		t.Errorf("explain shows a credential: %s", shown)
	}
	var bodyText string
	if err := json.Unmarshal(out.Forward.Body, &bodyText); err != nil || !strings.Contains(bodyText, "GIT_REF=main") {
		t.Errorf("forward body %s: want the form as a string", out.Forward.Body)
	}
}

func TestUnmarshalUpstream(t *testing.T) {
	tests := []struct {
		name, input string
		wantGateway string // the handler's upstream JSON, "" for none
		wantProject string // project 9's
		wantErr     string
	}{
		{
			name:        "gateway and project",
			input:       "trigger_gateway {\n upstream json {\n path /hooks/deploy\n }\n project 9 {\n upstream jenkins {\n job deploy\n }\n }\n}",
			wantGateway: `{"module":"json","path":"/hooks/deploy"}`,
			wantProject: `{"module":"jenkins","job":"deploy"}`,
		},
		{name: "no module name", input: "trigger_gateway {\n upstream\n}", wantErr: "wrong argument count"},
		{name: "unknown module", input: "trigger_gateway {\n upstream teamcity\n}", wantErr: "teamcity"},
		{name: "twice", input: "trigger_gateway {\n upstream json\n upstream jenkins {\n job deploy\n }\n}", wantErr: "upstream is given twice"},
		{name: "twice in a project", input: "trigger_gateway {\n project 9 {\n upstream json\n upstream json\n }\n}", wantErr: "upstream is given twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !sameJSON(h.UpstreamRaw, tc.wantGateway) {
				t.Errorf("gateway upstream %s, want %s", h.UpstreamRaw, tc.wantGateway)
			}
			if got := h.Projects["9"].UpstreamRaw; !sameJSON(got, tc.wantProject) {
				t.Errorf("project upstream %s, want %s", got, tc.wantProject)
			}
		})
	}
}

func TestUpstreamEmptyCredentialStopsConfig(t *testing.T) {
	t.Setenv("TEST_UNSET_JENKINS_TOKEN", "")
	err, _ := provisionFromCaddyfile(t, "project 9 {\n upstream jenkins {\n job deploy\n user ci-bot\n api_token {env.TEST_UNSET_JENKINS_TOKEN}\n }\n}")
	if err == nil || !strings.Contains(err.Error(), "project 9") || !strings.Contains(err.Error(), "api_token") {
		t.Fatalf("Provision: %v; want a refusal naming project 9 and api_token", err)
	}
}

// sameJSON reports whether got holds the same JSON value as want.
func sameJSON(got json.RawMessage, want string) bool {
	var a, b any
	if json.Unmarshal(got, &a) != nil || json.Unmarshal([]byte(want), &b) != nil {
		return false
	}
	return reflect.DeepEqual(a, b)
}

// cancellingCI answers like Jenkins after the caller has gone.
type cancellingCI struct {
	ciStandIn
	cancel func()
}

func (c *cancellingCI) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	if c.cancel != nil {
		c.cancel() // the caller leaves while the CI starts the build
	}
	return c.ciStandIn.ServeHTTP(w, r)
}

// A build the CI started is the key's answer even if the caller left before
// it came: a retry with the same Idempotency-Key replays it and starts none.
func TestUpstreamModuleStartedBuildSavedWhenCallerLeft(t *testing.T) {
	h := jenkinsGateway(t)
	_, token := createToken(t, h, "9", "alice")
	ci := &cancellingCI{ciStandIn: ciStandIn{status: http.StatusCreated, location: "https://jenkins.example.com/queue/item/5/"}}
	send := func(ctx context.Context) *httptest.ResponseRecorder {
		body := url.Values{"token": {token}, "ref": {"main"}}.Encode()
		r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/api/v4/projects/9/trigger/pipeline", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Idempotency-Key", "deploy-42")
		w, _, err := serve(h, r, ci)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	ctx, cancel := context.WithCancel(context.Background())
	ci.cancel = cancel
	send(ctx)
	ci.cancel = nil
	w := send(context.Background())
	if ci.calls != 1 || w.Code != http.StatusCreated || !strings.Contains(w.Body.String(), `"id":5`) {
		t.Fatalf("the CI was called %d times; the retry got %d %s; want one call and the first answer replayed", ci.calls, w.Code, w.Body)
	}
}
