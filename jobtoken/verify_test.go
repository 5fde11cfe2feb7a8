package jobtoken

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestVerifyAccepted(t *testing.T) {
	clock := newClock()
	srv := newJWKSServer(t, jwksOf(t, "rsa1", "ec1", "ed1"))
	v, obs := newTestVerifier(t, srv, clock, nil)
	now := clock.Now()

	with := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := claimsAt(now)
		mod(c)
		return c
	}
	full := Identity{ProjectID: "22", ProjectPath: "group/project", PipelineID: "1001", JobID: "5005",
		Ref: "main", User: "alice", ExpiresAt: now.Add(time.Hour)}
	tests := []struct {
		name   string
		kid    string
		claims jwt.MapClaims
		want   Identity
	}{
		{"RS256", "rsa1", claimsAt(now), full},
		{"ES256", "ec1", claimsAt(now), full},
		{"EdDSA", "ed1", claimsAt(now), full},
		{"IDs as JSON numbers", "rsa1", with(func(c jwt.MapClaims) {
			c["project_id"], c["pipeline_id"], c["job_id"] = 22, 1001, 5005
		}), full},
		{"ID with leading zeros is canonical", "rsa1", with(func(c jwt.MapClaims) { c["project_id"] = "0022" }), full},
		{"aud as array containing the audience", "ec1", with(func(c jwt.MapClaims) {
			c["aud"] = []string{"other", testAudience}
		}), full},
		{"expired within leeway", "rsa1", with(func(c jwt.MapClaims) { c["exp"] = now.Add(-10 * time.Second).Unix() }),
			func() Identity { id := full; id.ExpiresAt = now.Add(-10 * time.Second); return id }()},
		{"nbf within leeway", "ed1", with(func(c jwt.MapClaims) { c["nbf"] = now.Add(20 * time.Second).Unix() }), full},
		{"iat within leeway", "ed1", with(func(c jwt.MapClaims) { c["iat"] = now.Add(20 * time.Second).Unix() }), full},
		{"no nbf, no iat", "rsa1", with(func(c jwt.MapClaims) { delete(c, "nbf"); delete(c, "iat") }), full},
		{"optional ref and user absent", "rsa1", with(func(c jwt.MapClaims) { delete(c, "ref"); delete(c, "user_login") }),
			func() Identity { id := full; id.Ref, id.User = "", ""; return id }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := v.Verify(context.Background(), sign(t, tt.kid, tt.kid, tt.claims))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !id.ExpiresAt.Equal(tt.want.ExpiresAt) {
				t.Errorf("ExpiresAt = %v, want %v", id.ExpiresAt, tt.want.ExpiresAt)
			}
			got, want := *id, tt.want
			got.ExpiresAt, want.ExpiresAt = time.Time{}, time.Time{}
			if got != want {
				t.Errorf("identity = %+v, want %+v", got, want)
			}
		})
	}
	if c := obs.snapshot(); c.uncached != len(tests) || c.cached != 0 || len(c.refused) != 0 {
		t.Errorf("observer = %+v, want %d uncached verifications only", c, len(tests))
	}
}

// rawToken assembles a token from JSON header and payload and a raw signature.
func rawToken(t *testing.T, header, payload any, sig string) string {
	return b64(mustJSON(t, header)) + "." + b64(mustJSON(t, payload)) + "." + sig
}

