package integration

import (
	"fmt"
	"testing"
)

// Project paths are case-insensitive, as GitLab's are, against the real
// binary: the admin API (through the CLI) creates GROUP/PROJECT on the
// project aliased group/project and Team/App under team/app, never as
// second projects; requests naming GROUP%2FPROJECT trigger project 9 and
// TEAM%2FAPP team/app; listings by any spelling find them, the
// management API's /projects/:id/triggers too.
func TestProjectPathsCaseInsensitive(t *testing.T) {
	t.Parallel()
	mgmt := "mgmt-" + randomHex(20)
	g := newGateway(t, config{
		Gateway: `management_token ops {env.CASE_MGMT_TOKEN}
project 9 {
	alias group/project
}`,
		Env: map[string]string{"CASE_MGMT_TOKEN": mgmt},
	})
	g.secrets.addToken(mgmt)
	upper := g.addTrigger(t, addOpts{Project: "GROUP/PROJECT", Description: "upper case", Owner: "alice"})
	if upper.Project != "9" {
		t.Errorf("GROUP/PROJECT created on project %q, want 9 (aliased group/project)", upper.Project)
	}
	team := g.addTrigger(t, addOpts{Project: "Team/App", Description: "mixed case", Owner: "bob"})
	if team.Project != "team/app" {
		t.Errorf("Team/App created on project %q, want team/app", team.Project)
	}

	for _, tc := range []struct {
		path    string
		tr      triggerObj
		project string // as forwarded
	}{
		{"GROUP%2FPROJECT", upper, "9"},
		{"Group%2Fproject", upper, "9"},
		{"TEAM%2FAPP", team, "team%2Fapp"},
		{"team%2Fapp", team, "team%2Fapp"},
	} {
		t.Run("trigger "+tc.path, func(t *testing.T) {
			resp := g.post(t, "/api/v4/projects/"+tc.path+"/trigger/pipeline", urlencoded("token", tc.tr.Token, "ref", "main"))
			assertForwarded(t, resp, g.up.take(), forwarded{Project: tc.project, Token: tc.tr.Token, Ref: "main",
				Variables: map[string]string{}, Trigger: tc.tr})
		})
	}
	t.Run("another project's token in another case is still refused", func(t *testing.T) {
		resp := g.post(t, "/api/v4/projects/GROUP%2FPROJECT/trigger/pipeline", urlencoded("token", team.Token, "ref", "main"))
		assertJSONAnswer(t, resp, 404, `{"message":"404 Not Found"}`)
		assertNothingForwarded(t, g.up)
	})

	for _, tc := range []struct {
		project string
		want    []int64
	}{
		{"9", []int64{upper.ID}},
		{"Group/Project", []int64{upper.ID}},
		{"TEAM/APP", []int64{team.ID}},
		{"team/app", []int64{team.ID}},
	} {
		t.Run("list "+tc.project, func(t *testing.T) {
			var ids []int64
			for _, tr := range g.listTriggers(t, tc.project) {
				ids = append(ids, tr.ID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(tc.want) {
				t.Errorf("trigger list --project %s: IDs %v, want %v", tc.project, ids, tc.want)
			}
		})
	}
	if all := g.listTriggers(t, ""); len(all) != 2 {
		t.Errorf("trigger list: %d triggers, want 2", len(all))
	}

	t.Run("management API", func(t *testing.T) {
		resp := g.manage(t, "GET", "/api/v4/projects/Group%2FProject/triggers", "PRIVATE-TOKEN", mgmt, reqBody{})
		list := decodeGitLab[[]gitlabTriggerObj](t, "list", resp)
		if resp.Status != 200 || len(list) != 1 || list[0].ID != upper.ID {
			t.Errorf("GET /projects/Group%%2FProject/triggers: %s", resp)
		}
		resp = g.manage(t, "POST", "/api/v4/projects/TEAM%2FApp/triggers", "PRIVATE-TOKEN", mgmt,
			jsonBody(map[string]string{"description": "by the management API"}))
		created := decodeGitLab[gitlabTriggerObj](t, "create", resp)
		g.secrets.addToken(created.Token)
		shown, res := g.showTrigger(t, created.ID)
		if resp.Status != 201 || res.ExitCode != 0 || shown.Project != "team/app" {
			t.Errorf("created through /projects/TEAM%%2FApp/triggers on project %q: %s", shown.Project, resp)
		}
	})
}

// A numeric ID with leading zeros is the ID, as GitLab reads it, against
// the real binary: `add --project 009` creates a trigger of project 9, and
// a request naming project 009 gets project 9's rules (its refs) and is
// forwarded as project 9, rather than passing as an unconfigured project
// under the gateway-wide rules only.
func TestProjectIDLeadingZeros(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{Gateway: `project 9 {
	refs main
}`})
	tr := g.addTrigger(t, addOpts{Project: "009", Description: "zeros", Owner: "alice"})
	if tr.Project != "9" {
		t.Errorf("--project 009 created on project %q, want 9", tr.Project)
	}
	for _, path := range []string{"009", "9", "0009"} {
		t.Run("project "+path, func(t *testing.T) {
			resp := g.post(t, "/api/v4/projects/"+path+"/trigger/pipeline", urlencoded("token", tr.Token, "ref", "main"))
			assertForwarded(t, resp, g.up.take(), forwarded{Project: "9", Token: tr.Token, Ref: "main",
				Variables: map[string]string{}, Trigger: tr})
			resp = g.post(t, "/api/v4/projects/"+path+"/trigger/pipeline", urlencoded("token", tr.Token, "ref", "evil"))
			if resp.Status != 400 {
				t.Errorf("ref evil on project %s: %s, want 400 (project 9 allows main only)", path, resp)
			}
			assertNothingForwarded(t, g.up)
		})
	}
	if got := g.listTriggers(t, "9"); len(got) != 1 || got[0].ID != tr.ID {
		t.Errorf("trigger list --project 9: %v, want trigger %d", got, tr.ID)
	}
}
