package caddymodule

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// The gateway reads the answer to every trigger it forwards (the pipeline
// it names, the answer kept for a repeat, another CI's answer read by its
// module): the caller's Accept-Encoding must not reach the CI, or the CI
// answers in an encoding the proxy leaves as it is (it decodes only what
// it asked for itself), which the gateway cannot read.
func TestForwardDropsCallersAcceptEncoding(t *testing.T) {
	h := jenkinsGateway(t)
	for _, tc := range []struct {
		name, project string
		ci            ciStandIn
	}{
		{"gitlab", "11", ciStandIn{status: http.StatusCreated, answer: `{"id":5}`}},
		{"jenkins", "9", ciStandIn{status: http.StatusCreated, location: "https://jenkins.example.com/queue/item/31/"}},
		{"github_actions", "10", ciStandIn{status: http.StatusOK, answer: `{"workflow_run_id":8}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, token := createToken(t, h, tc.project, "alice")
			fields := url.Values{"token": {token}, "ref": {"main"}}
			r := httptest.NewRequest(http.MethodPost, "/api/v4/projects/"+tc.project+"/trigger/pipeline", strings.NewReader(fields.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("Accept-Encoding", "gzip, deflate, br")
			ci := tc.ci
			w, _, err := serve(h, r, &ci)
			if err != nil || ci.calls != 1 {
				t.Fatalf("ServeHTTP: %v, CI called %d times: %d %s", err, ci.calls, w.Code, w.Body)
			}
			if got := ci.header.Values("Accept-Encoding"); len(got) != 0 {
				t.Errorf("the CI got the caller's Accept-Encoding %q", got)
			}
		})
	}
}

// gzipAnsweringCI answers with a gzip-compressed JSON body and its
// Content-Encoding whatever the request accepts, as some CIs and proxies
// do; reverse_proxy hands such an answer on as it is when its transport
// did not ask for gzip itself (compression off) or for an encoding it does
// not decode.
type gzipAnsweringCI struct {
	status int
	answer string
}

func (c gzipAnsweringCI) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	_, _ = io.Copy(io.Discard, r.Body)
	var body bytes.Buffer
	zw := gzip.NewWriter(&body)
	_, _ = io.WriteString(zw, c.answer)
	_ = zw.Close()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Encoding", "gzip")
	w.Header().Set("Content-Length", strconv.Itoa(body.Len()))
	w.WriteHeader(c.status)
	_, _ = w.Write(body.Bytes())
	return nil
}

// readAsClient is an answer's body as an HTTP client reads it: decoded
// when its Content-Encoding is gzip.
func readAsClient(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	switch enc := w.Header().Get("Content-Encoding"); enc {
	case "":
		return w.Body.String()
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(w.Body.Bytes()))
		if err != nil {
			t.Fatalf("Content-Encoding gzip on a body that is not: %v", err)
		}
		body, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("Content-Encoding gzip on a body that is not: %v", err)
		}
		return string(body)
	default:
		t.Fatalf("Content-Encoding %q", enc)
		return ""
	}
}

// A CI's answer compressed though nobody asked reads the same on the first
// request and on its Idempotency-Key retry: GitLab's passed on with its
// encoding, another CI's read by its module (the run it names is the
// pipeline's id) and answered as GitLab's pipeline object.
func TestCompressedCIAnswerReplaysReadable(t *testing.T) {
	h := jenkinsGateway(t)
	for _, tc := range []struct {
		name, project string
		ci            gzipAnsweringCI
		wantStatus    int
		wantID        int64
	}{
		{"gitlab", "11", gzipAnsweringCI{http.StatusCreated, `{"id":7001,"status":"created","web_url":"https://gitlab.example.com/g/p/-/pipelines/7001"}`},
			http.StatusCreated, 7001},
		{"github_actions", "10", gzipAnsweringCI{http.StatusOK, `{"workflow_run_id":8123,"html_url":"https://github.com/acme/app/actions/runs/8123"}`},
			http.StatusCreated, 8123},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trigger, token := createToken(t, h, tc.project, "alice")
			key := "compressed-" + tc.name
			var bodies [2]string
			for i := range bodies {
				fields := url.Values{"token": {token}, "ref": {"main"}}
				r := httptest.NewRequest(http.MethodPost, "/api/v4/projects/"+tc.project+"/trigger/pipeline", strings.NewReader(fields.Encode()))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				r.Header.Set("Idempotency-Key", key)
				w, _, err := serve(h, r, tc.ci)
				if err != nil || w.Code != tc.wantStatus {
					t.Fatalf("answer %d: %v, %d %q", i, err, w.Code, w.Body)
				}
				if replayed := w.Header().Get(headerReplayed) == "true"; replayed != (i == 1) {
					t.Errorf("answer %d: replayed %v", i, replayed)
				}
				bodies[i] = readAsClient(t, w)
				var p struct {
					ID int64 `json:"id"`
				}
				if err := json.Unmarshal([]byte(bodies[i]), &p); err != nil || p.ID != tc.wantID {
					t.Errorf("answer %d: %q (%v), want pipeline %d", i, bodies[i], err, tc.wantID)
				}
			}
			if bodies[0] != bodies[1] {
				t.Errorf("the retry reads %q, the first answer %q", bodies[1], bodies[0])
			}
			// The trigger's deliveries name the pipeline, first and replayed.
			deliveries, err := h.gateway.store.Deliveries(context.Background(), trigger.ID)
			if err != nil || len(deliveries) != 2 {
				t.Fatalf("deliveries %+v: %v", deliveries, err)
			}
			for _, d := range deliveries {
				if d.PipelineID == nil || *d.PipelineID != tc.wantID {
					t.Errorf("delivery %+v, want pipeline %d", d, tc.wantID)
				}
			}
		})
	}
}
