package jobtoken

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestKeyRotation(t *testing.T) {
	clock := newClock()
	srv := newJWKSServer(t, jwksOf(t, "rsa1"))
	v, obs := newTestVerifier(t, srv, clock, nil)
	ctx := context.Background()
	now := clock.Now()

	oldTok := sign(t, "rsa1", "rsa1", claimsAt(now))
	if _, err := v.Verify(ctx, oldTok); err != nil {
		t.Fatalf("old key: %v", err)
	}

	// The server starts publishing the new key alongside the old one.
	srv.set(jwksOf(t, "rsa1", "ec2"))
	newTok := sign(t, "ec2", "ec2", claimsAt(now))
	if _, err := v.Verify(ctx, newTok); err == nil {
		t.Fatal("new kid verified within MinRefreshInterval of the last load")
	} else {
		wantReason(t, err, ReasonUnknownKey)
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("fetches = %d, want 1 (refresh rate-limited)", n)
	}
	clock.Advance(DefaultMinRefreshInterval)
	if _, err := v.Verify(ctx, newTok); err != nil {
		t.Fatalf("new kid after refresh: %v", err)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2", n)
	}

	// The old key is withdrawn: its cached verification stands until exp,
	// a token it signs that was never verified is refused.
	srv.set(jwksOf(t, "ec2"))
	clock.Advance(DefaultMinRefreshInterval)
	if _, err := v.Verify(ctx, sign(t, "ec2", "ec1", claimsAt(clock.Now()))); err == nil {
		t.Fatal("unknown kid accepted")
	}
	if n := srv.fetches.Load(); n != 3 {
		t.Fatalf("fetches = %d, want 3", n)
	}
	if _, err := v.Verify(ctx, oldTok); err != nil {
		t.Fatalf("cached verification of the old token: %v", err)
	}
	_, err := v.Verify(ctx, sign(t, "rsa1", "rsa1", claimsAt(clock.Now())))
	wantReason(t, err, ReasonUnknownKey)
	if c := obs.snapshot(); c.refreshOK != 3 || c.refreshFail != 0 || c.cached != 1 {
		t.Errorf("observer = %+v, want 3 good refreshes and 1 cache hit", c)
	}
}

func TestJWKSFailureKeepsKeys(t *testing.T) {
	huge := append([]byte(`{"keys":[],"pad":"`), bytes.Repeat([]byte("x"), MaxJWKSSize)...)
	huge = append(huge, `"}`...)
	tests := []struct {
		name     string
		breakSrv func(*jwksServer)
	}{
		{"HTTP 500", func(s *jwksServer) { s.status.Store(http.StatusInternalServerError) }},
		{"HTTP 404", func(s *jwksServer) { s.status.Store(http.StatusNotFound) }},
		{"garbage", func(s *jwksServer) { s.set([]byte("<html>oops</html>")) }},
		{"empty key set", func(s *jwksServer) { s.set([]byte(`{"keys":[]}`)) }},
		{"oversized", func(s *jwksServer) { s.set(huge) }},
		{"timeout", func(s *jwksServer) { s.hang.Store(true) }},
		{"closed", func(s *jwksServer) { s.CloseClientConnections(); s.Close() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock()
			srv := newJWKSServer(t, jwksOf(t, "rsa1", "ed1"))
			v, obs := newTestVerifier(t, srv, clock, func(c *Config) {
				c.HTTPClient = &http.Client{Timeout: 200 * time.Millisecond}
			})
			ctx := context.Background()
			tt.breakSrv(srv)

			// A scheduled reload fails...
			v.reload(ctx, false)
			// ...and an unknown kid's on-demand reload fails too.
			clock.Advance(DefaultMinRefreshInterval)
			_, err := v.Verify(ctx, sign(t, "rsa2", "rsa2", claimsAt(clock.Now())))
			wantReason(t, err, ReasonUnknownKey)

			// Fresh (uncached) tokens under the old keys keep verifying.
			for _, kid := range []string{"rsa1", "ed1"} {
				if _, err := v.Verify(ctx, sign(t, kid, kid, claimsAt(clock.Now()))); err != nil {
					t.Fatalf("%s after a failed refresh: %v", kid, err)
				}
			}
			c := obs.snapshot()
			if c.refreshOK != 1 || c.refreshFail != 2 || c.uncached != 2 {
				t.Errorf("observer = %+v, want 1 good and 2 failed refreshes, 2 uncached verifications", c)
			}
		})
	}
}

func TestNewWithUnreachableURL(t *testing.T) {
	clock := newClock()
	srv := newJWKSServer(t, jwksOf(t, "rsa1"))
	srv.status.Store(http.StatusBadGateway)
	v, obs := newTestVerifier(t, srv, clock, nil) // not fatal for a URL
	ctx := context.Background()

	tok := sign(t, "rsa1", "rsa1", claimsAt(clock.Now()))
	_, err := v.Verify(ctx, tok)
	wantReason(t, err, ReasonKeysUnavailable)

	srv.status.Store(0)
	clock.Advance(DefaultMinRefreshInterval)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("after the endpoint recovered: %v", err)
	}
	if c := obs.snapshot(); c.refreshFail != 1 || c.refreshOK != 1 {
		t.Errorf("observer = %+v", c)
	}
}

