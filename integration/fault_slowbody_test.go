package integration

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
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

// 300 clients that each send one byte short of a 1 MiB body hold its
// buffer only until read_body_timeout: every one is answered 408, each
// body held costs about its size, and once they are answered the memory
// is Caddy's again. The live heap before, while they hold their bodies,
// and after, is logged.
func TestFaultSlowBodiesHeap(t *testing.T) {
	t.Parallel()
	const (
		clients = 300
		size    = 1 << 20
		bound   = 15 * time.Second
	)
	g := newGateway(t, config{Gateway: fmt.Sprintf("read_body_timeout %s", bound)})
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "slow bodies, heap", Owner: "alice"})
	before := g.liveHeap(t)

	host := strings.TrimPrefix(g.base(), "http://")
	head := "POST /api/v4/projects/9/trigger/pipeline?ref=main&token=" + tr.Token + " HTTP/1.1\r\nHost: " + host +
		"\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " + fmt.Sprint(size) + "\r\n\r\n"
	body := []byte("variables[A]=" + strings.Repeat("a", size-1-len("variables[A]=")))
	results := make([]rawResult, clients)
	var sent sync.WaitGroup
	var wg sync.WaitGroup
	start := time.Now()
	for i := range clients {
		g.siteRequests++
		sent.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = g.rawExchange(head, func(w io.Writer, stop <-chan struct{}) {
				_, _ = w.Write(body)
				sent.Done()
				<-stop
			}, bound+20*time.Second)
		}()
	}
	sent.Wait()
	// The bodies are in the kernel's buffers: watch the heap grow as Caddy
	// reads them, until the first client is answered.
	answered := make(chan struct{})
	go func() {
		wg.Wait()
		close(answered)
	}()
	var held int64
	var heldAt time.Duration
	for deadline := start.Add(bound - time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if h := g.liveHeap(t); h > held {
			held, heldAt = h, time.Since(start)
		}
	}
	<-answered
	after := g.liveHeap(t)
	t.Logf("live heap: %d MiB before, at most %d MiB with %d bodies of %d bytes held (%s after the first was sent), %d MiB once answered",
		before>>20, held>>20, clients, size-1, heldAt.Round(time.Millisecond), after>>20)

	// Every client gets its 408 well before its own limit: Caddy's idle
	// timeout alone (a minute) would answer none of them.
	for i, res := range results {
		if res.Resp == nil || res.Resp.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("client %d: got %s, want 408", i, res)
		}
	}
	// A body held costs about its size: the buffer grows as bytes arrive
	// and never doubles past the body's declared length. A buffer that
	// doubled costs 2x (measured 1.9x); the rest of a connection (its
	// request, header maps, bufio buffers, whatever it holds when the heap
	// is sampled) has measured 0.1x to 0.27x.
	if perBody := (held - before) / clients; perBody > size*3/2 {
		t.Errorf("%d KiB of live heap per body of %d KiB held", perBody>>10, size>>10)
	}
	// Once answered, what the bodies held is released.
	if after > before+64<<20 {
		t.Errorf("live heap %d MiB once every client was answered, %d MiB before: the bodies are still held", after>>20, before>>20)
	}
	assertNothingForwarded(t, g.up)
	g.assertNoCrash(t)
}

// liveHeap is Caddy's heap in use right after a garbage collection: the
// admin endpoint's heap profile collects first when asked to, and its
// text form ends with the runtime's memory statistics.
func (g *gateway) liveHeap(t *testing.T) int64 {
	t.Helper()
	client := &http.Client{Timeout: time.Minute}
	resp, err := client.Get("http://" + g.adminAddr() + "/debug/pprof/heap?gc=1&debug=1")
	if err != nil {
		t.Fatalf("heap profile: %v", err)
	}
	defer resp.Body.Close()
	profile, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("heap profile: %s %v", resp.Status, err)
	}
	_, stats, _ := strings.Cut(string(profile), "# HeapInuse = ")
	inuse, _, _ := strings.Cut(stats, "\n")
	n, err := strconv.ParseInt(inuse, 10, 64)
	if err != nil {
		t.Fatalf("heap profile without HeapInuse: %v", err)
	}
	return n
}
