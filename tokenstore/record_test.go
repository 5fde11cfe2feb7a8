package tokenstore

import (
	"testing"
	"time"
)

func TestTriggerLegacyAndExpired(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { v := now.Add(d); return &v }
	tests := []struct {
		name    string
		trigger Trigger
		legacy  bool
		expired bool
	}{
		{"legacy, no expiry", Trigger{}, true, false},
		{"owned, no expiry", Trigger{Owner: "alice"}, false, false},
		{"expires later", Trigger{Owner: "alice", ExpiresAt: at(time.Second)}, false, false},
		{"expires now", Trigger{Owner: "alice", ExpiresAt: at(0)}, false, true},
		{"expired before", Trigger{ExpiresAt: at(-time.Second)}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.trigger.Legacy(); got != tt.legacy {
				t.Errorf("Legacy() = %v, want %v", got, tt.legacy)
			}
			if got := tt.trigger.Expired(now); got != tt.expired {
				t.Errorf("Expired() = %v, want %v", got, tt.expired)
			}
		})
	}
}

func TestTriggerCloneIsDeep(t *testing.T) {
	e, r, u := time.Now(), time.Now(), time.Now()
	orig := &Trigger{ID: 1, ExpiresAt: &e, RevokedAt: &r, UpdatedAt: &u}
	c := orig.clone()
	*c.ExpiresAt = c.ExpiresAt.Add(time.Hour)
	*c.RevokedAt = c.RevokedAt.Add(time.Hour)
	*c.UpdatedAt = c.UpdatedAt.Add(time.Hour)
	if !orig.ExpiresAt.Equal(e) || !orig.RevokedAt.Equal(r) || !orig.UpdatedAt.Equal(u) {
		t.Fatal("clone shares time values with the original")
	}
}
