// Command upstream is the benchmark's stand-in for a CI server: it answers
// every request as the CI its path belongs to answers a started build
// (GitLab's pipeline trigger by default), doing as little work as it can
// so that the benchmark measures the proxy in front of it.
//
// With -dump DIR, the first request on each path is also written to DIR
// as a wrk script that sends that very request (method, path, headers,
// body): the load script's modules mode sends it to plain reverse_proxy,
// as the baseline of the gateway with that upstream module.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ciAnswer is one CI's fixed answer to a started build.
type ciAnswer struct {
	name   string         // the upstream module it answers
	path   *regexp.Regexp // the path that module posts to
	status int
	header map[string][]string
	body   []byte
}

// answers are each CI's documented answer to a started build, the ones of
// integration/ci_recorders_test.go (where each is cited) and of
// caddymodule's BenchmarkServeHTTPUpstream; the first whose path matches
// is written. The last, GitLab's pipeline object, matches every path.
var answers = []ciAnswer{
	{"jenkins", regexp.MustCompile(`^(/job/[^/]+)+/buildWithParameters$`), http.StatusCreated,
		map[string][]string{"Location": {"http://jenkins.example.com/queue/item/4100/"}}, nil},
	{"github_actions", regexp.MustCompile(`^/repos/[^/]+/[^/]+/actions/workflows/[^/]+/dispatches$`), http.StatusOK,
		map[string][]string{"Content-Type": {"application/json; charset=utf-8"}},
		[]byte(`{"workflow_run_id":23456789012,"run_url":"https://api.github.com/repos/acme/app/actions/runs/23456789012","html_url":"https://github.com/acme/app/actions/runs/23456789012"}`)},
	{"buildbot", regexp.MustCompile(`^/api/v2/forceschedulers/[^/]+$`), http.StatusOK,
		map[string][]string{"Content-Type": {"application/json"}},
		[]byte(`{"jsonrpc":"2.0","id":1,"result":[42,{"1":57}]}`)},
	{"buildkite", regexp.MustCompile(`^/v2/organizations/[^/]+/pipelines/[^/]+/builds$`), http.StatusCreated,
		map[string][]string{"Content-Type": {"application/json; charset=utf-8"}},
		[]byte(`{"id":"f62a1b4d-10f9-4790-bc1c-e2c3a0c80000","graphql_id":"QnVpbGQtLS1mNjJhMWI0ZA==",` +
			`"url":"https://api.buildkite.com/v2/organizations/acme/pipelines/deploy/builds/810","web_url":"https://buildkite.com/acme/deploy/builds/810",` +
			`"number":810,"state":"scheduled","blocked":false,"message":"triggered through the GitLab trigger API","commit":"HEAD","branch":"main",` +
			`"env":{"DEPLOY":"staging","UPLOAD_TO_S3":"true","TRIGGER_SOURCE":"trigger"},"source":"api",` +
			`"creator":{"id":"3d3c3bf0-7d58-4afe-8fe7-b3017d5504de","name":"Keith Pitt"},"jobs":[],` +
			`"created_at":"2026-01-05T10:00:00.000Z","scheduled_at":"2026-01-05T10:00:00.000Z","started_at":null,"finished_at":null,"meta_data":{},"pull_request":null}`)},
	{"woodpecker", regexp.MustCompile(`^/api/repos/[0-9]+/pipelines$`), http.StatusOK,
		map[string][]string{"Content-Type": {"application/json; charset=utf-8"}},
		[]byte(`{"id":9057,"number":57,"author":"ci-bot","parent":0,"event":"manual","status":"pending","errors":null,` +
			`"created":1767607200,"updated":1767607200,"started":0,"finished":0,"deploy_to":"","commit":"d1b1f2c3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9",` +
			`"branch":"main","ref":"main","refspec":"","title":"","message":"MANUAL PIPELINE @ main","timestamp":1767607200,"sender":"",` +
			`"variables":{"DEPLOY":"staging","UPLOAD_TO_S3":"true","TRIGGER_SOURCE":"trigger"}}`)},
	{"json", regexp.MustCompile(`^/hooks/`), http.StatusAccepted,
		map[string][]string{"Content-Type": {"application/json"}},
		[]byte(`{"eventListener":"gateway-listener","namespace":"default","eventListenerUID":"ea71a6e4-9531-43a1-94fe-6136515d938c","eventID":"14a657c3-6816-45bf-b214-4afdaefc0000"}`)},
	{"gitlab", regexp.MustCompile(``), http.StatusCreated,
		map[string][]string{"Content-Type": {"application/json"}},
		[]byte(`{"id":1,"ref":"main","status":"created"}`)},
}

func init() {
	for i := range answers {
		answers[i].header["Content-Length"] = []string{strconv.Itoa(len(answers[i].body))}
	}
}

func main() {
	addr := flag.String("listen", "127.0.0.1:9000", "address to listen on")
	dump := flag.String("dump", "", "folder to write the first request of each CI to, as <module>.lua (a wrk script)")
	flag.Parse()

	d := &dumper{dir: *dump, done: map[string]bool{}}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the body so the proxy's keep-alive connection stays usable.
		var body []byte
		if d.dir != "" {
			body, _ = io.ReadAll(r.Body)
		} else {
			_, _ = io.Copy(io.Discard, r.Body)
		}
		a := answerFor(r.URL.Path)
		if d.dir != "" {
			d.write(a.name, r, body)
		}
		h := w.Header()
		for k, v := range a.header {
			h[k] = v
		}
		w.WriteHeader(a.status)
		_, _ = w.Write(a.body)
	})
	srv := &http.Server{
		Addr:              *addr,
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Fatal(srv.ListenAndServe())
}

func answerFor(path string) *ciAnswer {
	for i := range answers {
		if answers[i].path.MatchString(path) {
			return &answers[i]
		}
	}
	return &answers[len(answers)-1]
}

// dumper writes the first request of each module as a wrk script.
type dumper struct {
	dir  string
	mu   sync.Mutex
	done map[string]bool
}

// proxyHeaders are the headers reverse_proxy adds to what it was handed
// (and the ones wrk writes itself): not part of the module's request.
var proxyHeaders = map[string]bool{
	"X-Forwarded-For": true, "X-Forwarded-Host": true, "X-Forwarded-Proto": true, "Via": true,
	"Accept-Encoding": true, "Content-Length": true, "Host": true, "Connection": true,
}

func (d *dumper) write(module string, r *http.Request, body []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done[module] {
		return
	}
	d.done[module] = true
	var b strings.Builder
	fmt.Fprintf(&b, "-- The request the gateway's %s upstream module sent, as the upstream received it\n", module)
	fmt.Fprintf(&b, "-- (integration/bench/upstream -dump), without the headers reverse_proxy adds.\n")
	fmt.Fprintf(&b, "wrk.method = %q\nwrk.path = %q\n", r.Method, r.URL.RequestURI())
	names := make([]string, 0, len(r.Header))
	for name := range r.Header {
		if !proxyHeaders[name] {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(&b, "wrk.headers[%q] = %q\n", name, strings.Join(r.Header[name], ", "))
	}
	fmt.Fprintf(&b, "wrk.body = %q\n", string(body))
	if err := os.WriteFile(filepath.Join(d.dir, module+".lua"), []byte(b.String()), 0o600); err != nil {
		log.Print(err)
	}
}
