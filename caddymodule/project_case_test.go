package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/triggergate/caddy-trigger-gateway/internal/allocstest"
	"github.com/triggergate/caddy-trigger-gateway/tokenstore"
)

// Project paths are case-insensitive, as GitLab's are: an alias or a
// configured project's ID in any case names that project; any other path
// is folded; a numeric ID loses its leading zeros.
func TestCanonicalProjectFoldsCase(t *testing.T) {
	h := provisionHandler(t, &Handler{Projects: map[string]*Project{
		"9":         {Aliases: []string{"group/project"}},
		"Team/Tool": {Aliases: []string{"Team/Old-Name"}},
	}}, "")
	for in, want := range map[string]string{
		"9":             "9",
		"group/project": "9",
		"GROUP/PROJECT": "9",
		"Group/Project": "9",
		"Team/Tool":     "Team/Tool", // a configured ID keeps its spelling
		"team/tool":     "Team/Tool",
		"TEAM/OLD-NAME": "Team/Tool",
		"Other/Path":    "other/path",
		"other/path":    "other/path",
		"12":            "12",
		"009":           "9", // GitLab reads an all-digit name as an ID
		"012":           "12",
		"Team/Tool/009": "team/tool/009",
	} {
		if got := h.canonicalProject(in); got != want {
			t.Errorf("canonicalProject(%q) = %q, want %q", in, got, want)
		}
		if got := h.gateway.canonicalProject(in); got != want {
			t.Errorf("gateway.canonicalProject(%q) = %q, want %q", in, got, want)
		}
	}
	if n := allocstest.Fewest(3, 100, func() { _ = h.canonicalProject("group/project") }); n != 0 {
		t.Errorf("canonicalProject of a lower-case name allocates %.0f times", n)
	}
}

// wantTriggered sends a form trigger of ref with token to the project as
// the URL names it, and checks the answer's status and, when accepted,
// the path it was forwarded to.
func wantTriggered(t *testing.T, h *Handler, project, token, ref string, wantStatus int, wantRaw string) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/api/v4/projects/"+project+"/trigger/pipeline",
		strings.NewReader(form(map[string]string{"token": token, "ref": ref})))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	next := new(recorder)
	w, _, err := serve(h, r, next)
	if err != nil || w.Code != wantStatus {
		t.Fatalf("got %d %v: %s", w.Code, err, w.Body)
	}
	if wantStatus == 201 && next.raw != wantRaw {
		t.Errorf("forwarded to %s, want %s", next.raw, wantRaw)
	}
}

// A request naming project 009 is project 9, as GitLab reads it: it gets
// project 9's rules (here its refs), not the gateway-wide ones of a
// project nobody configured, and is forwarded as project 9; a trigger
// created for 009 is project 9's.
func TestServeHTTPProjectIDLeadingZeros(t *testing.T) {
	h := provisionHandler(t, &Handler{Projects: map[string]*Project{"9": {Refs: []string{"main"}}}}, "")
	_, token9 := createToken(t, h, "9", "alice")
	_, tokenZeros := createToken(t, h, h.canonicalProject("009"), "bob")
	tests := []struct {
		name, project, token, ref string
		wantStatus                int
		wantRaw                   string
	}{
		{"project 9's token on 009", "009", token9, "main", 201, "/api/v4/projects/9/trigger/pipeline"},
		{"project 9's refs on 009", "009", token9, "evil", 400, ""},
		{"a token created for 009 on 9", "9", tokenZeros, "main", 201, "/api/v4/projects/9/trigger/pipeline"},
		{"a token created for 009 under 9's refs", "009", tokenZeros, "evil", 400, ""},
		{"another spelling of 9 under 9's refs", "0009", tokenZeros, "evil", 400, ""},
		{"project 90 is another project", "90", token9, "main", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantTriggered(t, h, tt.project, tt.token, tt.ref, tt.wantStatus, tt.wantRaw)
		})
	}
}

