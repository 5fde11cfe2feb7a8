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
	caddy.RegisterModule(Buildbot{})
}

// Buildbot forces a build through a ForceScheduler, with the JSON-RPC
// `force` call of Buildbot's REST API:
// POST /api/v2/forceschedulers/{scheduler}. The ref is the build's branch,
// variables and inputs are properties. A ForceScheduler keeps only the
// properties it declares: a StringParameter(name=...) per variable (and
// per fact and the payload's property), or AnyPropertyParameter.
//
//	upstream buildbot {
//		scheduler force
//		builder runtests
//		web_url https://buildbot.example.com
//	}
type Buildbot struct {
	// Scheduler is the ForceScheduler's name. Required.
	Scheduler string `json:"scheduler,omitempty"`

	// Builders are the builders to build, among the scheduler's
	// builderNames. At least one is required.
	Builders []string `json:"builders,omitempty"`

	// Reason is the build's reason (the scheduler's reason field).
	// Default: "triggered through the GitLab trigger API".
	Reason string `json:"reason,omitempty"`

	// WebURL is where people open Buildbot's web UI: the base of the
	// answer's web_url, {web_url}/#/buildrequests/{id}. Default: none,
	// web_url is null.
	WebURL string `json:"web_url,omitempty"`

	// PayloadProperty is the property that gets a webhook's payload as
	// JSON text; "" sends none. Default: TRIGGER_PAYLOAD.
	PayloadProperty *string `json:"payload_property,omitempty"`

	// Facts names the properties that get the gateway's facts about the
	// trigger. Default: DefaultFacts.
	Facts *Facts `json:"facts,omitempty"`

	// User and Password go with the request as HTTP Basic, for a proxy in
	// front of the master that checks it (Caddy's basic_auth, nginx's
	// auth_basic). Buildbot's REST API itself ignores them: its www auth
	// (UserPasswordAuth, htpasswd) reads Basic only at /auth/login, for a
	// session cookie (www/service.py getUserInfos reads the session), so
	// a master whose authz limits the force control to a role answers the
	// gateway 403. Password is from {env.X} or {file./path}, and User may
	// be; a placeholder that resolves to nothing stops the config from
	// loading. Default: none.
	User     string `json:"user,omitempty"`
	Password string `json:"password,omitempty"`

	path, rawPath string
	webURL        string
	authorization string
}

// DefaultBuildbotReason is the reason of a forced build by default.
const DefaultBuildbotReason = "triggered through the GitLab trigger API"

// CaddyModule returns the Caddy module information.
func (Buildbot) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  Namespace + ".buildbot",
		New: func() caddy.Module { return new(Buildbot) },
	}
}

