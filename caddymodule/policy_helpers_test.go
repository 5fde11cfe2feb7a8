package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// policyHiddenValue is a variable value no answer, log line or explanation
// may ever show.
const policyHiddenValue = "hidden-value-7c1f"

// policyCase is one request through ServeHTTP and what must come of it:
// either the canonical request the next handler gets (wantStatus 0), or a
// refusal that reaches no next handler.
type policyCase struct {
	name        string
	target      string
	contentType string
	body        string
	header      map[string]string

	// Refusals.
	wantStatus  int
	wantOutcome string   // {http.trigger.outcome}
	wantMessage []string // parts of the answer's "message"
	wantDetail  string   // part of the log line's "detail"

	// Acceptances.
	wantRef  string
	wantVars map[string]string
	// wantExtra are payload fields the canonical body must carry.
	wantExtra map[string]any
}

// watchLogs replaces the provisioned handler's logger with one the test
// reads; the decision log lines are where a refusal's detail goes.
func watchLogs(h *Handler) *observer.ObservedLogs {
	core, logs := observer.New(zap.DebugLevel)
	h.logger = zap.New(core)
	return logs
}

// logText renders log entries, messages and fields, to search them.
func logText(entries []observer.LoggedEntry) string {
	var b strings.Builder
	for _, e := range entries {
		fmt.Fprintln(&b, e.Message, e.ContextMap())
	}
	return b.String()
}

// runPolicyCases sends every case through h and checks its outcome. No
// answer or log line may hold policyHiddenValue or any of the secrets.
func runPolicyCases(t *testing.T, h *Handler, logs *observer.ObservedLogs, cases []policyCase, secrets ...string) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, tc.target, strings.NewReader(tc.body))
			if tc.contentType != "" {
				r.Header.Set("Content-Type", tc.contentType)
			}
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			next := new(recorder)
			w, repl, err := serve(h, r, next)
			if err != nil {
				t.Fatalf("ServeHTTP: %v", err)
			}
			entries := logs.TakeAll()
			text := logText(entries)
			for _, s := range append([]string{policyHiddenValue}, secrets...) {
				if strings.Contains(w.Body.String(), s) || strings.Contains(text, s) {
					t.Errorf("a secret or variable value is in the answer or the log: %s / %s", w.Body, text)
				}
			}
			outcome, _ := repl.GetString("http.trigger.outcome")

			if tc.wantStatus == 0 {
				if w.Code != http.StatusCreated || next.calls != 1 {
					t.Fatalf("got %d %s with %d upstream calls (outcome %q, log %s), want it forwarded",
						w.Code, w.Body, next.calls, outcome, text)
				}
				if outcome != "accepted" {
					t.Errorf("outcome %q, want accepted", outcome)
				}
				if tc.wantRef != "" && next.body["ref"] != tc.wantRef {
					t.Errorf("forwarded ref %v, want %s", next.body["ref"], tc.wantRef)
				}
				if tc.wantVars != nil {
					if got, want := mustJSON(t, next.body["variables"]), mustJSON(t, tc.wantVars); got != want {
						t.Errorf("forwarded variables %s, want exactly %s", got, want)
					}
				}
				for k, v := range tc.wantExtra {
					if got, want := mustJSON(t, next.body[k]), mustJSON(t, v); got != want {
						t.Errorf("forwarded field %s = %s, want %s", k, got, want)
					}
				}
				return
			}

			if next.calls != 0 {
				t.Fatalf("a refused request reached the next handler (%d calls)", next.calls)
			}
			if w.Code != tc.wantStatus || outcome != tc.wantOutcome {
				t.Errorf("got %d, outcome %q; want %d, %q (body %s)", w.Code, outcome, tc.wantStatus, tc.wantOutcome, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var answer struct {
				Message string `json:"message"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &answer); err != nil || answer.Message == "" {
				t.Fatalf("answer %q is not {\"message\": ...}", w.Body)
			}
			for _, part := range tc.wantMessage {
				if !strings.Contains(answer.Message, part) {
					t.Errorf("message %q does not say %q", answer.Message, part)
				}
			}
			if tc.wantDetail != "" {
				detail := refusalDetail(entries)
				if !strings.Contains(detail, tc.wantDetail) {
					t.Errorf("log detail %q does not say %q (log: %s)", detail, tc.wantDetail, text)
				}
			}
		})
	}
}

// refusalDetail is the detail of the "trigger refused" log line.
func refusalDetail(entries []observer.LoggedEntry) string {
	for _, e := range entries {
		if e.Message == "trigger refused" {
			detail, _ := e.ContextMap()["detail"].(string)
			return detail
		}
	}
	return ""
}

// jsonVars is a JSON trigger body with variables.
func jsonVars(token, ref string, vars map[string]string) string {
	b, err := json.Marshal(map[string]any{"token": token, "ref": ref, "variables": vars})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// scriptedNext is a next handler safe for concurrent use: it answers with
// the statuses given, in turn (the last one repeating; 0 fails like an
// unreachable upstream), counts its calls and can be made slow.
type scriptedNext struct {
	mu       sync.Mutex
	statuses []int
	calls    int
	// wait, when set, is received from before answering.
	wait chan struct{}
}

func (n *scriptedNext) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		return err
	}
	n.mu.Lock()
	n.calls++
	call := n.calls
	status := http.StatusCreated
	if len(n.statuses) > 0 {
		status = n.statuses[min(call, len(n.statuses))-1]
	}
	n.mu.Unlock()
	if n.wait != nil {
		<-n.wait
	}
	if status == 0 {
		return caddyhttp.Error(http.StatusBadGateway, errors.New("dial tcp 127.0.0.1:1: connect: connection refused"))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `{"id":%d,"status":%d}`, call, status)
	return nil
}

func (n *scriptedNext) count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.calls
}

// policyCounter reads a counter of the gateway's metrics.
func policyCounter(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
