// Command upstream is the benchmark's stand-in for a CI server: it answers
// every request with 201 and a small JSON body, as GitLab answers a
// pipeline trigger, doing as little work as it can so that the benchmark
// measures the proxy in front of it.
package main

import (
	"flag"
	"io"
	"log"
	"net/http"
	"strconv"
	"time"
)

// answer is the fixed response body, shaped like GitLab's pipeline object.
var answer = []byte(`{"id":1,"ref":"main","status":"created"}`)

func main() {
	addr := flag.String("listen", "127.0.0.1:9000", "address to listen on")
	flag.Parse()

	length := strconv.Itoa(len(answer))
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the body so the proxy's keep-alive connection stays usable.
		_, _ = io.Copy(io.Discard, r.Body)
		h := w.Header()
		h["Content-Type"] = []string{"application/json"}
		h["Content-Length"] = []string{length}
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(answer)
	})
	srv := &http.Server{
		Addr:              *addr,
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Fatal(srv.ListenAndServe())
}
