package caddymodule

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// The request body: read once, bounded in size (max_body) and in time
// (read_body_timeout), into a pooled buffer; and what is left of a body
// refused as too large, drained within bounds before the connection
// closes.

// boundBodyRead sets the deadline by which r's body must have arrived in
// full: read_body_timeout from start, or the server's read_body timeout
// if shorter. It bounds every read of the body on the connection, the
// handler's and the proxy's (artifact downloads forward theirs as it
// comes), and, for a body left unread, the server's drain after the
// answer. Caddy's idle timeout takes it as a ceiling of its own.
//
// Only a request with a body gets one: without a body, Go's server is
// already watching the connection for the client going away, and a read
// deadline passing then would cancel the request while the CI server is
// still answering. Reading a body to its end clears the deadline the
// same way. Where the protocol has no read deadline (HTTP/3), the
// server's own timeouts bound the read.
func (h *Handler) boundBodyRead(w http.ResponseWriter, r *http.Request, start time.Time) {
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return
	}
	timeout := time.Duration(h.ReadBodyTimeout)
	if srv, ok := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server); ok && srv.ReadTimeout > 0 {
		timeout = min(timeout, time.Duration(srv.ReadTimeout))
	}
	setReadDeadline(w, start.Add(timeout))
}

// setReadDeadline is http.ResponseController's SetReadDeadline, which
// looks through the writers' Unwrap the same way, without the error that
// costs it two allocations (fmt.Errorf) for a writer that has no read
// deadline (HTTP/3's): the request path ignores it.
func setReadDeadline(w http.ResponseWriter, deadline time.Time) {
	for {
		switch t := w.(type) {
		case interface{ SetReadDeadline(time.Time) error }:
			_ = t.SetReadDeadline(deadline)
			return
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return
		}
	}
}

// readBody reads the body once, through the size limit, into buf.
func (h *Handler) readBody(r *http.Request, buf *bytes.Buffer) *triggerapi.Error {
	return readBounded(r, buf, h.MaxBody)
}

// readBounded reads r's body into buf, refusing one longer than limit
// bytes (413): at once when its Content-Length says so, else as soon as it
// passes the limit; one over a limit a handler in front set (Caddy's
// request_body max_size, for a body without Content-Length) gets the same
// 413; and one that has not arrived by the deadline boundBodyRead set
// (408).
func readBounded(r *http.Request, buf *bytes.Buffer, limit int64) *triggerapi.Error {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	if r.ContentLength > limit {
		return triggerapi.ErrBodyTooLarge
	}
	end := limit
	if r.ContentLength >= 0 {
		end = r.ContentLength // the body ends there: Go's server enforces it
	}
	tooLarge, err := readGrowing(buf, r.Body, limit, end)
	switch {
	case err != nil && isTimeout(err):
		return triggerapi.ErrBodyTimeout
	case err != nil && isTooLarge(err):
		return triggerapi.ErrBodyTooLarge
	case err != nil:
		return triggerapi.ErrBadBody
	case tooLarge:
		return triggerapi.ErrBodyTooLarge
	}
	return nil
}

// readGrowing reads src to its end into buf, and stops as soon as buf holds
// more than limit bytes (tooLarge). The buffer grows only as bytes arrive,
// doubling when it is full, and not at all to find the end of a body that
// has reached end (its declared length, or the limit). bytes.Buffer's
// ReadFrom keeps 512 bytes free before every read instead, which doubles
// the buffer of a body just under a power of two (the default max_body is
// 1 MiB) to twice the body's size; for slow clients each holding a body
// near max_body, that was twice the memory.
func readGrowing(buf *bytes.Buffer, src io.Reader, limit, end int64) (tooLarge bool, err error) {
	for {
		if buf.Available() == 0 {
			if int64(buf.Len()) >= end {
				return probeEnd(src)
			}
			buf.Grow(max(buf.Cap(), bytes.MinRead))
		}
		space := buf.AvailableBuffer()[:buf.Available()]
		n, err := src.Read(space)
		buf.Write(space[:n]) // in place: space is buf's own free room
		switch {
		case int64(buf.Len()) > limit:
			return true, nil
		case err == io.EOF:
			return false, nil
		case err != nil:
			return false, err
		}
	}
}

// probeEnd reads past a body that has reached its end: a byte more means
// it goes on beyond it.
func probeEnd(src io.Reader) (more bool, err error) {
	var probe [1]byte
	for {
		n, err := src.Read(probe[:])
		switch {
		case n > 0:
			return true, nil
		case err == io.EOF:
			return false, nil
		case err != nil:
			return false, err
		}
	}
}

// isTimeout reports whether a read failed because its deadline passed.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// isTooLarge reports whether a read failed on an http.MaxBytesReader's
// limit, which request_body sets (wrapped in a 413 caddyhttp.Error).
func isTooLarge(err error) bool {
	var tooLarge *http.MaxBytesError
	return errors.As(err, &tooLarge)
}

// bodyBuffers recycles request body buffers; Parse copies what it keeps.
var bodyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuffer keeps one oversized body from pinning its memory.
const maxPooledBuffer = 256 << 10

func releaseBuffer(buf *bytes.Buffer) {
	if buf.Cap() > maxPooledBuffer {
		return
	}
	buf.Reset()
	bodyBuffers.Put(buf)
}

// The bounds of draining a body refused as too large: what is read and
// discarded after the 413, at most, and for how long.
const (
	drainMaxBytes = 4 << 20
	drainTimeout  = 3 * time.Second
)

// drainRefusedBody reads and discards the rest of a body refused as too
// large, once the 413 has been sent, as nginx's lingering close does. A
// client that writes its whole body before it reads the answer (Python's
// urllib, most scripts) would otherwise get "connection reset" or "broken
// pipe" instead of the 413: closing a connection with unread data resets
// it, and the client loses the answer it had been sent. Bounded: at most
// drainMaxBytes, for at most drainTimeout; a body declared larger than
// that is not read at all, since its client would be reset anyway, nor is
// one whose client waits for 100 Continue before sending it. HTTP/2 and
// HTTP/3 end a stream without ending the connection: nothing to drain.
func drainRefusedBody(w http.ResponseWriter, r *http.Request, refusal *triggerapi.Error) {
	if refusal != triggerapi.ErrBodyTooLarge || r.ProtoMajor != 1 || r.ContentLength == 0 || r.ContentLength > drainMaxBytes {
		return
	}
	if r.ContentLength > 0 && strings.EqualFold(strings.TrimSpace(r.Header.Get("Expect")), "100-continue") {
		return // refused by its Content-Length before any 100 Continue
	}
	rc := http.NewResponseController(w)
	if rc.Flush() != nil || rc.SetReadDeadline(time.Now().Add(drainTimeout)) != nil {
		return
	}
	_, _ = io.CopyN(io.Discard, r.Body, drainMaxBytes)
}
