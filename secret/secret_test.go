package secret

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// Resolve refuses a secret that is, or has a placeholder that resolves
// to, nothing; its error names the setting and the placeholder, never a
// value or the rest of the configured text.
func TestResolve(t *testing.T) {
	const value = "s3cr3t-value-7f2a"
	t.Setenv("SECRET_TEST_SET", value)
	t.Setenv("SECRET_TEST_EMPTY", "")
	t.Setenv("SECRET_TEST_BLANK", " \t")
	dir := t.TempDir()
	file := filepath.Join(dir, "secret")
	emptyFile := filepath.Join(dir, "empty")
	newlineFile := filepath.Join(dir, "newline")
	for path, content := range map[string]string{file: value + "\n", emptyFile: "", newlineFile: "\n"} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, configured string
		want             string // the value; "" when refused
		wantPlaceholder  string // the placeholder the refusal names
	}{
		{"literal", "literal-" + value, "literal-" + value, ""},
		{"environment variable", "{env.SECRET_TEST_SET}", value, ""},
		{"file, trailing newline dropped", "{file." + file + "}", value, ""},
		{"placeholder with a literal prefix", "Bearer {env.SECRET_TEST_SET}", "Bearer " + value, ""},
		{"unknown placeholder kept", "{not.a.placeholder}", "{not.a.placeholder}", ""},
		{"escaped braces", `\{env.SECRET_TEST_UNSET_1\}`, "{env.SECRET_TEST_UNSET_1}", ""},

		{"empty", "", "", ""},
		{"only whitespace", "  ", "", ""},
		{"unset variable", "{env.SECRET_TEST_UNSET_2}", "", "{env.SECRET_TEST_UNSET_2}"},
		{"empty variable", "{env.SECRET_TEST_EMPTY}", "", "{env.SECRET_TEST_EMPTY}"},
		{"blank variable", "{env.SECRET_TEST_BLANK}", "", "{env.SECRET_TEST_BLANK}"},
		{"missing file", "{file." + filepath.Join(dir, "missing") + "}", "", "{file." + filepath.Join(dir, "missing") + "}"},
		{"empty file", "{file." + emptyFile + "}", "", "{file." + emptyFile + "}"},
		{"file of one newline", "{file." + newlineFile + "}", "", "{file." + newlineFile + "}"},
		{"a literal prefix does not make a credential", "Bearer {env.SECRET_TEST_UNSET_3}", "", "{env.SECRET_TEST_UNSET_3}"},
		{"one of two placeholders unset", "{env.SECRET_TEST_SET}{env.SECRET_TEST_UNSET_4}", "", "{env.SECRET_TEST_UNSET_4}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resolve(caddy.NewReplacer(), "project 9: upstream_token", tt.configured)
			if tt.want != "" {
				if err != nil || got != tt.want {
					t.Fatalf("Resolve(%q) = %q, %v; want %q", tt.configured, got, err, tt.want)
				}
				return
			}
			var empty *EmptyError
			if !errors.As(err, &empty) || got != "" {
				t.Fatalf("Resolve(%q) = %q, %v; want an *EmptyError", tt.configured, got, err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "project 9: upstream_token: ") || empty.Placeholder != tt.wantPlaceholder {
				t.Errorf("error %q (placeholder %q), want one naming the setting and placeholder %q", msg, empty.Placeholder, tt.wantPlaceholder)
			}
			if tt.wantPlaceholder != "" && !strings.Contains(msg, tt.wantPlaceholder+" resolved to an empty value") {
				t.Errorf("error %q does not say that %s resolved to an empty value", msg, tt.wantPlaceholder)
			}
			if strings.Contains(msg, value) || strings.Contains(msg, "Bearer") {
				t.Errorf("error %q holds a value or the configured text beyond the placeholder", msg)
			}
		})
	}
}

// Not configured is no secret and no error; configured, even as "", must
// resolve to a value.
func TestResolveOptional(t *testing.T) {
	if got, err := ResolveOptional(nil, "upstream_token", nil); got != "" || err != nil {
		t.Fatalf("nil: %q, %v; want \"\", nil", got, err)
	}
	empty := ""
	if _, err := ResolveOptional(nil, "upstream_token", &empty); err == nil ||
		err.Error() != "upstream_token: the value is empty; a secret must not be" {
		t.Fatalf(`"": %v, want the empty-value refusal`, err)
	}
	set := "token-1"
	if got, err := ResolveOptional(nil, "upstream_token", &set); got != set || err != nil {
		t.Fatalf("set: %q, %v", got, err)
	}
}
