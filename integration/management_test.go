package integration

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// gitlabTriggerObj is GitLab's Trigger entity, as the management API answers.
type gitlabTriggerObj struct {
	ID          int64   `json:"id"`
	Token       string  `json:"token"`
	TokenPrefix string  `json:"token_prefix"`
	Description string  `json:"description"`
	CreatedAt   string  `json:"created_at"`
	UpdatedAt   string  `json:"updated_at"`
	LastUsed    *string `json:"last_used"`
	ExpiresAt   *string `json:"expires_at"`
	Owner       *struct {
		Username string `json:"username"`
	} `json:"owner"`
}

// manage sends a management API request. auth is "PRIVATE-TOKEN" or
// "Bearer" (Authorization: Bearer), or "" for no credential.
func (g *gateway) manage(t *testing.T, method, path, auth, token string, body reqBody) response {
	t.Helper()
	var req *http.Request
	var err error
	if body.Data != nil {
		req, err = http.NewRequest(method, g.base()+path, strings.NewReader(string(body.Data)))
	} else {
		req, err = http.NewRequest(method, g.base()+path, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	if body.ContentType != "" {
		req.Header.Set("Content-Type", body.ContentType)
	}
	switch auth {
	case "PRIVATE-TOKEN":
		req.Header.Set("PRIVATE-TOKEN", token)
	case "Bearer":
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return g.do(t, req)
}

func decodeGitLab[T any](t *testing.T, what string, resp response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(resp.Body, &v); err != nil {
		t.Fatalf("%s: the answer is not the expected JSON: %v: %s", what, err, resp)
	}
	return v
}

// What Terraform's gitlab_pipeline_trigger and scripts do against GitLab's
// /projects/:id/triggers API, against the real binary: create, read,
// update, trigger with the token, destroy; and what they must not be able
// to do. No management token may show up in Caddy's output or storage
// (the harness's log filter drops the PRIVATE-TOKEN header, as
// docs/logs-and-metrics.md tells users to; Caddy redacts Authorization itself).
func TestManagementAPI(t *testing.T) {
	t.Parallel()
	admin := "mgmt-" + randomHex(20)
	teamA := "mgmt-" + randomHex(20)
	wrong := "mgmt-" + randomHex(20)
	tokenFile := filepath.Join(t.TempDir(), "team-a.token")
	if err := os.WriteFile(tokenFile, []byte(teamA+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g := newGateway(t, config{
		Gateway: `management_token terraform {env.GATEWAY_ADMIN_TOKEN}
management_token team-a {file.` + tokenFile + `} 9 12
project 9 {
	alias group/project
}`,
		Env: map[string]string{"GATEWAY_ADMIN_TOKEN": admin},
	})
	for _, tok := range []string{admin, teamA, wrong} {
		g.secrets.addToken(tok)
	}
	const collection = "/api/v4/projects/9/triggers"

	// terraform apply: create, then read back.
	resp := g.manage(t, "POST", collection, "PRIVATE-TOKEN", admin, jsonBody(map[string]string{"description": "managed by terraform"}))
	if resp.Status != http.StatusCreated {
		t.Fatalf("create: %s", resp)
	}
	created := decodeGitLab[gitlabTriggerObj](t, "create", resp)
	g.secrets.addToken(created.Token)
	if !glpttPattern.MatchString(created.Token) || created.TokenPrefix != created.Token[:10] {
		t.Fatalf("created token is not a glptt- token with its prefix: %s / %s", describeToken(created.Token), created.TokenPrefix)
	}
	if created.Description != "managed by terraform" || created.Owner == nil || created.Owner.Username != "terraform" ||
		created.LastUsed != nil || created.ExpiresAt != nil || created.CreatedAt == "" || created.UpdatedAt != created.CreatedAt {
		t.Errorf("created = %s", resp)
	}
	item := collection + "/" + strconv.FormatInt(created.ID, 10)

	resp = g.manage(t, "GET", item, "PRIVATE-TOKEN", admin, reqBody{})
	shown := decodeGitLab[gitlabTriggerObj](t, "show", resp)
	if resp.Status != 200 || shown.ID != created.ID || shown.Description != created.Description {
		t.Fatalf("show: %s", resp)
	}
	if shown.Token != created.TokenPrefix {
		t.Errorf("show gives token %q, want the prefix %q only", shown.Token, created.TokenPrefix)
	}

	// The admin API sees the same trigger, owned by the management token's name.
	adminView, res := g.showTrigger(t, created.ID)
	if res.ExitCode != 0 || adminView.Owner != "terraform" || adminView.Legacy || adminView.Project != "9" ||
		adminView.TokenPrefix != created.TokenPrefix {
		t.Fatalf("caddy trigger show %d: %+v (exit %d: %s)", created.ID, adminView, res.ExitCode, res.Stderr)
	}

	// terraform apply after a description change.
	resp = g.manage(t, "PUT", item, "PRIVATE-TOKEN", admin, urlencoded("description", "renamed by terraform"))
	if updated := decodeGitLab[gitlabTriggerObj](t, "update", resp); resp.Status != 200 || updated.Description != "renamed by terraform" {
		t.Fatalf("update: %s", resp)
	}
	if got, _ := g.showTrigger(t, created.ID); got.Description != "renamed by terraform" {
		t.Errorf("after update the admin API shows description %q", got.Description)
	}

	// The token works, as curl --form sends it, and reaches the CI server.
	tr := triggerObj{ID: created.ID, Token: created.Token, TokenPrefix: created.TokenPrefix, Project: "9"}
	resp = g.post(t, "/api/v4/projects/9/trigger/pipeline", multipartForm("token", created.Token, "ref", "main"))
	assertForwarded(t, resp, g.up.take(), forwarded{
		Project: "9", Token: created.Token, Ref: "main", Variables: map[string]string{}, Trigger: tr,
	})

	resp = g.manage(t, "GET", "/api/v4/projects/group%2Fproject/triggers", "PRIVATE-TOKEN", admin, reqBody{})
	list := decodeGitLab[[]gitlabTriggerObj](t, "list", resp)
	if resp.Status != 200 || len(list) != 1 || list[0].ID != created.ID || list[0].Description != "renamed by terraform" {
		t.Fatalf("list: %s", resp)
	}
	if list[0].LastUsed == nil || strings.Contains(string(resp.Body), created.Token) {
		t.Errorf("list after a use: last_used %v; the full token is shown: %v", list[0].LastUsed, strings.Contains(string(resp.Body), created.Token))
	}

	// terraform destroy.
	resp = g.manage(t, "DELETE", item, "PRIVATE-TOKEN", admin, reqBody{})
	if resp.Status != http.StatusNoContent || len(resp.Body) != 0 {
		t.Fatalf("delete: %s", resp)
	}
	resp = g.post(t, "/api/v4/projects/9/trigger/pipeline", multipartForm("token", created.Token, "ref", "main"))
	assertJSONAnswer(t, resp, http.StatusNotFound, `{"message":"404 Not Found"}`)
	assertNothingForwarded(t, g.up)
	// GitLab's answer for a trigger it does not have: triggers.find raises
	// RecordNotFound, which lib/api/api.rb answers {"message":"404 Not found"}.
	resp = g.manage(t, "GET", item, "PRIVATE-TOKEN", admin, reqBody{})
	assertJSONAnswer(t, resp, http.StatusNotFound, `{"message":"404 Not found"}`)
	// Terraform reads a 404 as "gone" and drops the resource from its state.
	resp = g.manage(t, "DELETE", item, "PRIVATE-TOKEN", admin, reqBody{})
	assertJSONAnswer(t, resp, http.StatusNotFound, `{"message":"404 Not found"}`)

	t.Run("wrong or missing token", func(t *testing.T) {
		for _, tc := range []struct{ auth, token string }{
			{"PRIVATE-TOKEN", wrong}, {"Bearer", wrong}, {"", ""}, {"PRIVATE-TOKEN", created.Token},
		} {
			resp := g.manage(t, "POST", collection, tc.auth, tc.token, urlencoded("description", "nope"))
			assertJSONAnswer(t, resp, http.StatusUnauthorized, `{"message":"401 Unauthorized"}`)
		}
		assertNothingForwarded(t, g.up)
	})

	t.Run("a limited token", func(t *testing.T) {
		resp := g.manage(t, "GET", "/api/v4/projects/10/triggers", "PRIVATE-TOKEN", teamA, reqBody{})
		assertJSONAnswer(t, resp, http.StatusNotFound, `{"message":"404 Project Not Found"}`)
		resp = g.manage(t, "POST", "/api/v4/projects/10/triggers", "Bearer", teamA, urlencoded("description", "not mine"))
		assertJSONAnswer(t, resp, http.StatusNotFound, `{"message":"404 Project Not Found"}`)

		// Its own project, named by its path, with Authorization: Bearer.
		resp = g.manage(t, "POST", "/api/v4/projects/group%2Fproject/triggers", "Bearer", teamA, multipartForm("description", "team-a's"))
		if resp.Status != http.StatusCreated {
			t.Fatalf("create on its own project: %s", resp)
		}
		mine := decodeGitLab[gitlabTriggerObj](t, "create", resp)
		g.secrets.addToken(mine.Token)
		if mine.Owner == nil || mine.Owner.Username != "team-a" {
			t.Errorf("owner %+v, want team-a", mine.Owner)
		}
		g.triggerOK(t, triggerObj{ID: mine.ID, Token: mine.Token, TokenPrefix: mine.TokenPrefix, Project: "9"})

		for _, tr := range g.listTriggers(t, "10") {
			t.Errorf("project 10 has trigger %d after the refused creation", tr.ID)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		resp := g.manage(t, "POST", collection, "PRIVATE-TOKEN", admin, urlencoded("desc", "typo"))
		assertJSONAnswer(t, resp, http.StatusBadRequest, `{"error":"description is missing"}`)
		resp = g.manage(t, "GET", collection+"/not-a-number", "PRIVATE-TOKEN", admin, reqBody{})
		assertJSONAnswer(t, resp, http.StatusBadRequest, `{"error":"trigger_id is invalid"}`)

		// Pagination parameters GitLab's validation refuses (lib/api/concerns/pagination_params.rb:
		// page and per_page are Integers, per_page except_values [0]) are refused the same way,
		// never served as another page; those it coerces are served.
		for _, tc := range []struct{ query, want string }{
			{"page=two", `{"error":"page is invalid"}`},
			{"per_page=ten", `{"error":"per_page is invalid"}`},
			{"per_page=2.5", `{"error":"per_page is invalid"}`},
			{"per_page=0", `{"error":"per_page has a value not allowed"}`},
			{"page=two&per_page=0", `{"error":"page is invalid, per_page has a value not allowed"}`},
			{"page=1&page=x", `{"error":"page is invalid"}`},
		} {
			resp := g.manage(t, "GET", collection+"?"+tc.query, "PRIVATE-TOKEN", admin, reqBody{})
			assertJSONAnswer(t, resp, http.StatusBadRequest, tc.want)
		}
		for _, query := range []string{"page=0", "page=-1", "per_page=-5", "per_page=", "page=+1", "per_page=500"} {
			if resp := g.manage(t, "GET", collection+"?"+query, "PRIVATE-TOKEN", admin, reqBody{}); resp.Status != http.StatusOK {
				t.Errorf("list?%s: %s, want 200 as GitLab serves it", query, resp)
			}
		}
	})

	t.Run("one log line per decision, by name", func(t *testing.T) {
		lines := g.logLines(t, regexp.MustCompile(`"msg":"trigger management (accepted|refused)"`))
		var creates, refusedUnknown int
		for _, l := range lines {
			if strings.Contains(l, `"action":"create"`) && strings.Contains(l, `"management_token":"terraform"`) &&
				strings.Contains(l, `"outcome":"accepted"`) {
				creates++
			}
			if strings.Contains(l, `"outcome":"unknown_management_token"`) {
				refusedUnknown++
			}
		}
		if creates != 1 || refusedUnknown != 3 {
			t.Errorf("log lines: %d accepted creations by terraform (want 1), %d unknown management tokens (want 3):\n%s",
				creates, refusedUnknown, strings.Join(lines, "\n"))
		}
	})
}
