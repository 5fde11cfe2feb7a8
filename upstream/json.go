package upstream

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

func init() {
	caddy.RegisterModule(JSON{})
}

// JSON posts the accepted trigger as one JSON document, for anything that
// takes JSON over HTTP: a Tekton EventListener, an Argo Events webhook, a
// service of one's own.
//
//	upstream json {
//		path /hooks/deploy
//	}
//
// Neither Tekton nor Argo Events names the run an event starts, so the
// caller's answer has id and web_url null.
type JSON struct {
	// Path is the path the document is posted to. Default: /.
	Path string `json:"path,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (JSON) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  Namespace + ".json",
		New: func() caddy.Module { return new(JSON) },
	}
}

// UnmarshalCaddyfile parses the block of `upstream json`.
func (j *JSON) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "path":
			j.Path, err = oneArg(d)
		default:
			return d.Errf("unrecognized upstream json subdirective '%s'", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Provision sets the default path.
func (j *JSON) Provision(caddy.Context) error {
	if j.Path == "" {
		j.Path = "/"
	}
	return nil
}

// Validate checks the path.
func (j *JSON) Validate() error {
	if j.Path == "/" {
		return nil
	}
	// a trailing slash is the endpoint's own business
	return checkPathPrefix("upstream json: path", strings.TrimSuffix(j.Path, "/"))
}

// jsonTrigger is the document the json module posts.
type jsonTrigger struct {
	Project     string                     `json:"project"`
	Ref         string                     `json:"ref"`
	Variables   triggerapi.Variables       `json:"variables"` // always an object
	Inputs      map[string]json.RawMessage `json:"inputs,omitempty"`
	Source      string                     `json:"source"`
	TriggerID   *int64                     `json:"trigger_id"`
	TokenPrefix *string                    `json:"token_prefix"`
	Job         *jsonJob                   `json:"job,omitempty"`
	Payload     json.RawMessage            `json:"payload"`
}

// jsonJob is the CI job behind a job token.
type jsonJob struct {
	ProjectID   string `json:"project_id"`
	ProjectPath string `json:"project_path"`
	PipelineID  string `json:"pipeline_id"`
	JobID       string `json:"job_id"`
}

// Build returns POST {path} with contract §8's {"project","ref",
// "variables","source","trigger_id","token_prefix","payload"}: variables
// always an object; trigger_id and token_prefix (trigger tokens) and
// payload (a webhook's event, its top-level fields other than token, ref,
// variables and inputs) null when there is none. Two members are added
// only when there is something to carry: "inputs" (GitLab inputs sent by
// the caller) and "job" (a job token's project_id, project_path,
// pipeline_id, job_id).
//
// Source: contract §8 (the json module's body); Tekton Triggers
// EventListener and Argo Events webhook EventSource take any JSON body.
func (j *JSON) Build(t *Trigger) (*Request, *triggerapi.Error) {
	doc := jsonTrigger{
		Project:   t.Project,
		Ref:       t.Ref,
		Variables: t.Variables,
		Inputs:    t.Inputs,
		Source:    t.Source,
	}
	if t.TriggerID != 0 {
		id, prefix := t.TriggerID, t.TokenPrefix
		doc.TriggerID, doc.TokenPrefix = &id, &prefix
	}
	if job := t.Job; job != nil {
		doc.Job = &jsonJob{ProjectID: job.ProjectID, ProjectPath: job.ProjectPath, PipelineID: job.PipelineID, JobID: job.JobID}
	}
	if payload := payloadJSON(t.Payload); payload != "" {
		doc.Payload = json.RawMessage(payload)
	} else {
		doc.Payload = json.RawMessage("null")
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return nil, triggerapi.ErrInputsShape // an input or payload that is not JSON: never sent
	}
	return &Request{
		Method: http.MethodPost,
		Path:   j.Path,
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   body,
	}, nil
}

// Read reads the answer: any 2xx is a build started, with id and web_url
// null (Tekton answers 202 with the event's ID, Argo Events 200, neither
// with a run); anything else is a refusal.
//
// Source: tektoncd/triggers docs/eventlisteners.md (202 Accepted,
// {"eventListener","namespace","eventListenerUID","eventID"}, whether or
// not a PipelineRun is created: tektoncd/triggers#1183); argoproj
// argo-events webhook event source (200 once the event is on the bus).
func (j *JSON) Read(a *Answer) (Started, error) {
	if !success(a.Status) {
		return refused(a)
	}
	return Started{}, nil
}

// Interface guards
var (
	_ Module                = (*JSON)(nil)
	_ caddy.Provisioner     = (*JSON)(nil)
	_ caddy.Validator       = (*JSON)(nil)
	_ caddyfile.Unmarshaler = (*JSON)(nil)
)
