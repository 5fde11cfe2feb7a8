package caddymodule

import (
	"net/http"
	"strings"
	"testing"

	"github.com/triggergate/caddy-trigger-gateway/policy"
)

func compiledRefs(t *testing.T, allow ...string) *policy.RefPolicy {
	t.Helper()
	p, err := policy.CompileRefs(allow)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A token restricted to refs that can never match is refused at creation,
// against the ref rules of the handlers that use the store.
func TestAdminCreateRefusesRefsThatCanNeverMatch(t *testing.T) {
	c, _ := newAdminClient(t, map[string]string{"group/project": "9"})
	project9 := &projectRules{id: "9", refs: compiledRefs(t, "release/*")}
	site := &Handler{
		globalRefs:   compiledRefs(t, "main", "release/*", "v*"),
		projects:     map[string]*projectRules{"9": project9, "group/project": project9},
		gatewayRules: &projectRules{},
	}
	c.g.members = []*Handler{site}

	tests := []struct {
		name   string
		body   string
		status int
		errHas string
	}{
		{"allowed literal", `{"project":"9","description":"d","refs":["release/1.0"]}`, http.StatusCreated, ""},
		{"allowed glob", `{"project":"group/project","description":"d","refs":["release/*"]}`, http.StatusCreated, ""},
		{"other project, gateway rules only", `{"project":"10","description":"d","refs":["main","v1.*"]}`, http.StatusCreated, ""},
		{"literal the project refuses", `{"project":"9","description":"d","refs":["main"]}`, http.StatusBadRequest,
			`refs: "main" can never match: project 9's ref rules allow only "release/*"`},
		{"by alias", `{"project":"group/project","description":"d","refs":["release/*","main"]}`, http.StatusBadRequest,
			`refs: "main" can never match: project 9's ref rules allow only "release/*"`},
		{"glob the project refuses", `{"project":"9","description":"d","refs":["v*"]}`, http.StatusBadRequest,
			`project 9's ref rules allow only "release/*"`},
		{"glob the gateway refuses", `{"project":"10","description":"d","refs":["feature/*"]}`, http.StatusBadRequest,
			`refs: "feature/*" can never match: the gateway's ref rules allow only "main", "release/*", "v*"`},
		{"not a ref", `{"project":"10","description":"d","refs":["main..x"]}`, http.StatusBadRequest,
			`refs: "main..x" can never match: it is not a valid branch or tag name`},
		{"full ref name", `{"project":"10","description":"d","refs":["refs/heads/main"]}`, http.StatusBadRequest,
			"short name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := c.do(http.MethodPost, "/trigger_gateway/triggers", tc.body)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.errHas != "" {
				if msg := errorMessage(t, rec); !strings.Contains(msg, tc.errHas) {
					t.Errorf("error %q, want %q", msg, tc.errHas)
				}
			}
		})
	}

	// A second site on the same storage, whose rules allow main on project
	// 9: the token is of use there, so it is not refused.
	other := &Handler{
		projects:     map[string]*projectRules{"9": {id: "9", refs: compiledRefs(t, "main")}},
		gatewayRules: &projectRules{},
	}
	c.g.members = []*Handler{site, other}
	if rec := c.do(http.MethodPost, "/trigger_gateway/triggers", `{"project":"9","description":"d","refs":["main"]}`); rec.Code != http.StatusCreated {
		t.Fatalf("a glob another site allows: %d %s", rec.Code, rec.Body)
	}
	rec := c.do(http.MethodPost, "/trigger_gateway/triggers", `{"project":"9","description":"d","refs":["v2"]}`)
	if msg := errorMessage(t, rec); rec.Code != http.StatusBadRequest || !strings.Contains(msg, "the ref rules of the 1 other trigger_gateway handlers sharing this storage refuse it too") {
		t.Fatalf("a glob no site allows: %d %q", rec.Code, msg)
	}
}
