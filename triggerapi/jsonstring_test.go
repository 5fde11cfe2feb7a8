package triggerapi

import (
	"bytes"
	"encoding/json"
	"testing"
)

// writeJSONString's plain-ASCII shortcut must write what encoding/json
// writes, for strings on both sides of it.
func TestWriteJSONStringMatchesEncodingJSON(t *testing.T) {
	tests := []string{
		"", "main", "glptt-0123456789abcdef0123456789abcdef01234567", "feature/x y~z",
		`a"b`, `back\slash`, "tab\there", "new\nline", "<script>", "a&b", "del\x7f",
		"ünïcödé", "\u2028", "bad utf-8 \xff",
	}
	for _, s := range tests {
		var buf bytes.Buffer
		writeJSONString(&buf, s)
		want, _ := json.Marshal(s)
		if buf.String() != string(want) {
			t.Errorf("writeJSONString(%q) = %s, want %s", s, buf.String(), want)
		}
	}
}

func FuzzWriteJSONString(f *testing.F) {
	f.Add("main")
	f.Add(`"<&>\`)
	f.Fuzz(func(t *testing.T, s string) {
		var buf bytes.Buffer
		writeJSONString(&buf, s)
		if want, _ := json.Marshal(s); buf.String() != string(want) {
			t.Fatalf("writeJSONString(%q) = %s, want %s", s, buf.String(), want)
		}
	})
}
