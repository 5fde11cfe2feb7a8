package caddymodule

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// The issuer and audience the job-token tests configure and sign for.
const (
	testIssuer   = "https://gitlab.example.com"
	testAudience = "https://ci.example.com"
	testKid      = "gitlab-1"
)

// testRSAKeys are the CI server's key (0) and a stranger's (1), generated
// once: RSA generation is slow.
var testRSAKeys = sync.OnceValue(func() [2]*rsa.PrivateKey {
	var keys [2]*rsa.PrivateKey
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys[i] = k
	}
	return keys
})

// writeJWKS writes a JWKS publishing the CI server's key under testKid and
// returns its path.
func writeJWKS(t testing.TB) string {
	t.Helper()
	pub := testRSAKeys()[0].PublicKey
	b64 := base64.RawURLEncoding.EncodeToString
	doc := mustJSON(t, map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": testKid, "use": "sig", "alg": "RS256",
		"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes()),
	}}})
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// jobClaims are the claims of a job of the project with this ID and path,
// valid for an hour.
func jobClaims(projectID, projectPath string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss": testIssuer, "aud": testAudience,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"project_id": projectID, "project_path": projectPath,
		"pipeline_id": "500" + projectID, "job_id": "700" + projectID,
		"ref": "main", "user_login": "alice",
	}
}

// signJob signs claims with key under kid.
func signJob(t testing.TB, key *rsa.PrivateKey, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// jobToken is a valid job token of the project with this ID and path.
func jobToken(t testing.TB, projectID, projectPath string) string {
	t.Helper()
	return signJob(t, testRSAKeys()[0], testKid, jobClaims(projectID, projectPath))
}

// jobTokenWith is a token signed by the CI server's key after edit changed its claims.
func jobTokenWith(t testing.TB, edit func(jwt.MapClaims)) string {
	t.Helper()
	c := jobClaims("12", "infra/deployer")
	edit(c)
	return signJob(t, testRSAKeys()[0], testKid, c)
}

// forgedTokens are tokens of project 12 that must never verify.
func forgedTokens(t testing.TB) map[string]string {
	t.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	claims := mustJSON(t, jobClaims("12", "infra/deployer"))

	der, err := x509.MarshalPKIXPublicKey(&testRSAKeys()[0].PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jobClaims("12", "infra/deployer"))
	hs.Header["kid"] = testKid
	confused, err := hs.SignedString(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}

	parts := strings.Split(jobToken(t, "50", "other/project"), ".")
	parts[1] = b64([]byte(claims))
	return map[string]string{
		"none":     b64([]byte(`{"alg":"none","kid":"`+testKid+`"}`)) + "." + b64([]byte(claims)) + ".",
		"hs256":    confused,
		"tampered": strings.Join(parts, "."),
		"stranger": signJob(t, testRSAKeys()[1], testKid, jobClaims("12", "infra/deployer")),
		"rogue":    signJob(t, testRSAKeys()[1], "rogue", jobClaims("12", "infra/deployer")),
	}
}

// jobTokenHandler provisions a handler with job tokens on a fresh JWKS
// file, and observes its decision log.
func jobTokenHandler(t testing.TB, h *Handler) (*Handler, *observer.ObservedLogs) {
	t.Helper()
	if h.JobTokens == nil {
		h.JobTokens = &JobTokens{}
	}
	h.JobTokens.JWKSFile = writeJWKS(t)
	h.JobTokens.Issuer, h.JobTokens.Audience = testIssuer, testAudience
	provisionHandler(t, h, "")
	core, logs := observer.New(zap.DebugLevel)
	h.logger = zap.New(core)
	return h, logs
}

// artifactRecorder is the next handler of artifact downloads: it records
// what it is handed and answers with an archive.
type artifactRecorder struct {
	calls  int
	method string
	raw    string
	query  string
	header http.Header
}

func (rec *artifactRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	rec.calls++
	rec.method, rec.raw, rec.query, rec.header = r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Clone()
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("PK\x03\x04 archive"))
	return nil
}

