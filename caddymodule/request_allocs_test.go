package caddymodule

import (
	"net/http"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// The request path's allocations, and the lifetimes of what it allocates
// once per request for several uses (see request_state.go).

func TestClientIP(t *testing.T) {
	tests := []struct {
		remoteAddr, want string
		allocates        bool // SplitHostPort's error
	}{
		{"192.0.2.1:40000", "192.0.2.1", false},
		{"[2001:db8::1]:40000", "2001:db8::1", false},
		{"192.0.2.1", "192.0.2.1", false}, // no port: as it is
		{"2001:db8::1", "2001:db8::1", true},
		{"", "", false},
	}
	for _, tt := range tests {
		r, _ := http.NewRequest(http.MethodPost, "http://gw/", nil)
		r.RemoteAddr = tt.remoteAddr
		if got := clientIP(r); got != tt.want {
			t.Errorf("clientIP(%q) = %q, want %q", tt.remoteAddr, got, tt.want)
		}
		if allocs := testing.AllocsPerRun(10, func() { clientIP(r) }); allocs != 0 && !tt.allocates {
			t.Errorf("clientIP(%q): %v allocations, want none", tt.remoteAddr, allocs)
		}
	}
}

// deadlineWriter records the read deadline set on it.
type deadlineWriter struct {
	discardWriter
	deadline time.Time
}

func (w *deadlineWriter) SetReadDeadline(t time.Time) error { w.deadline = t; return nil }

func TestSetReadDeadline(t *testing.T) {
	deadline := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	inner := &deadlineWriter{discardWriter: discardWriter{header: make(http.Header)}}
	// Through Unwrap, as http.ResponseController finds it.
	wrapped := &caddyhttp.ResponseWriterWrapper{ResponseWriter: inner}
	setReadDeadline(wrapped, deadline)
	if !inner.deadline.Equal(deadline) {
		t.Errorf("deadline = %v, want %v", inner.deadline, deadline)
	}
	// A writer without one: nothing to set, and no error built to say so.
	none := &caddyhttp.ResponseWriterWrapper{ResponseWriter: &discardWriter{header: make(http.Header)}}
	if allocs := testing.AllocsPerRun(10, func() { setReadDeadline(none, deadline) }); allocs != 0 {
		t.Errorf("setReadDeadline on a writer without deadlines: %v allocations, want none", allocs)
	}
}
