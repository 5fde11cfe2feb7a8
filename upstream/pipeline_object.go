package upstream

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// pipelineObject is GitLab's pipeline object (Entities::Ci::PipelineBasic)
// as the gateway can fill it for a build another CI started: GitLab's JSON
// types, null for what the CI does not say. GitLab's Go client (and
// Terraform's provider built on it) refuses a string where GitLab writes a
// number, so id, iid and project_id are numbers or null.
type pipelineObject struct {
	ID        *int64          `json:"id"`
	IID       *int64          `json:"iid"`
	ProjectID *int64          `json:"project_id"`
	Ref       string          `json:"ref"`
	SHA       *string         `json:"sha"`
	Status    string          `json:"status"`
	Source    string          `json:"source"`
	CreatedAt triggerapi.Time `json:"created_at"`
	UpdatedAt triggerapi.Time `json:"updated_at"`
	WebURL    *string         `json:"web_url"`
}

// PipelineObject renders GitLab's 201 answer (contract §8) for a started
// build: {"id","iid","project_id","ref","sha","status","source",
// "created_at","updated_at","web_url"}. id is the CI's id or null;
// project_id the project when it is numeric, else null; iid and sha null;
// status "created"; created_at and updated_at now, as GitLab writes times;
// web_url the CI's page or null.
func PipelineObject(t *Trigger, s Started, now time.Time) []byte {
	p := pipelineObject{
		ID:        s.ID,
		Ref:       t.Ref,
		Status:    "created",
		Source:    t.Source,
		CreatedAt: triggerapi.Time(now),
		UpdatedAt: triggerapi.Time(now),
	}
	if id, err := strconv.ParseInt(t.Project, 10, 64); err == nil && id > 0 && strconv.FormatInt(id, 10) == t.Project {
		p.ProjectID = &id
	}
	if s.WebURL != "" {
		p.WebURL = &s.WebURL
	}
	body, _ := json.Marshal(p) // strings and numbers always encode
	return body
}