// decisionLog returns the one decision line logged since the last call.
func decisionLog(t *testing.T, logs *observer.ObservedLogs, tokens ...string) map[string]any {
	t.Helper()
	entries := logs.TakeAll()
	if len(entries) != 1 {
		t.Fatalf("%d decision log lines, want 1", len(entries))
	}
	fields := entries[0].ContextMap()
	line := fmt.Sprint(entries[0].Message, fields)
	for _, tok := range tokens {
		if tok != "" && strings.Contains(line, tok) {
			t.Errorf("the log line holds the token: %s", strings.ReplaceAll(line, tok, "<token>"))
		}
	}
	return fields
}

// jobProjects is the project configuration of the outcome tests: project 9
// (alias group/project) takes job tokens from project 12 and the tools
// group, project 30 from project 12 with its own artifacts credential.
func jobProjects() map[string]*Project {
	return map[string]*Project{
		"9":  {Aliases: []string{"group/project"}, JobTokenAllow: []string{"12", "tools/*"}},
		"30": {JobTokenAllow: []string{"12"}, ArtifactsHeader: "Authorization", ArtifactsCredential: "Bearer {env.JT_TEST_READ_TOKEN_30}"},
		"40": {},
	}
}

func TestServeHTTPJobTokenAccepts(t *testing.T) {
	t.Setenv("JT_TEST_READ_TOKEN", "global-read-secret")
	t.Setenv("JT_TEST_READ_TOKEN_30", "read-secret-30")
	h, logs := jobTokenHandler(t, &Handler{
		JobTokens: &JobTokens{ArtifactsHeader: "PRIVATE-TOKEN", ArtifactsCredential: "{env.JT_TEST_READ_TOKEN}"},
		Projects:  jobProjects(),
	})
	deployer := jobToken(t, "12", "infra/deployer")
	tool := jobToken(t, "33", "tools/release-bot")
	own := jobToken(t, "9", "group/project")
	solo := jobToken(t, "77", "solo/repo")
	forty := jobToken(t, "40", "team/forty")

	tests := []struct {
		name        string
		method      string
		target      string
		contentType string
		body        string
		header      map[string]string
		token       string
		wantProject string // X-Trigger-Source-Project
		wantRaw     string // escaped path upstream
		wantQuery   string
		wantCred    [2]string // artifacts credential header and value
	}{
		{name: "trigger form, source allowed by ID", method: "POST", target: "/api/v4/projects/9/trigger/pipeline",
			contentType: "application/x-www-form-urlencoded", body: form(map[string]string{"token": deployer, "ref": "main"}),
			token: deployer, wantProject: "12", wantRaw: "/api/v4/projects/9/trigger/pipeline"},
		{name: "trigger JSON on the alias, source allowed by glob", method: "POST", target: "/api/v4/projects/group%2Fproject/trigger/pipeline",
			contentType: "application/json", body: `{"token":"` + tool + `","ref":"main"}`,
			token: tool, wantProject: "33", wantRaw: "/api/v4/projects/9/trigger/pipeline"},
		{name: "trigger query, own project", method: "POST", target: "/api/v4/projects/9/trigger/pipeline?ref=main&token=" + own,
			token: own, wantProject: "9", wantRaw: "/api/v4/projects/9/trigger/pipeline"},
		{name: "trigger on an unconfigured project named by path, own project", method: "POST",
			target: "/api/v4/projects/solo%2Frepo/trigger/pipeline?ref=main&token=" + solo,
			token:  solo, wantProject: "77", wantRaw: "/api/v4/projects/solo%2Frepo/trigger/pipeline"},
		{name: "trigger on a project without allowlist, own project", method: "POST",
			target: "/api/v4/projects/40/trigger/pipeline?ref=main&token=" + forty,
			token:  forty, wantProject: "40", wantRaw: "/api/v4/projects/40/trigger/pipeline"},
		{name: "artifacts, job_token query, global credential", method: "GET",
			target: "/api/v4/projects/9/jobs/artifacts/main/download?job=build&job_token=" + deployer,
			token:  deployer, wantProject: "12", wantRaw: "/api/v4/projects/9/jobs/artifacts/main/download", wantQuery: "job=build",
			wantCred: [2]string{"Private-Token", "global-read-secret"}},
		{name: "artifacts, JOB-TOKEN header, alias, ref with a slash", method: "GET",
			target: "/api/v4/projects/group%2Fproject/jobs/artifacts/feature%2Fx/download?job=build",
			header: map[string]string{"JOB-TOKEN": deployer}, token: deployer, wantProject: "12",
			wantRaw: "/api/v4/projects/9/jobs/artifacts/feature%2Fx/download", wantQuery: "job=build",
			wantCred: [2]string{"Private-Token", "global-read-secret"}},
		{name: "artifacts, per-project credential replaces the global one", method: "GET",
			target: "/api/v4/projects/30/jobs/artifacts/main/download?job=build&job_token=" + deployer,
			token:  deployer, wantProject: "12", wantRaw: "/api/v4/projects/30/jobs/artifacts/main/download", wantQuery: "job=build",
			wantCred: [2]string{"Authorization", "Bearer read-secret-30"}},
		{name: "artifacts: every query credential goes, in any case, the other parameters stay", method: "GET",
			target: "/api/v4/projects/9/jobs/artifacts/main/download?job=build&token=t&PRIVATE_TOKEN=p&Access_Token=a&x=1",
			header: map[string]string{"JOB-TOKEN": deployer}, token: deployer, wantProject: "12",
			wantRaw: "/api/v4/projects/9/jobs/artifacts/main/download", wantQuery: "job=build&x=1",
			wantCred: [2]string{"Private-Token", "global-read-secret"}},
		// Two different job tokens (query and header) are refused: see TestArtifactsJobToken.
		{name: "artifacts HEAD; the same token in the query and JOB-TOKEN is one credential, both go", method: "HEAD",
			target: "/api/v4/projects/9/jobs/artifacts/v1.0/download?job=package&job_token=" + deployer,
			header: map[string]string{"JOB-TOKEN": deployer, "X-Trigger-Source-Project": "9"}, token: deployer, wantProject: "12",
			wantRaw: "/api/v4/projects/9/jobs/artifacts/v1.0/download", wantQuery: "job=package",
			wantCred: [2]string{"Private-Token", "global-read-secret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.target, strings.NewReader(tt.body))
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			var (
				w      *httptest.ResponseRecorder
				repl   *caddy.Replacer
				err    error
				calls  int
				header http.Header
				raw    string
			)
			if tt.method == "POST" {
				next := new(recorder)
				w, repl, err = serve(h, r, next)
				calls, header, raw = next.calls, next.header, next.raw
				if calls == 1 && (next.method != "POST" || next.body["token"] != tt.token || next.body["ref"] != "main") {
					t.Errorf("upstream got %s with ref %v (the caller's job token as token: %v), want POST, main, true",
						next.method, next.body["ref"], next.body["token"] == tt.token)
				}
			} else {
				next := new(artifactRecorder)
				w, repl, err = serve(h, r, next)
				calls, header, raw = next.calls, next.header, next.raw
				if next.method != tt.method || next.query != tt.wantQuery {
					t.Errorf("upstream got %s ?%s, want %s ?%s", next.method, next.query, tt.method, tt.wantQuery)
				}
			}
			if err != nil || calls != 1 {
				t.Fatalf("ServeHTTP: %v, %d upstream calls, status %d %s", err, calls, w.Code, w.Body)
			}
			if raw != tt.wantRaw {
				t.Errorf("upstream path %s, want %s", raw, tt.wantRaw)
			}
			for name, want := range map[string]string{
				"X-Trigger-Source": "pipeline", "X-Trigger-Source-Project": tt.wantProject,
				"X-Trigger-Id": "", "X-Trigger-Token-Prefix": "", "Job-Token": "",
			} {
				if got := header.Values(name); (want == "" && len(got) != 0) || (want != "" && (len(got) != 1 || got[0] != want)) {
					t.Errorf("upstream header %s = %q, want %q", name, got, want)
				}
			}
			if name := tt.wantCred[0]; name != "" && header.Get(name) != tt.wantCred[1] {
				t.Errorf("upstream credential %s is not the configured one", name)
			}
			for name, want := range map[string]string{
				"http.trigger.outcome": "accepted", "http.trigger.source": "pipeline",
				"http.trigger.source_project": tt.wantProject, "http.trigger.token_prefix": "",
				"http.trigger.source_pipeline": "500" + tt.wantProject, "http.trigger.source_job": "700" + tt.wantProject,
			} {
				if got, _ := repl.GetString(name); got != want {
					t.Errorf("{%s} = %q, want %q", name, got, want)
				}
			}
			if _, ok := repl.Get("http.trigger.id"); ok {
				t.Errorf("{http.trigger.id} is set for a job token")
			}
			fields := decisionLog(t, logs, tt.token)
			if fields["outcome"] != "accepted" || fields["source"] != "pipeline" || fields["source_project"] != tt.wantProject {
				t.Errorf("log line %v, want an accepted pipeline from project %s", fields, tt.wantProject)
			}
		})
	}
}

