package jobtoken

import "errors"

// Refusal reasons carried by [Error.Reason]. The set is bounded so that a
// reason can be used as a metric label.
const (
	ReasonMalformed       = "malformed"        // not a well-formed JWT, or too long
	ReasonAlgorithm       = "algorithm"        // alg not allowed, or not matching the key's type
	ReasonUnknownKey      = "unknown_key"      // no key of the key set matches the token's kid
	ReasonBadSignature    = "bad_signature"    // the signature does not verify
	ReasonExpired         = "expired"          // exp is in the past (beyond Leeway)
	ReasonNotYetValid     = "not_yet_valid"    // nbf or iat is in the future (beyond Leeway)
	ReasonWrongIssuer     = "wrong_issuer"     // iss is missing or differs from Config.Issuer
	ReasonWrongAudience   = "wrong_audience"   // aud is missing or does not contain Config.Audience
	ReasonMissingClaim    = "missing_claim"    // exp or a required identity claim is missing or invalid
	ReasonKeysUnavailable = "keys_unavailable" // no key set has ever been loaded successfully
)

// Reasons lists every value [Error.Reason] can take, for pre-registering
// metric label values.
var Reasons = []string{
	ReasonMalformed, ReasonAlgorithm, ReasonUnknownKey, ReasonBadSignature,
	ReasonExpired, ReasonNotYetValid, ReasonWrongIssuer, ReasonWrongAudience,
	ReasonMissingClaim, ReasonKeysUnavailable,
}

// Error is the refusal of a job token. Its message never contains the token
// or any part of it; Err only ever holds a fixed sentinel error (or, for
// keys_unavailable, the last key-set load error, which concerns the JWKS
// source and not the token).
type Error struct {
	// Reason is one of the Reason* constants.
	Reason string
	// Err is the underlying cause, for errors.Is; it may be nil.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	if e.Err == nil {
		return "job token refused: " + e.Reason
	}
	return "job token refused: " + e.Reason + ": " + e.Err.Error()
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Fixed causes, so that no token-controlled text can reach an error message.
var (
	errTooLong        = errors.New("token exceeds the maximum length")
	errNotJWT         = errors.New("not a well-formed JWT")
	errAlgNotAllowed  = errors.New("signing algorithm not allowed")
	errKeyTypeAlg     = errors.New("key type does not match the signing algorithm")
	errKidNotString   = errors.New("kid header is not a string")
	errCritHeader     = errors.New("critical header extensions are not supported")
	errNoKey          = errors.New("no key matches the token")
	errNoKeySet       = errors.New("no key set loaded")
	errSignature      = errors.New("signature does not verify")
	errExpired        = errors.New("token is expired")
	errNotYetValid    = errors.New("token is not valid yet")
	errIssuer         = errors.New("issuer does not match")
	errAudience       = errors.New("audience does not match")
	errRequiredClaims = errors.New("required claim missing or invalid")
)

func refuse(reason string, err error) *Error { return &Error{Reason: reason, Err: err} }
