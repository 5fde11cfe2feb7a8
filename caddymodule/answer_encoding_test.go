package caddymodule

import (
	"bytes"
	"compress/gzip"
	"strings"
	"testing"
	"unsafe"
)

func gzipped(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDecodeAnswerBody(t *testing.T) {
	const answer = `{"id":7}`
	for _, tc := range []struct {
		name, encoding string
		body           []byte
		limit          int
		want           string
		wantOK         bool
	}{
		{"no encoding", "", []byte(answer), 100, answer, true},
		{"identity", "Identity", []byte(answer), 100, answer, true},
		{"gzip", "gzip", gzipped(t, answer), 100, answer, true},
		{"x-gzip", "X-GZIP", gzipped(t, answer), 100, answer, true},
		{"gzip at the limit", "gzip", gzipped(t, answer), len(answer), answer, true},
		{"gzip beyond the limit once decoded", "gzip", gzipped(t, strings.Repeat("x", 1000)), 999, "", false},
		{"plain beyond the limit", "", []byte(answer), len(answer) - 1, "", false},
		{"not gzip", "gzip", []byte(answer), 100, "", false},
		{"truncated gzip", "gzip", gzipped(t, answer)[:10], 100, "", false},
		{"br", "br", []byte("\x0b\x03\x80"), 100, "", false},
		{"two encodings", "gzip, br", gzipped(t, answer), 100, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := decodeAnswerBody(tc.encoding, tc.body, tc.limit)
			if ok != tc.wantOK || (ok && string(got) != tc.want) {
				t.Errorf("decodeAnswerBody(%q) = %q, %v; want %q, %v", tc.encoding, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestParseContentCoding(t *testing.T) {
	for _, tc := range []struct {
		encoding string
		want     contentCoding
		name     string // the value a replay carries
	}{
		{"", codingNone, ""},
		{"identity", codingNone, ""},
		{"gzip", codingGzip, "gzip"},
		{"GZip", codingGzip, "gzip"},
		{"x-gzip", codingXGzip, "x-gzip"},
		{"deflate", codingDeflate, "deflate"},
		{"br", codingBrotli, "br"},
		{"zstd", codingZstd, "zstd"},
		{"compress", codingOther, ""},
		{"gzip, br", codingOther, ""},
	} {
		got := parseContentCoding(tc.encoding)
		if got != tc.want || got.String() != tc.name {
			t.Errorf("parseContentCoding(%q) = %d (%q), want %d (%q)", tc.encoding, got, got.String(), tc.want, tc.name)
		}
	}
}

// requestState is allocated once a request in the 448-byte size class
// (request_state.go): a field that pushes it past costs every request 32
// bytes more, past 512 a type header too.
func TestRequestStateFitsItsSizeClass(t *testing.T) {
	if size := unsafe.Sizeof(requestState{}); size > 448 {
		t.Fatalf("requestState is %d bytes, more than 448", size)
	}
}
