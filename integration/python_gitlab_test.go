package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// pythonGitLabScript drives the gateway with the real python-gitlab, as its
// users do. It runs every step even when one fails, and prints one JSON
// object: each step's result, or "error: ..." in its place.
const pythonGitLabScript = `
import json, sys, warnings
import gitlab

url, token, other_token, mode = sys.argv[1:5]
out = {}

def step(name, fn):
    try:
        out[name] = fn()
    except Exception as e:
        out[name] = "error: %s: %s" % (type(e).__name__, e)

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    gl = gitlab.Gitlab(url, private_token=token)

    if mode == "pagination":
        # lazy: no GET /projects/:id, only the trigger API.
        project = gl.projects.get(9, lazy=True)
        step("created", lambda: [project.triggers.create({"description": "t%d" % i}).token for i in range(45)])
        step("page1", lambda: [t.id for t in project.triggers.list(per_page=20, page=1)])
        step("page3", lambda: [t.id for t in project.triggers.list(per_page=20, page=3)])
        step("all", lambda: [t.id for t in project.triggers.list(all=True)])
        step("get_all_by_7", lambda: [t.id for t in project.triggers.list(get_all=True, per_page=7)])
        def iterate():
            it = project.triggers.list(iterator=True)
            return {"total": it.total, "total_pages": it.total_pages, "per_page": it.per_page,
                    "ids": [t.id for t in it]}
        step("iterator", iterate)

    if mode == "usual":
        def auth():
            gl.auth()
            return {"id": gl.user.id, "username": gl.user.username, "state": gl.user.state}
        step("auth", auth)
        step("list", lambda: [t.id for t in gl.projects.get(9).triggers.list()])
        def create():
            t = gl.projects.get(9).triggers.create({"description": "from python-gitlab"})
            return {"id": t.id, "token": t.token, "owner": t.owner["username"]}
        step("create", create)
        step("list_after_create", lambda: [t.id for t in gl.projects.get(9).triggers.list()])
        def by_path():
            p = gl.projects.get("group/project")
            return {"id": p.id, "path_with_namespace": p.path_with_namespace,
                    "triggers": [t.id for t in p.triggers.list()]}
        step("by_path", by_path)
        def delete():
            p = gl.projects.get(9)
            created = out["create"]
            p.triggers.delete(created["id"])
            return [t.id for t in p.triggers.list()]
        step("delete", delete)
        def unserved():
            try:
                gl.projects.get(9).pipelines.list()
            except gitlab.exceptions.GitlabError as e:
                return {"code": e.response_code, "message": e.error_message}
            return "answered"
        step("unserved", unserved)

        limited = gitlab.Gitlab(url, private_token=other_token)
        def limited_auth():
            limited.auth()
            return limited.user.username
        step("limited_auth", limited_auth)
        step("limited_own", lambda: limited.projects.get(12).id)
        def limited_other():
            try:
                limited.projects.get(10)
            except gitlab.exceptions.GitlabGetError as e:
                return {"code": e.response_code, "message": e.error_message}
            return "answered"
        step("limited_other", limited_other)

out["warnings"] = [str(w.message) for w in caught]
print(json.dumps(out))
`

// pythonWithGitLab is a Python interpreter that has python-gitlab (Debian's
// python3-gitlab installs it for /usr/bin/python3, which a pyenv python3
// first on PATH does not see).
func pythonWithGitLab(t *testing.T) string {
	t.Helper()
	for _, candidate := range []string{"python3", "/usr/bin/python3"} {
		path, err := exec.LookPath(candidate)
		if err != nil {
			continue
		}
		if exec.Command(path, "-c", "import gitlab").Run() == nil {
			return path
		}
	}
	t.Fatal("these tests need python-gitlab (apt-get install python3-gitlab)")
	return ""
}

// runPythonGitLab runs pythonGitLabScript in mode against the gateway and
// returns its results.
func (g *gateway) runPythonGitLab(t *testing.T, mode, token, otherToken string) map[string]json.RawMessage {
	t.Helper()
	script := filepath.Join(t.TempDir(), "gitlab_client.py")
	if err := os.WriteFile(script, []byte(pythonGitLabScript), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, pythonWithGitLab(t), script, g.base(), token, otherToken, mode)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("python-gitlab script: %v\nstderr: %s", err, stderr.String())
	}
	var out map[string]json.RawMessage
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("python-gitlab script output: %v: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	return out
}

// pyResult decodes one step's result; a step that raised fails the test.
func pyResult[T any](t *testing.T, out map[string]json.RawMessage, step string) T {
	t.Helper()
	var v T
	raw, ok := out[step]
	if !ok {
		t.Fatalf("python-gitlab step %s: no result", step)
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("python-gitlab step %s: %s", step, raw)
	}
	return v
}

func idRange(ids []int64, from, to int) []int64 {
	if to > len(ids) {
		to = len(ids)
	}
	return ids[from:to]
}

func sameIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// GitLab's offset pagination on GET /projects/:id/triggers, read by the
// real python-gitlab: one page, every page by following the Link header,
// and the totals of the X-Total headers.
func TestPythonGitLabPagination(t *testing.T) {
	t.Parallel()
	admin := "mgmt-" + randomHex(20)
	g := newGateway(t, config{
		Gateway: "management_token terraform {env.GATEWAY_ADMIN_TOKEN}",
		Env:     map[string]string{"GATEWAY_ADMIN_TOKEN": admin},
	})
	g.secrets.addToken(admin)

	out := g.runPythonGitLab(t, "pagination", admin, "")
	created := pyResult[[]string](t, out, "created")
	for _, tok := range created {
		g.secrets.addToken(tok)
	}
	if len(created) != 45 {
		t.Fatalf("created %d triggers, want 45", len(created))
	}
	// The IDs in order, as the admin API lists them.
	var ids []int64
	for _, tr := range g.listTriggers(t, "9") {
		ids = append(ids, tr.ID)
	}
	if len(ids) != 45 {
		t.Fatalf("the admin API lists %d triggers of project 9, want 45", len(ids))
	}

	if got := pyResult[[]int64](t, out, "page1"); !sameIDs(got, idRange(ids, 0, 20)) {
		t.Errorf("list(per_page=20, page=1) = %d triggers %v, want the first 20", len(got), got)
	}
	if got := pyResult[[]int64](t, out, "page3"); !sameIDs(got, idRange(ids, 40, 45)) {
		t.Errorf("list(per_page=20, page=3) = %v, want the last 5", got)
	}
	if got := pyResult[[]int64](t, out, "all"); !sameIDs(got, ids) {
		t.Errorf("list(all=True) = %d triggers, want all 45 in order: %v", len(got), got)
	}
	if got := pyResult[[]int64](t, out, "get_all_by_7"); !sameIDs(got, ids) {
		t.Errorf("list(get_all=True, per_page=7) = %d triggers, want all 45 in order", len(got))
	}
	it := pyResult[struct {
		Total      int     `json:"total"`
		TotalPages int     `json:"total_pages"`
		PerPage    int     `json:"per_page"`
		IDs        []int64 `json:"ids"`
	}](t, out, "iterator")
	if it.Total != 45 || it.TotalPages != 3 || it.PerPage != 20 || !sameIDs(it.IDs, ids) {
		t.Errorf("list(iterator=True): total %d, total_pages %d, per_page %d, %d triggers; want 45, 3, 20, 45",
			it.Total, it.TotalPages, it.PerPage, len(it.IDs))
	}
	if w := pyResult[[]string](t, out, "warnings"); len(w) != 0 {
		t.Errorf("python-gitlab warned: %q", w)
	}

	// The headers themselves, and the values GitLab coerces to the defaults
	// (those it refuses: TestManagementAPI).
	for _, tc := range []struct {
		query               string
		count               int
		page, perPage, next string
		totalPages, prev    string
	}{
		{"?page=2&per_page=20&sort=asc", 20, "2", "20", "3", "3", "1"},
		{"", 20, "1", "20", "2", "3", ""},
		{"?per_page=1000", 45, "1", "100", "", "1", ""},
		{"?per_page=-1&page=-1", 20, "1", "20", "2", "3", ""},
		{"?per_page=&page=0", 20, "1", "20", "2", "3", ""},
		{"?page=9", 0, "9", "20", "", "3", ""},
	} {
		resp := g.manage(t, "GET", "/api/v4/projects/9/triggers"+tc.query, "PRIVATE-TOKEN", admin, reqBody{})
		list := decodeGitLab[[]gitlabTriggerObj](t, "list"+tc.query, resp)
		h := resp.Header
		if resp.Status != 200 || len(list) != tc.count || h.Get("X-Total") != "45" || h.Get("X-Total-Pages") != tc.totalPages ||
			h.Get("X-Page") != tc.page || h.Get("X-Per-Page") != tc.perPage || h.Get("X-Next-Page") != tc.next ||
			h.Get("X-Prev-Page") != tc.prev {
			t.Errorf("list%s: %d, %d triggers, headers %v", tc.query, resp.Status, len(list), h)
		}
	}
	resp := g.manage(t, "GET", "/api/v4/projects/9/triggers?page=2&per_page=20&sort=asc", "PRIVATE-TOKEN", admin, reqBody{})
	self := g.base() + "/api/v4/projects/9/triggers"
	want := `<` + self + `?page=1&per_page=20&sort=asc>; rel="prev", <` + self + `?page=3&per_page=20&sort=asc>; rel="next", ` +
		`<` + self + `?page=1&per_page=20&sort=asc>; rel="first", <` + self + `?page=3&per_page=20&sort=asc>; rel="last"`
	if got := resp.Header.Get("Link"); got != want {
		t.Errorf("Link = %s\n want %s", got, want)
	}
}

