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
	}
	for _, c := range cases {
		if got := triggerapi.IsPipelineWebURL(c.url); got != c.want {
			t.Errorf("IsPipelineWebURL(%q) = %v, want %v", c.url, got, c.want)
		}
	}
}
