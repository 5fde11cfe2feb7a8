package integration

import (
	"bufio"
	"bytes"
	"net/http"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The seed document's curl commands, exactly as users copy them; only the
// host (the gateway instead of gitlab.example.com) and TOKEN differ.
func TestSeedCurlCommands(t *testing.T) {
	t.Parallel()
	g := newGateway(t, config{})
	tr := g.addTrigger(t, addOpts{Project: "9", Description: "seed commands", Owner: "alice"})

	tests := []struct {
		name     string
		command  string
		wantVars map[string]string
	}{
		{
			name: "form fields",
			command: `curl --request POST \
     --form token=TOKEN \
     --form ref=master \
     https://gitlab.example.com/api/v4/projects/9/trigger/pipeline`,
		},
		{
			name: "query string",
			command: `curl --request POST \
    "https://gitlab.example.com/api/v4/projects/9/trigger/pipeline?token=TOKEN&ref=master"`,
		},
		{
			name: "trigger variables",
			command: `curl --request POST \
  --form token=TOKEN \
  --form ref=master \
  --form "variables[UPLOAD_TO_S3]=true" \
  https://gitlab.example.com/api/v4/projects/9/trigger/pipeline`,
			wantVars: map[string]string{"UPLOAD_TO_S3": "true"},
		},
		{
			name:    "cron line",
			command: cronCommand(`30 0 * * * curl --request POST --form token=TOKEN --form ref=master https://gitlab.example.com/api/v4/projects/9/trigger/pipeline`),
		},
		{
			name:    ".gitlab-ci.yml script line",
			command: `curl --request POST --form token=TOKEN --form ref=master https://gitlab.example.com/api/v4/projects/9/trigger/pipeline`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := g.curl(t, tt.command, tr.Token)
			vars := tt.wantVars
			if vars == nil {
				vars = map[string]string{}
			}
			assertForwarded(t, resp, g.up.take(), forwarded{
				Project: "9", Token: tr.Token, Ref: "master", Variables: vars, Trigger: tr,
			})
		})
	}
}

// cronCommand drops a crontab line's five schedule fields: cron hands the
// rest to /bin/sh.
func cronCommand(line string) string {
	fields := strings.SplitN(line, " ", 6)
	return fields[5]
}

// curl runs a seed command with /bin/sh, as cron and CI runners do, against
// the gateway. Only output options are appended; they do not change the
// request.
func (g *gateway) curl(t *testing.T, command, token string) response {
	t.Helper()
	if _, err := os.Stat("/usr/bin/curl"); err != nil {
		t.Fatalf("the seed commands need /usr/bin/curl: %v", err)
	}
	command = strings.ReplaceAll(command, "https://gitlab.example.com", g.base())
	command = strings.ReplaceAll(command, "TOKEN", token)
	headers := filepath.Join(t.TempDir(), "headers")
	script := command + ` --silent --show-error --dump-header '` + headers + `' --write-out '\n%{http_code}'`
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + g.dir}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	g.siteRequests++
	if err := cmd.Run(); err != nil {
		t.Fatalf("curl: %v: %s", err, stderr.String())
	}
	out := stdout.Bytes()
	i := bytes.LastIndexByte(out, '\n')
	if i < 0 {
		t.Fatalf("curl output has no status line: %q", out)
	}
	status, err := strconv.Atoi(string(out[i+1:]))
	if err != nil {
		t.Fatalf("curl status %q: %v", out[i+1:], err)
	}
	return response{Status: status, Header: readDumpedHeader(t, headers), Body: out[:i]}
}

// readDumpedHeader parses the header block curl --dump-header wrote.
func readDumpedHeader(t *testing.T, path string) http.Header {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(b)))
	if _, err := r.ReadLine(); err != nil { // the status line
		t.Fatal(err)
	}
	h, err := r.ReadMIMEHeader()
	if err != nil {
		t.Fatalf("curl's dumped header: %v", err)
	}
	return http.Header(h)
}
