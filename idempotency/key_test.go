package idempotency

import (
	"strings"
	"testing"
	"time"
)

func TestKey(t *testing.T) {
	type triple struct{ scope, source, value string }
	tests := []struct {
		name string
		a, b triple
		same bool
	}{
		{"deterministic", triple{"9", SourceHeader, "abc"}, triple{"9", SourceHeader, "abc"}, true},
		{"other project", triple{"9", SourceHeader, "abc"}, triple{"10", SourceHeader, "abc"}, false},
		{"other source", triple{"9", SourceGitLab, "abc"}, triple{"9", SourceGitHub, "abc"}, false},
		{"header vs webhook", triple{"9", SourceHeader, "abc"}, triple{"9", SourceGitLab, "abc"}, false},
		{"other value", triple{"9", SourceHeader, "abc"}, triple{"9", SourceHeader, "abd"}, false},
		{"value case matters", triple{"9", SourceHeader, "abc"}, triple{"9", SourceHeader, "ABC"}, false},
		{"boundary scope/source", triple{"9h", "eader", "x"}, triple{"9", "header", "x"}, false},
		{"boundary source/value", triple{"9", "header", "x"}, triple{"9", "heade", "rx"}, false},
		{"separator in value", triple{"9", "header", "a\x00b"}, triple{"9\x00header", "a", "b"}, false},
		{"empty parts", triple{"", "", ""}, triple{"", "", "\x00"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ka := Key(tt.a.scope, tt.a.source, tt.a.value)
			kb := Key(tt.b.scope, tt.b.source, tt.b.value)
			for _, k := range []string{ka, kb} {
				if !validKey(k) {
					t.Fatalf("Key gave %q, not 64 lower-case hex", k)
				}
			}
			if (ka == kb) != tt.same {
				t.Fatalf("Key(%q) = %s, Key(%q) = %s, want same = %v", tt.a, ka, tt.b, kb, tt.same)
			}
		})
	}
}

// TestKeyHidesValue checks that a hostile value cannot shape the storage
// key: whatever it holds, the key is 64 hex characters.
func TestKeyHidesValue(t *testing.T) {
	for _, v := range []string{"../../etc/passwd", "a/b", strings.Repeat("x", 10000), "", "\xff\xfe"} {
		k := Key("group/project", SourceHeader, v)
		if !validKey(k) || strings.Contains(bucketAt(t0, 86400).entryKey(k), "..") {
			t.Errorf("Key(%q) = %q", v, k)
		}
	}
}

func TestValidKey(t *testing.T) {
	good := Key("9", SourceHeader, "x")
	tests := []struct {
		key  string
		want bool
	}{
		{good, true},
		{strings.ToUpper(good), false},
		{good[:63], false},
		{good + "0", false},
		{good[:63] + "/", false},
		{good[:62] + "..", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := validKey(tt.key); got != tt.want {
			t.Errorf("validKey(%q) = %v, want %v", tt.key, got, tt.want)
		}
	}
}

func TestBuckets(t *testing.T) {
	const day = 86400
	tests := []struct {
		name  string
		t     time.Time
		width int64
		start int64
	}{
		{"midday", t0, day, time.Date(2025, 11, 25, 0, 0, 0, 0, time.UTC).Unix()},
		{"exact boundary", time.Date(2025, 11, 25, 0, 0, 0, 0, time.UTC), day, time.Date(2025, 11, 25, 0, 0, 0, 0, time.UTC).Unix()},
		{"just before boundary", time.Date(2025, 11, 24, 23, 59, 59, 0, time.UTC), day, time.Date(2025, 11, 24, 0, 0, 0, 0, time.UTC).Unix()},
		{"seconds width", time.Unix(1007, 0), 10, 1000},
		{"before 1970", time.Unix(-5, 0), 10, -10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := bucketAt(tt.t, tt.width)
			if b.start != tt.start || b.width != tt.width {
				t.Fatalf("bucketAt = %+v, want start %d width %d", b, tt.start, tt.width)
			}
			back, ok := parseBucket(b.name())
			if !ok || back != b {
				t.Fatalf("parseBucket(%q) = %+v, %v", b.name(), back, ok)
			}
			if p := b.previous(); p.start != b.start-b.width || p.width != b.width {
				t.Fatalf("previous = %+v", p)
			}
		})
	}
}

func TestParseBucketRejects(t *testing.T) {
	for _, name := range []string{"", "123", "abc-86400", "86400-abc", "100-0", "100--5", "105-10", ".tmp123", "1-2-3"} {
		if b, ok := parseBucket(name); ok {
			t.Errorf("parseBucket(%q) = %+v, want rejected", name, b)
		}
	}
}
