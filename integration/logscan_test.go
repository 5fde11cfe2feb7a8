package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// secret is a value that must never show up in Caddy's output.
type secret struct {
	// needle is what is searched for: a whole token, the part of a token
	// beyond its display prefix, or a variable value.
	needle string
	// label names the secret in failure messages without revealing it.
	label string
	// whole is the full token a needle is part of: a line holding the whole
	// token is reported once, for it.
	whole string
}

// secretSet collects the secrets a test used.
type secretSet struct {
	mu   sync.Mutex
	list []secret
}

// displayPrefixLen is how much of a token may be shown: 10 characters of a
// glptt- token, 4 of any other.
func displayPrefixLen(tok string) int {
	if strings.HasPrefix(tok, "glptt-") {
		return 10
	}
	return 4
}

// addToken remembers a token: neither it nor its part beyond the display
// prefix may be logged.
func (s *secretSet) addToken(tok string) {
	if tok == "" {
		return
	}
	n := displayPrefixLen(tok)
	label := "token " + tok[:n] + "…"
	s.mu.Lock()
	defer s.mu.Unlock()
	s.list = append(s.list, secret{needle: tok, label: label})
	if len(tok) > n+8 {
		s.list = append(s.list, secret{needle: tok[n:], label: label + " (its secret part)", whole: tok})
	}
}

// addValue remembers a variable value.
func (s *secretSet) addValue(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.list = append(s.list, secret{needle: v, label: fmt.Sprintf("variable value %.6s…", v)})
}

// addSecret remembers any other secret value, named by what it is.
func (s *secretSet) addSecret(v, what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.list = append(s.list, secret{needle: v, label: fmt.Sprintf("%s %.4s…", what, v)})
}

func (s *secretSet) all() []secret {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]secret(nil), s.list...)
}

// leak is one secret found in one line of one file.
type leak struct {
	file string
	line int
	what string
	text string // the line with every secret redacted
}

func (l leak) String() string {
	return fmt.Sprintf("%s:%d: %s in: %s", filepath.Base(l.file), l.line, l.what, l.text)
}

// findLeaks returns every line of the files that contains a secret.
// Missing files are skipped: not every test writes an access log.
func findLeaks(files []string, secrets []secret) ([]leak, error) {
	var leaks []leak
	for _, f := range files {
		data, err := os.ReadFile(f)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			for _, s := range secrets {
				if strings.Contains(line, s.needle) && (s.whole == "" || !strings.Contains(line, s.whole)) {
					leaks = append(leaks, leak{file: f, line: n, what: s.label, text: redact(line, secrets)})
				}
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
	}
	return leaks, nil
}

// redact hides every secret in s, so failure output does not leak them either.
func redact(s string, secrets []secret) string {
	for _, sec := range secrets {
		s = strings.ReplaceAll(s, sec.needle, "<"+sec.label+">")
	}
	const max = 600
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

// logFiles lists every file Caddy wrote its output to during the test,
// the CLI's included.
func (g *gateway) logFiles() []string {
	var files []string
	for _, p := range g.procs {
		files = append(files, p.logPath)
	}
	// The access log and any file it was rolled into.
	rolled, _ := filepath.Glob(filepath.Join(g.dir, "access*.log*"))
	files = append(files, rolled...)
	// What the CLI printed (caddy trigger ..., reload, adapt, stop).
	return append(files, g.cliOutputFiles()...)
}

// storageFiles lists every file under the test's Caddy storage.
func (g *gateway) storageFiles() []string {
	var files []string
	_ = filepath.WalkDir(filepath.Join(g.dir, "storage"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, path)
		}
		return nil
	})
	return files
}

