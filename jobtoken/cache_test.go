package jobtoken

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"
)

func TestCache(t *testing.T) {
	clock := newClock()
	srv := newJWKSServer(t, jwksOf(t, "rsa1", "ec1"))
	v, obs := newTestVerifier(t, srv, clock, func(c *Config) { c.CacheSize = 2 })
	ctx := context.Background()
	start := clock.Now()
	claims := claimsAt(start)
	claims["exp"] = start.Add(time.Minute).Unix()
	tok := sign(t, "rsa1", "rsa1", claims)
	deadline := start.Add(time.Minute + DefaultLeeway)

	type step struct {
		at         time.Time
		token      string
		reason     string // "" = accepted
		wantCached int    // observer's cached count after the step
		wantLen    int    // cache entries after the step
	}
	steps := []struct {
		name string
		step
	}{
		{"first verification fills the cache", step{start, tok, "", 0, 1}},
		{"second is a cache hit", step{start.Add(time.Second), tok, "", 1, 1}},
		{"hit just before exp plus leeway", step{deadline.Add(-time.Second), tok, "", 2, 1}},
		{"at exp plus leeway: evicted and refused", step{deadline, tok, ReasonExpired, 2, 0}},
		{"refusal is not cached", step{deadline, tok, ReasonExpired, 2, 0}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			clock.mu.Lock()
			clock.t = s.at
			clock.mu.Unlock()
			id, err := v.Verify(ctx, s.token)
			if s.reason != "" {
				wantReason(t, err, s.reason)
			} else if err != nil || id.ProjectID != "22" {
				t.Fatalf("Verify = %+v, %v", id, err)
			}
			if c := obs.snapshot(); c.cached != s.wantCached {
				t.Errorf("cached verifications = %d, want %d", c.cached, s.wantCached)
			}
			if n := v.cache.lru.Len(); n != s.wantLen {
				t.Errorf("cache entries = %d, want %d", n, s.wantLen)
			}
		})
	}

	t.Run("keyed by the token's SHA-256, bounded by CacheSize", func(t *testing.T) {
		clock.mu.Lock()
		clock.t = start
		clock.mu.Unlock()
		var toks []string
		for range 3 {
			toks = append(toks, sign(t, "ec1", "ec1", claimsAt(start)))
		}
		for _, tk := range toks {
			if _, err := v.Verify(ctx, tk); err != nil {
				t.Fatal(err)
			}
		}
		if n := v.cache.lru.Len(); n != 2 {
			t.Fatalf("cache entries = %d, want 2", n)
		}
		for i, tk := range toks[1:] {
			if !v.cache.lru.Contains(sha256.Sum256([]byte(tk))) {
				t.Errorf("token %d not cached under its SHA-256", i+1)
			}
		}
	})

	t.Run("callers cannot alter the cache", func(t *testing.T) {
		tk := sign(t, "ec1", "ec1", claimsAt(start))
		id, err := v.Verify(ctx, tk)
		if err != nil {
			t.Fatal(err)
		}
		id.ProjectID = "1"
		id2, err := v.Verify(ctx, tk)
		if err != nil || id2.ProjectID != "22" {
			t.Fatalf("cached identity = %+v, %v", id2, err)
		}
	})
}
