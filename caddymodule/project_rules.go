package caddymodule

import (
	"fmt"
	"maps"
	"slices"

	"github.com/caddyserver/caddy/v2"

	"github.com/triggergate/caddy-trigger-gateway/jobtoken"
	"github.com/triggergate/caddy-trigger-gateway/policy"
	"github.com/triggergate/caddy-trigger-gateway/secret"
	"github.com/triggergate/caddy-trigger-gateway/tokenstore"
	"github.com/triggergate/caddy-trigger-gateway/webhook"
)

// projectRules is everything configured for one project, compiled when the
// config loads, with the gateway-wide settings filled in where the project
// block sets nothing: a request finds it once (rulesFor) and reads it from
// its decision. A new per-project setting is a field here.
type projectRules struct {
	// id is the project's canonical name: its configured ID. Empty on the
	// gateway-wide rules of projects without a block, whose canonical
	// name is their folded path.
	id string
	// upstreamToken is the token the upstream receives in place of the
	// caller's; "" forwards the caller's own.
	upstreamToken string
	// variables are the project's variable rules merged over the
	// gateway's, or the gateway's.
	variables *policy.VariablePolicy
	// refs are the project's own ref rules, checked on top of the
	// gateway's; nil when it has none.
	refs *policy.RefPolicy
	// jobTokenAllow lists the other projects whose job tokens may act on
	// this one; nil: only its own.
	jobTokenAllow *jobtoken.Allowlist
	// artifactsHeader is the header the upstream receives on artifact
	// downloads in place of the job token, with artifactsCredential as its
	// value; "" sends none.
	artifactsHeader     string
	artifactsCredential string
	// upstream is the project's upstream module: the CI its triggers go
	// to, in that CI's API.
	upstream upstreamRules
	// webhook checks the project's webhook deliveries; nil: none checked.
	webhook *webhook.Verifier
}

// rulesFor finds the project a name names, once per request: an alias, or
// a configured project's ID in any case, finds that project's rules and ID;
// any other path finds the gateway-wide rules, under its folded form
// (project paths are case-insensitive, as GitLab's are). Numeric IDs are
// unchanged; no allocation unless the name has upper-case letters.
func (h *Handler) rulesFor(name string) (canonical string, rules *projectRules) {
	return lookupProject(h.projects, h.gatewayRules, name)
}

// canonicalProject is the canonical name of the project a name names (see
// rulesFor).
func (h *Handler) canonicalProject(name string) string {
	canonical, _ := h.rulesFor(name)
	return canonical
}

// lookupProject is rulesFor over a table whose keys are folded names.
func lookupProject(projects map[string]*projectRules, gatewayRules *projectRules, name string) (string, *projectRules) {
	folded := tokenstore.FoldProject(name)
	if rules, ok := projects[folded]; ok {
		return rules.id, rules
	}
	return folded, gatewayRules
}

// compileProjects compiles the gateway-wide rules and each project block
// into its projectRules, and the table of the names that find them: the
// folded ID and aliases of every configured project. It runs after the
// gateway-wide secrets and policies are resolved, which a project's rules
// start from. Projects are visited in order, so the error is the same on
// every try. globalVariables are the gateway's variable rules, resolved,
// which a project's merge over.
func (h *Handler) compileProjects(repl *caddy.Replacer, globalVariables policy.VariableRules) error {
	h.gatewayRules = &projectRules{upstreamToken: h.upstreamToken, variables: h.globalVariables}
	if h.JobTokens != nil && h.JobTokens.ArtifactsHeader != "" {
		h.gatewayRules.artifactsHeader, h.gatewayRules.artifactsCredential = h.JobTokens.ArtifactsHeader, h.artifactsSecret
	}
	h.projects = make(map[string]*projectRules, len(h.Projects))
	for _, id := range slices.Sorted(maps.Keys(h.Projects)) {
		rules := *h.gatewayRules
		rules.id = id // the configured spelling stays canonical
		h.projects[tokenstore.FoldProject(id)] = &rules
		project := h.Projects[id]
		if project == nil {
			continue
		}
		for _, alias := range project.Aliases {
			h.projects[tokenstore.FoldProject(alias)] = &rules
		}
		if err := h.compileProject(repl, &rules, project, globalVariables); err != nil {
			return err
		}
	}
	return nil
}

// compileProject sets what one project block configures over the
// gateway-wide rules: its secrets first, then its rules.
func (h *Handler) compileProject(repl *caddy.Replacer, rules *projectRules, project *Project, globalVariables policy.VariableRules) error {
	id := rules.id
	setting := func(name string) string { return "project " + id + ": " + name }
	if project.UpstreamToken != nil {
		token, err := secret.Resolve(repl, setting("upstream_token"), *project.UpstreamToken)
		if err != nil {
			return err
		}
		rules.upstreamToken = token
	}
	gitlab, err := secret.ResolveOptional(repl, setting("webhook_gitlab_token"), project.WebhookGitLabToken)
	if err != nil {
		return err
	}
	github, err := secret.ResolveOptional(repl, setting("webhook_github_secret"), project.WebhookGitHubSecret)
	if err != nil {
		return err
	}
	if gitlab != "" || github != "" {
		rules.webhook = &webhook.Verifier{GitLabToken: gitlab, GitHubSecret: github}
	}
	value, err := resolveArtifactsCredential(repl, "project "+id, project.ArtifactsHeader, project.ArtifactsCredential)
	if err != nil {
		return err
	}
	if project.ArtifactsHeader != "" {
		rules.artifactsHeader, rules.artifactsCredential = project.ArtifactsHeader, value
	}

	if len(project.JobTokenAllow) > 0 {
		if h.JobTokens == nil {
			return fmt.Errorf("project %s: job_token_allow needs a job_token block", id)
		}
		if rules.jobTokenAllow, err = jobtoken.NewAllowlist(project.JobTokenAllow); err != nil {
			return fmt.Errorf("project %s: job_token_allow: %v", id, err)
		}
	}
	if project.Variables != nil {
		if rules.variables, err = policy.CompileVariables(globalVariables, h.resolveProvided(repl, *project.Variables)); err != nil {
			return fmt.Errorf("project %s: variables: %v", id, err)
		}
	}
	if len(project.Refs) > 0 {
		if rules.refs, err = policy.CompileRefs(project.Refs); err != nil {
			return fmt.Errorf("project %s: refs: %v", id, err)
		}
	}
	return nil
}