// scanForLeaks is every test's last cleanup: no token and no variable value
// the test used may appear in Caddy's process output or access log, and no
// token may be stored in the clear.
func (g *gateway) scanForLeaks() {
	t := g.t
	secrets := g.secrets.all()
	leaks, err := findLeaks(g.logFiles(), secrets)
	if err != nil {
		t.Errorf("log scan: %v", err)
	}
	for _, l := range leaks {
		t.Errorf("secret in Caddy's output: %s", l)
	}
	leaks, err = findLeaks(g.storageFiles(), secrets)
	if err != nil {
		t.Errorf("storage scan: %v", err)
	}
	for _, l := range leaks {
		t.Errorf("secret stored in the clear: %s", l)
	}
	// The scan must have had something to read.
	for _, p := range g.procs {
		if fi, err := os.Stat(p.logPath); err != nil || fi.Size() == 0 {
			t.Errorf("log scan: Caddy output %s is empty or missing (%v)", filepath.Base(p.logPath), err)
		}
	}
	if g.siteRequests > 0 {
		if fi, err := os.Stat(g.accessLog()); err != nil || fi.Size() == 0 {
			t.Errorf("log scan: %d requests were sent but the access log is empty or missing (%v)", g.siteRequests, err)
		}
	}
}

func TestFindLeaks(t *testing.T) {
	t.Parallel()
	tok := "glptt-" + randomHex(20)
	imported := "imported-" + randomHex(8)
	set := &secretSet{}
	set.addToken(tok)
	set.addToken(imported)
	set.addValue("val-0123456789abcdef")

	tests := []struct {
		name    string
		content string
		want    []string // labels found, in order
	}{
		{"clean", `{"msg":"trigger accepted","token_prefix":"` + tok[:10] + `"}` + "\n", nil},
		{"full token", `{"uri":"/api/v4/projects/9/trigger/pipeline?token=` + tok + `"}`, []string{"token " + tok[:10] + "…"}},
		{"secret part only", "hash input " + tok[10:], []string{"token " + tok[:10] + "… (its secret part)"}},
		{"imported token", "line1\nline2 " + imported + "\n", []string{"token " + imported[:4] + "…"}},
		{"token and value on separate lines", tok + "\nval-0123456789abcdef\n", []string{"token " + tok[:10] + "…", "variable value val-01…"}},
		{"variable value", `{"variables":{"A":"val-0123456789abcdef"}}`, []string{"variable value val-01…"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "caddy.log")
			if err := os.WriteFile(f, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			leaks, err := findLeaks([]string{f, filepath.Join(t.TempDir(), "missing.log")}, set.all())
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, l := range leaks {
				got = append(got, l.what)
				if strings.Contains(l.text, tok) || strings.Contains(l.text, imported) ||
					strings.Contains(l.text, "val-0123456789abcdef") {
					t.Errorf("leak report is not redacted: %s", l.text)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("found %q, want %q", got, tt.want)
			}
		})
	}
}

// createdTokenShown replaces, in the stdout of a `caddy trigger add`, the
// one printing of the token that add created or imported (shown once, by
// design), so that the log scan reads everything else.
const createdTokenShown = "<the token this add created, shown once>"

// keepCLIOutput writes the output of one CLI run to the test's directory,
// where the log scan reads it like Caddy's own output: the stderr of every
// run and the stdout of every run, except, in the stdout of a successful
// `caddy trigger add`, the one printing of the token it created.
func (g *gateway) keepCLIOutput(t *testing.T, args []string, stdin string, ok bool, res cliResult) {
	n := g.cliRuns.Add(1)
	stdout := res.Stdout
	if ok && len(args) >= 2 && args[0] == "trigger" && args[1] == "add" {
		if tok := createdToken(args, stdin, stdout); tok != "" {
			stdout = strings.Replace(stdout, tok, createdTokenShown, 1)
		}
	}
	base := filepath.Join(g.dir, fmt.Sprintf("cli-%03d-%s", n, commandName(args)))
	for path, text := range map[string]string{base + ".stdout": stdout, base + ".stderr": res.Stderr} {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Errorf("keeping CLI output for the log scan: %v", err)
		}
	}
}

// cliOutputFiles lists the kept output of the test's CLI runs.
func (g *gateway) cliOutputFiles() []string {
	files, _ := filepath.Glob(filepath.Join(g.dir, "cli-*.std*"))
	return files
}

