package integration

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// requestTimeout is the gateway's answer to a body that did not arrive in time.
const requestTimeout = `{"message":"408 Request Timeout"}`

// slowBodyCase is a request whose body arrives too slowly or never in full.
type slowBodyCase struct {
	name string
	head string
	feed func(io.Writer, <-chan struct{})
}

// slowBodyCases are the trigger routes' and the management API's slow
// bodies: a trickle that never stalls for long (Caddy's idle timeout,
// reset by every byte, never ends it), a Content-Length larger than the
// body, and a chunked body without its last chunk.
func (g *gateway) slowBodyCases(tr triggerObj, managementToken string) []slowBodyCase {
	host := strings.TrimPrefix(g.base(), "http://")
	head := func(target string, headers ...string) string {
		return "POST " + target + " HTTP/1.1\r\nHost: " + host + "\r\n" + strings.Join(headers, "\r\n") + "\r\n\r\n"
	}
	pipeline := "/api/v4/projects/9/trigger/pipeline?ref=main&token=" + tr.Token
	form := "Content-Type: application/x-www-form-urlencoded"
	cases := []slowBodyCase{
		{"trickled, a byte every 300ms", head(pipeline, form, "Content-Length: 1000"), feedEvery([]byte("a"), 300*time.Millisecond)},
		{"Content-Length larger than the body", head(pipeline, form, "Content-Length: 1000"), feedThenStall([]byte("variables[A]=" + g.varValue()))},
		{"chunked, no last chunk", head(pipeline, form, "Transfer-Encoding: chunked"), feedThenStall([]byte("10\r\nvariables[A]=xyz\r\n"))},
		{"webhook, trickled JSON", head("/api/v4/projects/9/ref/main/trigger/pipeline?token="+tr.Token, "Content-Type: application/json", "Content-Length: 1000"),
			feedEvery([]byte(" "), 300*time.Millisecond)},
	}
	if managementToken != "" {
		cases = append(cases, slowBodyCase{"management API, Content-Length larger than the body",
			head("/api/v4/projects/9/triggers", form, "Private-Token: "+managementToken, "Content-Length: 100"),
			feedThenStall([]byte("description=slow"))})
	}
	return cases
}

// runSlowBodies sends every case at once and checks that each was answered
// GitLab's 408, with the connection closed, once bound had passed since
// the request's headers arrived, and not much later.
func (g *gateway) runSlowBodies(t *testing.T, cases []slowBodyCase, bound time.Duration) {
	t.Helper()
	results := make([]rawResult, len(cases))
	var wg sync.WaitGroup
	for i, c := range cases {
		g.siteRequests++
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = g.rawExchange(c.head, c.feed, bound+10*time.Second)
		}()
	}
	wg.Wait()
	for i, c := range cases {
		res := results[i]
		switch {
		case res.Resp == nil || res.Resp.StatusCode != http.StatusRequestTimeout || !jsonEqualString(res.Body, requestTimeout):
			t.Errorf("%s: got %s, want 408 %s", c.name, res, requestTimeout)
		case res.Elapsed < bound-200*time.Millisecond || res.Elapsed > bound+3*time.Second:
			t.Errorf("%s: answered after %s, want at read_body_timeout %s", c.name, res.Elapsed, bound)
		case !res.Resp.Close:
			t.Errorf("%s: the connection is kept open after a body that never arrived", c.name)
		}
	}
}

// A body that arrives too slowly, or never in full, holds its request no
// longer than read_body_timeout: GitLab's 408, on the trigger routes and
// the management API alike. Nothing reaches the upstream, and Caddy keeps
// serving.
func TestFaultSlowBodies(t *testing.T) {
	t.Parallel()
	admin := "mgmt-" + randomHex(20)
	g := newGateway(t, config{
		Gateway: "read_body_timeout 2s\nmanagement_token ops {env.GATEWAY_ADMIN_TOKEN}",
		Env:     map[string]string{"GATEWAY_ADMIN_TOKEN": admin},
	})
	g.secrets.addToken(admin)
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "slow bodies", Owner: "alice"})
	g.runSlowBodies(t, g.slowBodyCases(tr, admin), 2*time.Second)

	if got := g.metricValue(t, "caddy_trigger_gateway_requests_total", "outcome", "body_timeout"); got != 5 {
		t.Errorf(`requests_total{outcome="body_timeout"} = %v, want 5, one per case`, got)
	}
	assertNothingForwarded(t, g.up)
	g.assertNoCrash(t)
	g.triggerOK(t, tr)
}

// Without read_body_timeout, the default bound applies: a body that
// stalls is answered 408 after 10s, not held for Caddy's idle minute.
func TestFaultSlowBodiesDefaultBound(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{})
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "slow bodies, default bound", Owner: "alice"})
	cases := g.slowBodyCases(tr, "")
	g.runSlowBodies(t, cases[:2], 10*time.Second)
	assertNothingForwarded(t, g.up)
}
