package jobtoken

import (
	"encoding/json"

	"github.com/golang-jwt/jwt/v5"
)

// Bounds on identity claim values.
const (
	maxIDLength   = 20   // an unsigned 64-bit integer in decimal
	maxTextLength = 1024 // paths, refs and logins are far shorter
)

// jobClaims decodes a token's payload: the registered claims the jwt
// validator checks, plus every member raw, for the configurable identity
// claims.
type jobClaims struct {
	jwt.RegisteredClaims
	raw map[string]json.RawMessage
}

// UnmarshalJSON decodes the payload once into raw members and fills the
// registered claims from exactly the lower-case member names (encoding/json
// would otherwise also match "ISS" or "Exp").
func (c *jobClaims) UnmarshalJSON(data []byte) error {
	if err := json.Unmarshal(data, &c.raw); err != nil {
		return err
	}
	for _, f := range [...]struct {
		name string
		dst  any
	}{
		{"iss", &c.Issuer},
		{"sub", &c.Subject},
		{"aud", &c.Audience},
		{"exp", &c.ExpiresAt},
		{"nbf", &c.NotBefore},
		{"iat", &c.IssuedAt},
		{"jti", &c.ID},
	} {
		if m, ok := c.raw[f.name]; ok {
			if err := json.Unmarshal(m, f.dst); err != nil {
				return err
			}
		}
	}
	return nil
}

// identity extracts the identity claims. IDs must be decimal integers,
// given as JSON strings ("22", as GitLab does) or numbers; the project path
// and the pipeline and job IDs are required, ref and user are optional but
// must be valid when present.
func (c *jobClaims) identity(n ClaimNames) (Identity, bool) {
	var id Identity
	ok := c.idClaim(n.ProjectID, &id.ProjectID, true) &&
		c.textClaim(n.ProjectPath, &id.ProjectPath, true) &&
		c.idClaim(n.PipelineID, &id.PipelineID, true) &&
		c.idClaim(n.JobID, &id.JobID, true) &&
		c.textClaim(n.Ref, &id.Ref, false) &&
		c.textClaim(n.User, &id.User, false) &&
		c.ExpiresAt != nil
	if !ok {
		return Identity{}, false
	}
	id.ExpiresAt = c.ExpiresAt.Time
	return id, true
}

func (c *jobClaims) idClaim(name string, dst *string, required bool) bool {
	s, present, ok := c.scalar(name)
	if !present {
		return !required
	}
	if !ok || !isDigits(s) {
		return false
	}
	// Canonical form, so "007" and 7 compare equal to an allowlist's "7".
	if s = canonicalID(s); len(s) > maxIDLength {
		return false
	}
	*dst = s
	return true
}

func (c *jobClaims) textClaim(name string, dst *string, required bool) bool {
	s, present, ok := c.scalar(name)
	if !present {
		return !required
	}
	if !ok || s == "" || len(s) > maxTextLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		// Control characters could split log lines or forwarded headers.
		if s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	*dst = s
	return true
}

// scalar returns a claim given as a JSON string or an integer number, as
// text. present is false when the claim is absent or null.
func (c *jobClaims) scalar(name string) (s string, present, ok bool) {
	m, found := c.raw[name]
	if !found || string(m) == "null" {
		return "", false, false
	}
	switch {
	case len(m) > 0 && m[0] == '"':
		if err := json.Unmarshal(m, &s); err != nil {
			return "", true, false
		}
		return s, true, true
	case isDigits(string(m)):
		return string(m), true, true
	}
	return "", true, false
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
