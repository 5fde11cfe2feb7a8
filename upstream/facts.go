package upstream

import (
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// Facts names the build parameters (Jenkins), properties (Buildbot),
// environment variables (Buildkite), variables (Woodpecker) or workflow
// inputs (GitHub Actions) that carry the gateway's own facts about a
// trigger to the CI: the facts contract §5 sends GitLab as X-Trigger-*
// headers. An empty name leaves that fact out. A fact is the gateway's
// word: it replaces a caller's variable or input of the same name.
//
// Not configured, a module uses DefaultFacts (GitHub Actions: none, as a
// workflow refuses inputs it does not declare). Configured, exactly the
// names given are used.
type Facts struct {
	// Source gets "trigger" (a trigger token) or "pipeline" (a CI job
	// token). Default: TRIGGER_SOURCE.
	Source string `json:"source,omitempty"`
	// TriggerID gets the trigger's ID (trigger tokens only). Default:
	// TRIGGER_ID.
	TriggerID string `json:"trigger_id,omitempty"`
	// TokenPrefix gets the trigger token's display prefix, e.g.
	// glptt-0a1b2c3d (trigger tokens only). Default: TRIGGER_TOKEN_PREFIX.
	TokenPrefix string `json:"token_prefix,omitempty"`
	// SourceProject gets the ID of the project whose job token triggered
	// (job tokens only). Default: TRIGGER_SOURCE_PROJECT.
	SourceProject string `json:"source_project,omitempty"`
	// SourceProjectPath gets that project's path (job tokens only).
	// Default: TRIGGER_SOURCE_PROJECT_PATH.
	SourceProjectPath string `json:"source_project_path,omitempty"`
	// SourcePipeline gets that job's pipeline ID (job tokens only).
	// Default: TRIGGER_SOURCE_PIPELINE.
	SourcePipeline string `json:"source_pipeline,omitempty"`
	// SourceJob gets that job's ID (job tokens only). Default:
	// TRIGGER_SOURCE_JOB.
	SourceJob string `json:"source_job,omitempty"`
}

// DefaultFacts are the names the facts get when a module's facts are not
// configured: contract §5's X-Trigger-* headers, as variable names.
var DefaultFacts = Facts{
	Source:            "TRIGGER_SOURCE",
	TriggerID:         "TRIGGER_ID",
	TokenPrefix:       "TRIGGER_TOKEN_PREFIX",
	SourceProject:     "TRIGGER_SOURCE_PROJECT",
	SourceProjectPath: "TRIGGER_SOURCE_PROJECT_PATH",
	SourcePipeline:    "TRIGGER_SOURCE_PIPELINE",
	SourceJob:         "TRIGGER_SOURCE_JOB",
}

// factsOr is configured, or fallback when not configured.
func factsOr(configured *Facts, fallback Facts) Facts {
	if configured != nil {
		return *configured
	}
	return fallback
}

// each calls set with every fact of t that has a name.
func (f Facts) each(t *Trigger, set func(name, value string)) {
	put := func(name, value string) {
		if name != "" && value != "" {
			set(name, value)
		}
	}
	put(f.Source, t.Source)
	if t.TriggerID != 0 {
		put(f.TriggerID, strconv.FormatInt(t.TriggerID, 10))
	}
	put(f.TokenPrefix, t.TokenPrefix)
	if j := t.Job; j != nil {
		put(f.SourceProject, j.ProjectID)
		put(f.SourceProjectPath, j.ProjectPath)
		put(f.SourcePipeline, j.PipelineID)
		put(f.SourceJob, j.JobID)
	}
}

// count is how many facts of t have a name.
func (f Facts) count(t *Trigger) int {
	n := 0
	f.each(t, func(string, string) { n++ })
	return n
}

// unmarshalFacts parses a module's facts subdirective into *into:
//
//	facts off              # no facts
//	facts                  # DefaultFacts (GitHub Actions: turns them on)
//	facts {                # DefaultFacts with these names changed
//		source BUILD_SOURCE
//		trigger_id off     # left out
//	}
//
// A second facts line in the module's block is refused: facts is one
// setting given by a block (and facts off and a block cannot both hold),
// so as Caddy's reverse_proxy refuses a second transport or lb_policy,
// the Caddyfile says what it means rather than its last line winning.
func unmarshalFacts(d *caddyfile.Dispenser, into **Facts) error {
	if *into != nil {
		return d.Err("facts already specified")
	}
	f := DefaultFacts
	if d.NextArg() {
		if d.Val() != "off" || d.NextArg() {
			return d.Errf("facts takes no argument but off, or a block")
		}
		*into = &Facts{}
		return nil
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var field *string
		switch d.Val() {
		case "source":
			field = &f.Source
		case "trigger_id":
			field = &f.TriggerID
		case "token_prefix":
			field = &f.TokenPrefix
		case "source_project":
			field = &f.SourceProject
		case "source_project_path":
			field = &f.SourceProjectPath
		case "source_pipeline":
			field = &f.SourcePipeline
		case "source_job":
			field = &f.SourceJob
		default:
			return d.Errf("unrecognized facts subdirective '%s'", d.Val())
		}
		name, err := nameOrOff(d)
		if err != nil {
			return err
		}
		*field = name
	}
	*into = &f
	return nil
}

// nameOrOff reads the one argument of a subdirective naming a parameter:
// the name, or "" for off.
func nameOrOff(d *caddyfile.Dispenser) (string, error) {
	name, err := oneArg(d)
	if name == "off" {
		name = ""
	}
	return name, err
}

// oneArg reads the one argument of a subdirective.
func oneArg(d *caddyfile.Dispenser) (string, error) {
	if !d.NextArg() {
		return "", d.ArgErr()
	}
	value := d.Val()
	if d.NextArg() {
		return "", d.ArgErr()
	}
	return value, nil
}

// optionalName is a parameter's name configured with a default: nil (not
// configured) is fallback; "" leaves the parameter out.
func optionalName(configured *string, fallback string) string {
	if configured != nil {
		return *configured
	}
	return fallback
}
