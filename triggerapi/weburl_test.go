package triggerapi_test

import (
	"strings"
	"testing"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

func TestIsPipelineWebURL(t *testing.T) {
	cases := []struct {
		url  string
		want bool
	}{
		{"https://ci.example.com/queue/item/7/", true},
		{"HTTP://ci.example.com:8080/x?y=1#z", true},
		{"https://c/" + strings.Repeat("a", triggerapi.MaxPipelineWebURL-len("https://c/")), true},
		{"https://c/" + strings.Repeat("a", triggerapi.MaxPipelineWebURL), false},
		{"https://user:secret@ci.example.com/", false},
		{"https://user@ci.example.com/", false},
		{"javascript:alert(1)", false},
		{"/queue/item/7/", false},
		{"https://", false},
		{"https://:8080/", false},
		{"https://ci.example.com/a b", false},
		{"https://ci.example.com/\x00", false},
		{"", false},
		{"http://%", false},                           // an escape of nothing
		{"http://000000000%00000000", false},          // an escape in the host
		{"https://ci.example.com/a%zzb", false},       // not hexadecimal
		{"https://ci.example.com/a%2Fb%20c", true},    // escapes in the path
		{"https://ci.example.com:port/", false},       // a port that is no number
		{"http://[::1]:8010/#/buildrequests/3", true}, // an IPv6 literal
		{"http://[::1/", false},
	}
	for _, c := range cases {
		if got := triggerapi.IsPipelineWebURL(c.url); got != c.want {
			t.Errorf("IsPipelineWebURL(%q) = %v, want %v", c.url, got, c.want)
		}
	}
}
