package triggerapi

import (
	"net/http"
	"net/url"
)

// ArtifactsRequest is what GitLab's artifact download
// (GET /projects/:id/jobs/artifacts/:ref/download, lib/api/ci/job_artifacts.rb)
// reads besides its path, when a CI job calls it with its job token.
type ArtifactsRequest struct {
	// Job is the name of the job whose artifacts are asked for (the job
	// parameter, its first value); never empty.
	Job string
	// JobToken is the job token, from the job_token parameter or the
	// JOB-TOKEN header; never empty.
	JobToken string
}

// The refusals of an artifact download's query, in GitLab's shapes.
var (
	// ErrConflictingCredential refuses a request carrying two different
	// credentials of one kind. 400, not 401: the request is malformed (each
	// of these credentials is one value), which asking for credentials
	// again would not mend; and whichever value the gateway chose, a proxy
	// or CI server further on could read the other.
	ErrConflictingCredential = MessageError(http.StatusBadRequest, "conflicting_credentials",
		"400 Bad request - a credential header is given more than once with different values")
	ErrArtifactsNoJob   = ValidationError("missing_job", "job is missing")
	ErrArtifactsNoToken = MessageError(http.StatusUnauthorized, "missing_job_token", "401 Unauthorized")
)

// ParseArtifactsRequest reads an artifact download's query and the value
// of its JOB-TOKEN header ("" when absent). The job comes first, as
// GitLab's required parameter; the job token may be given in the query,
// in the header or in both, but two different values are refused
// (ErrConflictingCredential), as two different values of one header are.
func ParseArtifactsRequest(query url.Values, headerJobToken string) (ArtifactsRequest, *Error) {
	job := query.Get("job")
	if job == "" {
		return ArtifactsRequest{}, ErrArtifactsNoJob
	}
	token := headerJobToken
	for _, p := range query["job_token"] {
		if token != "" && p != token {
			return ArtifactsRequest{}, ErrConflictingCredential
		}
		token = p
	}
	if token == "" {
		return ArtifactsRequest{}, ErrArtifactsNoToken
	}
	return ArtifactsRequest{Job: job, JobToken: token}, nil
}
