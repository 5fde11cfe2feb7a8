package caddymodule

import (
	"net/url"
	"strings"
	"testing"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	"github.com/triggergate/caddy-trigger-gateway/tokenstore"
)

func TestParseRevokeWait(t *testing.T) {
	g := &gateway{settings: storeSettings{changePollInterval: 200 * time.Millisecond}}
	slow := &gateway{settings: storeSettings{changePollInterval: 30 * time.Second}}
	tests := []struct {
		g       *gateway
		query   string
		want    time.Duration
		wantErr bool
	}{
		{g, "", 0, false},
		{g, "wait=", 0, false},
		{g, "wait=false", 0, false},
		{g, "wait=0", 0, false},
		{g, "wait=true", 2 * time.Second, false},
		{g, "wait=1", 2 * time.Second, false},
		{slow, "wait=true", 5 * time.Minute, false},
		{&gateway{}, "wait=true", 10 * tokenstore.DefaultChangePollInterval, false},
		{g, "wait=30s", 30 * time.Second, false},
		{g, "wait=1d", 0, true},
		{g, "wait=11m", 0, true},
		{g, "wait=-5s", 0, true},
		{g, "wait=forever", 0, true},
	}
	for _, tt := range tests {
		q, _ := url.ParseQuery(tt.query)
		got, err := parseRevokeWait(q, tt.g)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("%q: %s, %v; want %s, error %v", tt.query, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestRevokeWaitQuery(t *testing.T) {
	tests := []struct {
		args   []string
		want   string
		errHas string
	}{
		{nil, "", ""},
		{[]string{"--wait"}, "wait=true", ""},
		{[]string{"--wait", "--wait-timeout", "30s"}, "wait=30s", ""},
		{[]string{"--wait-timeout", "2m"}, "wait=2m", ""},
		{[]string{"--wait-timeout", "soon"}, "", "--wait-timeout"},
		{[]string{"--wait-timeout", "1h"}, "", "--wait-timeout"},
	}
	for _, tt := range tests {
		revoke, _, err := newTriggerCommand().Find([]string{"revoke"})
		if err != nil {
			t.Fatal(err)
		}
		if err := revoke.ParseFlags(tt.args); err != nil {
			t.Fatal(err)
		}
		q, err := revokeWaitQuery(caddycmd.Flags{FlagSet: revoke.Flags()})
		if tt.errHas != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("%q: error %v, want one mentioning %s", tt.args, err, tt.errHas)
			}
			continue
		}
		if err != nil || q.Encode() != tt.want {
			t.Errorf("%q: query %q, %v; want %q", tt.args, q.Encode(), err, tt.want)
		}
	}
}
