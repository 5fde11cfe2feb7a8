// Package tokenstore keeps the gateway's trigger tokens: their records, how
// tokens are generated and hashed, their persistence on a certmagic.Storage,
// the in-memory LRU caches that keep the request path free of storage I/O,
// and the per-trigger usage counters with their periodic flush.
//
// Tokens themselves are never stored: a record is found by the SHA-256 of
// its token. The storage layout, under the key prefix "trigger_gateway", is:
//
//	tokens/<sha256 hex>                  trigger record; a tombstone (revoked_at set) after revocation
//	triggers/<id>                        trigger record, for lookup by ID
//	projects/<path-escaped project>/<id> marker, for listing by project
//	usage/<id>/<path-escaped instance>   this instance's absolute usage totals
//	next_id                              the next trigger ID, allocated under a storage lock
//
// Every instance of a cluster writes only its own usage records, so usage
// needs no read-modify-write across instances; readers sum the records.
//
// The package knows nothing of HTTP or Caddy.
package tokenstore
