package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Every Caddyfile the documentation shows is one Caddy accepts: each
// ```caddyfile block of the documents below goes through the real binary's
// `caddy adapt --validate` (which provisions every module, the gateway's
// upstream modules and their credentials included), with the environment
// variables it names set to dummy values. A document that drifts from the
// code fails here.

// validatedDocs are the documents whose Caddyfiles are checked. Those of
// docs/cluster.md need a Redis server, docs/job-tokens.md's a JWKS, and
// docs/logs-and-metrics.md shows parts of a site.
var validatedDocs = []string{"README.md", "docs/upstreams.md", "docs/triggers-page.md", "docs/configuration.md",
	"docs/policies.md", "docs/production.md", "docs/webhooks.md", "docs/management-api.md"}

// docFragment wraps a block that is not a whole Caddyfile, recognized by
// its first directive, into one Caddy can validate.
type docFragment struct {
	// wrap puts the fragment (or one alternative of it) into a Caddyfile.
	wrap func(fragment string) string
	// alternatives: each top-level entry of the block is a choice of its
	// own (facts off | facts | facts {...}), validated alone.
	alternatives bool
}

var docFragments = map[string]docFragment{
	// A site's route (docs/triggers-page.md's forward_auth example).
	"handle_path": {wrap: func(f string) string {
		return "example.com {\n" + f + "\n}\n"
	}},
	// The handler's own block (README.md's upstream_token example).
	"trigger_gateway": {wrap: func(f string) string {
		return "example.com {\n" + f + "\n\treverse_proxy 127.0.0.1:8080\n}\n"
	}},
	// An upstream module's facts subdirective (docs/upstreams.md).
	"facts": {alternatives: true, wrap: func(f string) string {
		return "example.com {\n\ttrigger_gateway {\n\t\tupstream jenkins {\n\t\t\tjob deploy-app\n" + f +
			"\n\t\t}\n\t}\n\treverse_proxy 127.0.0.1:8080\n}\n"
	}},
}

// docBlock is one ```caddyfile block of a document.
type docBlock struct {
	doc  string
	line int // the line of its opening fence
	text string
}

func (b docBlock) String() string { return fmt.Sprintf("%s:%d", b.doc, b.line) }

// caddyfileBlocks extracts the ```caddyfile blocks of a Markdown document.
func caddyfileBlocks(t *testing.T, doc string) []docBlock {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", doc))
	if err != nil {
		t.Fatal(err)
	}
	var blocks []docBlock
	var cur *docBlock
	scanner := bufio.NewScanner(strings.NewReader(string(data)))
	for n := 1; scanner.Scan(); n++ {
		line := scanner.Text()
		switch {
		case cur == nil && strings.TrimSpace(line) == "```caddyfile":
			cur = &docBlock{doc: doc, line: n}
		case cur != nil && strings.TrimSpace(line) == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		}
	}
	if cur != nil {
		t.Fatalf("%s: the block opened on line %d is never closed", doc, cur.line)
	}
	return blocks
}

// topLevelEntries splits a fragment into its top-level entries: a line at
// nesting depth 0 with the block it opens, if any.
func topLevelEntries(fragment string) []string {
	var entries []string
	var cur strings.Builder
	depth := 0
	for _, line := range strings.Split(strings.TrimRight(fragment, "\n"), "\n") {
		code, _, _ := strings.Cut(line, "#")
		if depth == 0 && strings.TrimSpace(code) != "" && cur.Len() > 0 {
			entries = append(entries, cur.String())
			cur.Reset()
		}
		cur.WriteString(line + "\n")
		depth += strings.Count(code, "{") - strings.Count(code, "}")
	}
	if cur.Len() > 0 {
		entries = append(entries, cur.String())
	}
	return entries
}

var (
	envPlaceholder  = regexp.MustCompile(`\{env\.([A-Za-z_][A-Za-z0-9_]*)\}`)
	filePlaceholder = regexp.MustCompile(`\{file\.([^}]+)\}`)
)

// validateCaddyfile runs `caddy adapt --validate` on text and returns
// what went wrong: the command's failure, or a warning other than the
// formatting one (the documents align their comments).
func validateCaddyfile(t *testing.T, text string) string {
	t.Helper()
	dir := t.TempDir()
	// {file./path}: a file of the test's holding a dummy value.
	for i, m := range filePlaceholder.FindAllStringSubmatch(text, -1) {
		path := filepath.Join(dir, fmt.Sprintf("secret-%d", i))
		if err := os.WriteFile(path, []byte("dummy-file-secret"), 0o600); err != nil {
			t.Fatal(err)
		}
		text = strings.Replace(text, m[0], "{file."+path+"}", 1)
	}
	// The examples' storages under /var/lib: under the test's folder.
	text = strings.ReplaceAll(text, " /var/lib/", " "+filepath.Join(dir, "var", "lib")+"/")
	env := []string{
		"HOME=" + dir,
		"XDG_DATA_HOME=" + filepath.Join(dir, "data"),
		"XDG_CONFIG_HOME=" + filepath.Join(dir, "config"),
		"PATH=" + os.Getenv("PATH"),
	}
	for _, m := range envPlaceholder.FindAllStringSubmatch(text, -1) {
		env = append(env, m[1]+"=dummy-"+strings.ToLower(m[1]))
	}
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, caddyBinary, "adapt", "--config", file, "--adapter", "caddyfile", "--validate")
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = nil, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Sprintf("caddy adapt --validate: %v\n%s", err, stderr.String())
	}
	var problems []string
	for _, line := range strings.Split(stderr.String(), "\n") {
		var entry struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &entry) != nil || entry.Level == "info" || entry.Level == "debug" ||
			strings.HasPrefix(entry.Msg, "Caddyfile input is not formatted") {
			continue
		}
		problems = append(problems, entry.Level+": "+entry.Msg)
	}
	return strings.Join(problems, "\n")
}

func TestDocsCaddyfiles(t *testing.T) {
	t.Parallel()
	for _, doc := range validatedDocs {
		blocks := caddyfileBlocks(t, doc)
		if len(blocks) == 0 {
			t.Errorf("%s has no ```caddyfile block: nothing checked", doc)
		}
		for _, b := range blocks {
			t.Run(b.String(), func(t *testing.T) {
				t.Parallel()
				candidates := []string{b.text}
				first := strings.Fields(b.text)
				if len(first) > 0 {
					if frag, ok := docFragments[first[0]]; ok {
						candidates = nil
						parts := []string{b.text}
						if frag.alternatives {
							parts = topLevelEntries(b.text)
						}
						for _, p := range parts {
							candidates = append(candidates, frag.wrap(p))
						}
					}
				}
				for _, text := range candidates {
					if problem := validateCaddyfile(t, text); problem != "" {
						t.Errorf("the Caddyfile of %s does not validate (a fragment? add its first directive to docFragments):\n%s\n%s", b, text, problem)
					}
				}
			})
		}
	}
}

// The fragment splitter, on the documents' shapes.
func TestTopLevelEntries(t *testing.T) {
	got := topLevelEntries("facts off   # none\nfacts       # {defaults}\nfacts {\n\tsource X\n\ttoken_prefix off\n}\n")
	want := []string{"facts off   # none\n", "facts       # {defaults}\n", "facts {\n\tsource X\n\ttoken_prefix off\n}\n"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("entries %q, want %q", got, want)
	}
}
