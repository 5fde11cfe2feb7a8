// Package idempotency makes a repeated trigger answer as the first one did
// and trigger nothing new: a request repeated with the same Idempotency-Key
// header, or a webhook delivery repeated with the same X-Gitlab-Event-UUID
// or X-GitHub-Delivery, within the window (default 24h).
//
// # Flow
//
// The caller derives a key with Key (per authenticated principal and
// source; a SHA-256, so no caller text reaches a storage path), a
// fingerprint of what the request asks for with Fingerprint, and calls
// Store.Begin. Either Begin returns the saved Answer, to replay, or
// ErrMismatch when that answer was saved for a request with another
// fingerprint (the key was reused for a different request), or a Claim:
// the caller forwards the request and then calls Claim.Save with the
// answer, or Claim.Release when the request must stay retryable (an
// upstream 5xx, a refusal, a caller that gave up). What to save is the
// caller's choice; saving 2xx and non-retryable 4xx answers and releasing
// the rest is the expected use.
//
// Answers keep the fingerprint, never the request's values. Answers saved
// by earlier versions have none and match any request with their key;
// those saved under the earlier project-scoped keys are found through
// Request.LegacyKey during the first window after the store starts.
//
// While a key is claimed, repeats wait instead of forwarding. On the
// claiming instance they wait in memory (a map of in-flight keys), so only
// one request per key polls storage. Across instances the claim is the
// storage lock of the key (certmagic.Locker: files for FileStorage, keys
// with a lease for Redis and the like), held from Begin to Save or Release:
// another instance's repeat blocks in Lock, then finds the saved answer
// under the lock. An answer is durable in storage before the lock is
// released. If the claiming instance dies, its lock goes stale (10s for
// FileStorage) and the repeat claims the key.
//
// A storage failure makes Begin fail with ErrUnavailable: whether the
// request was already forwarded is unknown, so the caller should fail
// closed (503) rather than trigger twice.
//
// # Storage layout and expiry
//
// Answers are JSON under "trigger_gateway/idempotency/", grouped in time
// buckets:
//
//	trigger_gateway/idempotency/<start>-<width>/<key>
//
// where width is the window in seconds (rounded up) and start the Unix time
// where the bucket begins, a multiple of width, so every instance computes
// the same buckets. An answer goes to the bucket of its SavedAt.
//
// Buckets were chosen over one entry per key with lazy deletion because
// expiry then never needs to look at entries one by one:
//
//   - a lookup reads at most two keys, the current bucket's and the previous
//     one's, since a bucket is at least as wide as the window; an entry
//     found there but older than the window is treated as absent;
//   - Sweep lists only the bucket directories (two or three) and deletes
//     whole each bucket whose end lies a window in the past, one Delete per
//     bucket whatever it holds. Every instance sweeps periodically
//     (Window/4, at most hourly); a double delete is harmless.
//
// Storage thus holds between one and two windows' worth of answers. The
// price is one extra read for a key never seen, which is the common case;
// reading the current bucket first keeps a replay of a recent answer at one
// read. The width is in the bucket's name, so a window changed by a reload
// leaves old buckets unseen (not misread) until swept.
//
// # Memory
//
// A golang-lru cache of recent answers (positive only; an answer never
// changes within its window) serves repeats on this instance with no
// storage I/O. Its footprint is bounded by CacheSize × MaxBody; a GitLab
// pipeline answer is 1–2 KiB.
//
// The package knows nothing of HTTP routing or Caddy.
package idempotency
