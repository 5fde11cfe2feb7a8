package upstream

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

func init() {
	caddy.RegisterModule(GitHubActions{})
}

// MaxGitHubInputs is the most inputs a workflow_dispatch event takes
// (GitHub answers 422 beyond; older documentation said 10).
const MaxGitHubInputs = 25

// GitHubActions runs a GitHub Actions workflow (also Gitea's and
// Forgejo's, with api_prefix) through a workflow_dispatch event:
// POST {api_prefix}/repos/{owner}/{repo}/actions/workflows/{workflow}/dispatches.
// The workflow must declare `on: workflow_dispatch` and an input for each
// variable and input it is sent: GitHub refuses (422) an input the
// workflow does not declare.
//
// Variables and GitLab inputs become inputs by name, every value a string
// (an input's string as it is, a number, boolean or array its JSON text):
// GitHub refuses any other JSON type (422 "For 'additionalProperties',
// true is not a string"), and Gitea and Forgejo decode inputs as strings.
// A name that is both is refused with 400, and so are more than 25 inputs
// in all (facts and the payload included), before anything is sent.
//
//	upstream github_actions {
//		repository acme/app
//		workflow deploy.yml
//		token {env.GITHUB_TOKEN}
//	}
type GitHubActions struct {
	// Repository is owner/name. Required.
	Repository string `json:"repository,omitempty"`

	// Workflow is the workflow's file name (deploy.yml) or numeric ID.
	// Required.
	Workflow string `json:"workflow,omitempty"`

	// Token authenticates the request (Authorization: Bearer): a
	// fine-grained token or GitHub App with "Actions: write" on the
	// repository, or a classic token with the repo scope. From {env.X} or
	// {file./path}; a placeholder that resolves to nothing stops the
	// config from loading. Required.
	Token string `json:"token,omitempty"`

	// APIPrefix is the path of the REST API on the server the proxy sends
	// to: none for api.github.com, /api/v3 for GitHub Enterprise Server,
	// /api/v1 for Gitea and Forgejo. Default: none.
	APIPrefix string `json:"api_prefix,omitempty"`

	// ReturnRunDetails asks GitHub for the run it started
	// (return_run_details, since 2026-02-19), which gives the answer's
	// id and web_url. Turn it off for a server that refuses the member.
	// Default: true.
	ReturnRunDetails *bool `json:"return_run_details,omitempty"`

	// PayloadInput is the input that gets a webhook's payload as JSON
	// text. Default: none (the workflow would have to declare it).
	PayloadInput string `json:"payload_input,omitempty"`

	// Facts names the inputs that get the gateway's facts about the
	// trigger. Default: none (the workflow would have to declare them);
	// `facts` alone in the Caddyfile turns on DefaultFacts.
	Facts *Facts `json:"facts,omitempty"`

	path, rawPath string
	authorization string
}

// CaddyModule returns the Caddy module information.
func (GitHubActions) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  Namespace + ".github_actions",
		New: func() caddy.Module { return new(GitHubActions) },
	}
}

