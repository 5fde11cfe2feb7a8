package idempotency

import (
	"context"
	"strconv"
	"testing"
)

func BenchmarkKey(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = Key("group/project", SourceHeader, "8e03978e-40d5-43e8-bc93-6894a57f9324")
	}
}

// BenchmarkBegin measures Begin on a real FileStorage in a temporary
// directory: a repeat served from memory, a repeat served from storage, and
// a key never seen (Begin plus Release or Save, as the claim must end).
func BenchmarkBegin(b *testing.B) {
	ctx := context.Background()
	body := `{"id":7,"iid":3,"project_id":9,"sha":"a91957a858320c0e17f5a3e0ddfd6a1f","ref":"main","status":"created","source":"trigger"}`

	b.Run("cached_replay", func(b *testing.B) {
		s, _ := newTestStore(b, newFaultyStorage(b), newClock(t0))
		key := Key("9", SourceHeader, "bench")
		if err := mustClaim(b, s, key).Save(ctx, answer(body)); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if a, _, err := s.Begin(ctx, Request{Key: key}); a == nil || err != nil {
				b.Fatal("no replay", err)
			}
		}
	})

	b.Run("storage_replay", func(b *testing.B) {
		st := newFaultyStorage(b)
		writer, _ := newTestStore(b, st, newClock(t0))
		const n = 256
		keys := make([]string, n)
		for i := range keys {
			keys[i] = Key("9", SourceHeader, strconv.Itoa(i))
			if err := mustClaim(b, writer, keys[i]).Save(ctx, answer(body)); err != nil {
				b.Fatal(err)
			}
		}
		// A one-entry cache cycling through 256 keys always misses.
		s, _ := newTestStore(b, st.over(), newClock(t0), func(c *Config) { c.CacheSize = 1 })
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if a, _, err := s.Begin(ctx, Request{Key: keys[i%n]}); a == nil || err != nil {
				b.Fatal("no replay", err)
			}
			i++
		}
	})

	fresh := func(b *testing.B, end func(*Claim)) {
		s, _ := newTestStore(b, newFaultyStorage(b), newClock(t0))
		keys := make([]string, b.N)
		for i := range keys {
			keys[i] = Key("9", SourceHeader, strconv.Itoa(i))
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			a, c, err := s.Begin(ctx, Request{Key: keys[i]})
			if a != nil || c == nil || err != nil {
				b.Fatal("no claim", err)
			}
			end(c)
		}
	}
	b.Run("fresh_key_release", func(b *testing.B) {
		fresh(b, func(c *Claim) { c.Release() })
	})
	b.Run("fresh_key_save", func(b *testing.B) {
		fresh(b, func(c *Claim) {
			if err := c.Save(ctx, answer(body)); err != nil {
				b.Fatal(err)
			}
		})
	})
}