func TestRefreshRateLimitAndSingleflight(t *testing.T) {
	clock := newClock()
	srv := newJWKSServer(t, jwksOf(t, "rsa1"))
	v, _ := newTestVerifier(t, srv, clock, nil)
	ctx := context.Background()
	srv.delay.Store(int64(50 * time.Millisecond)) // let a burst pile up on one fetch

	// burst runs f(i) for i in [0,n) concurrently and returns how many failed.
	burst := func(n int, f func(i int) error) (failed int) {
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { errs[i] = f(i) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				var e *Error
				if !errors.As(err, &e) || e.Reason != ReasonUnknownKey {
					t.Fatalf("err = %v, want unknown_key", err)
				}
				failed++
			}
		}
		return failed
	}
	// Tokens are signed up front: signing is not what the burst measures.
	tokens := func(signer, kidPrefix string, n int) []string {
		out := make([]string, n)
		for i := range out {
			kid := signer
			if kidPrefix != "" {
				kid = kidPrefix + string(rune('a'+i%26)) + string(rune('a'+i/26))
			}
			out[i] = sign(t, signer, kid, claimsAt(clock.Now()))
		}
		return out
	}
	verifyAll := func(toks []string) func(int) error {
		return func(i int) error { _, err := v.Verify(ctx, toks[i]); return err }
	}

	tests := []struct {
		name        string
		publish     []string // kids the server publishes from now on
		advance     time.Duration
		run         func() int
		wantFailed  int
		wantFetches int32
	}{
		{"unknown kids within MinRefreshInterval of New: no fetch", nil, 0,
			func() int { return burst(50, verifyAll(tokens("rsa1", "made-up-", 50))) }, 50, 1},
		{"a new key after MinRefreshInterval: one fetch, every caller waits for it", []string{"rsa1", "ec2"}, DefaultMinRefreshInterval,
			func() int { return burst(50, verifyAll(tokens("ec2", "", 50))) }, 0, 2},
		{"unknown kids right after: rate-limited", nil, time.Second,
			func() int { return burst(50, verifyAll(tokens("rsa1", "made-up-", 50))) }, 50, 2},
		{"concurrent scheduled reloads share one fetch", nil, 0,
			func() int { return burst(20, func(int) error { v.reload(ctx, false); return nil }) }, 0, 3},
		{"unknown kids during a scheduled reload join it", []string{"rsa1", "ec2", "ed2"}, 0, func() int {
			toks := tokens("ed2", "", 20)
			srv.delay.Store(int64(300 * time.Millisecond)) // room for the burst to arrive mid-fetch
			done := make(chan struct{})
			go func() { v.reload(ctx, false); close(done) }()
			waitFor(t, "the scheduled fetch", func() bool { return srv.fetches.Load() == 4 })
			clock.Advance(DefaultMinRefreshInterval) // on-demand no longer rate-limited: only joining saves a fetch
			failed := burst(20, verifyAll(toks))
			<-done
			return failed
		}, 0, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.publish != nil {
				srv.set(jwksOf(t, tt.publish...))
			}
			clock.Advance(tt.advance)
			if failed := tt.run(); failed != tt.wantFailed {
				t.Errorf("%d verifications failed, want %d", failed, tt.wantFailed)
			}
			if n := srv.fetches.Load(); n != tt.wantFetches {
				t.Errorf("fetches = %d, want %d", n, tt.wantFetches)
			}
		})
	}
}

func TestVerifyWaitIsBoundedByContext(t *testing.T) {
	clock := newClock()
	srv := newJWKSServer(t, jwksOf(t, "rsa1"))
	v, obs := newTestVerifier(t, srv, clock, nil)
	srv.delay.Store(int64(500 * time.Millisecond))
	clock.Advance(DefaultMinRefreshInterval)
	refreshed := obs.snapshot().refreshOK

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := v.Verify(ctx, sign(t, "rsa1", "other", claimsAt(clock.Now())))
	wantReason(t, err, ReasonUnknownKey)
	if d := time.Since(start); d > 300*time.Millisecond {
		t.Errorf("Verify waited %v for a refresh after its context ended", d)
	}
	// The shared load went on and completed despite the caller leaving:
	// waited for, as on a busy machine it may not even have reached the
	// server when Verify returned (Close would then cancel it).
	waitFor(t, "the shared load to complete", func() bool { return obs.snapshot().refreshOK == refreshed+1 })
	if n := srv.fetches.Load(); n != 2 {
		t.Errorf("fetches = %d, want 2", n)
	}
}

