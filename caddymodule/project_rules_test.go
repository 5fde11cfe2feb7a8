package caddymodule

import (
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/triggergate/caddy-trigger-gateway/internal/allocstest"
	"github.com/triggergate/caddy-trigger-gateway/policy"
)

// Every name of a configured project finds the one value its block compiled
// to, with the gateway's settings where the block sets none; any other
// project finds the gateway-wide rules under its folded path.
func TestRulesFor(t *testing.T) {
	upstream, projectToken := "gateway-upstream", "project-upstream"
	h := provisionHandler(t, &Handler{
		UpstreamToken: &upstream,
		Refs:          []string{"main", "release/*"},
		Projects: map[string]*Project{
			"9": {
				Aliases:            []string{"Group/Project"},
				UpstreamToken:      &projectToken,
				Refs:               []string{"release/*"},
				Variables:          &policy.VariableRules{Deny: []string{"SECRET_*"}},
				WebhookGitLabToken: new("hook-secret"),
			},
			"Team/Tool": {Aliases: []string{"team/old-name"}},
			"12":        nil,
		},
	}, "")

	tests := []struct {
		name, canonical string
		configured      bool // a project block's value, not the gateway's
		upstreamToken   string
		projectRefs     bool
		ownVariables    bool
		webhook         bool
	}{
		{"9", "9", true, projectToken, true, true, true},
		{"group/project", "9", true, projectToken, true, true, true},
		{"GROUP/PROJECT", "9", true, projectToken, true, true, true},
		{"team/tool", "Team/Tool", true, upstream, false, false, false},
		{"Team/Old-Name", "Team/Tool", true, upstream, false, false, false},
		{"12", "12", true, upstream, false, false, false},
		{"Other/Path", "other/path", false, upstream, false, false, false},
		{"13", "13", false, upstream, false, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			canonical, rules := h.rulesFor(tc.name)
			if canonical != tc.canonical {
				t.Errorf("canonical %q, want %q", canonical, tc.canonical)
			}
			if got := rules != h.gatewayRules; got != tc.configured {
				t.Errorf("a project block's rules: %v, want %v", got, tc.configured)
			}
			if tc.configured && rules.id != tc.canonical {
				t.Errorf("rules of project %q, want %q", rules.id, tc.canonical)
			}
			if rules.upstreamToken != tc.upstreamToken {
				t.Errorf("upstream token %q, want %q", rules.upstreamToken, tc.upstreamToken)
			}
			if got := rules.refs != nil; got != tc.projectRefs {
				t.Errorf("project ref rules: %v, want %v", got, tc.projectRefs)
			}
			if got := rules.variables != h.globalVariables; got != tc.ownVariables {
				t.Errorf("own variable rules: %v, want %v", got, tc.ownVariables)
			}
			if got := rules.webhook != nil; got != tc.webhook {
				t.Errorf("webhook verifier: %v, want %v", got, tc.webhook)
			}
		})
	}
	if _, a := h.rulesFor("9"); a != h.projects["group/project"] {
		t.Error("an alias finds another value than the project's ID")
	}
	if n := allocstest.Fewest(3, 100, func() { _, _ = h.rulesFor("group/project") }); n != 0 {
		t.Errorf("rulesFor of a lower-case name allocates %.0f times", n)
	}
}

// The artifacts credential and job-token allowlist of a project override
// the job_token block's; a project without them has the block's.
func TestCompileProjectsJobTokenSettings(t *testing.T) {
	h := &Handler{
		JobTokens: &JobTokens{ArtifactsHeader: "PRIVATE-TOKEN"},
		Projects: map[string]*Project{
			"9":  {ArtifactsHeader: "Deploy-Token", ArtifactsCredential: "deploy-secret", JobTokenAllow: []string{"group/*"}},
			"10": {},
		},
	}
	h.artifactsSecret = "gateway-secret"
	if err := h.compileProjects(caddy.NewReplacer(), policy.VariableRules{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		project, header, credential string
		allowlist                   bool
	}{
		{"9", "Deploy-Token", "deploy-secret", true},
		{"10", "PRIVATE-TOKEN", "gateway-secret", false},
		{"11", "PRIVATE-TOKEN", "gateway-secret", false},
	}
	for _, tc := range tests {
		_, rules := h.rulesFor(tc.project)
		if rules.artifactsHeader != tc.header || rules.artifactsCredential != tc.credential {
			t.Errorf("project %s: artifacts credential in %q, want %q", tc.project, rules.artifactsHeader, tc.header)
		}
		if got := rules.jobTokenAllow != nil; got != tc.allowlist {
			t.Errorf("project %s: allowlist %v, want %v", tc.project, got, tc.allowlist)
		}
	}

	h.JobTokens = nil
	if err := h.compileProjects(caddy.NewReplacer(), policy.VariableRules{}); err == nil {
		t.Error("job_token_allow without a job_token block was accepted")
	}
}