// commandName names a CLI run by its leading words ("trigger-add",
// "reload"), never by its arguments, which may hold a token.
func commandName(args []string) string {
	var words []string
	for _, a := range args {
		if len(words) == 2 || strings.HasPrefix(a, "-") || strings.Trim(a, "abcdefghijklmnopqrstuvwxyz") != "" {
			break
		}
		words = append(words, a)
	}
	if len(words) == 0 {
		return "caddy"
	}
	return strings.Join(words, "-")
}

// createdToken is the token a successful `caddy trigger add` created: the
// one imported with --token (or read from stdin with --token -), else the
// one its stdout shows (the "token" field of --json, or the table's).
func createdToken(args []string, stdin, stdout string) string {
	var imported string
	for i, a := range args {
		switch {
		case a == "--token" && i+1 < len(args):
			imported = args[i+1]
		case strings.HasPrefix(a, "--token="):
			imported = strings.TrimPrefix(a, "--token=")
		}
	}
	if imported == "-" {
		imported = strings.TrimSpace(stdin)
	}
	if imported != "" {
		return imported
	}
	var tr triggerObj
	if json.Unmarshal([]byte(stdout), &tr) == nil && tr.Token != "" {
		return tr.Token
	}
	return glpttPattern.FindString(stdout)
}

// The CLI's output is scanned like Caddy's: everything but the one printing
// of the token a successful `caddy trigger add` created.
func TestCLIOutputScan(t *testing.T) {
	t.Parallel()
	created := "glptt-" + randomHex(20)
	other := "glptt-" + randomHex(20)
	value := "val-" + randomHex(8)
	set := &secretSet{}
	set.addToken(created)
	set.addToken(other)
	set.addValue(value)
	add := []string{"trigger", "add", "--address", "127.0.0.1:2019", "--json", "--project", "9"}
	addJSON := `{"id":1,"token":"` + created + `","token_prefix":"` + created[:10] + `"}`
	table := "ID  PROJECT  TOKEN PREFIX\n1   9        " + created[:10] + "\n\nToken: " + created + "\nThis token is shown only once.\n"

	tests := []struct {
		name  string
		args  []string
		stdin string
		ok    bool
		res   cliResult
		want  []string // files with a leak, by suffix
	}{
		{"add --json shows its token once", add, "", true, cliResult{Stdout: addJSON}, nil},
		{"add shows its token once in the table", add[:len(add)-3], "", true, cliResult{Stdout: table}, nil},
		{"add shows its token twice", add, "", true, cliResult{Stdout: addJSON + "\n" + created}, []string{"trigger-add.stdout"}},
		{"add shows another token", add, "", true, cliResult{Stdout: addJSON + "\n" + other}, []string{"trigger-add.stdout"}},
		{"add prints its token on stderr", add, "", true, cliResult{Stdout: addJSON, Stderr: "created " + created}, []string{"trigger-add.stderr"}},
		{"a failed add shows a token", add, "", false, cliResult{Stdout: created}, []string{"trigger-add.stdout"}},
		{"import from stdin echoes it once", append(add, "--token", "-"), other + "\n", true,
			cliResult{Stdout: `{"id":2,"token":"` + other + `"}`}, nil},
		{"import echoes another token", append(add, "--token="+other), "", true,
			cliResult{Stdout: addJSON}, []string{"trigger-add.stdout"}},
		{"list shows a token", []string{"trigger", "list", "--json"}, "", true, cliResult{Stdout: addJSON}, []string{"trigger-list.stdout"}},
		{"reload prints a variable value", []string{"reload", "--config", "Caddyfile"}, "", false,
			cliResult{Stderr: "error: " + value}, []string{"reload.stderr"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &gateway{t: t, dir: t.TempDir()}
			g.keepCLIOutput(t, tt.args, tt.stdin, tt.ok, tt.res)
			leaks, err := findLeaks(g.cliOutputFiles(), set.all())
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, l := range leaks {
				got = append(got, strings.TrimPrefix(filepath.Base(l.file), "cli-001-"))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("leaks in %q, want %q", got, tt.want)
			}
		})
	}
}
