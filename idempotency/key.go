package idempotency

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Sources of a repeated request, the source argument of Key.
const (
	// SourceHeader is the Idempotency-Key request header.
	SourceHeader = "header"
	// SourceGitLab is the X-Gitlab-Event-UUID header of a GitLab webhook delivery.
	SourceGitLab = "gitlab"
	// SourceGitHub is the X-GitHub-Delivery header of a GitHub webhook delivery.
	SourceGitHub = "github"
)

// Domains separate these hashes from any other SHA-256 of the same values,
// and version the derivation. v1 keys were scoped to the project; v2 keys
// are scoped to the authenticated principal.
const (
	keyDomain       = "trigger_gateway idempotency v2\x00"
	legacyKeyDomain = "trigger_gateway idempotency v1\x00"
)

// keyLen is the length of a key: SHA-256 in hex.
const keyLen = sha256.Size * 2

// Key derives the key under which a repeated request is recognised:
// principal is who the caller authenticated as (an opaque string the
// caller builds: a trigger, or a CI job's source project with the target
// project), source is one of the Source* constants, value is the caller's
// header value. Keys of two principals never meet. The result is a
// fixed-length lower-case hex SHA-256, safe as a storage path segment, so
// no caller-controlled text ever becomes part of a storage key.
//
// Each part is length-prefixed before hashing, so no two distinct
// (principal, source, value) triples share a key by shifting a boundary.
func Key(principal, source, value string) string {
	return digest(keyDomain, principal, source, value)
}

// LegacyKey is the key an earlier version derived for the same header,
// scoped to the canonical project. It finds answers saved before the
// upgrade; see Request.LegacyKey.
func LegacyKey(project, source, value string) string {
	return digest(legacyKeyDomain, project, source, value)
}

// digest is the length-prefixed SHA-256 of parts under domain, in hex.
func digest[S string | []byte](domain string, parts ...S) string {
	h := sha256.New()
	h.Write([]byte(domain))
	var n [binary.MaxVarintLen64]byte
	for _, part := range parts {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(part)))])
		h.Write([]byte(part))
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}

// validKey reports whether key has the shape Key produces: only then may it
// become part of a storage key.
func validKey(key string) bool {
	if len(key) != keyLen {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Storage layout; see the package documentation.
const (
	rootDir = "trigger_gateway/idempotency"
	// lockPrefix names the storage lock of a key. Lock names share one
	// namespace with certmagic's own ("issue_cert_..."), hence the prefix;
	// it has no slash because storages turn lock names into file names.
	lockPrefix = "trigger_gateway_idempotency_"
)

func lockName(key string) string { return lockPrefix + key }

// bucket is a period of time, in Unix seconds, whose saved answers share a
// storage directory: [start, start+width).
type bucket struct {
	start, width int64
}

// bucketAt returns the bucket of the given width holding t.
func bucketAt(t time.Time, width int64) bucket {
	u := t.Unix()
	start := u - u%width
	if u%width < 0 { // floor, for times before 1970
		start -= width
	}
	return bucket{start: start, width: width}
}

// previous returns the bucket just before b.
func (b bucket) previous() bucket { return bucket{start: b.start - b.width, width: b.width} }

// name is the bucket's directory name, "<start>-<width>". The width is part
// of the name so that buckets written under another window (an older config,
// another instance) are never mistaken for this store's.
func (b bucket) name() string {
	return strconv.FormatInt(b.start, 10) + "-" + strconv.FormatInt(b.width, 10)
}

func (b bucket) dir() string { return rootDir + "/" + b.name() }

// entryKey is where the answer for key saved during b is stored.
func (b bucket) entryKey(key string) string { return b.dir() + "/" + key }

// parseBucket reads a directory name written by name. Storages may list
// other names (temporary files, for one), which give ok == false.
func parseBucket(name string) (b bucket, ok bool) {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return bucket{}, false
	}
	startStr, widthStr := name[:i], name[i+1:]
	start, err1 := strconv.ParseInt(startStr, 10, 64)
	width, err2 := strconv.ParseInt(widthStr, 10, 64)
	if err1 != nil || err2 != nil || width <= 0 || start%width != 0 {
		return bucket{}, false
	}
	return bucket{start: start, width: width}, true
}