// A request naming the project GROUP%2FPROJECT is the project aliased
// group/project: a token of project 9 triggers it, forwarded as project 9;
// a token created for an unconfigured path in one case works in any other,
// forwarded under the folded path.
func TestServeHTTPProjectPathCase(t *testing.T) {
	h := provisionHandler(t, &Handler{Projects: map[string]*Project{"9": {Aliases: []string{"group/project"}}}}, "")
	_, token9 := createToken(t, h, "9", "alice")
	_, tokenTeam := createToken(t, h, h.canonicalProject("Team/App"), "bob")
	tests := []struct {
		name, project, token string
		wantStatus           int
		wantRaw              string
	}{
		{"alias in upper case", "GROUP%2FPROJECT", token9, 201, "/api/v4/projects/9/trigger/pipeline"},
		{"alias in mixed case", "Group%2FProject", token9, 201, "/api/v4/projects/9/trigger/pipeline"},
		{"unconfigured path in another case", "TEAM%2Fapp", tokenTeam, 201, "/api/v4/projects/team%2Fapp/trigger/pipeline"},
		{"another project's token still refused", "GROUP%2FPROJECT", tokenTeam, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantTriggered(t, h, tt.project, tt.token, "main", tt.wantStatus, tt.wantRaw)
		})
	}
}

// The admin API creates GROUP/PROJECT on the project aliased group/project
// and an unconfigured Team/App under team/app, never as second projects;
// lists by any spelling find them; a trigger stored under a mixed-case
// path before paths were folded is listed with its project too.
func TestAdminProjectPathCase(t *testing.T) {
	c, _ := newAdminClient(t, map[string]string{"group/project": "9"})
	before, _, err := c.g.store.Create(context.Background(), tokenstore.CreateRequest{
		Project: "Team/App", Description: "recorded in mixed case", Owner: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	upper, _ := mustCreate(t, c, `{"project":"GROUP/PROJECT","description":"upper","owner":"alice"}`)
	if upper.Project != "9" {
		t.Errorf("GROUP/PROJECT created on project %q, want 9", upper.Project)
	}
	team, _ := mustCreate(t, c, `{"project":"TEAM/app","description":"team","owner":"alice"}`)
	if team.Project != "team/app" {
		t.Errorf("TEAM/app created on project %q, want team/app", team.Project)
	}
	for _, tc := range []struct {
		target string
		want   []int64
	}{
		{"/trigger_gateway/triggers?project=9", []int64{upper.ID}},
		{"/trigger_gateway/triggers?project=Group%2FProject", []int64{upper.ID}},
		{"/trigger_gateway/triggers?project=team%2Fapp", []int64{before.ID, team.ID}},
		{"/trigger_gateway/triggers?project=TEAM%2FAPP", []int64{before.ID, team.ID}},
	} {
		rec := c.do(http.MethodGet, tc.target, "")
		var got []adminTrigger
		if err := json.Unmarshal(rec.Body.Bytes(), &got); rec.Code != http.StatusOK || err != nil {
			t.Fatalf("%s: %d %s", tc.target, rec.Code, rec.Body)
		}
		ids := []int64{}
		for _, tr := range got {
			ids = append(ids, tr.ID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(tc.want) {
			t.Errorf("%s: IDs %v, want %v", tc.target, ids, tc.want)
		}
	}
}

// The management API's /projects/:id/triggers names projects in any case:
// the list and a creation under GROUP%2FPROJECT are project 9's.
func TestManagementProjectPathCase(t *testing.T) {
	h := newManagementHandler(t, nil)
	created := manage(t, h, mgmtRequest{method: "POST", target: "/api/v4/projects/GROUP%2FPROJECT/triggers",
		auth: "private", token: mgmtTeamA, contentType: "application/x-www-form-urlencoded", body: "description=upper"})
	if created.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", created.Code, created.Body)
	}
	tr := decodeTriggerJSON[gitlabTrigger](t, created)
	stored, _, err := h.gateway.store.Get(context.Background(), tr.ID)
	if err != nil || stored.Project != "9" {
		t.Fatalf("stored under project %q (%v), want 9", stored.Project, err)
	}
	list := manage(t, h, mgmtRequest{method: "GET", target: "/api/v4/projects/Group%2FProject/triggers", auth: "private", token: mgmtTeamA})
	got := decodeTriggerJSON[[]gitlabTrigger](t, list)
	if list.Code != http.StatusOK || len(got) != 1 || got[0].ID != tr.ID {
		t.Errorf("list: %d %s", list.Code, list.Body)
	}
}