func TestServeHTTPJobTokenRefuses(t *testing.T) {
	t.Setenv("JT_TEST_READ_TOKEN_30", "read-secret-30")
	h, logs := jobTokenHandler(t, &Handler{Projects: jobProjects(), DisableFailedAuthLimit: true})
	trigger9, triggerToken := createToken(t, h, "9", "alice")
	forged := forgedTokens(t)
	deployer := jobToken(t, "12", "infra/deployer")
	stranger := jobToken(t, "50", "other/project")
	nested := jobToken(t, "34", "tools/sub/bot")
	expired := jobTokenWith(t, func(c jwt.MapClaims) {
		c["iat"], c["nbf"], c["exp"] = time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-time.Hour).Unix()
	})
	notYet := jobTokenWith(t, func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() })
	wrongIssuer := jobTokenWith(t, func(c jwt.MapClaims) { c["iss"] = "https://gitlab.evil.example" })
	wrongAudience := jobTokenWith(t, func(c jwt.MapClaims) { c["aud"] = "https://other.example" })
	noJob := jobTokenWith(t, func(c jwt.MapClaims) { delete(c, "job_id") })
	const (
		notFound     = `{"message":"404 Not Found"}`
		unauthorized = `{"message":"401 Unauthorized"}`
		pipeline     = "/api/v4/projects/9/trigger/pipeline?ref=main&token="
		artifacts    = "/api/v4/projects/9/jobs/artifacts/main/download"
	)

	tests := []struct {
		name        string
		method      string
		target      string
		header      map[string]string
		token       string
		wantStatus  int
		wantBody    string
		wantOutcome string
		wantDetail  string // the log's detail: the verifier's reason, or why the allowlist refused
	}{
		{"alg none", "POST", pipeline + forged["none"], nil, forged["none"], 404, notFound, "invalid_job_token", "algorithm"},
		{"HS256 signed with the RSA public key", "POST", pipeline + forged["hs256"], nil, forged["hs256"], 404, notFound, "invalid_job_token", "algorithm"},
		{"tampered payload", "POST", pipeline + forged["tampered"], nil, forged["tampered"], 404, notFound, "invalid_job_token", "bad_signature"},
		{"signed by another key under the known kid", "POST", pipeline + forged["stranger"], nil, forged["stranger"], 404, notFound, "invalid_job_token", "bad_signature"},
		{"unknown kid", "POST", pipeline + forged["rogue"], nil, forged["rogue"], 404, notFound, "invalid_job_token", "unknown_key"},
		{"expired", "POST", pipeline + expired, nil, expired, 404, notFound, "invalid_job_token", "expired"},
		{"not yet valid", "POST", pipeline + notYet, nil, notYet, 404, notFound, "invalid_job_token", "not_yet_valid"},
		{"wrong issuer", "POST", pipeline + wrongIssuer, nil, wrongIssuer, 404, notFound, "invalid_job_token", "wrong_issuer"},
		{"wrong audience", "POST", pipeline + wrongAudience, nil, wrongAudience, 404, notFound, "invalid_job_token", "wrong_audience"},
		{"no job_id claim", "POST", pipeline + noJob, nil, noJob, 404, notFound, "invalid_job_token", "missing_claim"},
		{"source not on the allowlist", "POST", pipeline + stranger, nil, stranger, 404, notFound, "job_token_not_allowed",
			"source project 50 is not on the project's job_token_allow"},
		{"group/* is not group/**", "POST", pipeline + nested, nil, nested, 404, notFound, "job_token_not_allowed",
			"source project 34 is not on the project's job_token_allow"},
		{"target project without allowlist", "POST", "/api/v4/projects/40/trigger/pipeline?ref=main&token=" + deployer, nil, deployer,
			404, notFound, "job_token_not_allowed", "source project 12 is not on the project's job_token_allow"},
		{"allowlist of another project", "POST", "/api/v4/projects/group%2Fother/trigger/pipeline?ref=main&token=" + deployer, nil, deployer,
			404, notFound, "job_token_not_allowed", "source project 12 is not on the project's job_token_allow"},

		{"artifacts: missing job", "GET", artifacts + "?job_token=" + deployer, nil, deployer,
			400, `{"error":"job is missing"}`, "missing_job", ""},
		{"artifacts: missing job token", "GET", artifacts + "?job=build", nil, "",
			401, unauthorized, "missing_job_token", ""},
		{"artifacts: empty JOB-TOKEN header", "GET", artifacts + "?job=build", map[string]string{"JOB-TOKEN": ""}, "",
			401, unauthorized, "missing_job_token", ""},
		{"artifacts: trigger token in the query", "GET", artifacts + "?job=build&job_token=" + triggerToken, nil, triggerToken,
			401, unauthorized, "invalid_job_token", ""},
		{"artifacts: trigger token as JOB-TOKEN", "GET", artifacts + "?job=build", map[string]string{"JOB-TOKEN": triggerToken}, triggerToken,
			401, unauthorized, "invalid_job_token", ""},
		{"artifacts: expired", "GET", artifacts + "?job=build", map[string]string{"JOB-TOKEN": expired}, expired,
			401, unauthorized, "invalid_job_token", "expired"},
		{"artifacts: alg none", "GET", artifacts + "?job=build&job_token=" + forged["none"], nil, forged["none"],
			401, unauthorized, "invalid_job_token", "algorithm"},
		{"artifacts: source not on the allowlist", "GET", artifacts + "?job=build&job_token=" + stranger, nil, stranger,
			404, notFound, "job_token_not_allowed", "source project 50 is not on the project's job_token_allow"},
		{"artifacts: commit SHA ref", "GET", "/api/v4/projects/9/jobs/artifacts/0123456789abcdef0123456789abcdef01234567/download?job=build&job_token=" + deployer,
			nil, deployer, 400, "", "commit_sha_ref", ""},
		{"artifacts: POST", "POST", artifacts + "?job=build&job_token=" + deployer, nil, deployer,
			405, `{"message":"405 Method Not Allowed"}`, "method_not_allowed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs.TakeAll()
			r := httptest.NewRequest(tt.method, tt.target, nil)
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			next := new(artifactRecorder)
			w, repl, err := serve(h, r, next)
			if err != nil {
				t.Fatalf("ServeHTTP: %v", err)
			}
			if next.calls != 0 {
				t.Fatalf("a refused request reached the upstream")
			}
			if w.Code != tt.wantStatus || (tt.wantBody != "" && w.Body.String() != tt.wantBody) {
				t.Errorf("answer %d %s, want %d %s", w.Code, w.Body, tt.wantStatus, tt.wantBody)
			}
			if tt.token != "" && strings.Contains(w.Body.String(), tt.token) {
				t.Errorf("the answer echoes the token")
			}
			if got, _ := repl.GetString("http.trigger.outcome"); got != tt.wantOutcome {
				t.Errorf("{http.trigger.outcome} = %q, want %q", got, tt.wantOutcome)
			}
			// Only a refusal after authentication (the ref rules) knows the source.
			wantSource := ""
			if tt.wantOutcome == "commit_sha_ref" {
				wantSource = "pipeline"
			}
			if got, _ := repl.GetString("http.trigger.source"); got != wantSource {
				t.Errorf("{http.trigger.source} = %q, want %q", got, wantSource)
			}
			fields := decisionLog(t, logs, tt.token)
			detail, _ := fields["detail"].(string)
			if fields["outcome"] != tt.wantOutcome || detail != tt.wantDetail {
				t.Errorf("log outcome %v, detail %q; want %s, %q", fields["outcome"], detail, tt.wantOutcome, tt.wantDetail)
			}
		})
	}
	if _, usage, err := h.gateway.store.Get(context.Background(), trigger9.ID); err != nil || usage.UseCount != 0 {
		t.Errorf("the trigger token refused on the artifacts route counted a use: %+v, %v", usage, err)
	}
}

