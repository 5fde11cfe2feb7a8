package jobtoken

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// signPayload signs an arbitrary payload with the test key ed1, so that the
// fuzzer reaches claims parsing: a random key per run means it could never
// forge a signature itself.
func signPayload(tb testing.TB, payload []byte) string {
	tb.Helper()
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"EdDSA","typ":"JWT","kid":"ed1"}`))
	signing := header + "." + base64.RawURLEncoding.EncodeToString(payload)
	priv := testKeys(tb)["ed1"].priv.(ed25519.PrivateKey)
	return signing + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(priv, []byte(signing)))
}

// FuzzVerifyClaims fuzzes the payload of correctly signed tokens. A
// refusal has a bounded reason and quotes nothing of the token; an
// acceptance means the payload held the configured issuer and audience, a
// future exp, and the identity claims Verify returns, in canonical form.
func FuzzVerifyClaims(f *testing.F) {
	clock := newClock()
	srv := newJWKSServer(f, jwksOf(f, "ed1"))
	v, _ := newTestVerifier(f, srv, clock, func(c *Config) { c.MinRefreshInterval = time.Hour })
	// Fixed times, so that the seeds stay meaningful in the committed corpus.
	const valid = `{"iss":"https://gitlab.example.com","aud":"https://ci.example.com","iat":1700000000,"nbf":1700000000,` +
		`"exp":4102444800,"project_id":"22","project_path":"group/project","pipeline_id":"1001","job_id":"5005","ref":"main","user_login":"alice"}`
	for _, s := range []string{
		valid,
		strings.Replace(valid, `"22"`, `"0022"`, 1),
		strings.Replace(valid, `"pipeline_id":"1001"`, `"pipeline_id":1001`, 1),
		strings.Replace(valid, `"aud":"https://ci.example.com"`, `"aud":["x","https://ci.example.com"]`, 1),
		strings.Replace(valid, `"job_id":"5005"`, `"job_id":5005.5`, 1),
		strings.Replace(valid, `"ref":"main"`, `"ref":"a\nb"`, 1),
		strings.Replace(valid, `"exp":4102444800`, `"exp":1700000001`, 1),
		strings.Replace(valid, `"iss"`, `"ISS"`, 1),
		`{"exp":"soon"}`, `[]`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		token := signPayload(t, payload)
		id, err := v.Verify(context.Background(), token)
		if err != nil {
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
			return
		}
		checkAccepted(t, payload, id, clock.Now())
	})
}

// checkAccepted checks an accepted token's identity against its payload,
// decoded on its own with encoding/json.
func checkAccepted(t *testing.T, payload []byte, id *Identity, now time.Time) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		t.Fatalf("accepted a payload that is not a JSON object (%v): %q", err, payload)
	}
	if claims["iss"] != testIssuer {
		t.Fatalf("accepted iss %#v", claims["iss"])
	}
	switch aud := claims["aud"].(type) {
	case string:
		if aud != testAudience {
			t.Fatalf("accepted aud %q", aud)
		}
	case []any:
		found := false
		for _, a := range aud {
			found = found || a == testAudience
		}
		if !found {
			t.Fatalf("accepted aud %v", aud)
		}
	default:
		t.Fatalf("accepted aud %#v", claims["aud"])
	}
	// golang-jwt reads a NumericDate through json.Number, which also takes
	// a number written as a JSON string.
	exp, _ := claimText(claims["exp"])
	if id.ExpiresAt.IsZero() || id.ExpiresAt.Before(now.Add(-DefaultLeeway)) {
		t.Fatalf("accepted exp %#v (identity expires %v, now %v)", claims["exp"], id.ExpiresAt, now)
	}
	if f, err := json.Number(exp).Float64(); err != nil || math.Abs(f-float64(id.ExpiresAt.Unix())) > 1 {
		t.Fatalf("exp %#v, identity expires at %d", claims["exp"], id.ExpiresAt.Unix())
	}
	for _, c := range []struct {
		name, got string
		isID      bool
		required  bool
	}{
		{"project_id", id.ProjectID, true, true},
		{"project_path", id.ProjectPath, false, true},
		{"pipeline_id", id.PipelineID, true, true},
		{"job_id", id.JobID, true, true},
		{"ref", id.Ref, false, false},
		{"user_login", id.User, false, false},
	} {
		want, present := claimText(claims[c.name])
		switch {
		case !present && c.required:
			t.Fatalf("accepted without claim %s", c.name)
		case !present:
			if c.got != "" {
				t.Fatalf("identity %s = %q without the claim", c.name, c.got)
			}
			continue
		}
		if c.isID {
			want = canonicalID(want)
			if !isDigits(want) || len(want) > maxIDLength {
				t.Fatalf("accepted %s %q", c.name, want)
			}
		}
		if c.got != want {
			t.Fatalf("identity %s = %q, claim says %q", c.name, c.got, want)
		}
		if c.got == "" || strings.ContainsFunc(c.got, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("accepted %s %q", c.name, c.got)
		}
	}
}

// claimText is a claim's text as GitLab writes it: a string, or an integer
// number written in digits.
func claimText(v any) (s string, present bool) {
	switch c := v.(type) {
	case nil:
		return "", false
	case string:
		return c, true
	case json.Number:
		return c.String(), true
	}
	return "", true
}
