package jobtoken

import (
	"context"
	"testing"
)

var benchAlgs = []struct{ name, kid string }{{"RS256", "rsa1"}, {"ES256", "ec1"}, {"EdDSA", "ed1"}}

func BenchmarkVerifyCached(b *testing.B) {
	clock := newClock()
	srv := newJWKSServer(b, jwksOf(b, "rsa1", "ec1", "ed1"))
	v, _ := newTestVerifier(b, srv, clock, nil)
	ctx := context.Background()
	for _, a := range benchAlgs {
		b.Run(a.name, func(b *testing.B) {
			tok := sign(b, a.kid, a.kid, claimsAt(clock.Now()))
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerifyUncached(b *testing.B) {
	clock := newClock()
	srv := newJWKSServer(b, jwksOf(b, "rsa1", "ec1", "ed1"))
	v, _ := newTestVerifier(b, srv, clock, nil)
	ctx := context.Background()
	for _, a := range benchAlgs {
		b.Run(a.name, func(b *testing.B) {
			tok := sign(b, a.kid, a.kid, claimsAt(clock.Now()))
			key := cacheKey(tok)
			b.ReportAllocs()
			for b.Loop() {
				v.cache.lru.Remove(key) // force the full verification
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkLooksLikeJWT(b *testing.B) {
	clock := newClock()
	tok := sign(b, "rsa1", "rsa1", claimsAt(clock.Now()))
	b.Run("JWT", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !LooksLikeJWT(tok) {
				b.Fatal("not a JWT")
			}
		}
	})
	b.Run("trigger token", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if LooksLikeJWT("glptt-0123456789abcdef0123456789abcdef01234567") {
				b.Fatal("JWT")
			}
		}
	})
}