func TestVerifyRefused(t *testing.T) {
	clock := newClock()
	srv := newJWKSServer(t, jwksOf(t, "rsa1", "ec1", "ed1"))
	logs, recorded := observer.New(zap.DebugLevel)
	v, obs := newTestVerifier(t, srv, clock, func(c *Config) {
		c.Logger = zap.New(logs)
		c.MinRefreshInterval = time.Hour // unknown kids refresh once at most; rate limit tested elsewhere
	})
	now := clock.Now()
	ks := testKeys(t)

	with := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := claimsAt(now)
		mod(c)
		return c
	}
	rsaPub := ks["rsa1"].priv.Public()
	der, err := x509.MarshalPKIXPublicKey(rsaPub)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	hmacWith := func(secret []byte, kid string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claimsAt(now))
		if kid != "" {
			tok.Header["kid"] = kid
		}
		s, err := tok.SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	withHeader := func(kid string, method jwt.SigningMethod, hdr map[string]any) string {
		tok := jwt.NewWithClaims(method, claimsAt(now))
		for k, val := range hdr {
			tok.Header[k] = val
		}
		s, err := tok.SignedString(ks[kid].priv)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	valid := sign(t, "rsa1", "rsa1", claimsAt(now))
	parts := strings.Split(valid, ".")
	forgedClaims := claimsAt(now)
	forgedClaims["project_id"] = "1"
	tampered := parts[0] + "." + b64(mustJSON(t, forgedClaims)) + "." + parts[2]
	sig := []byte(parts[2])
	if sig[10] == 'A' {
		sig[10] = 'B'
	} else {
		sig[10] = 'A'
	}
	badSig := parts[0] + "." + parts[1] + "." + string(sig)
	none, err := func() (string, error) {
		tok := jwt.NewWithClaims(jwt.SigningMethodNone, claimsAt(now))
		tok.Header["kid"] = "rsa1"
		return tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
	}()
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		token  string
		reason string
	}{
		// Algorithms.
		{"alg none", none, ReasonAlgorithm},
		{"HS256 keyed with the RSA public key PEM", hmacWith(pemBytes, "rsa1"), ReasonAlgorithm},
		{"HS256 keyed with the RSA public key DER", hmacWith(der, "rsa1"), ReasonAlgorithm},
		{"HS256 without kid", hmacWith(pemBytes, ""), ReasonAlgorithm},
		{"PS256 (not allowed)", withHeader("rsa1", jwt.SigningMethodPS256, map[string]any{"kid": "rsa1"}), ReasonAlgorithm},
		{"RS384 (not allowed)", withHeader("rsa1", jwt.SigningMethodRS384, map[string]any{"kid": "rsa1"}), ReasonAlgorithm},
		{"alg unknown to the library", rawToken(t, map[string]any{"alg": "XX999", "kid": "rsa1"}, claimsAt(now), "c2ln"), ReasonAlgorithm},
		{"RS256 token naming an EC key", withHeader("rsa1", jwt.SigningMethodRS256, map[string]any{"kid": "ec1"}), ReasonAlgorithm},
		{"ES256 token naming an Ed25519 key", withHeader("ec1", jwt.SigningMethodES256, map[string]any{"kid": "ed1"}), ReasonAlgorithm},
		// Signatures and keys.
		{"tampered payload", tampered, ReasonBadSignature},
		{"tampered signature", badSig, ReasonBadSignature},
		{"signed by another key under a known kid", sign(t, "rsa2", "rsa1", claimsAt(now)), ReasonBadSignature},
		{"signed by an unpublished key without kid", sign(t, "rsa2", "", claimsAt(now)), ReasonBadSignature},
		{"unknown kid", sign(t, "rsa2", "rsa2", claimsAt(now)), ReasonUnknownKey},
		{"attacker key embedded in the header is ignored", withHeader("rsa2", jwt.SigningMethodRS256, map[string]any{
			"jwk": jwkFor(ks["rsa2"], ""), "jku": "https://evil.example.com/keys"}), ReasonBadSignature},
		// Time.
		{"expired", sign(t, "rsa1", "rsa1", with(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() })), ReasonExpired},
		{"not yet valid", sign(t, "ec1", "ec1", with(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Minute).Unix() })), ReasonNotYetValid},
		{"issued in the future", sign(t, "ed1", "ed1", with(func(c jwt.MapClaims) { c["iat"] = now.Add(time.Minute).Unix() })), ReasonNotYetValid},
		{"expired and wrong issuer: expiry wins", sign(t, "rsa1", "rsa1", with(func(c jwt.MapClaims) {
			c["exp"], c["iss"] = now.Add(-time.Minute).Unix(), "https://evil.example.com"
		})), ReasonExpired},
		// Issuer and audience.
		{"wrong issuer", sign(t, "rsa1", "rsa1", with(func(c jwt.MapClaims) { c["iss"] = testIssuer + "/" })), ReasonWrongIssuer},
		{"no issuer", sign(t, "rsa1", "rsa1", with(func(c jwt.MapClaims) { delete(c, "iss") })), ReasonWrongIssuer},
		{"wrong audience", sign(t, "rsa1", "rsa1", with(func(c jwt.MapClaims) { c["aud"] = "https://other.example.com" })), ReasonWrongAudience},
		{"audience list without ours", sign(t, "rsa1", "rsa1", with(func(c jwt.MapClaims) { c["aud"] = []string{"a", "b"} })), ReasonWrongAudience},
		{"no audience", sign(t, "rsa1", "rsa1", with(func(c jwt.MapClaims) { delete(c, "aud") })), ReasonWrongAudience},
		{"upper-case ISS is not iss", sign(t, "rsa1", "rsa1", with(func(c jwt.MapClaims) { c["ISS"] = c["iss"]; delete(c, "iss") })), ReasonWrongIssuer},
		// Required claims.
		{"no exp", sign(t, "rsa1", "rsa1", with(func(c jwt.MapClaims) { delete(c, "exp") })), ReasonMissingClaim},
		{"no project_id", sign(t, "rsa1", "rsa1", with(func(c jwt.MapClaims) { delete(c, "project_id") })), ReasonMissingClaim},
		{"null project_id", sign(t, "rsa1", "rsa1", with(func(c jwt.MapClaims) { c["project_id"] = nil })), ReasonMissingClaim},
		{"no project_path", sign(t, "rsa1", "rsa1", with(func(c jwt.MapClaims) { delete(c, "project_path") })), ReasonMissingClaim},
		{"no pipeline_id", sign(t, "ec1", "ec1", with(func(c jwt.MapClaims) { delete(c, "pipeline_id") })), ReasonMissingClaim},
		{"no job_id", sign(t, "ed1", "ed1", with(func(c jwt.MapClaims) { delete(c, "job_id") })), ReasonMissingClaim},
		{"project_id not numeric", sign(t, "rsa1", "rsa1", with(func(c jwt.MapClaims) { c["project_id"] = "group/project" })), ReasonMissingClaim},
		{"project_id fractional", sign(t, "rsa1", "rsa1", with(func(c jwt.MapClaims) { c["project_id"] = 22.5 })), ReasonMissingClaim},
		{"project_id negative", sign(t, "rsa1", "rsa1", with(func(c jwt.MapClaims) { c["project_id"] = -22 })), ReasonMissingClaim},
		{"project_id boolean", sign(t, "rsa1", "rsa1", with(func(c jwt.MapClaims) { c["project_id"] = true })), ReasonMissingClaim},
		{"project_id too long", sign(t, "rsa1", "rsa1", with(func(c jwt.MapClaims) { c["project_id"] = strings.Repeat("9", 21) })), ReasonMissingClaim},
		{"empty project_path", sign(t, "rsa1", "rsa1", with(func(c jwt.MapClaims) { c["project_path"] = "" })), ReasonMissingClaim},
		{"ref with a newline", sign(t, "rsa1", "rsa1", with(func(c jwt.MapClaims) { c["ref"] = "main\r\nX-Evil: 1" })), ReasonMissingClaim},
		{"user as an object", sign(t, "rsa1", "rsa1", with(func(c jwt.MapClaims) { c["user_login"] = map[string]any{"a": 1} })), ReasonMissingClaim},
		// Malformed.
		{"empty", "", ReasonMalformed},
		{"not a JWT", "glptt-0123456789abcdef0123456789abcdef01234567", ReasonMalformed},
		{"two segments", parts[0] + "." + parts[1], ReasonMalformed},
		{"four segments", valid + ".x", ReasonMalformed},
		{"header not base64", "!!!." + parts[1] + "." + parts[2], ReasonMalformed},
		{"header not JSON", b64([]byte("nope")) + "." + parts[1] + "." + parts[2], ReasonMalformed},
		{"header without alg", rawToken(t, map[string]any{"kid": "rsa1"}, claimsAt(now), parts[2]), ReasonMalformed},
		{"critical header extension", withHeader("rsa1", jwt.SigningMethodRS256, map[string]any{"kid": "rsa1", "crit": []string{"exp"}}), ReasonMalformed},
		{"kid not a string", withHeader("rsa1", jwt.SigningMethodRS256, map[string]any{"kid": 7}), ReasonMalformed},
		{"exp not a number", rawToken(t, map[string]any{"alg": "RS256", "kid": "rsa1"}, map[string]any{"exp": "tomorrow"}, parts[2]), ReasonMalformed},
		{"too long", valid + strings.Repeat("A", MaxTokenLength), ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := v.Verify(context.Background(), tt.token)
			if id != nil {
				t.Fatalf("Verify accepted the token: %+v", id)
			}
			wantReason(t, err, tt.reason)
			msg := err.Error()
			for _, seg := range strings.Split(tt.token, ".") {
				if len(seg) >= 8 && strings.Contains(msg, seg[:8]) {
					t.Errorf("error %q contains part of the token", msg)
				}
			}
			if strings.Contains(msg, "rsa1") || strings.Contains(msg, "XX999") {
				t.Errorf("error %q quotes a header value", msg)
			}
			// Refusals are not cached: a second attempt is verified again.
			_, err2 := v.Verify(context.Background(), tt.token)
			wantReason(t, err2, tt.reason)
		})
	}
	if n := v.cache.lru.Len(); n != 0 {
		t.Errorf("cache holds %d entries after refusals only", n)
	}
	c := obs.snapshot()
	total := 0
	for reason, n := range c.refused {
		total += n
		found := false
		for _, r := range Reasons {
			found = found || r == reason
		}
		if !found {
			t.Errorf("observer saw unbounded reason %q", reason)
		}
	}
	if total != 2*len(tests) || c.cached+c.uncached != 0 {
		t.Errorf("observer = %+v, want %d refusals", c, 2*len(tests))
	}
	for _, e := range recorded.All() {
		line, _ := json.Marshal(append([]any{e.Message}, e.ContextMap()))
		for _, tt := range tests {
			for _, seg := range strings.Split(tt.token, ".") {
				if len(seg) >= 8 && strings.Contains(string(line), seg[:8]) {
					t.Errorf("log line %s contains part of token %q", line, tt.name)
				}
			}
		}
	}
}

