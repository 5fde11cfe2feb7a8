//go:build !unix

package tokenstore

// processGone cannot tell on this platform: a name held by a process that
// died is then free only once its record is stale.
func processGone(int) bool { return false }