// Without a job_token block, a JWT is just an unknown trigger token and
// artifact downloads are refused.
func TestServeHTTPJobTokensDisabled(t *testing.T) {
	h := provisionHandler(t, &Handler{}, "")
	if h.verifier != nil {
		t.Fatal("a verifier without a job_token block")
	}
	tok := jobToken(t, "9", "group/project")
	for _, tt := range []struct {
		method, target, wantOutcome string
	}{
		{"POST", "/api/v4/projects/9/trigger/pipeline?ref=main&token=" + tok, "unknown_token"},
		{"GET", "/api/v4/projects/9/jobs/artifacts/main/download?job=build&job_token=" + tok, "job_tokens_disabled"},
	} {
		next := new(artifactRecorder)
		w, repl, err := serve(h, httptest.NewRequest(tt.method, tt.target, nil), next)
		outcome, _ := repl.GetString("http.trigger.outcome")
		if err != nil || next.calls != 0 || w.Code != http.StatusNotFound || outcome != tt.wantOutcome {
			t.Errorf("%s %s: %v, %d calls, status %d, outcome %q; want 404 %s", tt.method, tt.target[:40], err, next.calls, w.Code, outcome, tt.wantOutcome)
		}
	}
}

// A project named by an alias is the project: its allowlist applies to
// requests naming the alias, and a job of the project (by ID or path) acts
// on it under either name.
func TestJobTokenAllowlistWithAliases(t *testing.T) {
	h, _ := jobTokenHandler(t, &Handler{Projects: map[string]*Project{
		"9":  {Aliases: []string{"group/project", "group/old-name"}, JobTokenAllow: []string{"tools/builder"}},
		"12": {Aliases: []string{"tools/builder"}},
	}})
	builder := jobToken(t, "12", "tools/builder")
	tests := []struct {
		name    string
		project string // as the URL names it
		token   string
		want    int
	}{
		{"allowlisted path, target by ID", "9", builder, http.StatusCreated},
		{"allowlisted path, target by alias", "group%2Fproject", builder, http.StatusCreated},
		{"allowlisted path, target by second alias", "group%2Fold-name", builder, http.StatusCreated},
		{"own project by ID, target by alias", "group%2Fold-name", jobToken(t, "9", "group/renamed"), http.StatusCreated},
		{"own project by alias path, target by ID", "9", jobToken(t, "999", "group/project"), http.StatusCreated},
		{"source's own project by its alias", "tools%2Fbuilder", builder, http.StatusCreated},
		{"not allowlisted, target by alias", "group%2Fproject", jobToken(t, "13", "tools/other"), http.StatusNotFound},
		{"the alias's project is not the source", "tools%2Fbuilder", jobToken(t, "9", "group/project"), http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := new(recorder)
			r := httptest.NewRequest(http.MethodPost, "/api/v4/projects/"+tt.project+"/trigger/pipeline?ref=main&token="+tt.token, nil)
			w, _, err := serve(h, r, next)
			wantCalls := 0
			if tt.want == http.StatusCreated {
				wantCalls = 1
			}
			if err != nil || w.Code != tt.want || next.calls != wantCalls {
				t.Errorf("got %v, status %d, %d upstream calls; want %d, %d calls", err, w.Code, next.calls, tt.want, wantCalls)
			}
		})
	}
}