// TestKeyfuncNeverHandsOutKeysForOtherAlgorithms checks the second line of
// defence against key-type confusion: even if the parser let an HMAC token
// through, the keyfunc would not give it the RSA key's bytes.
func TestKeyfuncNeverHandsOutKeysForOtherAlgorithms(t *testing.T) {
	srv := newJWKSServer(t, jwksOf(t, "rsa1", "ec1", "ed1"))
	v, _ := newTestVerifier(t, srv, newClock(), func(c *Config) { c.MinRefreshInterval = time.Hour })
	kf := v.keyfunc(context.Background())
	for _, m := range []jwt.SigningMethod{jwt.SigningMethodHS256, jwt.SigningMethodNone, jwt.SigningMethodPS256, jwt.SigningMethodES384} {
		for _, kid := range []string{"rsa1", "ec1", "ed1", ""} {
			tok := &jwt.Token{Method: m, Header: map[string]any{"alg": m.Alg()}}
			if kid != "" {
				tok.Header["kid"] = kid
			}
			key, err := kf(tok)
			if key != nil || err == nil {
				t.Errorf("keyfunc(%s, kid %q) = %T, %v; want no key", m.Alg(), kid, key, err)
			}
		}
	}
}

func TestVerifyTokenWithoutKid(t *testing.T) {
	// Keys rsa1 and rsa2 published (rsa2 without kid): a token without kid
	// is tried against every RSA key; a token with a kid never uses the
	// kid-less key.
	ks := testKeys(t)
	doc := mustJSON(t, map[string]any{"keys": []any{
		jwkFor(ks["rsa1"], "rsa1"), jwkFor(ks["rsa2"], ""), jwkFor(ks["ec1"], "ec1"),
	}})
	clock := newClock()
	srv := newJWKSServer(t, doc)
	v, _ := newTestVerifier(t, srv, clock, func(c *Config) { c.MinRefreshInterval = time.Hour })
	now := clock.Now()
	tests := []struct {
		name, signer, kid, reason string
	}{
		{"RS256 by kid-less key, no kid", "rsa2", "", ""},
		{"RS256 by kid'd key, no kid", "rsa1", "", ""},
		{"ES256, no kid", "ec1", "", ""},
		{"EdDSA, no kid, no Ed25519 key", "ed1", "", ReasonUnknownKey},
		{"RS256 by kid-less key, claiming a kid", "rsa2", "rsa2", ReasonUnknownKey},
		{"RS256 by unpublished key, no kid", "rsa3", "", ReasonBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), sign(t, tt.signer, tt.kid, claimsAt(now)))
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			wantReason(t, err, tt.reason)
		})
	}
}

