package integration

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// A CI server compresses its JSON answer when the request says the client
// takes gzip, as GitHub's API and GitLab's nginx (gzip_types
// application/json) do; python-gitlab (requests) and Go's client say so on
// every request. The gateway reads the CI's answer (the pipeline it names,
// the answer it keeps for a repeat), so the caller's Accept-Encoding must
// not reach the CI: the proxy then asks for gzip itself and hands the
// gateway the answer decoded.

// newGzipCI is a stand-in that answers every POST with status and the JSON
// body answer(n) (n counts requests from 1), gzip-compressed when the
// request accepts gzip. gzipped counts the answers it compressed.
func newGzipCI(t *testing.T, status int, answer func(n int64) string) (srv *httptest.Server, gzipped *atomic.Int64) {
	t.Helper()
	return newCompressingCI(t, false, status, answer)
}

// newCompressingCI is newGzipCI, compressing every answer when always is
// set, whatever the request accepts, as some CIs and proxies do.
func newCompressingCI(t *testing.T, always bool, status int, answer func(n int64) string) (srv *httptest.Server, gzipped *atomic.Int64) {
	t.Helper()
	var seen atomic.Int64
	gzipped = new(atomic.Int64)
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := answer(seen.Add(1))
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		if !always && !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
			return
		}
		gzipped.Add(1)
		w.Header().Set("Content-Encoding", "gzip")
		w.WriteHeader(status)
		zw := gzip.NewWriter(w)
		_, _ = zw.Write([]byte(body))
		_ = zw.Close()
	}))
	t.Cleanup(srv.Close)
	return srv, gzipped
}

func TestUpstreamCompressedAnswers(t *testing.T) {
	t.Parallel()

	// GitLab behind the gateway: the pipeline its answer names reaches the
	// trigger's deliveries, and a repeat replays an answer the caller can read.
	t.Run("gitlab", func(t *testing.T) {
		t.Parallel()
		ci, gzipped := newGzipCI(t, http.StatusCreated, func(n int64) string {
			return fmt.Sprintf(`{"id":%d,"iid":%d,"project_id":9,"ref":"main","status":"created","source":"trigger",`+
				`"web_url":"https://gitlab.example.com/group/project/-/pipelines/%d"}`, 7000+n, n, 7000+n)
		})
		g := newGateway(t, config{ProxyTo: strings.TrimPrefix(ci.URL, "http://")})
		tr := g.addTrigger(t, addOpts{Project: "9", Description: "gzip", Owner: "alice"})
		assertRepeatReplayed(t, g, tr, 7001)
		t.Logf("answers the CI compressed: %d", gzipped.Load())
	})

	// GitHub: the run its answer names is the caller's pipeline id.
	t.Run("github_actions", func(t *testing.T) {
		t.Parallel()
		ci, gzipped := newGzipCI(t, http.StatusOK, func(n int64) string {
			id := githubFirstRunID + n
			return fmt.Sprintf(`{"workflow_run_id":%d,"run_url":"https://api.github.com/repos/acme/app/actions/runs/%d",`+
				`"html_url":"https://github.com/acme/app/actions/runs/%d"}`, id, id, id)
		})
		g := newGateway(t, config{
			Gateway: "project 9 {\nupstream github_actions {\nrepository acme/app\nworkflow deploy.yml\ntoken {env.GH_TOKEN}\n}\n}",
			ProxyTo: strings.TrimPrefix(ci.URL, "http://"),
			Env:     map[string]string{"GH_TOKEN": "ghp-" + randomHex(16)},
		})
		tr := g.addTrigger(t, addOpts{Project: "9", Description: "gzip", Owner: "alice"})
		resp := g.post(t, "/api/v4/projects/9/trigger/pipeline", urlencoded("token", tr.Token, "ref", "main"),
			"Accept-Encoding", "gzip")
		id := int64(githubFirstRunID + 1)
		assertPipelineObject(t, resp, 9, "main", &id, fmt.Sprintf("https://github.com/acme/app/actions/runs/%d", id))
		t.Logf("answers the CI compressed: %d", gzipped.Load())
	})
}

