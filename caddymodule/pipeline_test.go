package caddymodule

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// gitlabPipelineJSON is the start of GitLab's answer to a trigger.
const gitlabPipelineJSON = `{"id":4242,"iid":3,"project_id":9,"ref":"main","status":"created","source":"trigger",` +
	`"web_url":"https://gitlab.example.com/group/project/-/pipelines/4242",` +
	`"user":{"id":1,"web_url":"https://gitlab.example.com/root"},"detailed_status":{"text":"Created"}}`

// answering is a next handler that answers as a CI would: its status,
// Content-Type and body (written in pieces of chunk bytes, 0 = at once),
// then err.
type answering struct {
	status      int
	contentType string
	length      bool // send Content-Length
	body        string
	chunk       int
	err         error
}

func (a answering) ServeHTTP(w http.ResponseWriter, _ *http.Request) error {
	if a.contentType != "" {
		w.Header().Set("Content-Type", a.contentType)
	}
	if a.length {
		w.Header().Set("Content-Length", strconv.Itoa(len(a.body)))
	}
	if a.status != 0 {
		w.WriteHeader(a.status)
	}
	for body := a.body; body != ""; {
		n := len(body)
		if a.chunk > 0 {
			n = min(n, a.chunk)
		}
		_, _ = w.Write([]byte(body[:n]))
		body = body[n:]
	}
	return a.err
}

func TestServeHTTPKeepsThePipeline(t *testing.T) {
	const webURL = "https://gitlab.example.com/group/project/-/pipelines/4242"
	huge := `{"id":4242,"pad":"` + strings.Repeat("x", triggerapi.MaxPipelineAnswer) + `"}`
	cases := []struct {
		name   string
		next   answering
		header map[string]string
		wantID int64
	}{
		{"GitLab's 201", answering{status: 201, contentType: "application/json", length: true, body: gitlabPipelineJSON}, nil, 4242},
		{"in pieces, no WriteHeader", answering{contentType: "application/json; charset=utf-8", body: gitlabPipelineJSON, chunk: 7}, nil, 4242},
		{"idempotent request", answering{status: 201, contentType: "application/json", body: gitlabPipelineJSON},
			map[string]string{"Idempotency-Key": "k1"}, 4242},
		{"not JSON", answering{status: 201, contentType: "text/html", body: gitlabPipelineJSON}, nil, 0},
		{"no Content-Type", answering{status: 201, body: gitlabPipelineJSON}, nil, 0},
		{"an error answer", answering{status: 400, contentType: "application/json", body: `{"id":4242,"message":"x"}`}, nil, 0},
		{"a server error", answering{status: 500, contentType: "application/json", body: gitlabPipelineJSON}, nil, 0},
		{"too long, by Content-Length", answering{status: 201, contentType: "application/json", length: true, body: huge}, nil, 0},
		{"too long, in pieces", answering{status: 201, contentType: "application/json", body: huge, chunk: 1000}, nil, 0},
		{"cut by an upstream error", answering{status: 201, contentType: "application/json", body: gitlabPipelineJSON,
			err: caddyhttp.Error(http.StatusBadGateway, errors.New("connection reset"))}, nil, 0},
		{"unreachable upstream", answering{err: caddyhttp.Error(http.StatusBadGateway, errors.New("refused"))}, nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := provisionHandler(t, &Handler{}, "")
			logs := watchLogs(h)
			trigger, token := createToken(t, h, "9", "alice")
			r := httptest.NewRequest(http.MethodPost, "/api/v4/projects/9/trigger/pipeline?ref=main&token="+token, nil)
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			_, repl, _ := serve(h, r, tc.next)

			entries := logs.FilterMessage("trigger accepted").All()
			if len(entries) != 1 {
				t.Fatalf("%d accepted log lines, want 1:\n%s", len(entries), logText(logs.All()))
			}
			logged, hasField := entries[0].ContextMap()["pipeline_id"]
			placeholder, _ := repl.GetString("http.trigger.pipeline_id")
			_, usage, err := h.gateway.store.Get(context.Background(), trigger.ID)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantID == 0 {
				if hasField || placeholder != "" || usage.LastPipeline != nil {
					t.Fatalf("no pipeline expected; log pipeline_id %v, placeholder %q, last pipeline %+v", logged, placeholder, usage.LastPipeline)
				}
				return
			}
			if logged != tc.wantID || placeholder != strconv.FormatInt(tc.wantID, 10) {
				t.Errorf("log pipeline_id %v, placeholder %q; want %d", logged, placeholder, tc.wantID)
			}
			if p := usage.LastPipeline; p == nil || p.ID != tc.wantID || p.WebURL != webURL || time.Since(p.TriggeredAt) > time.Minute {
				t.Errorf("last pipeline = %+v, want %d %s just now", p, tc.wantID, webURL)
			}
			if usage.UseCount != 1 {
				t.Errorf("use count = %d, want 1", usage.UseCount)
			}
		})
	}
}

// A later answer that names no pipeline keeps the last one.
func TestServeHTTPKeepsTheLastPipelineOnAnswersWithout(t *testing.T) {
	h := provisionHandler(t, &Handler{}, "")
	trigger, token := createToken(t, h, "9", "alice")
	for _, next := range []answering{
		{status: 201, contentType: "application/json", body: gitlabPipelineJSON},
		{status: 201, contentType: "text/plain", body: `{"id":1}`},
		{status: 400, contentType: "application/json", body: `{"message":"x"}`},
		{err: caddyhttp.Error(http.StatusGatewayTimeout, errors.New("timeout"))},
	} {
		r := httptest.NewRequest(http.MethodPost, "/api/v4/projects/9/trigger/pipeline?ref=main&token="+token, nil)
		_, _, _ = serve(h, r, next)
	}
	_, usage, err := h.gateway.store.Get(context.Background(), trigger.ID)
	if err != nil {
		t.Fatal(err)
	}
	if usage.UseCount != 4 || usage.LastPipeline == nil || usage.LastPipeline.ID != 4242 {
		t.Fatalf("usage = %+v, want 4 uses and last pipeline 4242", usage)
	}
}

// A repeat answered with the first answer names the first's pipeline in
// {http.trigger.pipeline_id}, as its log line and recent delivery do.
func TestReplayKeepsThePipelinePlaceholder(t *testing.T) {
	h := provisionHandler(t, &Handler{}, "")
	logs := watchLogs(h)
	_, token := createToken(t, h, "9", "alice")
	next := answering{status: 201, contentType: "application/json", body: gitlabPipelineJSON}
	for i, want := range []string{"accepted", "replayed"} {
		r := httptest.NewRequest(http.MethodPost, "/api/v4/projects/9/trigger/pipeline?ref=main&token="+token, nil)
		r.Header.Set("Idempotency-Key", "replay-placeholder")
		w, repl, _ := serve(h, r, next)
		outcome, _ := repl.GetString("http.trigger.outcome")
		placeholder, _ := repl.GetString("http.trigger.pipeline_id")
		if w.Code != 201 || outcome != want || placeholder != "4242" {
			t.Errorf("request %d: %d, outcome %q, pipeline_id %q; want 201, %s, 4242", i+1, w.Code, outcome, placeholder, want)
		}
	}
	if lines := logs.FilterMessage("trigger repeated: first answer replayed").All(); len(lines) != 1 || lines[0].ContextMap()["pipeline_id"] != int64(4242) {
		t.Errorf("replay log lines %v, want one naming pipeline 4242", lines)
	}
}