// counterValue reads a counter of the gateway's metrics.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// A reload that keeps the job_token block keeps the verifier, its keys and
// the tokens it verified; a changed block gets a new one; the last handler
// using a verifier closes it.
func TestJobTokenVerifierSharedAcrossReload(t *testing.T) {
	jwks := writeJWKS(t)
	config := func(edit func(*JobTokens)) *Handler {
		jt := &JobTokens{JWKSFile: jwks, Issuer: testIssuer, Audience: testAudience,
			ArtifactsHeader: "PRIVATE-TOKEN", ArtifactsCredential: "first-secret"}
		if edit != nil {
			edit(jt)
		}
		return &Handler{JobTokens: jt}
	}
	storage := t.TempDir()
	old := provisionHandler(t, config(nil), storage)
	tok := jobToken(t, "9", "group/project")
	target := "/api/v4/projects/9/trigger/pipeline?ref=main&token=" + tok
	if w, _, _ := serve(old, httptest.NewRequest(http.MethodPost, target, nil), new(recorder)); w.Code != http.StatusCreated {
		t.Fatalf("first use: status %d", w.Code)
	}

	reloaded := provisionHandler(t, config(nil), storage)
	newSecret := provisionHandler(t, config(func(jt *JobTokens) { jt.ArtifactsCredential = "second-secret" }), storage)
	if reloaded.verifier != old.verifier || newSecret.verifier != old.verifier {
		t.Fatalf("an unchanged job_token block (or one with only a new credential) got a new verifier")
	}
	if newSecret.artifactsSecret != "second-secret" {
		t.Errorf("the new credential is not in use")
	}
	cached := counterValue(t, jobTokensVerifiedCached)
	if w, _, _ := serve(reloaded, httptest.NewRequest(http.MethodPost, target, nil), new(recorder)); w.Code != http.StatusCreated {
		t.Fatalf("after reload: status %d", w.Code)
	}
	if d := counterValue(t, jobTokensVerifiedCached) - cached; d != 1 {
		t.Errorf("after reload the token was not verified from the cache (verified_cached +%v)", d)
	}

	for name, edit := range map[string]func(*JobTokens){
		"audience":             func(jt *JobTokens) { jt.Audience = "https://other.example" },
		"issuer":               func(jt *JobTokens) { jt.Issuer = "https://other.example" },
		"leeway":               func(jt *JobTokens) { jt.Leeway = caddy.Duration(time.Minute) },
		"claims":               func(jt *JobTokens) { jt.Claims = &JobTokenClaims{ProjectID: "namespace_id"} },
		"min_refresh_interval": func(jt *JobTokens) { jt.MinRefreshInterval = caddy.Duration(time.Second) },
		"artifacts header":     func(jt *JobTokens) { jt.ArtifactsHeader = "Authorization" },
	} {
		if changed := provisionHandler(t, config(edit), storage); changed.verifier == old.verifier {
			t.Errorf("a job_token block with another %s kept the old verifier", name)
		}
	}

	for _, h := range []*Handler{old, reloaded, newSecret} {
		if err := h.Cleanup(); err != nil {
			t.Fatal(err)
		}
	}
	if again := provisionHandler(t, config(nil), storage); again.verifier == old.verifier {
		t.Errorf("the verifier outlived its last handler")
	}
}