// A CI that compresses its answer though nobody asked for it: with
// reverse_proxy's compression off the proxy asks for no encoding and
// decodes none, so the answer reaches the gateway gzip-compressed, with
// its Content-Encoding. The caller reads the first answer, and its
// Idempotency-Key retry reads the same: GitLab's answer passed on (and
// replayed) with its encoding, another CI's read by its module.
func TestUpstreamCompressedUnaskedAnswers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		status  int
		answer  func(n int64) string
		gateway string
		env     map[string]string
		wantID  int64
	}{
		{
			name: "gitlab", status: http.StatusCreated, wantID: 7001,
			answer: func(n int64) string {
				return fmt.Sprintf(`{"id":%d,"iid":%d,"project_id":9,"ref":"main","status":"created","source":"trigger",`+
					`"web_url":"https://gitlab.example.com/group/project/-/pipelines/%d"}`, 7000+n, n, 7000+n)
			},
		},
		{
			name: "github_actions", status: http.StatusOK, wantID: githubFirstRunID + 1,
			answer: func(n int64) string {
				id := githubFirstRunID + n
				return fmt.Sprintf(`{"workflow_run_id":%d,"run_url":"https://api.github.com/repos/acme/app/actions/runs/%d",`+
					`"html_url":"https://github.com/acme/app/actions/runs/%d"}`, id, id, id)
			},
			gateway: "project 9 {\nupstream github_actions {\nrepository acme/app\nworkflow deploy.yml\ntoken {env.GH_TOKEN}\n}\n}",
			env:     map[string]string{"GH_TOKEN": "ghp-" + randomHex(16)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ci, gzipped := newCompressingCI(t, true, tc.status, tc.answer)
			g := newGateway(t, config{
				Gateway: tc.gateway,
				ProxyTo: strings.TrimPrefix(ci.URL, "http://"),
				Proxy:   "transport http {\n\tcompression off\n}",
				Env:     tc.env,
			})
			tr := g.addTrigger(t, addOpts{Project: "9", Description: "gzip unasked", Owner: "alice"})
			assertRepeatReplayed(t, g, tr, tc.wantID)
			if gzipped.Load() != 1 {
				t.Errorf("the CI compressed %d answers, want 1 (one request reached it)", gzipped.Load())
			}
		})
	}
}

// assertRepeatReplayed triggers project 9's pipeline with tr and again with
// the same Idempotency-Key: both answers must be 201 with pipeline wantID
// and read the same, the second replayed, and both of the trigger's
// deliveries must name the pipeline.
func assertRepeatReplayed(t *testing.T, g *gateway, tr triggerObj, wantID int64) {
	t.Helper()
	body := urlencoded("token", tr.Token, "ref", "main")
	key := "repeat-" + randomHex(8)
	first := g.post(t, "/api/v4/projects/9/trigger/pipeline", body, "Idempotency-Key", key)
	again := g.post(t, "/api/v4/projects/9/trigger/pipeline", body, "Idempotency-Key", key)
	for _, resp := range []response{first, again} {
		var p struct {
			ID int64 `json:"id"`
		}
		if resp.Status != http.StatusCreated || json.Unmarshal(resp.Body, &p) != nil || p.ID != wantID {
			t.Errorf("answer %d %q, want 201 and pipeline %d (first, then replayed)", resp.Status, resp.Body, wantID)
		}
	}
	if again.Header.Get("Idempotent-Replayed") != "true" || string(again.Body) != string(first.Body) {
		t.Errorf("the repeat %s %q, want the first answer %q replayed", again, again.Body, first.Body)
	}
	list := g.deliveries(t, tr.ID)
	if len(list) != 2 {
		t.Fatalf("deliveries %q, want 2", summaries(list))
	}
	for _, d := range list {
		if d.PipelineID == nil || *d.PipelineID != wantID {
			t.Errorf("delivery %s, want pipeline %d", d.summary(), wantID)
		}
	}
}
