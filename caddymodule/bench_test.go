package caddymodule

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// nopNext stands in for reverse_proxy: it consumes nothing and answers
// nothing, so the benchmark measures the gateway alone.
type nopNext struct{}

func (nopNext) ServeHTTP(http.ResponseWriter, *http.Request) error { return nil }

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
