// Package jsontext appends JSON values to byte slices exactly as
// encoding/json writes them, for the encoders that write JSON by hand on
// paths where reflection costs too much (the canonical request body, the
// usage records).
package jsontext

import (
	"encoding/json"
	"time"
)

// AppendString appends s as a JSON string, exactly as encoding/json would.
// Plain printable ASCII is written as it is; anything else goes through
// encoding/json.
func AppendString(dst []byte, s string) []byte {
	if !plain(s) {
		encoded, _ := json.Marshal(s) // a string always encodes
		return append(dst, encoded...)
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// AppendTime appends t as encoding/json writes a time.Time: RFC 3339 with
// nanoseconds, in t's location. A time outside the years 0 to 9999, which
// encoding/json refuses, goes through encoding/json for its error.
func AppendTime(dst []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); y < 0 || y > 9999 {
		_, err := json.Marshal(t)
		return dst, err
	}
	dst = append(dst, '"')
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"'), nil
}

// plain reports whether s needs no escaping in JSON, by encoding/json's
// rules (which also escape <, > and & for HTML).
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if !plainByte[s[i]] {
			return false
		}
	}
	return true
}

// plainByte tells the bytes plain lets through: printable ASCII but for
// '"', '\\', '<', '>' and '&'.
var plainByte = func() (ok [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		ok[c] = true
	}
	for _, c := range `"\<>&` {
		ok[c] = false
	}
	return ok
}()
