package tokenstore

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writtenRecords are records as the store writes them (json.Marshal of a
// Trigger): each must take the fast path.
func writtenRecords(t testing.TB) map[string][]byte {
	created := time.Date(2026, 12, 1, 10, 10, 21, 704566004, time.UTC)
	later := created.Add(90 * 24 * time.Hour)
	offset := time.Date(2027, 1, 2, 3, 4, 5, 0, time.FixedZone("", 2*3600))
	full := Trigger{
		ID: 31875, TokenHash: strings.Repeat("0a", 32), TokenPrefix: "glptt-d95f",
		Project: "group/sub/project", Description: "déploiement nightly, é ü 🚀", Owner: "alice",
		Refs: []string{"main", "release/*"}, CreatedAt: created,
		ExpiresAt: &later, UpdatedAt: &offset, RevokedAt: &later, RevokedBy: "admin API (root)",
	}
	records := map[string][]byte{}
	for name, tr := range map[string]Trigger{
		"full":               full,
		"bench shape":        {ID: 1, TokenHash: strings.Repeat("9c", 32), TokenPrefix: "glptt-5916", Project: "9", Description: "bench 0", Owner: "bench", CreatedAt: created},
		"legacy, no refs":    {ID: 2, TokenHash: strings.Repeat("ab", 32), TokenPrefix: "glptt-abab", Project: "12", CreatedAt: created},
		"zero ID and time":   {},
		"largest ID":         {ID: 1<<63 - 1},
		"negative ID":        {ID: -1 << 63},
		"one ref":            {ID: 3, Refs: []string{"v*"}, CreatedAt: created},
		"offset creation":    {ID: 4, CreatedAt: offset},
		"tombstone":          {ID: 5, TokenHash: strings.Repeat("ff", 32), RevokedAt: &later, CreatedAt: created},
		"quotes are escaped": {ID: 6, Description: `say "hi"`}, // not plain: the fallback's
	} {
		data, err := json.Marshal(tr)
		if err != nil {
			t.Fatal(err)
		}
		records[name] = data
	}
	return records
}

func TestDecodeTriggerWrittenRecords(t *testing.T) {
	for name, data := range writtenRecords(t) {
		t.Run(name, func(t *testing.T) {
			var want Trigger
			if err := json.Unmarshal(data, &want); err != nil {
				t.Fatal(err)
			}
			got, err := decodeTrigger(data)
			if err != nil {
				t.Fatalf("decodeTrigger(%s): %v", data, err)
			}
			if !reflect.DeepEqual(*got, want) {
				t.Fatalf("decodeTrigger(%s) = %+v, encoding/json reads %+v", data, *got, want)
			}
			fast := readWrittenTrigger(new(Trigger), data)
			if wantFast := name != "quotes are escaped"; fast != wantFast {
				t.Errorf("fast path taken: %v, want %v, for %s", fast, wantFast, data)
			}
		})
	}
}

func TestDecodeTriggerLeavesTheRestToEncodingJSON(t *testing.T) {
	tests := []struct {
		name    string
		record  string
		wantErr bool
	}{
		{"white space", `{ "id": 1 }`, false},
		{"trailing white space", `{"id":1} `, false},
		{"member in another case", `{"ID":1}`, false},
		{"unknown member", `{"id":1,"color":"red"}`, false},
		{"repeated member", `{"id":1,"id":2}`, false},
		{"escaped name", `{"\u0069d":1}`, false},
		{"escaped value", `{"project":"a\/b"}`, false},
		{"invalid UTF-8", "{\"project\":\"\xff\"}", false},
		{"null time", `{"expires_at":null}`, false},
		{"null refs", `{"refs":null}`, false},
		{"empty refs", `{"refs":[]}`, false},
		{"empty object", `{}`, false},
		{"float ID", `{"id":1.0}`, true},
		{"exponent ID", `{"id":1e3}`, true},
		{"leading zero", `{"id":01}`, true},
		{"ID past int64", `{"id":9223372036854775808}`, true},
		{"ID before int64", `{"id":-9223372036854775809}`, true},
		{"ID far past int64", `{"id":99999999999999999999}`, true},
		{"string ID", `{"id":"1"}`, true},
		{"bad time", `{"created_at":"yesterday"}`, true},
		{"time without zone", `{"created_at":"2026-12-01T10:10:21"}`, true},
		{"control character", "{\"project\":\"a\tb\"}", true},
		{"trailing comma", `{"id":1,}`, true},
		{"trailing garbage", `{"id":1}x`, true},
		{"unterminated", `{"id":1`, true},
		{"not an object", `[1]`, true},
		{"empty", ``, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.record)
			var want Trigger
			wantErr := json.Unmarshal(data, &want)
			if (wantErr != nil) != tt.wantErr {
				t.Fatalf("encoding/json: %v, the table says error %v", wantErr, tt.wantErr)
			}
			if fast := readWrittenTrigger(new(Trigger), data); fast {
				t.Errorf("%s took the fast path", data)
			}
			got, err := decodeTrigger(data)
			if (err != nil) != tt.wantErr {
				t.Fatalf("decodeTrigger(%s) error = %v, want error %v", data, err, tt.wantErr)
			}
			if err == nil && !reflect.DeepEqual(*got, want) {
				t.Fatalf("decodeTrigger(%s) = %+v, encoding/json reads %+v", data, *got, want)
			}
		})
	}
}

// FuzzDecodeTrigger: whatever the bytes, decodeTrigger decodes what
// encoding/json decodes and fails where it fails.
func FuzzDecodeTrigger(f *testing.F) {
	for _, data := range writtenRecords(f) {
		f.Add(data)
	}
	for _, s := range []string{
		`{"id":1,"id":2}`, `{"refs":["a","b"]}`, `{"refs":["a",1]}`, `{"id":-0}`,
		`{"created_at":"2026-12-01T10:10:21.5+01:00"}`, `{"expires_at":"2026-13-01T00:00:00Z"}`,
		`{"id":9223372036854775807}`, `{"id":-9223372036854775808}`, `{"owner":""}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var want Trigger
		wantErr := json.Unmarshal(data, &want)
		got, err := decodeTrigger(data)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("decodeTrigger(%q) error = %v, encoding/json: %v", data, err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(*got, want) {
			t.Fatalf("decodeTrigger(%q) = %+v, encoding/json reads %+v", data, *got, want)
		}
	})
}

func BenchmarkDecodeTrigger(b *testing.B) {
	data := writtenRecords(b)["bench shape"]
	b.Run("fast path", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeTrigger(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var t Trigger
			if err := json.Unmarshal(data, &t); err != nil {
				b.Fatal(err)
			}
		}
	})
}
