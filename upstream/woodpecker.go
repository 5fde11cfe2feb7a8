package upstream

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

func init() {
	caddy.RegisterModule(Woodpecker{})
}

// Woodpecker starts a manual pipeline of a Woodpecker repository:
// POST /api/repos/{repository_id}/pipelines. The ref is the pipeline's
// branch; variables, inputs, the facts and a webhook's payload are its
// variables.
//
//	upstream woodpecker {
//		repository_id 7
//		token {env.WOODPECKER_TOKEN}
//		web_url https://ci.example.com
//	}
type Woodpecker struct {
	// RepositoryID is the repository's numeric ID in Woodpecker (its
	// settings page, or GET /api/repos/lookup/{owner}/{name}). Required.
	RepositoryID int64 `json:"repository_id,omitempty"`

	// Token is a personal access token of a user allowed to run the
	// repository's pipelines (Authorization: Bearer), from {env.X} or
	// {file./path}; a placeholder that resolves to nothing stops the
	// config from loading. Required.
	Token string `json:"token,omitempty"`

	// WebURL is where people open Woodpecker: the base of the answer's
	// web_url, {web_url}/repos/{repository_id}/pipeline/{number}.
	// Default: none, web_url is null.
	WebURL string `json:"web_url,omitempty"`

	// PayloadVariable is the variable that gets a webhook's payload as
	// JSON text; "" sends none. Default: TRIGGER_PAYLOAD.
	PayloadVariable *string `json:"payload_variable,omitempty"`

	// Facts names the variables that get the gateway's facts about the
	// trigger. Default: DefaultFacts.
	Facts *Facts `json:"facts,omitempty"`

	path          string
	webURL        string
	authorization string
}

// CaddyModule returns the Caddy module information.
func (Woodpecker) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  Namespace + ".woodpecker",
		New: func() caddy.Module { return new(Woodpecker) },
	}
}

// UnmarshalCaddyfile parses the block of `upstream woodpecker`.
func (w *Woodpecker) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "repository_id":
			var id string
			if id, err = oneArg(d); err == nil {
				n := positiveIDText(id)
				if n == nil {
					return d.Errf("repository_id must be a positive integer, not %q", id)
				}
				w.RepositoryID = *n
			}
		case "token":
			w.Token, err = oneArg(d)
		case "web_url":
			w.WebURL, err = oneArg(d)
		case "payload_variable":
			var name string
			name, err = nameOrOff(d)
			w.PayloadVariable = &name
		case "facts":
			err = unmarshalFacts(d, &w.Facts)
		default:
			return d.Errf("unrecognized upstream woodpecker subdirective '%s'", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Provision resolves the token and works out the path.
func (w *Woodpecker) Provision(caddy.Context) error {
	var err error
	if w.authorization, err = bearerAuthorization("upstream woodpecker: token", w.Token); err != nil {
		return err
	}
	w.webURL, _ = checkWebURLBase("web_url", w.WebURL) // Validate says why not
	w.path = "/api/repos/" + strconv.FormatInt(w.RepositoryID, 10) + "/pipelines"
	return nil
}

// Validate checks the settings.
func (w *Woodpecker) Validate() error {
	if w.RepositoryID <= 0 {
		return errors.New("upstream woodpecker: repository_id is required (a positive integer)")
	}
	if w.Token == "" {
		return errors.New("upstream woodpecker: token is required")
	}
	_, err := checkWebURLBase("upstream woodpecker: web_url", w.WebURL)
	return err
}

// woodpeckerOptions is the body of a manual pipeline (model.PipelineOptions).
type woodpeckerOptions struct {
	Branch    string            `json:"branch"`
	Variables map[string]string `json:"variables"`
}

// Build returns the manual pipeline: {"branch":ref,"variables":{...}}.
//
// Source: woodpecker server/api/pipeline.go (CreatePipeline, POST
// /repos/{repo_id}/pipelines under /api, "Authorization: Bearer
// <personal access token>", body model.PipelineOptions {message, branch,
// variables}), server/model/pipeline.go (PipelineOptions).
func (w *Woodpecker) Build(t *Trigger) (*Request, *triggerapi.Error) {
	facts := factsOr(w.Facts, DefaultFacts)
	variables, err := stringParameters(t, 1+facts.count(t))
	if err != nil {
		return nil, err
	}
	if name := optionalName(w.PayloadVariable, "TRIGGER_PAYLOAD"); name != "" && len(t.Payload) > 0 {
		variables[name] = payloadJSON(t.Payload)
	}
	facts.each(t, func(name, value string) { variables[name] = value })
	body, _ := json.Marshal(woodpeckerOptions{Branch: t.Ref, Variables: variables}) // strings only
	return &Request{
		Method: http.MethodPost,
		Path:   w.path,
		Header: http.Header{
			"Content-Type":  {"application/json"},
			"Accept":        {"application/json"},
			"Authorization": {w.authorization},
		},
		Secret: []string{"Authorization"},
		Body:   body,
	}, nil
}

// Read reads Woodpecker's answer, 200 and the pipeline: id its number
// (the repository's pipeline number, the one its pages show), web_url
// {web_url}/repos/{repository_id}/pipeline/{number}. 204 (no pipeline
// created: its config filtered every workflow out) gives nulls.
//
// Source: woodpecker server/api/pipeline.go (CreatePipeline: 200
// pl.ToAPIModel(), or 204 when pipeline.Create created none),
// server/model/pipeline.go (Pipeline: "id", "number"), web/src/router.ts
// (the page /repos/:repoId/pipeline/:pipelineId).
func (w *Woodpecker) Read(a *Answer) (Started, error) {
	started, err := readBuild(a, "number", "")
	if err == nil && started.ID != nil {
		started.WebURL = pageURL(w.webURL, "/repos/"+strconv.FormatInt(w.RepositoryID, 10)+
			"/pipeline/"+strconv.FormatInt(*started.ID, 10))
	}
	return started, err
}

// Interface guards
var (
	_ Module                = (*Woodpecker)(nil)
	_ caddy.Provisioner     = (*Woodpecker)(nil)
	_ caddy.Validator       = (*Woodpecker)(nil)
	_ caddyfile.Unmarshaler = (*Woodpecker)(nil)
)
