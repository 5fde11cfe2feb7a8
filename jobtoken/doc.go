// Package jobtoken verifies CI job tokens ($CI_JOB_TOKEN) that are JWTs
// signed by the CI server, and decides which source projects a target
// project accepts them from.
//
// A [Verifier] checks a token's signature against the CI server's JSON Web
// Key Set (fetched from a URL or read from a file), its issuer, audience and
// validity window, and returns the [Identity] its claims describe: source
// project, pipeline, job, ref and user. An [Allowlist] is a target project's
// list of source projects (IDs or path globs) whose job tokens it accepts.
//
// Security properties, each covered by tests:
//
//   - Only asymmetric algorithms are accepted: RS256, ES256 and EdDSA. "none"
//     and every HMAC algorithm are refused, and a key is handed to the JWT
//     library only when its JWK type matches the token's alg, so an HS256
//     token "signed" with an RSA public key can never verify.
//   - Keys are selected by "kid". A token without "kid" is tried against
//     every key of the set whose type matches its alg (the set is bounded to
//     [MaxKeys] keys). A key published without "kid" is only ever used for
//     tokens without "kid".
//   - An unknown kid triggers one JWKS refresh (at most once per
//     MinRefreshInterval, and a burst of unknown kids shares a single fetch),
//     then the lookup is retried once.
//   - A failed JWKS load (HTTP error, timeout, oversized or invalid document,
//     an https URL redirecting to plain http) keeps the last good key set,
//     so tokens keep verifying.
//   - Verified tokens are cached by the SHA-256 of the token, never the token
//     itself, until their exp (plus Leeway, as in a full verification). A
//     cached verification stands until then even if a key rotation removes
//     the key that signed it: that is what caching a verification means, and
//     it is bounded by the token's own lifetime. Refusals are never cached.
//   - Neither a token nor any part of it (header values such as kid or alg
//     included) ever appears in an error message or a log line.
//
// The package knows nothing of Caddy or HTTP request handling.
package jobtoken
