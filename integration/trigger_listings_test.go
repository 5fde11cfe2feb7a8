package integration

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
)

// A project is one project whatever name a request uses: GitLab's
// GET /projects/:id/triggers and the admin API's
// GET /trigger_gateway/triggers?project= list the same triggers, those
// stored under the canonical project and those stored under an alias
// (created before the alias was configured), whether the project is named
// by its ID, its alias, or its alias in another case.
func TestTriggerListingsAgreeOnProjectNames(t *testing.T) {
	t.Parallel()
	mgmt := "mgmt-" + randomHex(20)
	const mgmtCfg = "management_token team-a {env.GATEWAY_MGMT_TOKEN} 9 12\n"
	env := map[string]string{"GATEWAY_MGMT_TOKEN": mgmt}
	g := newGateway(t, config{Gateway: mgmtCfg + "project 9\nproject 12", Env: env})
	g.secrets.addToken(mgmt)

	// Before the alias exists, group/project is a project of its own.
	byAlias := g.addTrigger(t, addOpts{Project: "group/project", Description: "before the alias", Owner: "alice"})
	g.reload(t, config{Gateway: mgmtCfg + "project 9 {\n\talias Group/Project\n}\nproject 12", Env: env})
	byID := g.addTrigger(t, addOpts{Project: "9", Description: "by ID", Owner: "alice"})
	other := g.addTrigger(t, addOpts{Project: "12", Description: "another project", Owner: "alice"})
	want := fmt.Sprint([]int64{byAlias.ID, byID.ID})

	for _, tc := range []struct{ naming, project string }{
		{"numeric ID", "9"},
		{"alias path", "group/project"},
		{"alias in another case", "GROUP/Project"},
	} {
		t.Run(tc.naming, func(t *testing.T) {
			resp := g.adminGet(t, "/trigger_gateway/triggers?project="+url.QueryEscape(tc.project))
			if resp.Status != http.StatusOK {
				t.Fatalf("admin API list: %s", resp)
			}
			var ids []int64
			for _, tr := range decodeGitLab[[]triggerObj](t, "admin API list", resp) {
				ids = append(ids, tr.ID)
			}
			if fmt.Sprint(ids) != want {
				t.Errorf("admin API lists %v for project %q, want %s (not %d of project 12)", ids, tc.project, want, other.ID)
			}

			resp = g.manage(t, "GET", "/api/v4/projects/"+url.PathEscape(tc.project)+"/triggers", "PRIVATE-TOKEN", mgmt, reqBody{})
			if resp.Status != http.StatusOK {
				t.Fatalf("management API list: %s", resp)
			}
			ids = nil
			for _, tr := range decodeGitLab[[]gitlabTriggerObj](t, "management API list", resp) {
				ids = append(ids, tr.ID)
			}
			if fmt.Sprint(ids) != want {
				t.Errorf("management API lists %v for project %q, want %s", ids, tc.project, want)
			}
		})
	}
}
