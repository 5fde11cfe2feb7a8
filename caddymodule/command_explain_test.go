package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"
)

// The table `caddy trigger explain` prints names the upstream module and,
// for a CI other than GitLab, every header of the module's request (its
// credentials as explain masks them), in name order; for GitLab, only the
// gateway's own headers beside the caller's.
func TestWriteExplanationUpstream(t *testing.T) {
	headers := map[string]string{
		"Authorization":    redactionMarker,
		"Content-Type":     "application/json",
		"Accept":           "application/vnd.github+json",
		"User-Agent":       "curl/8.5.0",
		"X-Trigger-Source": "trigger",
	}
	tests := []struct {
		upstream string
		want     []string
		not      []string
	}{
		{"github_actions", []string{
			"Upstream: github_actions (the CI server's own API)\n",
			"Would forward: POST /repos/acme/app/actions/workflows/deploy.yml/dispatches\n" +
				"  Accept: application/vnd.github+json\n" +
				"  Authorization: [redacted]\n" +
				"  Content-Type: application/json\n" +
				"  User-Agent: curl/8.5.0\n" +
				"  X-Trigger-Source: trigger\n" +
				`  {"ref":"main"}` + "\n",
		}, nil},
		{"gitlab", []string{
			"Would forward: POST /repos/acme/app/actions/workflows/deploy.yml/dispatches\n" +
				"  Content-Type: application/json\n" +
				"  X-Trigger-Source: trigger\n",
		}, []string{"Upstream:", "Authorization", "User-Agent", "  Accept:"}},
	}
	for _, tt := range tests {
		t.Run(tt.upstream, func(t *testing.T) {
			var out strings.Builder
			e := explanation{
				Decision: "accepted", Route: "pipeline", Project: "12", Ref: "main", Source: "trigger",
				Upstream: tt.upstream,
				Forward: &explainedForward{Method: "POST", URL: "/repos/acme/app/actions/workflows/deploy.yml/dispatches",
					Headers: headers, Body: json.RawMessage(`{"ref":"main"}`)},
			}
			if err := writeExplanation(&triggerClient{out: &out}, e); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output does not hold %q:\n%s", w, out.String())
				}
			}
			for _, n := range tt.not {
				if strings.Contains(out.String(), n) {
					t.Errorf("output holds %q:\n%s", n, out.String())
				}
			}
		})
	}
}

// A repeat of a request already answered prints what serving does with
// it: the first answer again, nothing forwarded.
func TestWriteExplanationReplayed(t *testing.T) {
	var out strings.Builder
	e := explanation{Decision: "accepted", Replayed: true, Status: 201, Route: "pipeline", Project: "9", Ref: "main", Source: "trigger"}
	if err := writeExplanation(&triggerClient{out: &out}, e); err != nil {
		t.Fatal(err)
	}
	want := "Accepted: pipeline trigger of project 9 on main (source trigger)\n" +
		"Would replay: the first answer to this key (201); nothing forwarded\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}
