package tokenstore

import (
	"net/url"
	"path"
	"strconv"
)

// Storage keys; see the package documentation for the layout.
const (
	keyPrefix      = "trigger_gateway"
	tokensDir      = keyPrefix + "/tokens"
	triggersDir    = keyPrefix + "/triggers"
	projectsDir    = keyPrefix + "/projects"
	usageRoot      = keyPrefix + "/instance_usage"
	nextIDKey      = keyPrefix + "/next_id"
	deliveriesRoot = keyPrefix + "/deliveries"
	// nextIDLock serializes ID allocation (and the import duplicate check)
	// across every instance sharing the storage.
	nextIDLock = nextIDKey

	changesDir   = keyPrefix + "/changes"
	instancesDir = keyPrefix + "/instances"
	// claimsLock serializes taking instance names across every store
	// sharing the storage; it is held only for the few operations of a claim.
	claimsLock = instancesDir
)

func tokenKey(hashHex string) string { return tokensDir + "/" + hashHex }

// triggerShardSize is how many consecutive trigger IDs share one record
// file, triggers/s<shard>: one small file per trigger took a file system
// block (4 KiB) each, three times over with the token index and the
// project marker.
const triggerShardSize = 64

func triggerShard(id int64) int64 { return id / triggerShardSize }

func triggerShardKey(shard int64) string {
	return triggersDir + "/s" + strconv.FormatInt(shard, 10)
}

// triggerKey is where the record of trigger id is found by ID: its shard.
func triggerKey(id int64) string { return triggerShardKey(triggerShard(id)) }

// perTriggerKey is where stores before shards wrote the record of trigger
// id (see migrate.go).
func perTriggerKey(id int64) string { return triggersDir + "/" + strconv.FormatInt(id, 10) }

// projectDir escapes the project so that "group/project" stays one
// segment, its case folded (FoldProject): "Group/Project" is the same
// project.
func projectDir(project string) string {
	return projectsDir + "/" + url.PathEscape(FoldProject(project))
}

// projectShardKey marks that the project has triggers in the shard.
func projectShardKey(project string, shard int64) string {
	return projectDir(project) + "/s" + strconv.FormatInt(shard, 10)
}

// projectKey is the marker that lists trigger id under its project: its
// shard's.
func projectKey(project string, id int64) string { return projectShardKey(project, triggerShard(id)) }

// perTriggerProjectKey is the marker stores before shards wrote for
// trigger id, under the project's directory as given (folded or, before
// keys were folded, as recorded).
func perTriggerProjectKey(dir string, id int64) string { return dir + "/" + strconv.FormatInt(id, 10) }

// usageDir holds one instance's usage shards.
func usageDir(instance string) string { return usageRoot + "/" + url.PathEscape(instance) }

func usageShardKey(instance string, shard int64) string {
	return usageDir(instance) + "/" + strconv.FormatInt(shard, 10)
}

// deliveriesDir holds the records of a trigger's recent deliveries, one
// per instance.
func deliveriesDir(id int64) string { return deliveriesRoot + "/" + strconv.FormatInt(id, 10) }

func deliveriesKey(id int64, instance string) string {
	return deliveriesDir(id) + "/" + url.PathEscape(instance)
}

func instanceKey(name string) string { return instancesDir + "/" + url.PathEscape(name) }

// shardFromKey parses the last segment of a listed key as a shard,
// "s<shard>".
func shardFromKey(key string) (shard int64, ok bool) {
	base := path.Base(key)
	if len(base) < 2 || base[0] != 's' {
		return 0, false
	}
	shard, err := strconv.ParseInt(base[1:], 10, 64)
	return shard, err == nil && shard >= 0 && base[1] != '+' && base[1] != '-'
}

// idFromKey parses the last segment of a listed key as a trigger ID.
// Storages may list other names in these directories (certmagic's
// FileStorage, for one, writes through temporary files), so callers skip
// keys for which ok is false and check what they load.
func idFromKey(key string) (id int64, ok bool) {
	id, err := strconv.ParseInt(path.Base(key), 10, 64)
	return id, err == nil && id > 0
}
