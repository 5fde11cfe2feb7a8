// Package tokenstore keeps the gateway's trigger tokens: their records, how
// tokens are generated and hashed, their persistence on a certmagic.Storage,
// the in-memory LRU caches that keep the request path free of storage I/O,
// and the per-trigger usage counters with their periodic flush.
//
// Tokens themselves are never stored: a record is found by the SHA-256 of
// its token. The storage layout, under the key prefix "trigger_gateway", is:
//
//	tokens/<sha256 hex>                  trigger record; a tombstone (revoked_at set) after revocation
//	triggers/s<shard>                    the records of the triggers with IDs shard*64 to shard*64+63,
//	                                     for lookup by ID; a revoked trigger's kept, revoked_at set
//	projects/<path-escaped project>/s<shard>
//	                                     marker: the project has triggers in that shard, for listing
//	                                     by project (the project's case folded; kept after revocation)
//	instance_usage/<path-escaped instance>/<shard>
//	                                     one instance's absolute usage totals of the
//	                                     triggers with IDs shard*1024 to shard*1024+1023
//	deliveries/<id>/<path-escaped instance>
//	                                     that instance's newest 20 deliveries of the trigger
//	                                     (names of variables only, never values)
//	next_id                              the next trigger ID, allocated under a storage lock
//	layout                               "trigger_shards" once no record of the layout before is left
//	changes/<unix nanos>-<random>        change feed entry: {"op":"revoke"|"create"|"sync","hash":...}
//	instances/<path-escaped instance>    the live store writing under that instance name
//	confirmations/<path-escaped instance>
//	                                     how many times that store confirmed reading the feed
//
// A trigger costs one file of its own, its token index: the records by ID
// share a file per 64 IDs, and a project's marker stands for every trigger
// of the project in a shard (trigger_shards.go). A lookup by token hash is
// one read, a lookup by ID one read (its shard), a listing by project one
// listing and one read per shard listed; none scans. A shard is rewritten
// whole, always under the ID lock. Stores before shards wrote
// triggers/<id> and projects/<project>/<id> for every trigger: such
// records are read as they are (a record in a shard wins over one of the
// same ID outside it), and the first store of this version to open the
// storage moves them into their shards in the background, then writes
// layout (migrate.go). Instances of a version before shards must be
// stopped first.
//
// # Clusters
//
// Several instances (Caddy processes) may share one storage, such as Redis
// through caddy.storage.redis; nothing is shared through memory.
//
// Usage: every store writes only its own records,
// instance_usage/<instance>/<shard>, with absolute totals, so no write
// depends on another instance's and concurrent flushes lose nothing;
// readers sum the records and take the latest last-used time. A flush
// writes one record per shard with new uses, not one per trigger. Each live store holds a distinct instance name
// (see Config.InstanceID): two processes never write one record. So a
// store keeps its own records in memory once read or written (up to 256
// shards) and a flush writes them without reading them back; it writes
// them only while its name's lease holds (instance_lease.go), and forgets
// them when it moves to another name or claims its own name again.
//
// Deliveries: the recent uses of each trigger (RecordDelivery) are
// buffered in memory like usage and written by the same flush, each
// instance into its own record per trigger, deliveries/<id>/<instance>,
// holding its newest MaxDeliveries; Deliveries merges every instance's
// record with this instance's unwritten ones and keeps the newest
// MaxDeliveries. Like its usage records, a store keeps its own deliveries
// records in memory once read or written (up to about 8 MiB, the least
// recently used dropped), so a flush writes a trigger's record without
// reading it back, only while its name's lease holds, and forgets them
// when its name changes. At most 4096 wait for a flush; past that the
// oldest are dropped and counted (DroppedDeliveries, DeliveryObserver).
// Close writes them; a crash loses those of the last flush interval.
//
// Revocations: the revoking store refuses the token at once. A revoked
// trigger stays in storage for good, with when and by whom it was revoked
// and its usage, so that it can be listed (ListRevoked) and shown
// (GetIncludingRevoked), and a use of its token is told from an unknown
// token (RevokedError). Revocations written by versions that deleted the
// record by ID left only the tombstone: their tokens are refused as
// revoked, with the trigger's ID, but the triggers are not listed. Every store
// reads the change feed every Config.ChangePollInterval (default 500ms) and
// evicts the tokens named by entries it has not seen yet; so another
// instance refuses a revoked token at most ChangePollInterval plus one
// storage round trip (a listing and a read) after the revocation was
// acknowledged, whatever the cache TTL. Creations and imports go through
// the feed too, clearing negative cache entries, and a token never cached
// is read from storage on its first use anyway. Entries are recognised by
// name, never by comparing clocks of different machines; they are pruned
// after Config.ChangeRetention (default 10m), at most 100 per poll.
//
// Confirmations: after a poll that applied anything, a store writes a
// confirmation, polls again and writes another; AwaitChanges, called after
// a revocation, returns once every other live store has confirmed twice
// since, so the caller knows every instance refuses the token (see
// confirm.go). Nothing is written while the feed is quiet.
//
// Storage faults: a cached token needs no storage and keeps working until
// its cache TTL ends. Reads are abandoned after Config.StorageTimeout
// (default 2s) even if the storage ignores contexts, so an uncached token
// fails fast with ErrUnavailable (the gateway answers 503: it fails
// closed). Pending usage stays in memory and is written by the first flush
// that succeeds. Failures are counted by the Observer for each operation
// and logged at most once per 10 seconds per operation. A store that
// could not read the change feed for half the retention empties its
// caches when the feed answers again. While storage is unreachable, the
// revocation bound above does not hold: cached tokens work until their TTL.
//
// The package knows nothing of HTTP or Caddy.
package tokenstore
