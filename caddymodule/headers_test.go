package caddymodule

import (
	"net/http"
	"testing"
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
