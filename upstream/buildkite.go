package upstream

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

func init() {
	caddy.RegisterModule(Buildkite{})
}

// Buildkite creates a build of a Buildkite pipeline through the REST API:
// POST /v2/organizations/{organization}/pipelines/{pipeline}/builds. The
// ref is the build's branch, variables, inputs and the facts its
// environment, a webhook's payload its meta-data.
//
//	upstream buildkite {
//		organization acme
//		pipeline deploy
//		token {env.BUILDKITE_TOKEN}
//	}
type Buildkite struct {
	// Organization is the organization's slug. Required.
	Organization string `json:"organization,omitempty"`

	// Pipeline is the pipeline's slug. Required.
	Pipeline string `json:"pipeline,omitempty"`

	// Token is an API access token with the write_builds scope
	// (Authorization: Bearer), from {env.X} or {file./path}; a placeholder
	// that resolves to nothing stops the config from loading. Required.
	Token string `json:"token,omitempty"`

	// Commit is the build's commit: HEAD builds the branch's latest.
	// Default: HEAD.
	Commit string `json:"commit,omitempty"`

	// Message is the build's message. Default: "triggered through the
	// GitLab trigger API".
	Message string `json:"message,omitempty"`

	// Facts names the environment variables that get the gateway's facts
	// about the trigger. Default: DefaultFacts.
	Facts *Facts `json:"facts,omitempty"`

	path, rawPath string
	authorization string
}

// DefaultBuildkiteMessage is a build's message by default.
const DefaultBuildkiteMessage = "triggered through the GitLab trigger API"

// CaddyModule returns the Caddy module information.
func (Buildkite) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  Namespace + ".buildkite",
		New: func() caddy.Module { return new(Buildkite) },
	}
}

// UnmarshalCaddyfile parses the block of `upstream buildkite`.
func (b *Buildkite) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "organization":
			b.Organization, err = oneArg(d)
		case "pipeline":
			b.Pipeline, err = oneArg(d)
		case "token":
			b.Token, err = oneArg(d)
		case "commit":
			b.Commit, err = oneArg(d)
		case "message":
			b.Message, err = oneArg(d)
		case "facts":
			err = unmarshalFacts(d, &b.Facts)
		default:
			return d.Errf("unrecognized upstream buildkite subdirective '%s'", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Provision resolves the token and works out the path.
func (b *Buildkite) Provision(caddy.Context) error {
	if b.Commit == "" {
		b.Commit = "HEAD"
	}
	if b.Message == "" {
		b.Message = DefaultBuildkiteMessage
	}
	var err error
	if b.authorization, err = bearerAuthorization("upstream buildkite: token", b.Token); err != nil {
		return err
	}
	var p pathBuilder
	p.fixed("/v2/organizations/")
	p.segment(b.Organization)
	p.fixed("/pipelines/")
	p.segment(b.Pipeline)
	p.fixed("/builds")
	b.path, b.rawPath = p.result()
	return nil
}

// Validate checks the settings.
func (b *Buildkite) Validate() error {
	if err := checkSegment("upstream buildkite: organization", b.Organization); err != nil {
		return err
	}
	if err := checkSegment("upstream buildkite: pipeline", b.Pipeline); err != nil {
		return err
	}
	if b.Token == "" {
		return errors.New("upstream buildkite: token is required")
	}
	return nil
}

// buildkiteBuild is the body of a build's creation.
type buildkiteBuild struct {
	Commit   string            `json:"commit"`
	Branch   string            `json:"branch"`
	Message  string            `json:"message"`
	Env      map[string]string `json:"env,omitempty"`
	MetaData map[string]string `json:"meta_data,omitempty"`
}

// Build returns the build's creation: {"commit":"HEAD","branch":ref,
// "message":...,"env":{variables, inputs, facts},"meta_data":{payload}}.
// Each top-level field of a webhook's payload is a meta-data key: a
// string as it is, anything else its JSON text.
//
// Source: buildkite.com/docs/apis/rest-api/builds#create-a-build
// (POST /v2/organizations/{org.slug}/pipelines/{pipeline.slug}/builds;
// commit and branch required, message, env, meta_data optional;
// "Required scope: write_builds"; 201 Created).
func (b *Buildkite) Build(t *Trigger) (*Request, *triggerapi.Error) {
	facts := factsOr(b.Facts, DefaultFacts)
	env, err := stringParameters(t, facts.count(t))
	if err != nil {
		return nil, err
	}
	facts.each(t, func(name, value string) { env[name] = value })
	var metaData map[string]string
	if len(t.Payload) > 0 {
		metaData = make(map[string]string, len(t.Payload))
		for name, value := range t.Payload {
			metaData[name] = inputText(value)
		}
	}
	body, _ := json.Marshal(buildkiteBuild{ // strings only: always encodes
		Commit:   b.Commit,
		Branch:   t.Ref,
		Message:  b.Message,
		Env:      env,
		MetaData: metaData,
	})
	return &Request{
		Method:  http.MethodPost,
		Path:    b.path,
		RawPath: b.rawPath,
		Header: http.Header{
			"Content-Type":  {"application/json"},
			"Accept":        {"application/json"},
			"Authorization": {b.authorization},
		},
		Secret: []string{"Authorization"},
		Body:   body,
	}, nil
}

// Read reads Buildkite's answer, 201 and the build: id its number (unique
// to the pipeline; the build's UUID is not a number), web_url its
// web_url.
//
// Source: buildkite.com/docs/apis/rest-api/builds#create-a-build (the
// build: "id" a UUID, "number", "url" the API's, "web_url" the page).
func (b *Buildkite) Read(a *Answer) (Started, error) {
	return readBuild(a, "number", "web_url")
}

// Interface guards
var (
	_ Module                = (*Buildkite)(nil)
	_ caddy.Provisioner     = (*Buildkite)(nil)
	_ caddy.Validator       = (*Buildkite)(nil)
	_ caddyfile.Unmarshaler = (*Buildkite)(nil)
)
