package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// silentNext is a next handler that answers nothing: a site whose
// reverse_proxy matchers (@jenkins, @github...) leave a project out, or
// one with no reverse_proxy at all.
type silentNext struct{ calls int }

func (s *silentNext) ServeHTTP(http.ResponseWriter, *http.Request) error {
	s.calls++
	return nil
}

// An accepted trigger that no handler after the gateway answers has reached
// no CI server: the caller gets GitLab's 502, counted as an upstream
// failure, as with an upstream module, never Caddy's empty 200 for a
// request nothing handled, which a script takes for a started pipeline.
func TestAcceptedTriggerNothingAnswersIs502(t *testing.T) {
	h := jenkinsGateway(t) // project 9: jenkins; every other project: gitlab
	tests := []struct {
		name, project, route, path string
		body                       url.Values
	}{
		{"gitlab, pipeline route", "12", "pipeline", "/api/v4/projects/12/trigger/pipeline", url.Values{"ref": {"main"}}},
		{"gitlab, webhook route", "12", "webhook", "/api/v4/projects/12/ref/main/trigger/pipeline", url.Values{}},
		{"jenkins module", "9", "pipeline", "/api/v4/projects/9/trigger/pipeline", url.Values{"ref": {"main"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, token := createToken(t, h, tt.project, "alice")
			tt.body.Set("token", token)
			r := httptest.NewRequest(http.MethodPost, tt.path, strings.NewReader(tt.body.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			failures := gatewayMetrics.upstreamFailures.WithLabelValues(tt.route, "upstream_error")
			next := &silentNext{}
			before := policyCounter(t, failures)
			w, _, err := serve(h, r, next)
			if err != nil {
				t.Fatalf("ServeHTTP: %v", err)
			}
			if next.calls != 1 {
				t.Fatalf("next handler called %d times, want once", next.calls)
			}
			if w.Code != http.StatusBadGateway || w.Body.String() != `{"message":"502 Bad Gateway"}` ||
				w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("answer %d %q (%s), want GitLab's 502", w.Code, w.Body, w.Header().Get("Content-Type"))
			}
			if got := policyCounter(t, failures) - before; got != 1 {
				t.Errorf("upstream_failures_total{route=%s,reason=upstream_error} rose by %v, want 1", tt.route, got)
			}
		})
	}
}
