package caddymodule

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// bodyServer serves h on a real HTTP/1.1 server, so that the body's read
// deadline and the drain after a 413 apply to a real connection; the next
// handler answers 201. handled receives how long each request spent in
// the handler.
func bodyServer(t *testing.T, h *Handler) (addr string, handled <-chan time.Duration) {
	t.Helper()
	durations := make(chan time.Duration, 100)
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusCreated)
		return nil
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		if err := h.ServeHTTP(w, r, next); err != nil {
			w.WriteHeader(http.StatusInternalServerError)
		}
		durations <- time.Since(start)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), durations
}

// exchange writes head, then feeds body slowly or at once as asked, and
// reads the answer while it does.
func exchange(t *testing.T, addr, head string, feed func(net.Conn)) (*http.Response, string, time.Duration) {
	t.Helper()
	start := time.Now()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(start.Add(10 * time.Second))
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	go feed(conn)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer after %s: %v", time.Since(start), err)
	}
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body), time.Since(start)
}

func TestReadBodyTimeout(t *testing.T) {
	const bound = 300 * time.Millisecond
	h := provisionHandler(t, &Handler{ReadBodyTimeout: caddy.Duration(bound), DisableFailedAuthLimit: true}, "")
	_, token := createToken(t, h, "9", "alice")
	addr, _ := bodyServer(t, h)
	head := func(headers string) string {
		return "POST /api/v4/projects/9/trigger/pipeline?ref=main&token=" + token + " HTTP/1.1\r\nHost: x\r\n" +
			"Content-Type: application/x-www-form-urlencoded\r\n" + headers + "\r\n"
	}
	trickle := func(conn net.Conn) {
		for range 100 {
			if _, err := conn.Write([]byte("a")); err != nil {
				return
			}
			time.Sleep(bound / 5)
		}
	}
	tests := []struct {
		name     string
		head     string
		feed     func(net.Conn)
		status   int
		wantBody string
	}{
		{"body in time", head("Content-Length: 15\r\n"), func(c net.Conn) { _, _ = io.WriteString(c, "variables[A]=b&") }, 201, ""},
		{"Content-Length larger than the body", head("Content-Length: 100\r\n"), func(c net.Conn) { _, _ = io.WriteString(c, "variables[A]=b") },
			408, `{"message":"408 Request Timeout"}`},
		{"trickled", head("Content-Length: 100\r\n"), trickle, 408, `{"message":"408 Request Timeout"}`},
		{"chunked, no last chunk", head("Transfer-Encoding: chunked\r\n"), func(c net.Conn) { _, _ = io.WriteString(c, "2\r\nab\r\n") },
			408, `{"message":"408 Request Timeout"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body, elapsed := exchange(t, addr, tt.head, tt.feed)
			if resp.StatusCode != tt.status || body != tt.wantBody {
				t.Fatalf("got %d %s, want %d %s", resp.StatusCode, body, tt.status, tt.wantBody)
			}
			if tt.status == http.StatusRequestTimeout {
				if elapsed < bound || elapsed > bound+2*time.Second {
					t.Errorf("answered after %s, want at the bound %s", elapsed, bound)
				}
				if !resp.Close {
					t.Errorf("the connection is kept open after a body that never arrived")
				}
			}
		})
	}
}

// The server's read_body timeout, when shorter, wins over read_body_timeout.
func TestReadBodyTimeoutServerShorter(t *testing.T) {
	h := provisionHandler(t, &Handler{ReadBodyTimeout: caddy.Duration(time.Minute), DisableFailedAuthLimit: true}, "")
	_, token := createToken(t, h, "9", "alice")
	server := &caddyhttp.Server{ReadTimeout: caddy.Duration(300 * time.Millisecond)}
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { return nil })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(context.WithValue(r.Context(), caddyhttp.ServerCtxKey, server))
		_ = h.ServeHTTP(w, r, next)
	}))
	defer srv.Close()
	resp, body, elapsed := exchange(t, strings.TrimPrefix(srv.URL, "http://"),
		"POST /api/v4/projects/9/trigger/pipeline?ref=main&token="+token+" HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n",
		func(c net.Conn) { _, _ = io.WriteString(c, "x") })
	if resp.StatusCode != http.StatusRequestTimeout || elapsed > 5*time.Second {
		t.Errorf("got %d %s after %s, want 408 after the server's 300ms", resp.StatusCode, body, elapsed)
	}
}

// A client that writes its whole body before reading gets the 413, and
// the drain that makes it so is bounded in bytes and in time.
func TestDrainRefusedBody(t *testing.T) {
	h := provisionHandler(t, &Handler{MaxBody: 64 << 10, ReadBodyTimeout: caddy.Duration(5 * time.Second), DisableFailedAuthLimit: true}, "")
	addr, handled := bodyServer(t, h)
	head := func(headers string) string {
		return "POST /api/v4/projects/9/trigger/pipeline?ref=main&token=x HTTP/1.1\r\nHost: x\r\n" +
			"Content-Type: application/x-www-form-urlencoded\r\n" + headers + "\r\n"
	}
	tooLarge := `{"message":"413 Request Entity Too Large"}`

	// The client writes at a slow link's pace, for longer than Go's server
	// waits after its answer before it closes (500ms): a close then, with
	// the body unread, resets the connection under the client's writes.
	t.Run("written whole before reading", func(t *testing.T) {
		body := strings.Repeat("a", 2<<20)
		for _, framing := range []string{fmt.Sprintf("Content-Length: %d\r\n", len(body)), "Transfer-Encoding: chunked\r\n"} {
			data := head(framing)
			if strings.HasPrefix(framing, "Transfer") {
				data += fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(body), body)
			} else {
				data += body
			}
			for i := range 3 {
				status, got, err := writePacedThenRead(addr, data, 64<<10, 30*time.Millisecond)
				if err != nil || status != http.StatusRequestEntityTooLarge || got != tooLarge {
					t.Fatalf("%stry %d: got %d %s (%v), want 413", framing, i+1, status, got, err)
				}
				<-handled
			}
		}
	})

	t.Run("declared beyond the drain: not read", func(t *testing.T) {
		resp, body, _ := exchange(t, addr, head(fmt.Sprintf("Content-Length: %d\r\n", drainMaxBytes+1)), func(net.Conn) {})
		if resp.StatusCode != http.StatusRequestEntityTooLarge || body != tooLarge {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
		if d := <-handled; d > time.Second {
			t.Errorf("the handler spent %s on a body it should not read", d)
		}
	})

	t.Run("trickled: drained for drainTimeout at most", func(t *testing.T) {
		stop := make(chan struct{})
		defer close(stop)
		resp, body, _ := exchange(t, addr, head("Transfer-Encoding: chunked\r\n"), func(c net.Conn) {
			chunk := fmt.Sprintf("%x\r\n%s\r\n", 32<<10, strings.Repeat("a", 32<<10))
			for {
				if _, err := io.WriteString(c, chunk); err != nil {
					return
				}
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
		})
		if resp.StatusCode != http.StatusRequestEntityTooLarge || body != tooLarge {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
		if d := <-handled; d > drainTimeout+time.Second {
			t.Errorf("the handler drained for %s, the bound is %s", d, drainTimeout)
		}
	})
}

// writePacedThenRead writes data in chunks, a pause after each, before it
// reads anything; then it reads the answer.
func writePacedThenRead(addr, data string, chunk int, pause time.Duration) (int, string, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	for len(data) > 0 {
		n := min(len(data), chunk)
		if _, err := io.WriteString(conn, data[:n]); err != nil {
			return 0, "", fmt.Errorf("writing the request: %w", err)
		}
		data = data[n:]
		time.Sleep(pause)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, "", fmt.Errorf("reading the answer: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func TestIsTimeout(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"deadline exceeded", os.ErrDeadlineExceeded, true},
		{"wrapped deadline", fmt.Errorf("reading: %w", os.ErrDeadlineExceeded), true},
		{"net timeout", &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, true},
		{"unexpected EOF", io.ErrUnexpectedEOF, false},
		{"other", errors.New("boom"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isTimeout(tt.err); got != tt.want {
				t.Errorf("isTimeout(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestReadGrowing(t *testing.T) {
	const limit = 1 << 20
	tests := []struct {
		name     string
		size     int
		declared bool // the body's length is known (Content-Length)
		tooLarge bool
		maxCap   int // the buffer's capacity at most
	}{
		{"empty, declared", 0, true, false, 0},
		{"empty, chunked", 0, false, false, 512},
		{"small", 100, true, false, 512},
		{"a byte under the limit, declared", limit - 1, true, false, limit},
		{"a byte under the limit, chunked", limit - 1, false, false, limit},
		{"at the limit, declared", limit, true, false, limit},
		{"at the limit, chunked", limit, false, false, limit},
		{"a byte over the limit, chunked", limit + 1, false, true, limit},
		{"far over the limit, chunked", 3 * limit, false, true, 2 * limit},
		{"just over a power of two", 64<<10 + 1, true, false, 128 << 10},
	}
	readers := map[string]func(io.Reader) io.Reader{
		"whole":       func(r io.Reader) io.Reader { return r },
		"a byte":      iotest.OneByteReader,
		"half a read": iotest.HalfReader,
	}
	for _, tt := range tests {
		for rname, wrap := range readers {
			t.Run(tt.name+", "+rname, func(t *testing.T) {
				body := strings.Repeat("x", tt.size)
				end := int64(limit)
				if tt.declared {
					end = int64(tt.size)
				}
				var buf bytes.Buffer
				tooLarge, err := readGrowing(&buf, wrap(strings.NewReader(body)), limit, end)
				if err != nil || tooLarge != tt.tooLarge {
					t.Fatalf("readGrowing = %v, %v; want %v, nil", tooLarge, err, tt.tooLarge)
				}
				if !tt.tooLarge && buf.String() != body {
					t.Errorf("read %d bytes, want the %d of the body", buf.Len(), tt.size)
				}
				if buf.Cap() > tt.maxCap {
					t.Errorf("the buffer grew to %d bytes for a body of %d, want at most %d", buf.Cap(), tt.size, tt.maxCap)
				}
			})
		}
	}
}

// The body's read error is the read's answer: a timeout is 408, a body over
// a limit set in front of the gateway (request_body max_size, which reads
// as a *http.MaxBytesError Caddy wraps as a 413 handler error) 413,
// anything else 400.
func TestReadBoundedErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want *triggerapi.Error
	}{
		{"deadline", &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, triggerapi.ErrBodyTimeout},
		{"cut short", io.ErrUnexpectedEOF, triggerapi.ErrBadBody},
		{"over http.MaxBytesReader", &http.MaxBytesError{Limit: 5}, triggerapi.ErrBodyTooLarge},
		{"over request_body max_size", caddyhttp.Error(http.StatusRequestEntityTooLarge, &http.MaxBytesError{Limit: 5}), triggerapi.ErrBodyTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", io.MultiReader(strings.NewReader("token=x"), iotest.ErrReader(tt.err)))
			r.ContentLength = 100
			if got := readBounded(r, new(bytes.Buffer), 1<<20); got != tt.want {
				t.Errorf("readBounded = %v, want %v", got, tt.want)
			}
		})
	}
}