// Configuration mistakes fail the config load, naming what is wrong.
func TestProvisionJobTokenErrors(t *testing.T) {
	jwks := writeJWKS(t)
	empty := filepath.Join(t.TempDir(), "empty.json")
	if err := os.WriteFile(empty, []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	valid := func() *JobTokens { return &JobTokens{JWKSFile: jwks, Issuer: testIssuer, Audience: testAudience} }
	tests := []struct {
		name    string
		handler Handler
		wantErr string
	}{
		{"job_token_allow without job_token", Handler{Projects: map[string]*Project{"9": {JobTokenAllow: []string{"12"}}}},
			"project 9: job_token_allow needs a job_token block"},
		{"bad allowlist entry", Handler{JobTokens: valid(), Projects: map[string]*Project{"9": {JobTokenAllow: []string{"*"}}}},
			"project 9: job_token_allow"},
		{"no key source", Handler{JobTokens: &JobTokens{Issuer: testIssuer, Audience: testAudience}}, "one of jwks_url and jwks_file is required"},
		{"two key sources", Handler{JobTokens: &JobTokens{JWKSURL: "https://gitlab.example.com/oauth/discovery/keys", JWKSFile: jwks,
			Issuer: testIssuer, Audience: testAudience}}, "mutually exclusive"},
		{"relative URL", Handler{JobTokens: &JobTokens{JWKSURL: "gitlab.example.com/keys", Issuer: testIssuer, Audience: testAudience}},
			"jwks_url must be an absolute http or https URL"},
		{"no issuer", Handler{JobTokens: &JobTokens{JWKSFile: jwks, Audience: testAudience}}, "issuer is required"},
		{"no audience", Handler{JobTokens: &JobTokens{JWKSFile: jwks, Issuer: testIssuer}}, "audience is required"},
		{"missing JWKS file", Handler{JobTokens: &JobTokens{JWKSFile: filepath.Join(t.TempDir(), "nope.json"),
			Issuer: testIssuer, Audience: testAudience}}, "loading JWKS file"},
		{"JWKS file without a signing key", Handler{JobTokens: &JobTokens{JWKSFile: empty,
			Issuer: testIssuer, Audience: testAudience}}, "no usable signing key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.handler
			h.StorageRaw = json.RawMessage(`{"module":"file_system","root":` + mustJSON(t, t.TempDir()) + `}`)
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			err := h.Provision(ctx)
			defer h.Cleanup()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Provision: %v, want an error containing %q", err, tt.wantErr)
			}
			if h.verifierKey != "" {
				t.Errorf("a failed provision holds a verifier")
			}
		})
	}
}

