package caddymodule

import (
	"bytes"
	"net/http"
	"strconv"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// pipelineCapture keeps the start of the upstream's answer to an accepted
// trigger, for the pipeline it names (GitLab answers 201 with the pipeline
// object): only a 2xx JSON answer, and at most triggerapi.MaxPipelineAnswer
// bytes of it, in a pooled buffer. An answer that does not fit is not read.
type pipelineCapture struct {
	state pipelineState
	gzip  bool          // the answer is gzip-compressed (answer_encoding.go)
	buf   *bytes.Buffer // from bodyBuffers while capturing
}

type pipelineState uint8

const (
	pipelineOff       pipelineState = iota // not watching, or the answer names no pipeline
	pipelineWatching                       // until the answer's status and headers
	pipelineCapturing                      // a 2xx JSON answer, being copied
)

// watch starts watching the answer to come.
func (c *pipelineCapture) watch() {
	c.state = pipelineWatching
}

// begin decides at the answer's final status whether to capture its body.
func (c *pipelineCapture) begin(code int, header http.Header) {
	if c.state != pipelineWatching {
		return
	}
	c.state = pipelineOff
	if code < 200 || code > 299 || !triggerapi.IsJSONContentType(headerValue(header, headerContentType)) {
		return
	}
	encoding := headerValue(header, headerContentEncoding)
	if !decodableEncoding(encoding) {
		return
	}
	c.gzip = isGzip(encoding)
	if length := headerValue(header, "Content-Length"); length != "" {
		if n, err := strconv.Atoi(length); err != nil || n > triggerapi.MaxPipelineAnswer {
			return
		}
	}
	c.state = pipelineCapturing
	c.buf = bodyBuffers.Get().(*bytes.Buffer)
}

func (c *pipelineCapture) capturing() bool { return c.state == pipelineCapturing }

// write copies a piece of the answer, giving up once it is too long.
func (c *pipelineCapture) write(p []byte) {
	if c.state != pipelineCapturing {
		return
	}
	if c.buf.Len()+len(p) > triggerapi.MaxPipelineAnswer {
		c.stop()
		return
	}
	c.buf.Write(p)
}

// finish returns the pipeline the answer named, if it was whole, and lets
// the buffer go.
func (c *pipelineCapture) finish(whole bool) (p triggerapi.Pipeline) {
	if c.state == pipelineCapturing && whole {
		body, ok := c.buf.Bytes(), true
		if c.gzip {
			body, ok = decodeAnswerBody("gzip", body, triggerapi.MaxPipelineAnswer)
		}
		if ok {
			p, _ = triggerapi.ParsePipeline(body)
		}
	}
	c.stop()
	return p
}

func (c *pipelineCapture) stop() {
	if c.buf != nil {
		releaseBuffer(c.buf)
		c.buf = nil
	}
	c.state, c.gzip = pipelineOff, false
}
