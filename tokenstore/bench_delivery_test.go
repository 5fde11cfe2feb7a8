package tokenstore

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// BenchmarkFlushManyDeliveries is one flush of the deliveries after each
// of many triggers was used once since the last, each trigger's record
// already holding MaxDeliveries (a trigger in steady use). The deliveries
// are recorded outside the timing. The storage is in tmpfs where there is
// one, so that the figure is the store's work, not the disk's.
func BenchmarkFlushManyDeliveries(b *testing.B) {
	for _, triggers := range []int{1024, 4096} {
		b.Run(strconv.Itoa(triggers)+"_triggers", func(b *testing.B) {
			dir := benchDir(b)
			ctx := context.Background()
			s := newTestStore(b, &certmagic.FileStorage{Path: dir}, Config{})
			id := int64(100)
			record := func() {
				now := time.Now()
				for i := range triggers {
					id++
					s.RecordDelivery(int64(i+1), Delivery{Time: now, Source: "trigger", Ref: "main",
						Variables: []string{"DEPLOY_ENV", "VERSION"}, Outcome: "accepted", Status: 201,
						PipelineID: &id, WebURL: "https://ci.example/group/project/-/pipelines/" + strconv.FormatInt(id, 10)})
				}
			}
			flush := func() {
				if err := s.Flush(ctx); err != nil {
					b.Fatal(err)
				}
			}
			for range MaxDeliveries { // every record full
				record()
				flush()
			}
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				record()
				b.StartTimer()
				flush()
			}
		})
	}
}
