package upstream

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

func init() {
	caddy.RegisterModule(Jenkins{})
}

// Jenkins starts a build of a parameterized Jenkins job:
// POST /job/<a>/job/<b>/buildWithParameters, the parameters form-encoded.
// Jenkins keeps only the parameters the job declares (and drops the
// others with a warning in its log): declare one per variable, plus the
// ref's, the payload's and the facts' the job wants.
//
//	upstream jenkins {
//		job folder/deploy-app
//		ref_parameter GIT_REF
//		user ci-bot
//		api_token {env.JENKINS_API_TOKEN}
//	}
type Jenkins struct {
	// Job is the job's full name, folders separated by '/': folder/app
	// is /job/folder/job/app. Required.
	Job string `json:"job,omitempty"`

	// RefParameter is the parameter that gets the ref. Default: ref.
	RefParameter string `json:"ref_parameter,omitempty"`

	// PayloadParameter is the parameter that gets a webhook's payload (the
	// JSON body's fields other than token, ref, variables and inputs), as
	// JSON text; "" sends none. Not sent for a trigger without one.
	// Default: TRIGGER_PAYLOAD.
	PayloadParameter *string `json:"payload_parameter,omitempty"`

	// Facts names the parameters that get the gateway's facts about the
	// trigger. Default: DefaultFacts.
	Facts *Facts `json:"facts,omitempty"`

	// User is the Jenkins user whose API token authenticates the request
	// (HTTP Basic user:api_token; with an API token, Jenkins 2.96 and
	// later need no CSRF crumb). Default: none, the request is sent
	// without credentials (a Jenkins that lets anonymous users build, or
	// credentials added by the proxy). Set with api_token. It may come
	// from {env.X} or {file./path} too; one that resolves to nothing stops
	// the config from loading.
	User string `json:"user,omitempty"`

	// APIToken is User's API token, from {env.X} or {file./path}; a
	// placeholder that resolves to nothing stops the config from loading.
	// Set with user. Default: none.
	APIToken string `json:"api_token,omitempty"`

	jobPath, jobRawPath string
	authorization       string
}

// CaddyModule returns the Caddy module information.
func (Jenkins) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  Namespace + ".jenkins",
		New: func() caddy.Module { return new(Jenkins) },
	}
}

