package jobtoken

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	testIssuer   = "https://gitlab.example.com"
	testAudience = "https://ci.example.com"
)

// testKey is a signing key with the JWK publishing its public half.
type testKey struct {
	kid    string
	method jwt.SigningMethod
	priv   crypto.Signer
}

var (
	keysOnce sync.Once
	keys     map[string]*testKey
)

// testKeys returns keys generated once per test binary (RSA generation is slow).
func testKeys(t testing.TB) map[string]*testKey {
	t.Helper()
	keysOnce.Do(func() {
		keys = map[string]*testKey{}
		for _, kid := range []string{"rsa1", "rsa2", "rsa3"} {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			keys[kid] = &testKey{kid: kid, method: jwt.SigningMethodRS256, priv: k}
		}
		for _, kid := range []string{"ec1", "ec2"} {
			k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				panic(err)
			}
			keys[kid] = &testKey{kid: kid, method: jwt.SigningMethodES256, priv: k}
		}
		for _, kid := range []string{"ed1", "ed2"} {
			_, k, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				panic(err)
			}
			keys[kid] = &testKey{kid: kid, method: jwt.SigningMethodEdDSA, priv: k}
		}
	})
	return keys
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwkFor renders the public JWK of k under kid (kid "" omits the member).
func jwkFor(k *testKey, kid string) map[string]any {
	m := map[string]any{}
	if kid != "" {
		m["kid"] = kid
	}
	switch pub := k.priv.Public().(type) {
	case *rsa.PublicKey:
		m["kty"], m["n"], m["e"] = "RSA", b64(pub.N.Bytes()), b64(big.NewInt(int64(pub.E)).Bytes())
		m["alg"], m["use"] = "RS256", "sig"
	case *ecdsa.PublicKey:
		raw, err := pub.Bytes()
		if err != nil {
			panic(err)
		}
		m["kty"], m["crv"], m["x"], m["y"] = "EC", "P-256", b64(raw[1:33]), b64(raw[33:])
	case ed25519.PublicKey:
		m["kty"], m["crv"], m["x"] = "OKP", "Ed25519", b64(pub)
	default:
		panic(fmt.Sprintf("unexpected key %T", pub))
	}
	return m
}

// jwksOf renders a JWKS of the given test keys under their own kids.
func jwksOf(t testing.TB, kids ...string) []byte {
	t.Helper()
	ks := testKeys(t)
	var list []map[string]any
	for _, kid := range kids {
		list = append(list, jwkFor(ks[kid], kid))
	}
	return mustJSON(t, map[string]any{"keys": list})
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jwksServer serves a JWKS that tests can swap, break and count.
type jwksServer struct {
	*httptest.Server
	doc     atomic.Pointer[[]byte]
	status  atomic.Int32 // 0 = 200 with doc
	delay   atomic.Int64 // nanoseconds before answering
	hang    atomic.Bool  // block until the client gives up
	fetches atomic.Int32
}

func newJWKSServer(t testing.TB, doc []byte) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.set(doc)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		if s.hang.Load() {
			<-r.Context().Done()
			return
		}
		if d := time.Duration(s.delay.Load()); d > 0 {
			time.Sleep(d)
		}
		if st := s.status.Load(); st != 0 {
			http.Error(w, "boom", int(st))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(*s.doc.Load())
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(doc []byte) { s.doc.Store(&doc) }

// fakeClock is a settable clock for Config.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Now().Truncate(time.Second)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// recObserver records Observer events.
type recObserver struct {
	mu sync.Mutex
	c  obsCounts
}

type obsCounts struct {
	cached, uncached       int
	refused                map[string]int
	refreshOK, refreshFail int
}

func (o *recObserver) Verified(cached bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if cached {
		o.c.cached++
	} else {
		o.c.uncached++
	}
}

func (o *recObserver) Refused(reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.c.refused == nil {
		o.c.refused = map[string]int{}
	}
	o.c.refused[reason]++
}

func (o *recObserver) Refresh(ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if ok {
		o.c.refreshOK++
	} else {
		o.c.refreshFail++
	}
}

func (o *recObserver) snapshot() obsCounts {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := o.c
	c.refused = map[string]int{}
	for k, v := range o.c.refused {
		c.refused[k] = v
	}
	return c
}

// claimsAt returns valid GitLab-style job claims at now.
func claimsAt(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss":          testIssuer,
		"aud":          testAudience,
		"sub":          "project_path:group/project:ref_type:branch:ref:main",
		"iat":          now.Unix(),
		"nbf":          now.Unix(),
		"exp":          now.Add(time.Hour).Unix(),
		"jti":          fmt.Sprint(jtiSeq.Add(1)),
		"project_id":   "22",
		"project_path": "group/project",
		"pipeline_id":  "1001",
		"job_id":       "5005",
		"ref":          "main",
		"user_login":   "alice",
	}
}

// jtiSeq makes every token distinct, so a test can dodge the cache.
var jtiSeq atomic.Int64

// sign signs claims with the key named kid, putting headerKid in the header
// ("" = no kid header).
func sign(t testing.TB, kid, headerKid string, claims jwt.MapClaims) string {
	t.Helper()
	k := testKeys(t)[kid]
	tok := jwt.NewWithClaims(k.method, claims)
	if headerKid != "" {
		tok.Header["kid"] = headerKid
	}
	s, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newTestVerifier builds a verifier against srv with a fake clock.
func newTestVerifier(t testing.TB, srv *jwksServer, clock *fakeClock, mod func(*Config)) (*Verifier, *recObserver) {
	t.Helper()
	obs := &recObserver{}
	cfg := Config{
		JWKSURL:    srv.URL + "/oauth/discovery/keys",
		Issuer:     testIssuer,
		Audience:   testAudience,
		Observer:   obs,
		Now:        clock.Now,
		HTTPClient: &http.Client{Timeout: 2 * time.Second},
	}
	if mod != nil {
		mod(&cfg)
	}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	return v, obs
}

// wantReason asserts err is an *Error with the given reason.
func wantReason(t testing.TB, err error, reason string) {
	t.Helper()
	e, ok := err.(*Error)
	if !ok {
		t.Fatalf("error = %v (%T), want *Error with reason %q", err, err, reason)
	}
	if e.Reason != reason {
		t.Fatalf("reason = %q (%v), want %q", e.Reason, e, reason)
	}
}