func TestCustomClaimNames(t *testing.T) {
	clock := newClock()
	srv := newJWKSServer(t, jwksOf(t, "ec1"))
	v, _ := newTestVerifier(t, srv, clock, func(c *Config) {
		c.Claims = ClaimNames{ProjectID: "src_project", ProjectPath: "src_path", PipelineID: "pipeline",
			JobID: "build", Ref: "git_ref", User: "actor"}
	})
	now := clock.Now()
	custom := claimsAt(now)
	for from, to := range map[string]string{"project_id": "src_project", "project_path": "src_path",
		"pipeline_id": "pipeline", "job_id": "build", "ref": "git_ref", "user_login": "actor"} {
		custom[to] = custom[from]
		delete(custom, from)
	}
	custom["src_project"] = 77
	partial := claimsAt(now)
	partial["src_project"] = "77"

	tests := []struct {
		name   string
		claims jwt.MapClaims
		want   *Identity
		reason string
	}{
		{"custom names", custom, &Identity{ProjectID: "77", ProjectPath: "group/project", PipelineID: "1001",
			JobID: "5005", Ref: "main", User: "alice"}, ""},
		{"GitLab names are not read", claimsAt(now), nil, ReasonMissingClaim},
		{"only the project ID renamed", partial, nil, ReasonMissingClaim},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := v.Verify(context.Background(), sign(t, "ec1", "ec1", tt.claims))
			if tt.want == nil {
				wantReason(t, err, tt.reason)
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			got := *id
			got.ExpiresAt = time.Time{}
			if got != *tt.want {
				t.Errorf("identity = %+v, want %+v", got, *tt.want)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Reason: ReasonExpired}, "job token refused: expired"},
		{refuse(ReasonBadSignature, errSignature), "job token refused: bad_signature: signature does not verify"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	if err := error(refuse(ReasonExpired, errExpired)); !strings.Contains(err.Error(), "expired") {
		t.Errorf("unexpected message %q", err)
	}
}