// UnmarshalCaddyfile parses the block of `upstream buildbot`; builder
// takes one or more names and may be repeated.
func (b *Buildbot) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "scheduler":
			b.Scheduler, err = oneArg(d)
		case "builder", "builders":
			names := d.RemainingArgs()
			if len(names) == 0 {
				return d.ArgErr()
			}
			b.Builders = append(b.Builders, names...)
		case "reason":
			b.Reason, err = oneArg(d)
		case "web_url":
			b.WebURL, err = oneArg(d)
		case "payload_property":
			var name string
			name, err = nameOrOff(d)
			b.PayloadProperty = &name
		case "facts":
			err = unmarshalFacts(d, &b.Facts)
		case "user":
			b.User, err = oneArg(d)
		case "password":
			b.Password, err = oneArg(d)
		default:
			return d.Errf("unrecognized upstream buildbot subdirective '%s'", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Provision resolves the password and works out the path.
func (b *Buildbot) Provision(caddy.Context) error {
	if b.Reason == "" {
		b.Reason = DefaultBuildbotReason
	}
	var err error
	if b.authorization, err = basicAuthorization("upstream buildbot", "password", b.User, b.Password); err != nil {
		return err
	}
	b.webURL, _ = checkWebURLBase("web_url", b.WebURL) // Validate says why not
	var p pathBuilder
	p.fixed("/api/v2/forceschedulers/")
	p.segment(b.Scheduler)
	b.path, b.rawPath = p.result()
	return nil
}

// Validate checks the settings.
func (b *Buildbot) Validate() error {
	if err := checkSegment("upstream buildbot: scheduler", b.Scheduler); err != nil {
		return err
	}
	if len(b.Builders) == 0 {
		return errors.New("upstream buildbot: builder is required")
	}
	for _, name := range b.Builders {
		if name == "" || hasControl(name) {
			return errors.New("upstream buildbot: a builder's name must not be empty or hold a control character")
		}
	}
	if err := checkBasic("upstream buildbot", "password", b.User, b.Password); err != nil {
		return err
	}
	_, err := checkWebURLBase("upstream buildbot: web_url", b.WebURL)
	return err
}

// Build returns the JSON-RPC force call: {"jsonrpc":"2.0","method":"force",
// "id":1,"params":{"builderNames":[...],"branch":ref,"reason":...,
// <variables, inputs, facts and payload as properties>}}. builderNames,
// branch and reason are the gateway's, whatever a variable of that name
// says.
//
// Source: buildbot master/buildbot/data/forceschedulers.py
// (ForceSchedulerEndpoint.control: action "force" calls
// ForceScheduler.force(**params)), master/buildbot/www/rest.py
// (V2RootResource.decodeJsonRPC2: Content-Type application/json,
// jsonrpc "2.0", method, id, params an object), master/buildbot/
// schedulers/forcesched.py (force(owner, builderNames, **kwargs): a
// property's value under its parameter's name, the codebase's branch
// under "branch").
func (b *Buildbot) Build(t *Trigger) (*Request, *triggerapi.Error) {
	facts := factsOr(b.Facts, DefaultFacts)
	params, err := stringParameters(t, 1+facts.count(t))
	if err != nil {
		return nil, err
	}
	rpcParams := make(map[string]any, len(params)+4+facts.count(t))
	for name, value := range params {
		rpcParams[name] = value
	}
	if name := optionalName(b.PayloadProperty, "TRIGGER_PAYLOAD"); name != "" && len(t.Payload) > 0 {
		rpcParams[name] = payloadJSON(t.Payload)
	}
	facts.each(t, func(name, value string) { rpcParams[name] = value })
	rpcParams["builderNames"] = b.Builders
	rpcParams["branch"] = t.Ref
	rpcParams["reason"] = b.Reason
	body, _ := json.Marshal(map[string]any{ // strings only: always encodes
		"jsonrpc": "2.0",
		"method":  "force",
		"id":      1,
		"params":  rpcParams,
	})
	header := http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}}
	var secrets []string
	if b.authorization != "" {
		header["Authorization"] = []string{b.authorization}
		secrets = []string{"Authorization"}
	}
	return &Request{
		Method:  http.MethodPost,
		Path:    b.path,
		RawPath: b.rawPath,
		Header:  header,
		Secret:  secrets,
		Body:    body,
	}, nil
}

// Read reads the JSON-RPC answer: {"jsonrpc":"2.0","id":1,"result":
// [<buildset id>, {"<builder id>": <build request id>}]}. id is the
// buildset's, web_url the page of the build request of the lowest builder
// id, {web_url}/#/buildrequests/{id}. A JSON-RPC error (Buildbot answers
// it with 400, 403, 404, 500 or 501) is a refusal, even in a 2xx.
//
// Source: buildbot master/buildbot/www/rest.py (renderJsonRpc: the reply
// {"jsonrpc","id","result"}; handleErrors: BadJsonRpc2 400, Forbidden
// 403, InvalidPathError 404, InvalidControlException 501, anything else
// 500, each with {"error":{"code","message"}}), master/buildbot/
// schedulers/base.py (addBuildsetForSourceStamps returns (bsid, brids),
// brids a dict builderid -> brid).
func (b *Buildbot) Read(a *Answer) (Started, error) {
	if !success(a.Status) {
		return refused(a)
	}
	reply, ok := answerObject(a.Body)
	if !ok {
		return Started{}, nil
	}
	if rpcError, ok := reply["error"]; ok && string(rpcError) != "null" {
		return refused(a)
	}
	var result []json.RawMessage
	if json.Unmarshal(reply["result"], &result) != nil || len(result) == 0 {
		return Started{}, nil
	}
	started := Started{ID: positiveID(result[0])}
	if started.ID == nil || len(result) < 2 {
		return started, nil
	}
	var requests map[string]json.RawMessage
	if json.Unmarshal(result[1], &requests) != nil {
		return started, nil
	}
	var lowest *int64
	var request *int64
	for builder, brid := range requests {
		builderID, requestID := positiveIDText(builder), positiveID(brid)
		if builderID != nil && requestID != nil && (lowest == nil || *builderID < *lowest) {
			lowest, request = builderID, requestID
		}
	}
	if request != nil {
		started.WebURL = pageURL(b.webURL, "/#/buildrequests/"+strconv.FormatInt(*request, 10))
	}
	return started, nil
}

// Interface guards
var (
	_ Module                = (*Buildbot)(nil)
	_ caddy.Provisioner     = (*Buildbot)(nil)
	_ caddy.Validator       = (*Buildbot)(nil)
	_ caddyfile.Unmarshaler = (*Buildbot)(nil)
)
