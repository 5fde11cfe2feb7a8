package jobtoken

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestParseJWKS(t *testing.T) {
	ks := testKeys(t)
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsa1 := func(mod func(map[string]any)) map[string]any {
		m := jwkFor(ks["rsa1"], "rsa1")
		mod(m)
		return m
	}
	ec1 := func(mod func(map[string]any)) map[string]any {
		m := jwkFor(ks["ec1"], "ec1")
		mod(m)
		return m
	}
	doc := func(keys ...any) []byte { return mustJSON(t, map[string]any{"keys": keys}) }
	good := func() []any {
		return []any{jwkFor(ks["rsa1"], "rsa1"), jwkFor(ks["ec1"], "ec1"), jwkFor(ks["ed1"], "ed1")}
	}
	tooMany := make([]any, MaxKeys+1)
	for i := range tooMany {
		tooMany[i] = jwkFor(ks["ed1"], "ed"+strings.Repeat("x", i))
	}

	tests := []struct {
		name     string
		data     []byte
		wantErr  string
		wantKeys int
		skipped  int
	}{
		{"RSA, EC and OKP keys", doc(good()...), "", 3, 0},
		{"padded base64 tolerated", doc(rsa1(func(m map[string]any) { m["n"] = m["n"].(string) + "==" })), "", 1, 0},
		{"duplicate kid of two types", doc(jwkFor(ks["rsa1"], "k"), jwkFor(ks["ec1"], "k")), "", 2, 0},
		{"symmetric key skipped", doc(append(good(), map[string]any{"kty": "oct", "kid": "h", "k": "c2VjcmV0"})...), "", 3, 1},
		{"encryption key skipped", doc(append(good(), rsa1(func(m map[string]any) { m["use"] = "enc"; m["kid"] = "e" }))...), "", 3, 1},
		{"alg not matching key type skipped", doc(append(good(), rsa1(func(m map[string]any) { m["alg"] = "ES256" }))...), "", 3, 1},
		{"RS384 key skipped", doc(append(good(), rsa1(func(m map[string]any) { m["alg"] = "RS384" }))...), "", 3, 1},
		{"HS256 alg on an RSA key skipped", doc(append(good(), rsa1(func(m map[string]any) { m["alg"] = "HS256" }))...), "", 3, 1},
		{"weak RSA key skipped", doc(append(good(), jwkFor(&testKey{priv: weak}, "weak"))...), "", 3, 1},
		{"even RSA exponent skipped", doc(append(good(), rsa1(func(m map[string]any) { m["e"] = b64([]byte{1, 0, 0}) }))...), "", 3, 1},
		{"huge RSA exponent skipped", doc(append(good(), rsa1(func(m map[string]any) { m["e"] = b64([]byte{1, 0, 0, 0, 1}) }))...), "", 3, 1},
		{"P-384 key skipped", doc(append(good(), map[string]any{"kty": "EC", "crv": "P-384", "kid": "p384",
			"x": b64(p384.X.FillBytes(make([]byte, 48))), "y": b64(p384.Y.FillBytes(make([]byte, 48)))})...), "", 3, 1},
		{"EC point off the curve skipped", doc(append(good(), ec1(func(m map[string]any) { m["y"] = b64(make([]byte, 32)) }))...), "", 3, 1},
		{"EC coordinate too short skipped", doc(append(good(), ec1(func(m map[string]any) { m["x"] = b64(make([]byte, 31)) }))...), "", 3, 1},
		{"X25519 key skipped", doc(append(good(), map[string]any{"kty": "OKP", "crv": "X25519", "x": b64(make([]byte, 32))})...), "", 3, 1},
		{"Ed25519 key of wrong size skipped", doc(append(good(), map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64(make([]byte, 31))})...), "", 3, 1},
		{"member of wrong type skipped", doc(append(good(), map[string]any{"kty": 5})...), "", 3, 1},
		{"not JSON", []byte("<html>"), "invalid JWKS document", 0, 0},
		{"keys not an array", []byte(`{"keys":{}}`), "invalid JWKS document", 0, 0},
		{"no keys", []byte(`{"keys":[]}`), "no usable signing key", 0, 0},
		{"only unusable keys", doc(map[string]any{"kty": "oct", "k": "c2VjcmV0"}), "no usable signing key", 0, 1},
		{"too many keys", doc(tooMany...), "more than", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, skipped, err := parseJWKS(tt.data)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if set != nil {
					t.Fatal("a key set was returned with the error")
				}
			} else {
				if err != nil {
					t.Fatalf("parseJWKS: %v", err)
				}
				if set.size != tt.wantKeys {
					t.Errorf("keys = %d, want %d", set.size, tt.wantKeys)
				}
			}
			if len(skipped) != tt.skipped {
				t.Errorf("skipped = %+v, want %d", skipped, tt.skipped)
			}
		})
	}
}

