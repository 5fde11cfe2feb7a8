package triggerapi_test

import (
	"net/url"
	"slices"
	"testing"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// FuzzParseArtifactsRequest checks that an accepted artifact download has a
// job and a job token that the caller gave, and that a refusal is one of
// the documented ones.
func FuzzParseArtifactsRequest(f *testing.F) {
	for _, seed := range []struct{ query, header string }{
		{"job=build&job_token=T", ""},
		{"job=build", "T"},
		{"job=build&job_token=T", "T"},
		{"job=build&job_token=A", "B"},
		{"job=build&job_token=A&job_token=B", ""},
		{"job_token=T", ""},
		{"job=a%26b&job_token=%zz", ""},
	} {
		f.Add(seed.query, seed.header)
	}
	f.Fuzz(func(t *testing.T, rawQuery, header string) {
		query, _ := url.ParseQuery(rawQuery) // as (*url.URL).Query reads it
		req, refusal := triggerapi.ParseArtifactsRequest(query, header)
		if refusal != nil {
			if req != (triggerapi.ArtifactsRequest{}) {
				t.Fatalf("refused with %+v", req)
			}
			switch refusal {
			case triggerapi.ErrArtifactsNoJob, triggerapi.ErrArtifactsNoToken, triggerapi.ErrConflictingCredential:
			default:
				t.Fatalf("unexpected refusal %v", refusal)
			}
			return
		}
		if req.Job == "" || req.Job != query.Get("job") {
			t.Fatalf("job %q, want the first job parameter %q", req.Job, query.Get("job"))
		}
		if req.JobToken == "" || (req.JobToken != header && !slices.Contains(query["job_token"], req.JobToken)) {
			t.Fatal("the job token is none the caller gave")
		}
		if header != "" && req.JobToken != header {
			t.Fatal("the JOB-TOKEN header was overridden by a different parameter")
		}
		for _, p := range query["job_token"] {
			if p != "" && p != req.JobToken {
				t.Fatal("a different job_token parameter was ignored")
			}
		}
	})
}
