package idempotency

// fingerprintDomain separates fingerprints from keys and any other hash.
const fingerprintDomain = "trigger_gateway idempotency fingerprint v1\x00"

// Fingerprint hashes what makes a request the request it is (for a
// trigger: the project, the ref, the variables, inputs and payload, in a
// canonical encoding the caller chooses), so that a key reused for a
// different request is recognised (ErrMismatch) without storing any of its
// values. Each part is length-prefixed, so no two distinct lists of parts
// share a fingerprint by shifting a boundary. The result has the shape of
// a key: 64 lower-case hex characters.
func Fingerprint(parts ...[]byte) string { return digest(fingerprintDomain, parts...) }

// sameRequest reports whether an answer saved for a request with the
// fingerprint saved may answer a request with the fingerprint asked. An
// empty fingerprint on either side is not compared: answers saved before
// fingerprints existed, and callers that do not fingerprint, match any
// request, as all requests with one key did then.
func sameRequest(saved, asked string) bool {
	return saved == "" || asked == "" || saved == asked
}