// While no key set has ever loaded (the JWKS URL down since the start), a
// job token cannot be checked at all: the gateway, not the caller, is at
// fault. The caller gets 503, as when the token storage is down, and the
// refusal does not count against its client's failed-authentication limit:
// a CI runner whose jobs use job tokens must not be locked out, trigger
// tokens included, by the CI server's outage.
func TestJobTokenKeysUnavailable(t *testing.T) {
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusBadGateway)
	}))
	t.Cleanup(jwks.Close)
	h := provisionHandler(t, &Handler{
		FailedAuthLimit: 2, FailedAuthWindow: caddy.Duration(time.Hour),
		JobTokens: &JobTokens{JWKSURL: jwks.URL + "/oauth/discovery/keys", Issuer: testIssuer, Audience: testAudience,
			MinRefreshInterval: caddy.Duration(time.Millisecond)},
	}, "")
	_, triggerToken := createToken(t, h, "9", "alice")
	const ip = "198.51.100.7"
	job := jobToken(t, "9", "group/project")
	for i := range 3 {
		time.Sleep(2 * time.Millisecond) // past min_refresh_interval: each try reloads
		next := new(artifactRecorder)
		w, repl, err := serve(h, requestFrom(ip, job), next)
		outcome, _ := repl.GetString("http.trigger.outcome")
		if err != nil || next.calls != 0 || w.Code != http.StatusServiceUnavailable ||
			w.Body.String() != `{"message":"503 Service Unavailable"}` || outcome != "job_token_keys_unavailable" {
			t.Fatalf("try %d: %v, %d calls, answer %d %s, outcome %q; want 503 job_token_keys_unavailable",
				i+1, err, next.calls, w.Code, w.Body, outcome)
		}
		artifacts := httptest.NewRequest(http.MethodGet, "/api/v4/projects/9/jobs/artifacts/main/download?job=build", nil)
		artifacts.Header.Set("JOB-TOKEN", job)
		artifacts = artifacts.WithContext(requestFrom(ip, job).Context())
		if w, _, _ := serve(h, artifacts, next); w.Code != http.StatusServiceUnavailable || next.calls != 0 {
			t.Fatalf("try %d: artifacts answered %d (%d calls), want 503", i+1, w.Code, next.calls)
		}
	}
	if w, _, err := serve(h, requestFrom(ip, triggerToken), new(recorder)); err != nil || w.Code != http.StatusCreated {
		t.Errorf("after the JWKS outage refused its job tokens, the client's trigger token got %d %s (%v), want 201",
			w.Code, w.Body, err)
	}
}

