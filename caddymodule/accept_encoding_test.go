package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// The gateway reads the answer to every trigger it forwards (the pipeline
// it names, the answer kept for a repeat, another CI's answer read by its
// module): the caller's Accept-Encoding must not reach the CI, or the CI
// answers in an encoding the proxy leaves as it is (it decodes only what
// it asked for itself), which the gateway cannot read.
func TestForwardDropsCallersAcceptEncoding(t *testing.T) {
	h := jenkinsGateway(t)
	for _, tc := range []struct {
		name, project string
		ci            ciStandIn
	}{
		{"gitlab", "11", ciStandIn{status: http.StatusCreated, answer: `{"id":5}`}},
		{"jenkins", "9", ciStandIn{status: http.StatusCreated, location: "https://jenkins.example.com/queue/item/31/"}},
		{"github_actions", "10", ciStandIn{status: http.StatusOK, answer: `{"workflow_run_id":8}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, token := createToken(t, h, tc.project, "alice")
			fields := url.Values{"token": {token}, "ref": {"main"}}
			r := httptest.NewRequest(http.MethodPost, "/api/v4/projects/"+tc.project+"/trigger/pipeline", strings.NewReader(fields.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("Accept-Encoding", "gzip, deflate, br")
			ci := tc.ci
			w, _, err := serve(h, r, &ci)
			if err != nil || ci.calls != 1 {
				t.Fatalf("ServeHTTP: %v, CI called %d times: %d %s", err, ci.calls, w.Code, w.Body)
			}
			if got := ci.header.Values("Accept-Encoding"); len(got) != 0 {
				t.Errorf("the CI got the caller's Accept-Encoding %q", got)
			}
		})
	}
}
