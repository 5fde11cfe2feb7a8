package integration

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// Ref rules against the real binary, at every level: the gateway's, the
// project's, and a trigger token's own (`caddy trigger add --ref`). A
// refused ref is 400 with a message naming it and forwards nothing.
func TestRefPolicy(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{Gateway: `
		refs main release/** v*
		project 9 {
			refs main release/*
		}`})
	alice := g.addTrigger(t, addOpts{Project: "9", Description: "project 9", Owner: "alice"})
	bob := g.addTrigger(t, addOpts{Project: "10", Description: "project 10", Owner: "bob"})
	carol := g.addTriggerWithRefs(t, "9", "carol", "release/*")
	dave := g.addTriggerWithRefs(t, "10", "dave", "v*", "main")

	t.Run("the CLI keeps a token's refs", func(t *testing.T) {
		if !reflect.DeepEqual(carol.Refs, []string{"release/*"}) || !reflect.DeepEqual(dave.Refs, []string{"v*", "main"}) {
			t.Errorf("add --json shows refs %q and %q, want [release/*] and [v* main]", carol.Refs, dave.Refs)
		}
		res := g.mustCLI(t, "trigger", "show", "--address", g.adminAddr(), "--json", strconv.FormatInt(dave.ID, 10))
		var shown policyTrigger
		if err := json.Unmarshal([]byte(res.Stdout), &shown); err != nil || !reflect.DeepEqual(shown.Refs, dave.Refs) {
			t.Errorf("show --json: refs %q (%v), want %q", shown.Refs, err, dave.Refs)
		}
		if res := g.cli(t, "trigger", "add", "--address", g.adminAddr(), "--project", "9", "--description", "bad",
			"--owner", "eve", "--ref", "main branch"); res.ExitCode == 0 {
			t.Errorf("add --ref 'main branch' succeeded: %s", res.Stdout)
		}
		resp := g.adminPostJSON(t, "/trigger_gateway/triggers",
			map[string]any{"project": "9", "description": "bad", "owner": "eve", "refs": []string{"a\tb"}})
		if resp.Status != 400 {
			t.Errorf("admin API with an invalid ref glob: %s, want 400", resp)
		}
		if got := len(g.listTriggers(t, "9")); got != 2 {
			t.Errorf("project 9 has %d triggers, want 2: an invalid --ref must create nothing", got)
		}
	})

	pipeline := func(tr triggerObj, ref string) (string, reqBody) {
		return "/api/v4/projects/" + tr.Project + "/trigger/pipeline", urlencoded("token", tr.Token, "ref", ref)
	}
	webhook := func(tr triggerObj, ref string) (string, reqBody) {
		return "/api/v4/projects/" + tr.Project + "/ref/" + strings.ReplaceAll(ref, "/", "%2F") + "/trigger/pipeline?token=" + tr.Token,
			rawJSON(`{"object_kind":"push","ref":"refs/heads/elsewhere"}`)
	}
	tests := []struct {
		name    string
		tr      triggerObj
		request func(triggerObj, string) (string, reqBody)
		ref     string
		wantRef string // "" when refused
		// mention must be in the refusal's message.
		mention []string
	}{
		{"gateway: main", bob, pipeline, "main", "main", nil},
		{"gateway: v*", bob, pipeline, "v2.1", "v2.1", nil},
		{"gateway: release/** at any depth", bob, pipeline, "release/2/rc", "release/2/rc", nil},
		{"gateway: refs/heads/ is normalized first", bob, pipeline, "refs/heads/main", "main", nil},
		{"gateway: other branch", bob, pipeline, "feature", "", []string{`"feature"`, `"main"`, `"release/**"`, `"v*"`}},
		{"gateway: v* stops at a slash", bob, pipeline, "v2/x", "", []string{`"v2/x"`}},
		{"gateway: webhook URL ref", bob, webhook, "feature/x", "", []string{`"feature/x"`}},
		{"gateway: webhook URL ref allowed", bob, webhook, "release/2", "release/2", nil},

		{"project: allowed at both levels", alice, pipeline, "release/1.x", "release/1.x", nil},
		{"project: allowed by the gateway only", alice, pipeline, "v2.1", "", []string{`"v2.1"`, `"release/*"`}},
		{"project: release/* stops at a slash", alice, webhook, "release/2/rc", "", []string{`"release/2/rc"`}},

		{"token: within its refs", carol.triggerObj, pipeline, "release/3.0", "release/3.0", nil},
		{"token: outside its refs, allowed by the project", carol.triggerObj, pipeline, "main", "", []string{`"main"`, `"release/*"`}},
		{"token: outside its refs, webhook", carol.triggerObj, webhook, "main", "", []string{`"main"`}},
		{"token: its own list, v*", dave.triggerObj, pipeline, "v3", "v3", nil},
		{"token: its own list, main", dave.triggerObj, pipeline, "main", "main", nil},
		{"token: allowed by the gateway, not by the token", dave.triggerObj, pipeline, "release/1", "", []string{`"release/1"`, `"v*"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, body := tt.request(tt.tr, tt.ref)
			resp := g.post(t, path, body)
			if tt.wantRef != "" {
				var payload map[string]any
				if body.ContentType == "application/json" {
					payload = payloadWithout(t, string(body.Data), "ref")
				}
				assertForwarded(t, resp, g.up.take(), forwarded{
					Project: tt.tr.Project, Token: tt.tr.Token, Ref: tt.wantRef, Variables: map[string]string{}, Payload: payload, Trigger: tt.tr,
				})
				return
			}
			assertNothingForwarded(t, g.up)
			var answer map[string]string
			if resp.Status != 400 || json.Unmarshal(resp.Body, &answer) != nil || answer["message"] == "" {
				t.Fatalf("got %s, want 400 with GitLab's {\"message\": ...}", resp)
			}
			for _, m := range tt.mention {
				if !strings.Contains(answer["message"], m) {
					t.Errorf("message %q does not say %s", answer["message"], m)
				}
			}
		})
	}

	t.Run("refusals are counted by outcome", func(t *testing.T) {
		if got := g.metricValue(t, "caddy_trigger_gateway_requests_total", "outcome", "ref_not_allowed"); got != 8 {
			t.Errorf("requests_total{outcome=ref_not_allowed} = %v, want 8", got)
		}
	})
}
