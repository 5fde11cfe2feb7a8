package triggerapi

import "time"

// ExpiresAtFormats says, for messages, what ParseExpiresAt accepts.
const ExpiresAtFormats = "a date like 2027-01-31 (midnight UTC) or an RFC 3339 time like 2027-01-31T15:04:05Z"

// ParseExpiresAt reads a trigger's expiry as GitLab's API takes one: an
// RFC 3339 time, or an ISO 8601 date, which means midnight UTC at its
// start. The management API, the admin API and `caddy trigger add
// --expires-at` all read expiries with it.
func ParseExpiresAt(s string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, true
	}
	return time.Time{}, false
}
