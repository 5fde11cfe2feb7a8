package jobtoken

import (
	"strings"
	"testing"
)

func TestLooksLikeJWT(t *testing.T) {
	hdr := func(s string) string { return b64([]byte(s)) }
	payload := b64([]byte(`{"sub":"x"}`))
	tests := []struct {
		name  string
		token string
		want  bool
	}{
		{"RS256 JWT", hdr(`{"alg":"RS256","kid":"k"}`) + "." + payload + ".c2ln", true},
		{"unsigned JWT (alg none)", hdr(`{"alg":"none"}`) + "." + payload + ".", true},
		{"trigger token", "glptt-0123456789abcdef0123456789abcdef01234567", false},
		{"imported token with dots", "abc.def.ghi", false},
		{"two segments", hdr(`{"alg":"RS256"}`) + "." + payload, false},
		{"four segments", hdr(`{"alg":"RS256"}`) + "." + payload + ".c2ln.x", false},
		{"empty header", "." + payload + ".c2ln", false},
		{"empty payload", hdr(`{"alg":"RS256"}`) + "..c2ln", false},
		{"padded segment", hdr(`{"alg":"RS256"}`) + "=." + payload + ".c2ln", false},
		{"standard base64 alphabet", hdr(`{"alg":"RS256"}`) + "." + payload + ".c2+l/n", false},
		{"header without alg", hdr(`{"typ":"JWT"}`) + "." + payload + ".c2ln", false},
		{"alg not a string", hdr(`{"alg":1}`) + "." + payload + ".c2ln", false},
		{"alg empty", hdr(`{"alg":""}`) + "." + payload + ".c2ln", false},
		{"header an array", hdr(`["alg"]`) + "." + payload + ".c2ln", false},
		{"header not JSON", hdr(`alg`) + "." + payload + ".c2ln", false},
		{"too long", hdr(`{"alg":"RS256"}`) + "." + strings.Repeat("A", MaxTokenLength) + ".c2ln", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LooksLikeJWT(tt.token); got != tt.want {
				t.Errorf("LooksLikeJWT = %v, want %v", got, tt.want)
			}
		})
	}
}