// waitFor polls cond for up to 5s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestScheduledURLRefresh(t *testing.T) {
	clock := newClock()
	srv := newJWKSServer(t, jwksOf(t, "rsa1"))
	v, _ := newTestVerifier(t, srv, clock, func(c *Config) {
		c.RefreshInterval = 10 * time.Millisecond
		c.MinRefreshInterval = time.Hour // only the schedule can pick up the new key
	})
	ctx := context.Background()
	tok := sign(t, "ed2", "ed2", claimsAt(clock.Now()))
	srv.set(jwksOf(t, "rsa1", "ed2"))
	time.Sleep(30 * time.Millisecond)
	if _, err := v.Verify(ctx, tok); err == nil {
		t.Fatal("new key picked up before Start")
	}
	v.Start()
	v.Start() // idempotent
	waitFor(t, "the scheduled refresh", func() bool {
		_, err := v.Verify(ctx, tok)
		return err == nil
	})

	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if err := v.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	n := srv.fetches.Load()
	time.Sleep(50 * time.Millisecond)
	if m := srv.fetches.Load(); m != n {
		t.Errorf("fetches went on after Close: %d -> %d", n, m)
	}
	// Still verifying with the last keys, without fetching.
	clock.Advance(2 * time.Hour)
	if _, err := v.Verify(ctx, sign(t, "rsa1", "rsa1", claimsAt(clock.Now()))); err != nil {
		t.Errorf("after Close: %v", err)
	}
	if _, err := v.Verify(ctx, sign(t, "rsa1", "unknown", claimsAt(clock.Now()))); err == nil {
		t.Error("unknown kid accepted after Close")
	}
	if m := srv.fetches.Load(); m != n {
		t.Errorf("on-demand fetch after Close: %d -> %d", n, m)
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil { // atomic, as a config manager would
		t.Fatal(err)
	}
}

func TestJWKSFile(t *testing.T) {
	dir := t.TempDir()
	newFileVerifier := func(path string, obs Observer) (*Verifier, error) {
		return New(Config{JWKSFile: path, Issuer: testIssuer, Audience: testAudience, Observer: obs,
			RefreshInterval: 10 * time.Millisecond, MinRefreshInterval: time.Hour})
	}

	t.Run("invalid at New is an error", func(t *testing.T) {
		tests := []struct {
			name string
			data []byte // nil: no file
		}{
			{"missing", nil},
			{"not JSON", []byte("keys: []")},
			{"no usable key", []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`)},
			{"oversized", append(jwksOf(t, "rsa1"), bytes.Repeat([]byte(" "), MaxJWKSSize)...)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				path := filepath.Join(dir, tt.name+".json")
				if tt.data != nil {
					writeFile(t, path, tt.data)
				}
				if v, err := newFileVerifier(path, nil); err == nil {
					_ = v.Close()
					t.Fatal("New succeeded")
				}
			})
		}
	})

	t.Run("reload on schedule", func(t *testing.T) {
		path := filepath.Join(dir, "jwks.json")
		writeFile(t, path, jwksOf(t, "ec1"))
		obs := &recObserver{}
		v, err := newFileVerifier(path, obs)
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		ctx := context.Background()
		now := time.Now()
		if _, err := v.Verify(ctx, sign(t, "ec1", "ec1", claimsAt(now))); err != nil {
			t.Fatalf("Verify: %v", err)
		}
		rotated := sign(t, "rsa3", "rsa3", claimsAt(now))
		_, err = v.Verify(ctx, rotated)
		wantReason(t, err, ReasonUnknownKey)

		v.Start()
		writeFile(t, path, jwksOf(t, "ec1", "rsa3"))
		waitFor(t, "the file reload", func() bool {
			_, err := v.Verify(ctx, rotated)
			return err == nil
		})

		// A broken file keeps the last good keys.
		writeFile(t, path, []byte("{"))
		fails := obs.snapshot().refreshFail
		waitFor(t, "a failed reload", func() bool { return obs.snapshot().refreshFail > fails })
		if _, err := v.Verify(ctx, sign(t, "rsa3", "rsa3", claimsAt(time.Now()))); err != nil {
			t.Fatalf("after a broken file: %v", err)
		}
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		fails = obs.snapshot().refreshFail
		waitFor(t, "a failed reload", func() bool { return obs.snapshot().refreshFail > fails })
		if _, err := v.Verify(ctx, sign(t, "ec1", "ec1", claimsAt(time.Now()))); err != nil {
			t.Fatalf("after the file vanished: %v", err)
		}
	})
}

// TestConcurrentVerifyAndReload exercises the verifier under -race.
func TestConcurrentVerifyAndReload(t *testing.T) {
	clock := newClock()
	srv := newJWKSServer(t, jwksOf(t, "rsa1", "ec1", "ed1"))
	v, _ := newTestVerifier(t, srv, clock, func(c *Config) {
		c.RefreshInterval = time.Millisecond
		c.MinRefreshInterval = time.Millisecond
		c.CacheSize = 8
	})
	v.Start()
	kids := []string{"rsa1", "ec1", "ed1"}
	var tokens []string
	for i := range 30 {
		tokens = append(tokens, sign(t, kids[i%3], kids[i%3], claimsAt(clock.Now())))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				tok := tokens[(g+i)%len(tokens)]
				if _, err := v.Verify(context.Background(), tok); err != nil {
					t.Errorf("Verify: %v", err)
					return
				}
				if i%50 == 0 {
					_, _ = v.Verify(context.Background(), sign(t, "rsa1", "nope", claimsAt(clock.Now())))
				}
			}
		})
	}
	wg.Wait()
}
