package integration

import (
	"bytes"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// stallingArtifacts is an artifacts upstream that sends the first part of
// an archive, flushes, and sends the rest only once the test releases it
// (or after a bound, so that a gateway that buffers still gets an answer).
type stallingArtifacts struct {
	*upstream
	first, rest []byte
	release     chan struct{}
	finished    chan struct{} // closed once the whole archive is written
}

// stallBound is how long the upstream holds the rest of the archive when
// the test does not release it: long enough that a client seeing the
// first bytes before it can only be streamed to, shorter than the client's
// timeout.
const stallBound = 8 * time.Second

func newStallingArtifacts(t *testing.T) *stallingArtifacts {
	t.Helper()
	s := &stallingArtifacts{
		upstream: &upstream{nextID: 4000},
		first:    make([]byte, 256<<10),
		rest:     make([]byte, 4<<20),
		release:  make(chan struct{}),
		finished: make(chan struct{}),
	}
	for _, b := range [][]byte{s.first, s.rest} {
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
	}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.EscapedPath(), "/jobs/artifacts/") {
			s.serve(w, r)
			return
		}
		s.mu.Lock()
		s.reqs = append(s.reqs, upstreamRequest{Method: r.Method, EscapedPath: r.URL.EscapedPath(),
			RawQuery: r.URL.RawQuery, Header: r.Header.Clone()})
		s.mu.Unlock()
		defer close(s.finished)
		// GitLab sends the archive's length: the proxy knows it, and must
		// still pass the bytes on as they come.
		w.Header().Set("Content-Type", "application/zip")
		w.Header().Set("Content-Length", strconv.Itoa(len(s.first)+len(s.rest)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(s.first)
		_ = http.NewResponseController(w).Flush()
		select {
		case <-s.release:
		case <-time.After(stallBound):
		case <-r.Context().Done():
			return
		}
		_, _ = w.Write(s.rest)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// Artifact downloads stream: the caller gets the first bytes of the
// archive while the upstream is still sending it, not once the gateway has
// the whole of it.
func TestJobTokenArtifactsStream(t *testing.T) {
	t.Parallel()
	key := jobKey(0, "gitlab-1")
	jwks := newJWKSServer(t, key)
	up := newStallingArtifacts(t)
	g := newGatewayFor(t, config{Gateway: jobTokenBlock(jwks) + `
		project 9 {
			job_token_allow 12
		}`}, up.upstream)
	released := false
	release := func() {
		if !released {
			released = true
			close(up.release)
		}
	}
	defer release()

	req, err := http.NewRequest(http.MethodGet, g.base()+"/api/v4/projects/9/jobs/artifacts/main/download?job=build", nil)
	if err != nil {
		t.Fatal(err)
	}
	tok := g.jobToken(t, key, deployJob, nil)
	req.Header.Set("JOB-TOKEN", tok)
	g.siteRequests++
	start := time.Now()
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("caller got %d, want 200", resp.StatusCode)
	}

	// The first part arrives while the upstream holds the rest.
	head := make([]byte, len(up.first))
	read := make(chan error, 1)
	go func() {
		_, err := io.ReadFull(resp.Body, head)
		read <- err
	}()
	select {
	case err := <-read:
		if err != nil {
			t.Fatalf("reading the first %d bytes: %v", len(head), err)
		}
	case <-time.After(stallBound / 2):
		release()
		t.Fatalf("no first %d bytes after %s while the upstream held the rest: the download is buffered, not streamed",
			len(head), stallBound/2)
	}
	select {
	case <-up.finished:
		t.Fatalf("the first bytes came after the upstream had sent the whole archive (%s): buffered, not streamed",
			time.Since(start).Round(time.Millisecond))
	default:
	}
	if !bytes.Equal(head, up.first) {
		t.Fatalf("the first %d bytes differ from the archive's (%s, want %s)", len(head), digest(head), digest(up.first))
	}
	t.Logf("first %d KiB after %s, while the upstream held the rest", len(head)>>10, time.Since(start).Round(time.Millisecond))

	// Released, the rest follows, byte for byte.
	release()
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rest, up.rest) {
		t.Errorf("the rest of the archive: %d bytes (%s), want %d (%s)", len(rest), digest(rest), len(up.rest), digest(up.rest))
	}
	assertArtifactForwarded(t, up.take(), artifactForwarded{
		Path: "/api/v4/projects/9/jobs/artifacts/main/download", Query: "job=build", Job: deployJob, CallerToken: tok,
	})
}
