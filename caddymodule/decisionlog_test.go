package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap/zapcore"
)

// The decision line's level: an accepted trigger is logged at debug (the CI
// server records it, and the access log carries it through placeholders),
// while refusals and replayed repeats, which only the gateway sees, are
// logged at info.
func TestDecisionLogLevels(t *testing.T) {
	h := provisionHandler(t, &Handler{}, "")
	logs := watchLogs(h)
	_, token := createToken(t, h, "9", "alice")
	const target = "/api/v4/projects/9/trigger/pipeline"

	cases := []struct {
		name      string
		body      string
		key       string // Idempotency-Key
		wantCode  int
		wantLevel zapcore.Level
		wantMsg   string
	}{
		{"accepted", form(map[string]string{"token": token, "ref": "main"}), "", http.StatusCreated,
			zapcore.DebugLevel, "trigger accepted"},
		{"refused", form(map[string]string{"token": "glptt-" + strings.Repeat("0", 40), "ref": "main"}), "", http.StatusNotFound,
			zapcore.InfoLevel, "trigger refused"},
		{"first of a repeated request", form(map[string]string{"token": token, "ref": "main"}), "key-1", http.StatusCreated,
			zapcore.DebugLevel, "trigger accepted"},
		{"repeat replayed", form(map[string]string{"token": token, "ref": "main"}), "key-1", http.StatusCreated,
			zapcore.InfoLevel, "trigger repeated: first answer replayed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(tc.body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.key != "" {
				r.Header.Set("Idempotency-Key", tc.key)
			}
			w, _, err := serve(h, r, new(recorder))
			if err != nil || w.Code != tc.wantCode {
				t.Fatalf("got %d %s (%v), want %d", w.Code, w.Body, err, tc.wantCode)
			}
			entries := logs.TakeAll()
			if len(entries) != 1 {
				t.Fatalf("%d log lines, want one decision line: %s", len(entries), logText(entries))
			}
			if e := entries[0]; e.Level != tc.wantLevel || e.Message != tc.wantMsg {
				t.Errorf("logged %q at %s, want %q at %s", e.Message, e.Level, tc.wantMsg, tc.wantLevel)
			}
		})
	}
}