// python-gitlab's usual pattern, with nothing but the URL changed from
// GitLab's: gl.auth(), gl.projects.get(9).triggers.list(), create, delete,
// a project named by its path; a limited management token; a path the
// gateway does not serve.
func TestPythonGitLabUsualPattern(t *testing.T) {
	t.Parallel()
	admin := "mgmt-" + randomHex(20)
	teamA := "mgmt-" + randomHex(20)
	g := newGateway(t, config{
		Gateway: `management_token terraform {env.GATEWAY_ADMIN_TOKEN}
management_token team-a {env.TEAM_A_TOKEN} 9 12
project 9 {
	alias group/project
}`,
		Env: map[string]string{"GATEWAY_ADMIN_TOKEN": admin, "TEAM_A_TOKEN": teamA},
	})
	g.secrets.addToken(admin)
	g.secrets.addToken(teamA)
	existing := g.addTrigger(t, addOpts{Project: "9", Description: "made with the CLI", Owner: "alice"})

	out := g.runPythonGitLab(t, "usual", admin, teamA)
	created := pyResult[struct {
		ID    int64  `json:"id"`
		Token string `json:"token"`
		Owner string `json:"owner"`
	}](t, out, "create")
	g.secrets.addToken(created.Token)

	user := pyResult[struct {
		ID       int64  `json:"id"`
		Username string `json:"username"`
		State    string `json:"state"`
	}](t, out, "auth")
	if user.ID < 1 || user.Username != "terraform" || user.State != "active" {
		t.Errorf("gl.auth(): user %+v, want terraform, active, a positive id", user)
	}
	if got := pyResult[[]int64](t, out, "list"); !sameIDs(got, []int64{existing.ID}) {
		t.Errorf("gl.projects.get(9).triggers.list() = %v, want [%d]", got, existing.ID)
	}
	if !glpttPattern.MatchString(created.Token) || created.Owner != "terraform" {
		t.Errorf("create: token %s, owner %q", describeToken(created.Token), created.Owner)
	}
	if got := pyResult[[]int64](t, out, "list_after_create"); !sameIDs(got, []int64{existing.ID, created.ID}) {
		t.Errorf("list after create = %v", got)
	}
	byPath := pyResult[struct {
		ID                int64   `json:"id"`
		PathWithNamespace string  `json:"path_with_namespace"`
		Triggers          []int64 `json:"triggers"`
	}](t, out, "by_path")
	if byPath.ID != 9 || byPath.PathWithNamespace != "group/project" || !sameIDs(byPath.Triggers, []int64{existing.ID, created.ID}) {
		t.Errorf(`gl.projects.get("group/project") = %+v`, byPath)
	}
	if got := pyResult[[]int64](t, out, "delete"); !sameIDs(got, []int64{existing.ID}) {
		t.Errorf("list after delete = %v", got)
	}
	unserved := pyResult[struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}](t, out, "unserved")
	if unserved.Code != 404 || !strings.Contains(unserved.Message, "trigger gateway") {
		t.Errorf("gl.projects.get(9).pipelines.list(): %+v, want a 404 saying what the gateway serves", unserved)
	}
	if got := pyResult[string](t, out, "limited_auth"); got != "team-a" {
		t.Errorf("team-a's auth(): %q", got)
	}
	if got := pyResult[int64](t, out, "limited_own"); got != 12 {
		t.Errorf("team-a's projects.get(12).id = %d", got)
	}
	other := pyResult[struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}](t, out, "limited_other")
	if other.Code != 404 || other.Message != "404 Project Not Found" {
		t.Errorf("team-a's projects.get(10): %+v, want 404 Project Not Found", other)
	}
	if w := pyResult[[]string](t, out, "warnings"); len(w) != 0 {
		t.Errorf("python-gitlab warned: %q", w)
	}

	// The token created by python-gitlab was revoked by its delete.
	resp := g.post(t, "/api/v4/projects/9/trigger/pipeline", urlencoded("token", created.Token, "ref", "main"))
	assertJSONAnswer(t, resp, http.StatusNotFound, `{"message":"404 Not Found"}`)
	assertNothingForwarded(t, g.up)
	g.triggerOK(t, existing)

	// The same answers to a plain client, and one log line per decision.
	resp = g.manage(t, "GET", "/api/v4/user", "Bearer", teamA, reqBody{})
	if resp.Status != 200 || !strings.Contains(string(resp.Body), `"username":"team-a"`) || strings.Contains(string(resp.Body), teamA) {
		t.Errorf("GET /user as team-a: %s", resp)
	}
	resp = g.manage(t, "GET", "/api/v4/user", "", "", reqBody{})
	assertJSONAnswer(t, resp, http.StatusUnauthorized, `{"message":"401 Unauthorized"}`)
	lines := g.logLines(t, regexp.MustCompile(`"msg":"trigger management accepted".*"action":"user"`))
	if len(lines) < 3 {
		t.Errorf("%d accepted log lines for GET /user, want 3 or more", len(lines))
	}
	for _, l := range lines {
		if !strings.Contains(l, `"management_token":"terraform"`) && !strings.Contains(l, `"management_token":"team-a"`) {
			t.Errorf("log line without the management token's name: %s", l)
		}
	}
}
