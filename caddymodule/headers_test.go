package caddymodule

import (
	"net/http"
	"testing"

	"github.com/triggergate/caddy-trigger-gateway/jobtoken"
)

// The request path reads, deletes and sets headers by canonical name
// without canonicalizing: each name must be canonical, or a header the
// server stored under its canonical name would be missed, or one set
// would reach the upstream twice.
func TestHeaderNamesAreCanonical(t *testing.T) {
	for _, name := range []string{
		headerContentType, headerContentLength, headerGitlabEvent, headerIdempotencyKey, headerGitlabEventID, headerGithubDelivery, headerAuthorization,
		headerContentEncoding, headerTransferEncoding, headerPrivateToken, headerGitlabToken, headerHubSignature,
		headerJobToken, headerSource, headerID, headerTokenPrefix,
		headerSourceProject, headerSourceProjectPath, headerSourcePipeline, headerSourceJob,
	} {
		if canonical := http.CanonicalHeaderKey(name); canonical != name {
			t.Errorf("%q is not canonical (%q)", name, canonical)
		}
	}
}

// As callers spell them, stored as Go's servers store them: headerValue
// finds what Header.Get finds.
func TestHeaderValueMatchesHeaderGet(t *testing.T) {
	tests := []struct{ sent, name string }{
		{"X-Gitlab-Event-UUID", headerGitlabEventID},
		{"x-github-delivery", headerGithubDelivery},
		{"X-GitHub-Delivery", headerGithubDelivery},
		{"content-type", headerContentType},
		{"IDEMPOTENCY-KEY", headerIdempotencyKey},
		{"X-Gitlab-Event", headerGitlabEvent},
		{"PRIVATE-TOKEN", headerPrivateToken},
		{"authorization", headerAuthorization},
	}
	for _, tt := range tests {
		t.Run(tt.sent, func(t *testing.T) {
			header := http.Header{}
			if got := headerValue(header, tt.name); got != "" {
				t.Fatalf("headerValue of an empty header = %q", got)
			}
			header.Add(tt.sent, "first")
			header.Add(tt.sent, "second")
			if got, want := headerValue(header, tt.name), header.Get(tt.name); got != want || got != "first" {
				t.Errorf("headerValue = %q, Header.Get = %q, want %q", got, want, "first")
			}
		})
	}
}

// The decision headers take their values from the request state's array,
// each a slice of its own (a later handler's append copies, never writes
// into its neighbour), a job token's identity headers included, which
// the array has no room for.
func TestDecisionHeaderValues(t *testing.T) {
	identity := &jobtoken.Identity{ProjectID: "12", ProjectPath: "group/app", PipelineID: "345", JobID: "6789"}
	tests := []struct {
		name string
		d    decision
		want map[string]string
	}{
		{"trigger token", decision{source: "trigger", triggerID: 4242, tokenPrefix: "glptt-abcd"},
			map[string]string{headerSource: "trigger", headerID: "4242", headerTokenPrefix: "glptt-abcd"}},
		{"job token", decision{source: "pipeline", identity: identity},
			map[string]string{headerSource: "pipeline", headerSourceProject: "12", headerSourceProjectPath: "group/app",
				headerSourcePipeline: "345", headerSourceJob: "6789"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var state requestState
			set := func() http.Header {
				header := http.Header{"X-Trigger-Id": {"forged"}, "Accept": {"*/*"}}
				values := state.headerValues()
				values.set(header, headerContentType, "application/json")
				values.set(header, headerContentLength, "42")
				setDecisionHeaders(header, &tt.d, &values)
				return header
			}
			header := set()
			tt.want[headerContentType], tt.want[headerContentLength], tt.want["Accept"] = "application/json", "42", "*/*"
			if len(header) != len(tt.want) {
				t.Errorf("headers %v, want %v", header, tt.want)
			}
			for name, want := range tt.want {
				if got := header[name]; len(got) != 1 || got[0] != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			for name, values := range header {
				if name != "Accept" && cap(values) != 1 {
					t.Errorf("%s: capacity %d, want 1", name, cap(values))
				}
			}
		})
	}
}
