package jsontext

import (
	"encoding/json"
	"testing"
	"time"
)

func TestAppendStringAsEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"", "main", "https://ci.example/p/1", `quote " and \ backslash`, "<script>&amp;",
		"tab\there", "newline\n", "\x00\x1f\x7f", "é ü 日本", "\u2028\u2029", "bad \xff utf-8",
	} {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Errorf("AppendString(%q) = %s, want x%s", s, got, want)
		}
	}
}

func TestAppendTimeAsEncodingJSON(t *testing.T) {
	plus2 := time.FixedZone("", 2*3600)
	for _, tm := range []time.Time{
		time.Date(2026, 12, 5, 16, 30, 0, 0, time.UTC),
		time.Date(2026, 12, 5, 16, 30, 0, 123456789, time.UTC),
		time.Date(2026, 12, 5, 16, 30, 0, 120000000, plus2),
		time.Unix(0, 1).UTC(),
		{},
	} {
		want, err := json.Marshal(tm)
		if err != nil {
			t.Fatal(err)
		}
		got, err := AppendTime(nil, tm)
		if err != nil || string(got) != string(want) {
			t.Errorf("AppendTime(%v) = %s, %v; want %s", tm, got, err, want)
		}
	}
	if _, err := AppendTime(nil, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)); err == nil {
		t.Error("AppendTime of the year 10000 gave no error; encoding/json refuses it")
	}
}
