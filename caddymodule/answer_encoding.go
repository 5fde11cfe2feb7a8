package caddymodule

import (
	"bytes"
	"compress/gzip"
	"io"
	"strings"
)

// A CI (or a proxy before it) may compress its answer though nobody asked:
// reverse_proxy decodes only the gzip it asked for itself, so with its
// transport's compression off, or in another encoding, the answer reaches
// the gateway as it was sent, Content-Encoding included. The gateway reads
// such an answer decoded (the pipeline it names, another CI's answer read
// by its module) and replays it to a repeat with its encoding.

// decodableEncoding reports whether the gateway can read an answer in
// encoding: none ("" or identity) or gzip.
func decodableEncoding(encoding string) bool {
	c := parseContentCoding(encoding)
	return c == codingNone || c.gzip()
}

// isGzip reports whether encoding is gzip (x-gzip is its old name).
func isGzip(encoding string) bool { return parseContentCoding(encoding).gzip() }

// decodeAnswerBody is body as a client reads it given its Content-Encoding,
// at most limit bytes: the body itself without an encoding, decoded for
// gzip. ok is false for another encoding, a body that is not what its
// encoding says, or one longer than limit once decoded (a small answer may
// unpack to a large one).
func decodeAnswerBody(encoding string, body []byte, limit int) (decoded []byte, ok bool) {
	if !decodableEncoding(encoding) {
		return nil, false
	}
	if !isGzip(encoding) {
		return body, len(body) <= limit
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, false
	}
	decoded, err = io.ReadAll(io.LimitReader(zr, int64(limit)+1))
	if err != nil || len(decoded) > limit {
		return nil, false
	}
	return decoded, true
}

// contentCoding is the Content-Encoding an answer was passed on in, as one
// of the few codings a CI sends: a byte, where a string would push
// requestState past the 448 bytes it is allocated in.
type contentCoding uint8

const (
	codingNone contentCoding = iota // none, or identity
	codingGzip
	codingXGzip
	codingDeflate
	codingBrotli
	codingZstd
	codingOther // any other: the answer is not kept for repeats
)

var contentCodingNames = [...]string{codingNone: "", codingGzip: "gzip", codingXGzip: "x-gzip",
	codingDeflate: "deflate", codingBrotli: "br", codingZstd: "zstd"}

// parseContentCoding reads a Content-Encoding value.
func parseContentCoding(encoding string) contentCoding {
	if encoding == "" || strings.EqualFold(encoding, "identity") {
		return codingNone
	}
	for c := codingGzip; c < codingOther; c++ {
		if strings.EqualFold(encoding, contentCodingNames[c]) {
			return c
		}
	}
	return codingOther
}

// gzip reports whether the coding is gzip, under either of its names.
func (c contentCoding) gzip() bool { return c == codingGzip || c == codingXGzip }

// String is the coding's Content-Encoding value ("" for none).
func (c contentCoding) String() string {
	if c < codingOther {
		return contentCodingNames[c]
	}
	return ""
}