// UnmarshalCaddyfile parses the block of `upstream jenkins`.
func (j *Jenkins) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "job":
			j.Job, err = oneArg(d)
		case "ref_parameter":
			j.RefParameter, err = oneArg(d)
		case "payload_parameter":
			var name string
			name, err = nameOrOff(d)
			j.PayloadParameter = &name
		case "facts":
			err = unmarshalFacts(d, &j.Facts)
		case "user":
			j.User, err = oneArg(d)
		case "api_token":
			j.APIToken, err = oneArg(d)
		default:
			return d.Errf("unrecognized upstream jenkins subdirective '%s'", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Provision resolves the API token and works out the job's path.
func (j *Jenkins) Provision(caddy.Context) error {
	if j.RefParameter == "" {
		j.RefParameter = "ref"
	}
	var err error
	if j.authorization, err = basicAuthorization("upstream jenkins", "api_token", j.User, j.APIToken); err != nil {
		return err
	}
	folders, err := checkSegments("upstream jenkins: job", j.Job)
	if err != nil {
		return nil // Validate says why
	}
	var b pathBuilder
	for _, name := range folders {
		b.fixed("/job/")
		b.segment(name)
	}
	b.fixed("/buildWithParameters")
	j.jobPath, j.jobRawPath = b.result()
	return nil
}

// Validate checks the settings.
func (j *Jenkins) Validate() error {
	if err := checkBasic("upstream jenkins", "api_token", j.User, j.APIToken); err != nil {
		return err
	}
	_, err := checkSegments("upstream jenkins: job", j.Job)
	return err
}

// Build returns POST /job/.../buildWithParameters with the variables and
// inputs as parameters, the ref in RefParameter, the payload in
// PayloadParameter and the facts, form-encoded in name order.
//
// Source: Jenkins "Remote access API" (wiki.jenkins.io/display/JENKINS/
// Remote+access+API, "Submitting jobs": POST JENKINS_URL/job/JOB_NAME/
// buildWithParameters, parameters as form data; HTTP Basic user:API
// token), the job's own api page ("If the build has parameters, POST to
// .../buildWithParameters and provide the parameters as form data").
func (j *Jenkins) Build(t *Trigger) (*Request, *triggerapi.Error) {
	facts := factsOr(j.Facts, DefaultFacts)
	params, err := stringParameters(t, 2+facts.count(t))
	if err != nil {
		return nil, err
	}
	for _, name := range jenkinsRequestParameters {
		if _, ok := params[name]; ok {
			return nil, triggerapi.MessageError(http.StatusBadRequest, "jenkins_reserved_parameter", fmt.Sprintf(
				"%s is a parameter Jenkins reads for itself (buildWithParameters), not a build parameter", showName(name)))
		}
	}
	form := make(url.Values, len(params)+2+facts.count(t))
	for name, value := range params {
		form[name] = []string{value}
	}
	if name := optionalName(j.PayloadParameter, "TRIGGER_PAYLOAD"); name != "" && len(t.Payload) > 0 {
		form[name] = []string{payloadJSON(t.Payload)}
	}
	facts.each(t, func(name, value string) { form[name] = []string{value} })
	form[j.RefParameter] = []string{t.Ref} // the gateway's ref, whatever a variable says
	header := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	var secrets []string
	if j.authorization != "" {
		header["Authorization"] = []string{j.authorization}
		secrets = []string{"Authorization"}
	}
	return &Request{
		Method:  http.MethodPost,
		Path:    j.jobPath,
		RawPath: j.jobRawPath,
		Header:  header,
		Secret:  secrets,
		Body:    []byte(form.Encode()),
	}, nil
}

// jenkinsRequestParameters are the request parameters buildWithParameters
// reads for itself, beside the job's parameters: a caller's variable of
// one of these names would postpone the build (delay=86400sec) or word
// its cause, so it is refused before anything is sent, whatever the job
// declares. Source: jenkinsci/jenkins, ParametersDefinitionProperty.
// buildWithParameters (delay), ParameterizedJobMixIn.getBuildCause
// (token, cause).
var jenkinsRequestParameters = [...]string{"delay", "token", "cause"}

// Read reads Jenkins' answer: 201 (302 before Jenkins 1.519) with
// Location: <jenkins>/queue/item/<N>/, the queue item of the build to
// come. id is N, web_url the Location. A 302 elsewhere (a login page) is
// a refusal; a 2xx without a queue item, a build with nulls.
//
// Source: Jenkins "Remote access API" and JENKINS-23235
// (issues.jenkins.io/browse/JENKINS-23235: buildWithParameters answers
// 201 with the queue item's Location since 1.519, 302 to the job before).
func (j *Jenkins) Read(a *Answer) (Started, error) {
	id, webURL := jenkinsQueueItem(a.Header.Get("Location"))
	switch {
	case a.Status == http.StatusFound && id != nil:
		// an older Jenkins' success
	case !success(a.Status):
		return refused(a)
	}
	return Started{ID: id, WebURL: webURL}, nil
}

// jenkinsQueueItem reads a Location of the form .../queue/item/<N>/: N,
// and the Location itself when it is a web_url the gateway may pass on.
func jenkinsQueueItem(location string) (*int64, string) {
	if len(location) > triggerapi.MaxPipelineWebURL {
		return nil, ""
	}
	u, err := url.Parse(location)
	if err != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, ""
	}
	path := strings.TrimSuffix(u.Path, "/")
	i := strings.LastIndex(path, "/queue/item/")
	if i < 0 {
		return nil, ""
	}
	id := positiveIDText(path[i+len("/queue/item/"):])
	if id == nil {
		return nil, ""
	}
	if !triggerapi.IsPipelineWebURL(location) {
		return id, ""
	}
	return id, location
}

// Interface guards
var (
	_ Module                = (*Jenkins)(nil)
	_ caddy.Provisioner     = (*Jenkins)(nil)
	_ caddy.Validator       = (*Jenkins)(nil)
	_ caddyfile.Unmarshaler = (*Jenkins)(nil)
)
