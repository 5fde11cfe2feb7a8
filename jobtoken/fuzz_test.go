package jobtoken

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary tokens (seeded with valid and near-valid ones)
// to a verifier: it must never panic, only refuse with a bounded reason
// whose message holds no part of the token, or accept a token whose claims
// are complete.
func FuzzVerify(f *testing.F) {
	clock := newClock()
	srv := newJWKSServer(f, jwksOf(f, "rsa1", "ec1", "ed1"))
	v, _ := newTestVerifier(f, srv, clock, func(c *Config) { c.MinRefreshInterval = time.Hour })
	for _, kid := range []string{"rsa1", "ec1", "ed1"} {
		tok := sign(f, kid, kid, claimsAt(clock.Now()))
		f.Add(tok)
		parts := strings.Split(tok, ".")
		f.Add(parts[0] + "." + parts[1] + ".")
		f.Add(parts[0] + ".e30." + parts[2])
	}
	f.Add("glptt-0123456789abcdef0123456789abcdef01234567")
	f.Fuzz(func(t *testing.T, token string) {
		id, err := v.Verify(context.Background(), token)
		if err == nil {
			if id.ProjectID == "" || id.ProjectPath == "" || id.PipelineID == "" || id.JobID == "" {
				t.Fatalf("accepted an incomplete identity %+v", id)
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("refusal %v is not an *Error", err)
		}
		known := false
		for _, r := range Reasons {
			known = known || r == e.Reason
		}
		if !known {
			t.Fatalf("unbounded reason %q", e.Reason)
		}
		for _, seg := range strings.Split(token, ".") {
			if len(seg) >= 12 && strings.Contains(err.Error(), seg) {
				t.Fatalf("error %q contains part of the token", err)
			}
		}
	})
}

// FuzzParseJWKS checks that no JWKS document panics the parser and that a
// returned key set is non-empty and bounded.
func FuzzParseJWKS(f *testing.F) {
	f.Add(jwksOf(f, "rsa1", "ec1", "ed1"))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"","y":""}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ks, _, err := parseJWKS(data)
		if err == nil && (ks.size == 0 || ks.size > MaxKeys) {
			t.Fatalf("key set of %d keys", ks.size)
		}
	})
}

func FuzzLooksLikeJWT(f *testing.F) {
	f.Add("eyJhbGciOiJSUzI1NiJ9.e30.c2ln")
	f.Add("glptt-0123456789abcdef0123456789abcdef01234567")
	f.Fuzz(func(t *testing.T, token string) {
		if LooksLikeJWT(token) && strings.Count(token, ".") != 2 {
			t.Fatalf("LooksLikeJWT(%q) with %d dots", token, strings.Count(token, "."))
		}
	})
}

// FuzzHeaderHasAlg checks the allocation-free header scan against decoding
// the header the way the jwt library does.
func FuzzHeaderHasAlg(f *testing.F) {
	for _, s := range []string{
		`{"alg":"RS256"}`, `{"alg":""}`, `{"alg":1}`, `{ "typ" : "JWT" , "alg" : "ES256" }`,
		`{"x":{"alg":"RS256"},"y":[1,"]",{"z":"}"}]}`, `{"alg":"RS256","alg":null}`, `{"\u0061lg":"EdDSA"}`,
		`{"a\"lg":"x"}`, `{"alg":"\u0000"}`, `[]`, `"alg"`, `{}`, `{"alg":true,"b":false}`, ` {"alg" :"x"} `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, h []byte) {
		var m map[string]any
		want := false
		if json.Unmarshal(h, &m) == nil && m != nil {
			alg, _ := m["alg"].(string)
			want = alg != ""
		}
		if got := headerHasAlg(h); got != want {
			t.Fatalf("headerHasAlg(%q) = %v, want %v", h, got, want)
		}
	})
}