// UnmarshalCaddyfile parses the block of `upstream github_actions`.
func (g *GitHubActions) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "repository":
			g.Repository, err = oneArg(d)
		case "workflow":
			g.Workflow, err = oneArg(d)
		case "token":
			g.Token, err = oneArg(d)
		case "api_prefix":
			g.APIPrefix, err = oneArg(d)
		case "return_run_details":
			var value string
			if value, err = oneArg(d); err == nil {
				on := value == "on"
				if !on && value != "off" {
					return d.Errf("return_run_details must be on or off, not %q", value)
				}
				g.ReturnRunDetails = &on
			}
		case "payload_input":
			g.PayloadInput, err = nameOrOff(d)
		case "facts":
			err = unmarshalFacts(d, &g.Facts)
		default:
			return d.Errf("unrecognized upstream github_actions subdirective '%s'", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Provision resolves the token and works out the path.
func (g *GitHubActions) Provision(caddy.Context) error {
	var err error
	if g.authorization, err = bearerAuthorization("upstream github_actions: token", g.Token); err != nil {
		return err
	}
	repo, err := g.repository()
	if err != nil || checkSegment("workflow", g.Workflow) != nil || checkPathPrefix("api_prefix", g.APIPrefix) != nil {
		return nil // Validate says why
	}
	var b pathBuilder
	b.fixed(g.APIPrefix + "/repos/")
	b.segment(repo[0])
	b.fixed("/")
	b.segment(repo[1])
	b.fixed("/actions/workflows/")
	b.segment(g.Workflow)
	b.fixed("/dispatches")
	g.path, g.rawPath = b.result()
	return nil
}

// Validate checks the settings.
func (g *GitHubActions) Validate() error {
	if _, err := g.repository(); err != nil {
		return err
	}
	if err := checkSegment("upstream github_actions: workflow", g.Workflow); err != nil {
		return err
	}
	if g.Token == "" {
		return errors.New("upstream github_actions: token is required")
	}
	return checkPathPrefix("upstream github_actions: api_prefix", g.APIPrefix)
}

// repository is Repository's owner and name.
func (g *GitHubActions) repository() ([]string, error) {
	parts, err := checkSegments("upstream github_actions: repository", g.Repository)
	if err == nil && len(parts) != 2 {
		err = fmt.Errorf("upstream github_actions: repository %q must be owner/name", g.Repository)
	}
	return parts, err
}

// githubDispatch is the body of a workflow dispatch.
type githubDispatch struct {
	Ref              string            `json:"ref"`
	Inputs           map[string]string `json:"inputs"`
	ReturnRunDetails bool              `json:"return_run_details,omitempty"`
}

// Build returns the workflow dispatch: {"ref","inputs","return_run_details":true},
// each input a string.
//
// Source: docs.github.com/en/rest/actions/workflows#create-a-workflow-dispatch-event
// (POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches;
// ref, inputs "The maximum number of properties is 25", return_run_details;
// inputs' values are strings: GitHub answers 422 "For 'additionalProperties',
// false is not a string" to a boolean; Gitea's CreateActionWorkflowDispatch
// and Forgejo's DispatchWorkflowOption have Inputs map[string]string;
// Accept: application/vnd.github+json, X-GitHub-Api-Version: 2022-11-28),
// github.blog/changelog/2026-02-19-workflow-dispatch-api-now-returns-run-ids.
func (g *GitHubActions) Build(t *Trigger) (*Request, *triggerapi.Error) {
	facts := factsOr(g.Facts, Facts{})
	inputs, refusal := stringParameters(t, facts.count(t)+1)
	if refusal != nil {
		return nil, refusal
	}
	if g.PayloadInput != "" && len(t.Payload) > 0 {
		inputs[g.PayloadInput] = payloadJSON(t.Payload)
	}
	facts.each(t, func(name, value string) { inputs[name] = value })
	if len(inputs) > MaxGitHubInputs {
		return nil, triggerapi.MessageError(http.StatusBadRequest, "too_many_inputs", fmt.Sprintf(
			"%d variables and inputs given: a GitHub Actions workflow takes at most %d inputs", len(inputs), MaxGitHubInputs))
	}
	body, _ := json.Marshal(githubDispatch{ // strings only: always encodes
		Ref:              t.Ref,
		Inputs:           inputs,
		ReturnRunDetails: g.ReturnRunDetails == nil || *g.ReturnRunDetails,
	})
	return &Request{
		Method:  http.MethodPost,
		Path:    g.path,
		RawPath: g.rawPath,
		Header: http.Header{
			"Content-Type":         {"application/json"},
			"Accept":               {"application/vnd.github+json"},
			"X-Github-Api-Version": {"2022-11-28"},
			"Authorization":        {g.authorization},
		},
		Secret: []string{"Authorization"},
		Body:   body,
	}, nil
}

// Read reads GitHub's answer: 200 {"workflow_run_id","run_url","html_url"}
// with return_run_details (id the run's, web_url its html_url), 204
// without (nulls).
//
// Source: docs.github.com/en/rest/actions/workflows#create-a-workflow-dispatch-event
// ("Response if return_run_details is true": 200; "Response if
// return_run_details is false or not provided": 204).
func (g *GitHubActions) Read(a *Answer) (Started, error) {
	return readBuild(a, "workflow_run_id", "html_url")
}

// Interface guards
var (
	_ Module                = (*GitHubActions)(nil)
	_ caddy.Provisioner     = (*GitHubActions)(nil)
	_ caddy.Validator       = (*GitHubActions)(nil)
	_ caddyfile.Unmarshaler = (*GitHubActions)(nil)
)
