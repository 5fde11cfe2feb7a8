package triggerapi

import (
	"net/url"
	"testing"
)

func TestParseArtifactsRequest(t *testing.T) {
	tests := []struct {
		name    string
		query   string
		header  string
		want    ArtifactsRequest
		refusal *Error
	}{
		{"no job", "job_token=p", "h", ArtifactsRequest{}, ErrArtifactsNoJob},
		{"empty job", "job=&job_token=p", "", ArtifactsRequest{}, ErrArtifactsNoJob},
		{"no job token", "job=build", "", ArtifactsRequest{}, ErrArtifactsNoToken},
		{"empty job token", "job=build&job_token=", "", ArtifactsRequest{}, ErrArtifactsNoToken},
		{"header", "job=build", "h", ArtifactsRequest{Job: "build", JobToken: "h"}, nil},
		{"parameter", "job=build&job_token=p", "", ArtifactsRequest{Job: "build", JobToken: "p"}, nil},
		{"both the same", "job=build&job_token=t&job_token=t", "t", ArtifactsRequest{Job: "build", JobToken: "t"}, nil},
		{"parameter and header differ", "job=build&job_token=p", "h", ArtifactsRequest{}, ErrConflictingCredential},
		{"an empty parameter, then a token", "job=build&job_token=&job_token=t", "", ArtifactsRequest{Job: "build", JobToken: "t"}, nil},
		{"a token, then an empty parameter", "job=build&job_token=t&job_token=", "", ArtifactsRequest{}, ErrConflictingCredential},
		{"two parameters", "job=build&job_token=a&job_token=b", "", ArtifactsRequest{}, ErrConflictingCredential},
		{"the first job", "job=a&job=b&job_token=p", "", ArtifactsRequest{Job: "a", JobToken: "p"}, nil},
		{"the job before the token", "job_token=a&job_token=b", "", ArtifactsRequest{}, ErrArtifactsNoJob},
		{"other spellings are not the job token", "job=build&JOB_TOKEN=p&token=q", "", ArtifactsRequest{}, ErrArtifactsNoToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			query, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			got, refusal := ParseArtifactsRequest(query, tt.header)
			if got != tt.want || refusal != tt.refusal {
				t.Errorf("ParseArtifactsRequest(%q, %q) = %+v, %v; want %+v, %v", tt.query, tt.header, got, refusal, tt.want, tt.refusal)
			}
		})
	}
}
