package triggerapi

import (
	"testing"
	"time"
)

func TestParseExpiresAt(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2027-01-31", time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC), true},
		{"2027-01-31T15:04:05Z", time.Date(2027, 1, 31, 15, 4, 5, 0, time.UTC), true},
		{"2027-01-31T15:04:05+02:00", time.Date(2027, 1, 31, 13, 4, 5, 0, time.UTC), true},
		{"2027-01-31T15:04:05.123Z", time.Date(2027, 1, 31, 15, 4, 5, 123e6, time.UTC), true},
		{"2027-02-30", time.Time{}, false},
		{"31/01/2027", time.Time{}, false},
		{"tomorrow", time.Time{}, false},
		{"2027-01-31 15:04", time.Time{}, false},
		{"", time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseExpiresAt(tt.in)
		if ok != tt.ok || !got.Equal(tt.want) {
			t.Errorf("ParseExpiresAt(%q) = %s, %v; want %s, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
