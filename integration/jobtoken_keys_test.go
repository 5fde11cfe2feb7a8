// The CI server side of the job-token tests: signing keys, a JWKS server
// the tests rotate and break, and job tokens, good and forged.

package integration

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The issuer and audience the job-token tests configure and sign for.
const (
	jobIssuer   = "https://gitlab.example.com"
	jobAudience = "https://ci.example.com"
)

// signingKey is one of the CI server's RSA signing keys, as its JWKS names it.
type signingKey struct {
	kid  string
	priv *rsa.PrivateKey
}

// rsaKeys are generated once per test binary: RSA generation is slow.
var rsaKeys = sync.OnceValue(func() []*rsa.PrivateKey {
	keys := make([]*rsa.PrivateKey, 3)
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys[i] = k
	}
	return keys
})

// jobKey returns test key i (0..2) under kid.
func jobKey(i int, kid string) signingKey { return signingKey{kid: kid, priv: rsaKeys()[i]} }

// jwk is the public JWK of k, as GitLab publishes it.
func (k signingKey) jwk() map[string]string {
	b64 := base64.RawURLEncoding.EncodeToString
	return map[string]string{
		"kty": "RSA", "kid": k.kid, "use": "sig", "alg": "RS256",
		"n": b64(k.priv.N.Bytes()), "e": b64(big.NewInt(int64(k.priv.E)).Bytes()),
	}
}

// publicPEM is the public key as PEM, the secret of the classic RS256 to
// HS256 confusion attack.
func (k signingKey) publicPEM() []byte {
	der, err := x509.MarshalPKIXPublicKey(&k.priv.PublicKey)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// jwksServer publishes a JWKS that a test can rotate, break and close.
type jwksServer struct {
	srv     *httptest.Server
	doc     atomic.Pointer[[]byte]
	failing atomic.Bool // answer 500
	fetches atomic.Int64
}

func newJWKSServer(t *testing.T, keys ...signingKey) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.publish(keys...)
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		if r.URL.Path != "/oauth/discovery/keys" {
			http.NotFound(w, r)
			return
		}
		if s.failing.Load() {
			http.Error(w, "maintenance", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(*s.doc.Load())
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// url is the JWKS URL, at GitLab's path.
func (s *jwksServer) url() string { return s.srv.URL + "/oauth/discovery/keys" }

// publish replaces the key set served.
func (s *jwksServer) publish(keys ...signingKey) {
	list := make([]map[string]string, 0, len(keys))
	for _, k := range keys {
		list = append(list, k.jwk())
	}
	doc := []byte(mustJSON(map[string]any{"keys": list}))
	s.doc.Store(&doc)
}

// jobTokenBlock is the gateway's job_token block for a JWKS server, with
// extra subdirectives.
func jobTokenBlock(s *jwksServer, extra ...string) string {
	lines := append([]string{
		"jwks_url " + s.url(),
		"issuer " + jobIssuer,
		"audience " + jobAudience,
	}, extra...)
	return "job_token {\n" + strings.Join(lines, "\n") + "\n}"
}

// job is the identity a job token carries.
type job struct {
	ProjectID, ProjectPath, PipelineID, JobID string
}

// claims are the claims GitLab puts in a CI job's ID token, valid for an hour.
func (j job) claims() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss":          jobIssuer,
		"aud":          jobAudience,
		"sub":          "project_path:" + j.ProjectPath + ":ref_type:branch:ref:main",
		"iat":          now.Unix(),
		"nbf":          now.Unix(),
		"exp":          now.Add(time.Hour).Unix(),
		"jti":          randomHex(16),
		"project_id":   j.ProjectID,
		"project_path": j.ProjectPath,
		"pipeline_id":  j.PipelineID,
		"job_id":       j.JobID,
		"ref":          "main",
		"ref_type":     "branch",
		"user_login":   "alice",
	}
}

// jobToken signs a token for j with key, after edit (if any) changed its
// claims, and remembers it as a secret: no log line may hold it.
func (g *gateway) jobToken(t *testing.T, key signingKey, j job, edit func(jwt.MapClaims)) string {
	t.Helper()
	claims := j.claims()
	if edit != nil {
		edit(claims)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = key.kid
	signed, err := tok.SignedString(key.priv)
	if err != nil {
		t.Fatal(err)
	}
	g.secrets.addToken(signed)
	return signed
}

// unsignedToken is j's token with alg "none" and no signature.
func (g *gateway) unsignedToken(t *testing.T, key signingKey, j job) string {
	t.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	header := b64([]byte(`{"alg":"none","kid":"` + key.kid + `","typ":"JWT"}`))
	tok := header + "." + b64([]byte(mustJSON(j.claims()))) + "."
	g.secrets.addToken(tok)
	return tok
}

// hmacConfusedToken is j's token signed HS256 with the RSA public key as
// the HMAC secret, under the RSA key's kid.
func (g *gateway) hmacConfusedToken(t *testing.T, key signingKey, j job) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, j.claims())
	tok.Header["kid"] = key.kid
	signed, err := tok.SignedString(key.publicPEM())
	if err != nil {
		t.Fatal(err)
	}
	g.secrets.addToken(signed)
	return signed
}

// tampered is a validly signed token of j whose payload was then changed
// to claim another project, keeping the signature.
func (g *gateway) tampered(t *testing.T, key signingKey, j, claimed job) string {
	t.Helper()
	parts := strings.Split(g.jobToken(t, key, j, nil), ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	claims["project_id"], claims["project_path"] = claimed.ProjectID, claimed.ProjectPath
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(mustJSON(claims)))
	tok := strings.Join(parts, ".")
	g.secrets.addToken(tok)
	return tok
}