func TestKeySetLookup(t *testing.T) {
	ks := testKeys(t)
	set, _, err := parseJWKS(mustJSON(t, map[string]any{"keys": []any{
		jwkFor(ks["rsa1"], "rsa1"), jwkFor(ks["rsa2"], ""), jwkFor(ks["ec1"], "shared"), jwkFor(ks["ed1"], "shared"),
	}}))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		alg, kid string
		hasKid   bool
		n        int
		known    bool
	}{
		{"RS256", "rsa1", true, 1, true},
		{"RS256", "", false, 2, false}, // both RSA keys, with or without kid
		{"ES256", "rsa1", true, 0, true},
		{"HS256", "rsa1", true, 0, true},
		{"ES256", "shared", true, 1, true},
		{"EdDSA", "shared", true, 1, true},
		{"RS256", "shared", true, 0, true},
		{"RS256", "nope", true, 0, false},
		{"HS256", "", false, 0, false},
	}
	for _, tt := range tests {
		keys, known := set.lookup(tt.alg, tt.kid, tt.hasKid)
		if len(keys) != tt.n || known != tt.known {
			t.Errorf("lookup(%s, %q) = %d keys, known %v; want %d, %v", tt.alg, tt.kid, len(keys), known, tt.n, tt.known)
		}
	}
}

// An https jwks_url that redirects to plain http would fetch the signing
// keys in the clear, where anyone on the path could replace them with
// their own and forge any job token: such a key set is refused, and the
// last good one stays in use. Redirects that stay on https, and any
// redirect of an http jwks_url, are followed.
func TestJWKSRedirects(t *testing.T) {
	plain := newJWKSServer(t, jwksOf(t, "rsa1"))
	tlsKeys := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-http":
			http.Redirect(w, r, plain.URL+"/oauth/discovery/keys", http.StatusFound)
		case "/moved":
			http.Redirect(w, r, "/oauth/discovery/keys", http.StatusMovedPermanently)
		default:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(jwksOf(t, "rsa1"))
		}
	}))
	t.Cleanup(tlsKeys.Close)
	plainRedirect := httptest.NewServer(http.RedirectHandler(plain.URL+"/oauth/discovery/keys", http.StatusFound))
	t.Cleanup(plainRedirect.Close)

	tests := []struct {
		name       string
		url        string
		wantReason string // "" = the keys loaded
	}{
		{"https to http", tlsKeys.URL + "/to-http", ReasonKeysUnavailable},
		{"https to https", tlsKeys.URL + "/moved", ""},
		{"http to http", plainRedirect.URL + "/keys", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock()
			client := tlsKeys.Client()
			client.Timeout = 2 * time.Second
			v, _ := newTestVerifier(t, plain, clock, func(c *Config) { c.JWKSURL, c.HTTPClient = tt.url, client })
			_, err := v.Verify(context.Background(), sign(t, "rsa1", "rsa1", claimsAt(clock.Now())))
			if tt.wantReason == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			wantReason(t, err, tt.wantReason)
		})
	}
}