// The verifier is shared by the job_token blocks that resolve alike: a
// placeholder whose value changed ({file./etc/caddy/audience} rewritten,
// then `caddy reload --force`) gets a verifier with the new value, not the
// running one with the old.
func TestJobTokenVerifierKeyedByResolvedValues(t *testing.T) {
	jwks := writeJWKS(t)
	t.Setenv("JT_TEST_AUDIENCE", testAudience)
	config := func() *Handler {
		return &Handler{JobTokens: &JobTokens{JWKSFile: jwks, Issuer: testIssuer, Audience: "{env.JT_TEST_AUDIENCE}"}}
	}
	storage := t.TempDir()
	old := provisionHandler(t, config(), storage)
	tok := jobToken(t, "9", "group/project") // for testAudience
	target := "/api/v4/projects/9/trigger/pipeline?ref=main&token=" + tok
	if w, _, _ := serve(old, httptest.NewRequest(http.MethodPost, target, nil), new(recorder)); w.Code != http.StatusCreated {
		t.Fatalf("before the change: status %d", w.Code)
	}

	t.Setenv("JT_TEST_AUDIENCE", "https://other.example")
	changed := provisionHandler(t, config(), storage)
	if changed.verifier == old.verifier {
		t.Errorf("a job_token block whose audience now resolves to another value kept the old verifier")
	}
	if w, _, _ := serve(changed, httptest.NewRequest(http.MethodPost, target, nil), new(recorder)); w.Code != http.StatusNotFound {
		t.Errorf("a token for the former audience got %d after the change, want 404", w.Code)
	}
}
