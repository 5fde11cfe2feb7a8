// Command gentokens creates trigger tokens for the load benchmark through
// the product's own code path, tokenstore.Store.Create, on the file storage
// the benchmark's Caddy uses, and writes the tokens, one a line, so that wrk
// can rotate through them.
//
// Create serializes on the storage lock (as it must, to allocate IDs), so
// creation is sequential. By default the storage is bulkStorage (FileStorage
// without fsync and with in-process locks, see bulkstorage.go); -fsync uses
// certmagic's FileStorage as it is.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/triggergate/caddy-trigger-gateway/tokenstore"
)

func main() {
	storageDir := flag.String("storage", "", "certmagic file storage root (Caddy's storage file_system root)")
	count := flag.Int("count", 100000, "number of tokens to create")
	out := flag.String("out", "", "file to append the created tokens to, one a line (empty: do not keep them)")
	project := flag.String("project", "9", "project of the created triggers")
	dropFeed := flag.Bool("drop-change-feed", true,
		"delete the change-feed entries the creations wrote (see BENCHMARKS.md: a fresh cache needs none)")
	fsync := flag.Bool("fsync", false, "use certmagic.FileStorage as it is (fsync per write, lock files): about 200 tokens/s")
	flag.Parse()
	if *storageDir == "" {
		log.Fatal("-storage is required")
	}

	var storage certmagic.Storage = &certmagic.FileStorage{Path: *storageDir}
	if !*fsync {
		storage = newBulkStorage(storage.(*certmagic.FileStorage))
	}
	store, err := tokenstore.New(tokenstore.Config{
		Storage:    storage,
		InstanceID: "bench-gentokens",
		// The generator never serves tokens: reading the feed it fills
		// would only list a growing directory every second.
		ChangePollInterval: -1,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Print(err)
		}
	}()

	var w *bufio.Writer
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		w = bufio.NewWriterSize(f, 1<<20)
		defer w.Flush()
	}

	ctx := context.Background()
	start := time.Now()
	for i := range *count {
		_, token, err := store.Create(ctx, tokenstore.CreateRequest{
			Project:     *project,
			Description: fmt.Sprintf("bench %d", i),
			Owner:       "bench",
		})
		if err != nil {
			log.Fatalf("creating token %d: %v", i, err)
		}
		if w != nil {
			if _, err := w.WriteString(token + "\n"); err != nil {
				log.Fatal(err)
			}
		}
		if (i+1)%10000 == 0 {
			log.Printf("%d tokens created in %s", i+1, time.Since(start).Round(time.Second))
		}
	}
	elapsed := time.Since(start)
	fmt.Printf("created %d tokens in %s (%.0f/s)\n", *count, elapsed.Round(time.Millisecond),
		float64(*count)/elapsed.Seconds())

	if *dropFeed {
		dir := filepath.Join(*storageDir, "trigger_gateway", "changes")
		if err := os.RemoveAll(dir); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("removed the change feed %s\n", dir)
	}
}
