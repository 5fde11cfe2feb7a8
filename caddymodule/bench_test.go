package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// nopNext stands in for reverse_proxy: it consumes nothing and answers
// only a status, with no body, so the benchmark measures the gateway
// alone. (A next handler that answers nothing at all is a failure the
// gateway answers 502.)
type nopNext struct{}

func (nopNext) ServeHTTP(w http.ResponseWriter, _ *http.Request) error {
	w.WriteHeader(http.StatusCreated)
	return nil
}

// discardWriter is a ResponseWriter that allocates nothing.
type discardWriter struct{ header http.Header }

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

// benchmarkServe sends the same request through the handler b.N times; the
// token is cached after the first.
func benchmarkServe(b *testing.B, h *Handler, method, target, contentType, body string) {
	benchmarkServeNext(b, h, nopNext{}, method, target, contentType, body)
}

// benchmarkServeNext is benchmarkServe with the given next handler.
func benchmarkServeNext(b *testing.B, h *Handler, next caddyhttp.Handler, method, target, contentType, body string) {
	var ctx context.Context
	w := &discardWriter{header: make(http.Header)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%replacerRequests == 0 { // a server's requests each have their own
			b.StopTimer()
			ctx = context.WithValue(context.Background(), caddy.ReplacerCtxKey, caddy.NewReplacer())
			b.StartTimer()
		}
		r, _ := http.NewRequestWithContext(ctx, method, target, strings.NewReader(body))
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		if err := h.ServeHTTP(w, r, next); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkServeHTTP(b *testing.B) {
	h := provisionHandler(b, &Handler{}, "")
	// Measure the gateway, not the log sink: Caddy writes the decision's
	// line through its own (buffered) logging pipeline.
	h.logger = zap.NewNop()
	_, token := createToken(b, h, "9", "alice")
	formBody := "token=" + token + "&ref=main&variables[A]=1&variables[B]=2&variables[C]=3&variables[D]=4&variables[E]=5"
	jsonBody := `{"token":"` + token + `","ref":"main","variables":{"A":"1","B":"2","C":"3","D":"4","E":"5"}}`

	b.Run("form_5_variables", func(b *testing.B) {
		benchmarkServe(b, h, http.MethodPost, "http://gw/api/v4/projects/9/trigger/pipeline",
			"application/x-www-form-urlencoded", formBody)
	})
	b.Run("multipart_5_variables", func(b *testing.B) { // curl --form, as GitLab's documentation sends it
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		for _, field := range strings.Split(formBody, "&") {
			name, value, _ := strings.Cut(field, "=")
			if err := mw.WriteField(name, value); err != nil {
				b.Fatal(err)
			}
		}
		if err := mw.Close(); err != nil {
			b.Fatal(err)
		}
		benchmarkServe(b, h, http.MethodPost, "http://gw/api/v4/projects/9/trigger/pipeline",
			mw.FormDataContentType(), body.String())
	})
	b.Run("json_5_variables", func(b *testing.B) {
		benchmarkServe(b, h, http.MethodPost, "http://gw/api/v4/projects/9/trigger/pipeline",
			"application/json", jsonBody)
	})
	b.Run("query_string", func(b *testing.B) {
		benchmarkServe(b, h, http.MethodPost, "http://gw/api/v4/projects/9/trigger/pipeline?ref=main&token="+token, "", "")
	})
	b.Run("query_string_pipeline_answer", func(b *testing.B) { // the CI answers GitLab's pipeline object
		benchmarkServeNext(b, h, answering{status: http.StatusCreated, contentType: "application/json", body: gitlabPipelineJSON},
			http.MethodPost, "http://gw/api/v4/projects/9/trigger/pipeline?ref=main&token="+token, "", "")
	})
	b.Run("unknown_token", func(b *testing.B) {
		benchmarkServe(b, h, http.MethodPost,
			"http://gw/api/v4/projects/9/trigger/pipeline?ref=main&token=glptt-0000000000000000000000000000000000000000", "", "")
	})
}

// ciAnswers answers as a CI's API answers a started build: a status, its
// headers and body, prepared once so that the benchmark counts the
// gateway's reading of the answer, not the stand-in's making of it.
type ciAnswers struct {
	status int
	header http.Header
	body   []byte
}

func (c ciAnswers) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	for name, values := range c.header {
		h[name] = values
	}
	w.WriteHeader(c.status)
	_, _ = w.Write(c.body)
	return nil
}

// upstreamBenchmarks are the upstream modules as BenchmarkServeHTTPUpstream
// configures them, each with its CI's documented answer to a started build
// (the answers of integration/ci_recorders_test.go) and what of it the
// caller's answer must hold.
var upstreamBenchmarks = []struct {
	module string
	config string // the module's JSON settings; "" for gitlab, the default
	answer ciAnswers
	want   string
}{
	{"gitlab", "", ciAnswers{http.StatusCreated, http.Header{"Content-Type": {"application/json"}}, []byte(gitlabPipelineJSON)}, `"id":4242,`},
	{"jenkins", `{"module":"jenkins","job":"folder/deploy-app","ref_parameter":"GIT_REF","user":"ci-bot","api_token":"{env.BENCH_CI_TOKEN}"}`,
		ciAnswers{http.StatusCreated, http.Header{"Location": {"https://jenkins.example.com/queue/item/4100/"}}, nil}, `"id":4100,`},
	{"github_actions", `{"module":"github_actions","repository":"acme/app","workflow":"deploy.yml","token":"{env.BENCH_CI_TOKEN}"}`,
		ciAnswers{http.StatusOK, http.Header{"Content-Type": {"application/json; charset=utf-8"}},
			[]byte(`{"workflow_run_id":23456789012,"run_url":"https://api.github.com/repos/acme/app/actions/runs/23456789012","html_url":"https://github.com/acme/app/actions/runs/23456789012"}`)}, `"id":23456789012,`},
	{"buildbot", `{"module":"buildbot","scheduler":"force","builders":["runtests"],"web_url":"https://buildbot.example.com"}`,
		ciAnswers{http.StatusOK, http.Header{"Content-Type": {"application/json"}}, []byte(`{"jsonrpc":"2.0","id":1,"result":[42,{"1":57}]}`)}, `"id":42,`},
	{"buildkite", `{"module":"buildkite","organization":"acme","pipeline":"deploy","token":"{env.BENCH_CI_TOKEN}"}`,
		ciAnswers{http.StatusCreated, http.Header{"Content-Type": {"application/json; charset=utf-8"}},
			[]byte(`{"id":"f62a1b4d-10f9-4790-bc1c-e2c3a0c80000","graphql_id":"QnVpbGQtLS1mNjJhMWI0ZA==",` +
				`"url":"https://api.buildkite.com/v2/organizations/acme/pipelines/deploy/builds/810","web_url":"https://buildkite.com/acme/deploy/builds/810",` +
				`"number":810,"state":"scheduled","blocked":false,"message":"triggered through the GitLab trigger API","commit":"HEAD","branch":"main",` +
				`"env":{"A":"1","B":"2","C":"3","D":"4","E":"5","TRIGGER_SOURCE":"trigger"},"source":"api",` +
				`"creator":{"id":"3d3c3bf0-7d58-4afe-8fe7-b3017d5504de","name":"Keith Pitt"},"jobs":[],` +
				`"created_at":"2026-01-05T10:00:00.000Z","scheduled_at":"2026-01-05T10:00:00.000Z","started_at":null,"finished_at":null,"meta_data":{},"pull_request":null}`)}, `"id":810,`},
	{"woodpecker", `{"module":"woodpecker","repository_id":7,"token":"{env.BENCH_CI_TOKEN}","web_url":"https://ci.example.com"}`,
		ciAnswers{http.StatusOK, http.Header{"Content-Type": {"application/json; charset=utf-8"}},
			[]byte(`{"id":9057,"number":57,"author":"ci-bot","parent":0,"event":"manual","status":"pending","errors":null,` +
				`"created":1767607200,"updated":1767607200,"started":0,"finished":0,"deploy_to":"","commit":"d1b1f2c3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9",` +
				`"branch":"main","ref":"main","refspec":"","title":"","message":"MANUAL PIPELINE @ main","timestamp":1767607200,"sender":"",` +
				`"variables":{"A":"1","B":"2","C":"3","D":"4","E":"5","TRIGGER_SOURCE":"trigger"}}`)}, `"id":57,`},
	{"json", `{"module":"json","path":"/hooks/deploy"}`,
		ciAnswers{http.StatusAccepted, http.Header{"Content-Type": {"application/json"}},
			[]byte(`{"eventListener":"gateway-listener","namespace":"default","eventListenerUID":"ea71a6e4-9531-43a1-94fe-6136515d938c","eventID":"14a657c3-6816-45bf-b214-4afdaefc0000"}`)}, `"id":null,`},
}

// The request path with each upstream module, against gitlab's: a form
// with 5 variables, a cached token, the CI's answer to a started build
// read and turned into GitLab's pipeline object (gitlab's passed through).
// Sub-benchmarks are named module=<name> for benchstat's -col /module.
// Every handler is made, and its answer checked, before the first
// sub-benchmark starts: their log lines come before the results.
func BenchmarkServeHTTPUpstream(b *testing.B) {
	b.Setenv("BENCH_CI_TOKEN", "bench-ci-credential-0123456789")
	handlers := make([]*Handler, len(upstreamBenchmarks))
	bodies := make([]string, len(upstreamBenchmarks))
	for i, ub := range upstreamBenchmarks {
		h := &Handler{}
		if ub.config != "" {
			h.UpstreamRaw = json.RawMessage(ub.config)
		}
		h = provisionHandler(b, h, "")
		h.logger = zap.NewNop()
		_, token := createToken(b, h, "9", "alice")
		body := "token=" + token + "&ref=main&variables[A]=1&variables[B]=2&variables[C]=3&variables[D]=4&variables[E]=5"
		// The caller's answer: the CI's build, as GitLab's pipeline object.
		r := httptest.NewRequest(http.MethodPost, "/api/v4/projects/9/trigger/pipeline", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w, _, err := serve(h, r, ub.answer)
		if err != nil || w.Code != http.StatusCreated || !strings.Contains(w.Body.String(), ub.want) {
			b.Fatalf("%s: %d %s (%v), want 201 with %s", ub.module, w.Code, w.Body, err, ub.want)
		}
		handlers[i], bodies[i] = h, body
	}
	for i, ub := range upstreamBenchmarks {
		b.Run("module="+ub.module, func(b *testing.B) {
			benchmarkServeNext(b, handlers[i], ub.answer, http.MethodPost, "http://gw/api/v4/projects/9/trigger/pipeline",
				"application/x-www-form-urlencoded", bodies[i])
		})
	}
}
