package tokenstore

import (
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
)

// decodeTrigger parses a stored trigger record. Every token cache miss
// decodes one, so records the way this package writes them (json.Marshal
// of a Trigger: known members, no white space, strings without escapes)
// are read in one pass by readWrittenTrigger; anything else goes through
// encoding/json, which stays the reference for what a record means
// (FuzzDecodeTrigger holds the two to the same result).
func decodeTrigger(data []byte) (*Trigger, error) {
	t := new(Trigger)
	if err := decodeTriggerInto(t, data); err != nil {
		return nil, err
	}
	return t, nil
}

// decodeTriggerInto is decodeTrigger into a record the caller allocated
// (a cached credential holds its record, one allocation for both). t must
// be zero; on error its content means nothing.
func decodeTriggerInto(t *Trigger, data []byte) error {
	if readWrittenTrigger(t, data) {
		return nil
	}
	*t = Trigger{} // whatever the fast path read before it gave up
	if err := json.Unmarshal(data, t); err != nil {
		return fmt.Errorf("decoding trigger record: %w", err)
	}
	return nil
}

// Members of a record, one bit each, so that a repeated member (which
// encoding/json resolves) leaves the fast path.
const (
	memberID = 1 << iota
	memberTokenHash
	memberTokenPrefix
	memberProject
	memberDescription
	memberOwner
	memberRefs
	memberCreatedAt
	memberExpiresAt
	memberUpdatedAt
	memberRevokedAt
	memberRevokedBy
)

// readWrittenTrigger reads into t a record of exactly the shape
// json.Marshal gives a Trigger. It reports false for anything else, valid
// JSON or not: the caller then lets encoding/json decide.
func readWrittenTrigger(t *Trigger, data []byte) bool {
	// One string for the whole record: the fields are slices of it, one
	// allocation instead of one per field.
	r := recordReader{s: string(data)}
	if !r.skip('{') {
		return false
	}
	var seen int
	for first := true; ; first = false {
		if r.skip('}') {
			if first || r.i != len(r.s) {
				return false // "{}" is left to encoding/json too
			}
			return true
		}
		if !first && !r.skip(',') {
			return false
		}
		name, okName := r.plainString()
		if !okName || !r.skip(':') {
			return false
		}
		bit, okValue := r.member(t, name)
		if !okValue || seen&bit != 0 {
			return false
		}
		seen |= bit
	}
}

// member reads the value of the member name into t and returns its bit;
// ok is false for a name json.Marshal does not write, or a value it would
// not write that way.
func (r *recordReader) member(t *Trigger, name string) (bit int, ok bool) {
	switch name {
	case "id":
		return memberID, r.int64(&t.ID)
	case "token_hash":
		return memberTokenHash, r.stringInto(&t.TokenHash)
	case "token_prefix":
		return memberTokenPrefix, r.stringInto(&t.TokenPrefix)
	case "project":
		return memberProject, r.stringInto(&t.Project)
	case "description":
		return memberDescription, r.stringInto(&t.Description)
	case "owner":
		return memberOwner, r.stringInto(&t.Owner)
	case "refs":
		return memberRefs, r.strings(&t.Refs)
	case "created_at":
		return memberCreatedAt, r.time(&t.CreatedAt)
	case "expires_at":
		return memberExpiresAt, r.optionalTime(&t.ExpiresAt)
	case "updated_at":
		return memberUpdatedAt, r.optionalTime(&t.UpdatedAt)
	case "revoked_at":
		return memberRevokedAt, r.optionalTime(&t.RevokedAt)
	case "revoked_by":
		return memberRevokedBy, r.stringInto(&t.RevokedBy)
	}
	return 0, false
}

// recordReader reads compact JSON from s at i. Each method reports false,
// rather than an error, where the input leaves the shape it knows.
type recordReader struct {
	s string
	i int
}

// skip consumes c if it is the next byte.
func (r *recordReader) skip(c byte) bool {
	if r.i < len(r.s) && r.s[r.i] == c {
		r.i++
		return true
	}
	return false
}

// plainString reads a string literal with no escape, no control character
// and valid UTF-8: its value is its bytes.
func (r *recordReader) plainString() (string, bool) {
	if !r.skip('"') {
		return "", false
	}
	start := r.i
	for ; r.i < len(r.s); r.i++ {
		switch c := r.s[r.i]; {
		case c == '"':
			v := r.s[start:r.i]
			r.i++
			return v, utf8.ValidString(v)
		case c == '\\' || c < 0x20:
			return "", false
		}
	}
	return "", false
}

// stringInto reads a plain string into dst.
func (r *recordReader) stringInto(dst *string) bool {
	v, ok := r.plainString()
	*dst = v
	return ok
}

// int64 reads an integer as json.Marshal writes one: no fraction, no
// exponent, no leading zero, within int64.
func (r *recordReader) int64(dst *int64) bool {
	neg := r.skip('-')
	start := r.i
	var n uint64
	for ; r.i < len(r.s) && r.s[r.i] >= '0' && r.s[r.i] <= '9'; r.i++ {
		if n > (1<<63)/10 {
			return false
		}
		n = n*10 + uint64(r.s[r.i]-'0')
	}
	digits := r.i - start
	if digits == 0 || (digits > 1 && r.s[start] == '0') || n > 1<<63 || (!neg && n == 1<<63) {
		return false
	}
	if neg {
		*dst = -int64(n)
	} else {
		*dst = int64(n)
	}
	return true
}

// strings reads an array of plain strings.
func (r *recordReader) strings(dst *[]string) bool {
	if !r.skip('[') {
		return false
	}
	var list []string
	for first := true; ; first = false {
		if r.skip(']') {
			*dst = list
			return !first // [] is left to encoding/json (it gives an empty, non-nil slice)
		}
		if !first && !r.skip(',') {
			return false
		}
		v, ok := r.plainString()
		if !ok {
			return false
		}
		list = append(list, v)
	}
}

// optionalTime reads a time into a new value at dst (a null is left to
// encoding/json).
func (r *recordReader) optionalTime(dst **time.Time) bool {
	*dst = new(time.Time)
	return r.time(*dst)
}

// time reads a quoted RFC 3339 time with time.Time's own JSON decoding.
func (r *recordReader) time(dst *time.Time) bool {
	start := r.i
	if _, ok := r.plainString(); !ok {
		return false
	}
	return dst.UnmarshalJSON([]byte(r.s[start:r.i])) == nil
}
