package jobtoken

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"strings"
)

// The signing algorithms accepted, one per key type.
const (
	algRS256 = "RS256"
	algES256 = "ES256"
	algEdDSA = "EdDSA"
)

var validMethods = []string{algRS256, algES256, algEdDSA}

// minRSABits refuses RSA keys too weak to trust.
const minRSABits = 2048

// verificationKey is one usable public key of a key set. alg is the only
// algorithm it may verify, derived from its JWK type: this is what makes
// key-type confusion (an HMAC token checked with an RSA key's bytes)
// impossible.
type verificationKey struct {
	kid string
	alg string
	key crypto.PublicKey
}

// keySet is an immutable, parsed JWKS.
type keySet struct {
	byKid map[string][]verificationKey  // kid -> keys with that kid, of any type
	byAlg map[string][]crypto.PublicKey // alg -> every key of that type, for tokens without kid
	size  int
}

// lookup returns the keys that may verify a token with the given alg and
// kid. kidKnown reports that the kid exists in the set, though perhaps only
// for keys of another type.
func (ks *keySet) lookup(alg, kid string, hasKid bool) (keys []crypto.PublicKey, kidKnown bool) {
	if !hasKid {
		return ks.byAlg[alg], false
	}
	cands, ok := ks.byKid[kid]
	if !ok {
		return nil, false
	}
	for _, k := range cands {
		if k.alg == alg {
			keys = append(keys, k.key)
		}
	}
	return keys, true
}

// jwk holds the members of a JSON Web Key this package reads (RFC 7517/7518/8037).
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// skippedKey describes a JWK that parseJWKS ignored, for logging.
type skippedKey struct {
	kid    string
	reason string
}

// parseJWKS parses a JWKS document. Keys this package cannot or must not
// use (symmetric keys, encryption keys, other curves, weak RSA keys, a
// declared alg that does not match the type) are skipped and reported; a
// document with no usable key is an error, so a bad document never replaces
// a good key set.
func parseJWKS(data []byte) (*keySet, []skippedKey, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("invalid JWKS document: %w", err)
	}
	ks := &keySet{
		byKid: make(map[string][]verificationKey),
		byAlg: make(map[string][]crypto.PublicKey),
	}
	var skipped []skippedKey
	for _, raw := range doc.Keys {
		var k jwk
		if err := json.Unmarshal(raw, &k); err != nil {
			skipped = append(skipped, skippedKey{reason: "invalid JWK member"})
			continue
		}
		vk, err := k.verificationKey()
		if err != nil {
			skipped = append(skipped, skippedKey{kid: truncate(k.Kid, 64), reason: err.Error()})
			continue
		}
		if ks.size == MaxKeys {
			return nil, skipped, fmt.Errorf("JWKS has more than %d usable keys", MaxKeys)
		}
		ks.size++
		ks.byAlg[vk.alg] = append(ks.byAlg[vk.alg], vk.key)
		if vk.kid != "" {
			ks.byKid[vk.kid] = append(ks.byKid[vk.kid], vk)
		}
	}
	if ks.size == 0 {
		return nil, skipped, errors.New("JWKS has no usable signing key")
	}
	return ks, skipped, nil
}

// verificationKey converts a JWK into a usable public key and the one
// algorithm it may verify.
func (k *jwk) verificationKey() (verificationKey, error) {
	if k.Use != "" && k.Use != "sig" {
		return verificationKey{}, errors.New("use is not sig")
	}
	var (
		alg string
		key crypto.PublicKey
		err error
	)
	switch k.Kty {
	case "RSA":
		alg = algRS256
		key, err = k.rsaKey()
	case "EC":
		alg = algES256
		key, err = k.ecKey()
	case "OKP":
		alg = algEdDSA
		key, err = k.okpKey()
	default:
		// "oct" (HMAC secrets) lands here on purpose: never a verification key.
		return verificationKey{}, errors.New("unsupported key type")
	}
	if err != nil {
		return verificationKey{}, err
	}
	if k.Alg != "" && k.Alg != alg {
		return verificationKey{}, errors.New("alg not supported for this key type")
	}
	return verificationKey{kid: k.Kid, alg: alg, key: key}, nil
}

func (k *jwk) rsaKey() (*rsa.PublicKey, error) {
	n, err := decodeB64(k.N)
	if err != nil || len(n) == 0 {
		return nil, errors.New("invalid RSA modulus")
	}
	e, err := decodeB64(k.E)
	if err != nil || len(e) == 0 || len(e) > 4 {
		return nil, errors.New("invalid RSA exponent")
	}
	var exp int
	for _, b := range e {
		exp = exp<<8 | int(b)
	}
	if exp < 3 || exp%2 == 0 {
		return nil, errors.New("invalid RSA exponent")
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}
	if pub.N.BitLen() < minRSABits {
		return nil, fmt.Errorf("RSA key shorter than %d bits", minRSABits)
	}
	return pub, nil
}

func (k *jwk) ecKey() (*ecdsa.PublicKey, error) {
	if k.Crv != "P-256" {
		return nil, errors.New("unsupported curve")
	}
	x, errX := decodeB64(k.X)
	y, errY := decodeB64(k.Y)
	if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
		return nil, errors.New("invalid P-256 coordinates")
	}
	point := make([]byte, 0, 65)
	point = append(point, 4) // uncompressed point
	point = append(point, x...)
	point = append(point, y...)
	// Rejects points not on the curve (invalid-curve attacks).
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil, errors.New("invalid P-256 point")
	}
	return pub, nil
}

func (k *jwk) okpKey() (ed25519.PublicKey, error) {
	if k.Crv != "Ed25519" {
		return nil, errors.New("unsupported curve")
	}
	x, err := decodeB64(k.X)
	if err != nil || len(x) != ed25519.PublicKeySize {
		return nil, errors.New("invalid Ed25519 key")
	}
	return ed25519.PublicKey(x), nil
}

// truncate bounds a JWKS-supplied string before it is logged.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// decodeB64 decodes base64url without padding (RFC 7515), tolerating the
// padding some servers add anyway.
func decodeB64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// loadJWKS reads the raw JWKS document from its URL or file, bounded to
// MaxJWKSSize bytes.
func (v *Verifier) loadJWKS(ctx context.Context) ([]byte, error) {
	if v.cfg.JWKSFile != "" {
		f, err := os.Open(v.cfg.JWKSFile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return readLimited(f)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.JWKSURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, fmt.Errorf("JWKS endpoint answered HTTP %d", resp.StatusCode)
	}
	return readLimited(resp.Body)
}

func readLimited(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxJWKSSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxJWKSSize {
		return nil, fmt.Errorf("JWKS document larger than %d bytes", MaxJWKSSize)
	}
	return data, nil
}
