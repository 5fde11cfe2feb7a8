package integration

import (
	"bytes"
	"crypto/rand"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Answers of the artifacts route, as GitLab gives them.
const (
	unauthorized = `{"message":"401 Unauthorized"}`
	jobMissing   = `{"error":"job is missing"}`
)

// Jobs of the job-token tests. Project 9 (alias group/project) accepts job
// tokens from project 12 and from projects directly in the tools group.
var (
	ownJob     = job{ProjectID: "9", ProjectPath: "group/project", PipelineID: "5009", JobID: "7009"}
	deployJob  = job{ProjectID: "12", ProjectPath: "infra/deployer", PipelineID: "5012", JobID: "7012"}
	toolJob    = job{ProjectID: "33", ProjectPath: "tools/release-bot", PipelineID: "5033", JobID: "7033"}
	nestedJob  = job{ProjectID: "34", ProjectPath: "tools/sub/bot", PipelineID: "5034", JobID: "7034"}
	strangeJob = job{ProjectID: "50", ProjectPath: "other/project", PipelineID: "5050", JobID: "7050"}
	job20      = job{ProjectID: "20", ProjectPath: "team/twenty", PipelineID: "5020", JobID: "7020"}
)

// Multi-project pipelines: a CI job triggers another project's pipeline
// with token=$CI_JOB_TOKEN, in every form the trigger API takes; the
// upstream learns which job did it; the target's job_token_allow decides;
// every forged, stale or foreign token is refused with nothing forwarded.
func TestJobTokenTriggers(t *testing.T) {
	t.Parallel()
	key := jobKey(0, "gitlab-1")
	jwks := newJWKSServer(t, key)
	upstream20 := "glptt-" + randomHex(20)
	g := newGatewayFor(t, config{
		Gateway: jobTokenBlock(jwks) + `
			project 9 {
				alias group/project
				job_token_allow 12 tools/*
			}
			project 20 {
				upstream_token {env.UPSTREAM_TOKEN_20}
			}`,
		Proxy: `
			header_up X-Seen-Source {http.trigger.source}
			header_up X-Seen-Source-Project {http.trigger.source_project}
			header_up X-Seen-Source-Project-Path {http.trigger.source_project_path}
			header_up X-Seen-Source-Pipeline {http.trigger.source_pipeline}
			header_up X-Seen-Source-Job {http.trigger.source_job}`,
		Env: map[string]string{"UPSTREAM_TOKEN_20": upstream20},
	}, newUpstream(t))
	g.secrets.addToken(upstream20)
	cfg := g.cfg
	v := g.varValue()

	accepted := []struct {
		name     string
		job      job
		send     func(tok string) response
		project  string // escaped, as forwarded
		upstream string // the upstream token, if one replaces the job token
		ref      string
		vars     map[string]string
	}{
		{
			name: "the seed's curl --form command", job: deployJob, project: "9", ref: "master",
			send: func(tok string) response {
				// The shell expands $CI_JOB_TOKEN; g.curl puts the token for TOKEN.
				cmd := strings.ReplaceAll(`curl --request POST --form "token=$CI_JOB_TOKEN" --form ref=master https://gitlab.example.com/api/v4/projects/9/trigger/pipeline`,
					"$CI_JOB_TOKEN", "TOKEN")
				return g.curl(t, cmd, tok)
			},
		},
		{
			name: "urlencoded, allowed by path glob", job: toolJob, project: "9", ref: "main", vars: map[string]string{"V": v},
			send: func(tok string) response {
				return g.post(t, "/api/v4/projects/9/trigger/pipeline", urlencoded("token", tok, "ref", "main", "variables[V]", v))
			},
		},
		{
			name: "query string, the token's own project", job: ownJob, project: "9", ref: "main",
			send: func(tok string) response {
				return g.post(t, "/api/v4/projects/9/trigger/pipeline?"+url.Values{"token": {tok}, "ref": {"main"}}.Encode(), reqBody{})
			},
		},
		{
			name: "JSON, project named by alias", job: deployJob, project: "9", ref: "release/1.x", vars: map[string]string{"V": v},
			send: func(tok string) response {
				return g.post(t, "/api/v4/projects/group%2Fproject/trigger/pipeline",
					jsonBody(map[string]any{"token": tok, "ref": "release/1.x", "variables": map[string]string{"V": v}}))
			},
		},
		{
			name: "own project named by its path, caller's X-Trigger headers dropped", job: ownJob, project: "9", ref: "main",
			send: func(tok string) response {
				return g.post(t, "/api/v4/projects/group%2Fproject/trigger/pipeline", multipartForm("token", tok, "ref", "main"),
					"X-Trigger-Source-Project", "12", "X-Trigger-Id", "1", "X-Trigger-Token-Prefix", "glptt-0000")
			},
		},
		{
			name: "own project with an upstream token", job: job20, project: "20", ref: "main", upstream: upstream20,
			send: func(tok string) response {
				return g.post(t, "/api/v4/projects/20/trigger/pipeline", urlencoded("token", tok, "ref", "main"))
			},
		},
	}
	for _, tt := range accepted {
		t.Run("accepted/"+tt.name, func(t *testing.T) {
			verified := g.delta(t, jobTokensTotal("verified"))
			acceptedCount := g.delta(t, counter{"caddy_trigger_gateway_requests_total",
				[]string{"route", "pipeline", "source", "pipeline", "outcome", "accepted"}})
			tok := g.jobToken(t, key, tt.job, nil)
			resp := tt.send(tok)
			got := g.up.take()
			want := jobForwarded{Project: tt.project, Token: tok, Ref: tt.ref, Variables: tt.vars, Job: tt.job, CallerToken: tok}
			if tt.upstream != "" {
				want.Token = tt.upstream
			}
			assertJobForwarded(t, resp, got, want)
			if len(got) == 1 {
				for name, value := range map[string]string{
					"X-Seen-Source": "pipeline", "X-Seen-Source-Project": tt.job.ProjectID,
					"X-Seen-Source-Project-Path": tt.job.ProjectPath, "X-Seen-Source-Pipeline": tt.job.PipelineID,
					"X-Seen-Source-Job": tt.job.JobID,
				} {
					if got := got[0].Header.Get(name); got != value {
						t.Errorf("upstream header %s (from a placeholder) = %q, want %q", name, got, value)
					}
				}
			}
			if d := verified(); d != 1 {
				t.Errorf("job_tokens_total{outcome=verified} grew by %v, want 1", d)
			}
			if d := acceptedCount(); d != 1 {
				t.Errorf("requests_total{route=pipeline,source=pipeline,outcome=accepted} grew by %v, want 1", d)
			}
		})
	}

	t.Run("accepted/a token seen before is verified from the cache", func(t *testing.T) {
		tok := g.jobToken(t, key, deployJob, nil)
		send := func() response {
			return g.post(t, "/api/v4/projects/9/trigger/pipeline", urlencoded("token", tok, "ref", "main"))
		}
		want := jobForwarded{Project: "9", Token: tok, Ref: "main", Job: deployJob, CallerToken: tok}
		assertJobForwarded(t, send(), g.up.take(), want)
		verified, cached := g.delta(t, jobTokensTotal("verified")), g.delta(t, jobTokensTotal("verified_cached"))
		assertJobForwarded(t, send(), g.up.take(), want)
		if v, c := verified(), cached(); v != 0 || c != 1 {
			t.Errorf("second use: verified +%v, verified_cached +%v; want +0, +1", v, c)
		}
	})

	rogue := jobKey(1, "rogue")
	impostor := jobKey(1, key.kid) // another key claiming the real kid
	refused := []struct {
		name    string
		token   func() string
		outcome string // requests_total outcome
		reason  string // job_tokens_total outcome, for a token the verifier refused
		project string
	}{
		{"alg none", func() string { return g.unsignedToken(t, key, deployJob) }, "invalid_job_token", "algorithm", "9"},
		{"HS256 signed with the RSA public key", func() string { return g.hmacConfusedToken(t, key, deployJob) }, "invalid_job_token", "algorithm", "9"},
		{"expired", func() string {
			return g.jobToken(t, key, deployJob, func(c jwt.MapClaims) {
				c["iat"], c["nbf"], c["exp"] = time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-time.Hour).Unix()
			})
		}, "invalid_job_token", "expired", "9"},
		{"not yet valid", func() string {
			return g.jobToken(t, key, deployJob, func(c jwt.MapClaims) {
				c["nbf"], c["exp"] = time.Now().Add(time.Hour).Unix(), time.Now().Add(2*time.Hour).Unix()
			})
		}, "invalid_job_token", "not_yet_valid", "9"},
		{"wrong issuer", func() string {
			return g.jobToken(t, key, deployJob, func(c jwt.MapClaims) { c["iss"] = "https://gitlab.evil.example" })
		}, "invalid_job_token", "wrong_issuer", "9"},
		{"wrong audience", func() string {
			return g.jobToken(t, key, deployJob, func(c jwt.MapClaims) { c["aud"] = "https://other-ci.example.com" })
		}, "invalid_job_token", "wrong_audience", "9"},
		{"unknown kid", func() string { return g.jobToken(t, rogue, deployJob, nil) }, "invalid_job_token", "unknown_key", "9"},
		{"known kid, another key's signature", func() string { return g.jobToken(t, impostor, deployJob, nil) }, "invalid_job_token", "bad_signature", "9"},
		{"tampered payload", func() string { return g.tampered(t, key, strangeJob, deployJob) }, "invalid_job_token", "bad_signature", "9"},
		{"no project claim", func() string {
			return g.jobToken(t, key, deployJob, func(c jwt.MapClaims) { delete(c, "project_id") })
		}, "invalid_job_token", "missing_claim", "9"},
		{"source project not on the allowlist", func() string { return g.jobToken(t, key, strangeJob, nil) }, "job_token_not_allowed", "", "9"},
		{"group/* does not reach subgroups", func() string { return g.jobToken(t, key, nestedJob, nil) }, "job_token_not_allowed", "", "9"},
		{"target without allowlist", func() string { return g.jobToken(t, key, deployJob, nil) }, "job_token_not_allowed", "", "20"},
	}
	for _, tt := range refused {
		t.Run("refused/"+tt.name, func(t *testing.T) {
			outcome := g.delta(t, requestsTotal("pipeline", tt.outcome))
			var reason func() float64
			if tt.reason != "" {
				reason = g.delta(t, jobTokensTotal(tt.reason))
			}
			tok := tt.token()
			resp := g.post(t, "/api/v4/projects/"+tt.project+"/trigger/pipeline", urlencoded("token", tok, "ref", "main"))
			assertJSONAnswer(t, resp, http.StatusNotFound, notFound)
			assertNothingForwarded(t, g.up)
			if d := outcome(); d != 1 {
				t.Errorf("requests_total{outcome=%s} grew by %v, want 1", tt.outcome, d)
			}
			if reason != nil {
				if d := reason(); d != 1 {
					t.Errorf("job_tokens_total{outcome=%s} grew by %v, want 1", tt.reason, d)
				}
			}
		})
	}

	// A reload keeps an unchanged job_token block's verifier (its keys and
	// the tokens it verified); a changed block gets a new one, which loads
	// the keys again.
	t.Run("reload", func(t *testing.T) {
		tok := g.jobToken(t, key, deployJob, nil)
		send := func() {
			t.Helper()
			resp := g.post(t, "/api/v4/projects/9/trigger/pipeline", urlencoded("token", tok, "ref", "main"))
			assertJobForwarded(t, resp, g.up.take(), jobForwarded{Project: "9", Token: tok, Ref: "main", Job: deployJob, CallerToken: tok})
		}
		send()
		fetches := jwks.fetches.Load()
		same := cfg
		same.Site = "header X-Generation two"
		g.reloadJob(t, same)
		verified, cached := g.delta(t, jobTokensTotal("verified")), g.delta(t, jobTokensTotal("verified_cached"))
		send()
		if n := jwks.fetches.Load() - fetches; n != 0 {
			t.Errorf("a reload with the same job_token block fetched the JWKS %d times", n)
		}
		if v, c := verified(), cached(); v != 0 || c != 1 {
			t.Errorf("after the reload: verified +%v, verified_cached +%v; want +0, +1", v, c)
		}

		changed := cfg
		changed.Gateway = strings.Replace(cfg.Gateway, "job_token {\n", "job_token {\nleeway 1m\n", 1)
		if changed.Gateway == cfg.Gateway {
			t.Fatal("the job_token block did not change")
		}
		g.reloadJob(t, changed)
		if n := jwks.fetches.Load() - fetches; n != 1 {
			t.Errorf("a reload with a new job_token block fetched the JWKS %d times, want 1", n)
		}
		verified, cached = g.delta(t, jobTokensTotal("verified")), g.delta(t, jobTokensTotal("verified_cached"))
		send()
		if v, c := verified(), cached(); v != 1 || c != 0 {
			t.Errorf("after the reload: verified +%v, verified_cached +%v; want +1, +0", v, c)
		}
	})

	metrics := string(g.adminGet(t, "/metrics").Body)
	if strings.Contains(metrics, "eyJ") {
		t.Errorf("the metrics hold something shaped like a JWT")
	}
}

// Artifact downloads between projects: the job token authorizes, the
// upstream gets the request without it (and with the configured credential
// instead), and the archive streams back whole, Range requests included.
func TestJobTokenArtifacts(t *testing.T) {
	t.Parallel()
	artifact := make([]byte, 20<<20)
	if _, err := rand.Read(artifact); err != nil {
		t.Fatal(err)
	}
	key := jobKey(0, "gitlab-1")
	jwks := newJWKSServer(t, key)
	readToken, readToken30 := "glpat-"+randomHex(10), "glpat-"+randomHex(10)
	g := newGatewayFor(t, config{
		Gateway: jobTokenBlock(jwks, "artifacts_credential PRIVATE-TOKEN {env.ARTIFACTS_READ_TOKEN}") + `
			project 9 {
				alias group/project
				job_token_allow 12
			}
			project 30 {
				job_token_allow 12
				artifacts_credential Authorization "Bearer {env.ARTIFACTS_READ_TOKEN_30}"
			}`,
		Env: map[string]string{"ARTIFACTS_READ_TOKEN": readToken, "ARTIFACTS_READ_TOKEN_30": readToken30},
	}, newArtifactUpstream(t, artifact))
	// Caddy's reverse_proxy logs the upstream request's headers at debug
	// level, redacting only Authorization (and cookies): the PRIVATE-TOKEN
	// credential stays out of the logs through the documented filter
	// (docs/logs-and-metrics.md), the Authorization one by itself.
	g.secrets.addToken(readToken)
	g.secrets.addToken(readToken30)
	global := [2]string{"Private-Token", readToken}

	accepted := []struct {
		name   string
		job    job
		path   string // after /api/v4/projects/
		header bool   // send the token as JOB-TOKEN rather than job_token
		want   artifactForwarded
	}{
		{"job_token in the query", deployJob, "9/jobs/artifacts/main/download?job=build", false,
			artifactForwarded{Path: "/api/v4/projects/9/jobs/artifacts/main/download", Query: "job=build", Credential: global}},
		{"JOB-TOKEN header", deployJob, "9/jobs/artifacts/main/download?job=build", true,
			artifactForwarded{Path: "/api/v4/projects/9/jobs/artifacts/main/download", Query: "job=build", Credential: global}},
		{"alias and a ref with a slash", deployJob, "group%2Fproject/jobs/artifacts/feature%2Fx/download?job=build", false,
			artifactForwarded{Path: "/api/v4/projects/9/jobs/artifacts/feature%2Fx/download", Query: "job=build", Credential: global}},
		{"the token's own project", ownJob, "9/jobs/artifacts/v1.0/download?job=package", true,
			artifactForwarded{Path: "/api/v4/projects/9/jobs/artifacts/v1.0/download", Query: "job=package", Credential: global}},
		{"per-project credential", deployJob, "30/jobs/artifacts/main/download?job=build", false,
			artifactForwarded{Path: "/api/v4/projects/30/jobs/artifacts/main/download", Query: "job=build",
				Credential: [2]string{"Authorization", "Bearer " + readToken30}}},
	}
	for _, tt := range accepted {
		t.Run("accepted/"+tt.name, func(t *testing.T) {
			accepted := g.delta(t, counter{"caddy_trigger_gateway_requests_total",
				[]string{"route", "artifacts", "source", "pipeline", "outcome", "accepted"}})
			tok := g.jobToken(t, key, tt.job, nil)
			path := "/api/v4/projects/" + tt.path
			var resp response
			if tt.header {
				resp = g.get(t, path, "JOB-TOKEN", tok)
			} else {
				resp = g.get(t, path+"&job_token="+tok)
			}
			tt.want.Job, tt.want.CallerToken = tt.job, tok
			assertArtifactForwarded(t, g.up.take(), tt.want)
			if resp.Status != http.StatusOK || !bytes.Equal(resp.Body, artifact) {
				t.Errorf("caller got %d with %d bytes (%s), want 200 with the %d-byte archive (%s)",
					resp.Status, len(resp.Body), digest(resp.Body), len(artifact), digest(artifact))
			}
			if d := accepted(); d != 1 {
				t.Errorf("requests_total{route=artifacts,source=pipeline,outcome=accepted} grew by %v, want 1", d)
			}
		})
	}

	t.Run("accepted/Range request", func(t *testing.T) {
		tok := g.jobToken(t, key, deployJob, nil)
		resp := g.get(t, "/api/v4/projects/9/jobs/artifacts/main/download?job=build",
			"JOB-TOKEN", tok, "Range", "bytes=1048576-1049599")
		up := assertArtifactForwarded(t, g.up.take(), artifactForwarded{
			Path: "/api/v4/projects/9/jobs/artifacts/main/download", Query: "job=build", Credential: global, Job: deployJob, CallerToken: tok,
		})
		if got := up.Header.Get("Range"); got != "bytes=1048576-1049599" {
			t.Errorf("upstream Range = %q", got)
		}
		if want := artifact[1048576:1049600]; resp.Status != http.StatusPartialContent || !bytes.Equal(resp.Body, want) {
			t.Errorf("caller got %d with %d bytes, want 206 with the 1024-byte slice", resp.Status, len(resp.Body))
		}
		if got := resp.Header.Get("Content-Range"); got != "bytes 1048576-1049599/20971520" {
			t.Errorf("Content-Range = %q", got)
		}
	})

	t.Run("accepted/the documented curl command", func(t *testing.T) {
		tok := g.jobToken(t, key, deployJob, nil)
		out := filepath.Join(t.TempDir(), "artifacts.zip")
		resp := g.curl(t, `curl --location --output '`+out+`' "https://gitlab.example.com/api/v4/projects/9/jobs/artifacts/main/download?job=build&job_token=TOKEN"`, tok)
		assertArtifactForwarded(t, g.up.take(), artifactForwarded{
			Path: "/api/v4/projects/9/jobs/artifacts/main/download", Query: "job=build", Credential: global, Job: deployJob, CallerToken: tok,
		})
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != http.StatusOK || !bytes.Equal(got, artifact) {
			t.Errorf("curl got %d and wrote %d bytes (%s), want 200 and the archive (%s)", resp.Status, len(got), digest(got), digest(artifact))
		}
	})

	trigger := g.addTrigger(t, addOpts{Project: "9", Description: "not for artifacts", Owner: "alice"})
	const download = "/api/v4/projects/9/jobs/artifacts/main/download"
	refused := []struct {
		name    string
		path    string
		headers []string
		status  int
		body    string
		outcome string
	}{
		{name: "missing job", path: download + "?job_token=" + g.jobToken(t, key, deployJob, nil),
			status: 400, body: jobMissing, outcome: "missing_job"},
		{name: "empty job", path: download + "?job=&job_token=" + g.jobToken(t, key, deployJob, nil),
			status: 400, body: jobMissing, outcome: "missing_job"},
		{name: "missing job token", path: download + "?job=build",
			status: 401, body: unauthorized, outcome: "missing_job_token"},
		{name: "trigger token in the query", path: download + "?job=build&job_token=" + trigger.Token,
			status: 401, body: unauthorized, outcome: "invalid_job_token"},
		{name: "trigger token as JOB-TOKEN", path: download + "?job=build", headers: []string{"JOB-TOKEN", trigger.Token},
			status: 401, body: unauthorized, outcome: "invalid_job_token"},
		{name: "expired job token", path: download + "?job=build&job_token=" + g.jobToken(t, key, deployJob, func(c jwt.MapClaims) {
			c["iat"], c["nbf"], c["exp"] = time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-time.Hour).Unix()
		}), status: 401, body: unauthorized, outcome: "invalid_job_token"},
		{name: "tampered job token", path: download + "?job=build", headers: []string{"JOB-TOKEN", g.tampered(t, key, strangeJob, deployJob)},
			status: 401, body: unauthorized, outcome: "invalid_job_token"},
		{name: "source project not on the allowlist", path: download + "?job=build&job_token=" + g.jobToken(t, key, strangeJob, nil),
			status: 404, body: notFound, outcome: "job_token_not_allowed"},
	}
	for _, tt := range refused {
		t.Run("refused/"+tt.name, func(t *testing.T) {
			outcome := g.delta(t, requestsTotal("artifacts", tt.outcome))
			resp := g.get(t, tt.path, tt.headers...)
			assertJSONAnswer(t, resp, tt.status, tt.body)
			assertNothingForwarded(t, g.up)
			if d := outcome(); d != 1 {
				t.Errorf("requests_total{route=artifacts,outcome=%s} grew by %v, want 1", tt.outcome, d)
			}
		})
	}
}

// The verifier follows the CI server's keys: it starts without them when
// the JWKS is down, picks up a rotation on the first token with a new kid,
// and keeps its keys (for tokens seen before and new ones alike) while the
// JWKS answers 500 or is gone.
func TestJobTokenKeyRotationAndOutage(t *testing.T) {
	t.Parallel()
	const minRefresh = 200 * time.Millisecond
	oldKey, newKey, rogue := jobKey(0, "2024-key"), jobKey(1, "2025-key"), jobKey(2, "rogue")
	jwks := newJWKSServer(t, oldKey)
	jwks.failing.Store(true)
	g := newGatewayFor(t, config{Gateway: jobTokenBlock(jwks, "min_refresh_interval "+minRefresh.String()) + `
		project 9 {
			job_token_allow 12
		}`}, newUpstream(t))
	// Unknown kids reload the keys at most once per min_refresh_interval.
	waitRefreshWindow := func() { time.Sleep(minRefresh + 100*time.Millisecond) }

	accept := func(t *testing.T, tok string) {
		t.Helper()
		resp := g.post(t, "/api/v4/projects/9/trigger/pipeline", urlencoded("token", tok, "ref", "main"))
		assertJobForwarded(t, resp, g.up.take(), jobForwarded{Project: "9", Token: tok, Ref: "main", Job: deployJob, CallerToken: tok})
	}
	refuse := func(t *testing.T, tok, reason string) {
		t.Helper()
		count := g.delta(t, jobTokensTotal(reason))
		resp := g.post(t, "/api/v4/projects/9/trigger/pipeline", urlencoded("token", tok, "ref", "main"))
		if reason == "keys_unavailable" { // the gateway cannot check any job token: its fault, not the caller's
			assertJSONAnswer(t, resp, http.StatusServiceUnavailable, `{"message":"503 Service Unavailable"}`)
		} else {
			assertJSONAnswer(t, resp, http.StatusNotFound, notFound)
		}
		assertNothingForwarded(t, g.up)
		if d := count(); d != 1 {
			t.Errorf("job_tokens_total{outcome=%s} grew by %v, want 1", reason, d)
		}
	}
	// refreshes watches the key-set loads from now on; a closed JWKS server
	// cannot count the fetches it refuses.
	refreshes := func(t *testing.T, countFetches bool) func(ok, failed float64) {
		t.Helper()
		okCount, errCount := g.delta(t, jwksRefreshes("ok")), g.delta(t, jwksRefreshes("error"))
		fetches := jwks.fetches.Load()
		return func(ok, failed float64) {
			t.Helper()
			if o, e := okCount(), errCount(); o != ok || e != failed {
				t.Errorf("jwks_refreshes_total grew by ok %v, error %v; want ok %v, error %v", o, e, ok, failed)
			}
			if n := float64(jwks.fetches.Load() - fetches); countFetches && n != ok+failed {
				t.Errorf("the JWKS server saw %v fetches, want %v", n, ok+failed)
			}
		}
	}

	if got := g.metricValue(t, "caddy_trigger_gateway_jwks_refreshes_total", "result", "error"); got < 1 {
		t.Errorf("jwks_refreshes_total{result=error} = %v after starting with the JWKS down, want at least 1", got)
	}
	first := g.jobToken(t, oldKey, deployJob, nil)
	t.Run("JWKS down at start: no keys yet", func(t *testing.T) {
		waitRefreshWindow()
		check := refreshes(t, true)
		refuse(t, first, "keys_unavailable")
		check(0, 1)
	})
	t.Run("JWKS back: keys load on demand", func(t *testing.T) {
		jwks.failing.Store(false)
		waitRefreshWindow()
		check := refreshes(t, true)
		accept(t, first)
		check(1, 0)
	})

	t.Run("rotation: the new kid is picked up, the retired key no longer verifies", func(t *testing.T) {
		jwks.publish(newKey)
		waitRefreshWindow()
		check := refreshes(t, true)
		accept(t, g.jobToken(t, newKey, deployJob, nil))
		check(1, 0)
		accept(t, first) // verified before the rotation, and cached until it expires
		waitRefreshWindow()
		refuse(t, g.jobToken(t, oldKey, deployJob, nil), "unknown_key")
	})

	seen := g.jobToken(t, newKey, deployJob, nil)
	accept(t, seen)
	for _, outage := range []struct {
		name   string
		start  func()
		counts bool
	}{
		{"JWKS answers 500", func() { jwks.failing.Store(true) }, true},
		{"JWKS server gone", func() { jwks.srv.Close() }, false},
	} {
		t.Run(outage.name, func(t *testing.T) {
			outage.start()
			waitRefreshWindow()
			check := refreshes(t, outage.counts)
			// A token with an unknown kid makes the verifier try, and fail, to reload.
			refuse(t, g.jobToken(t, rogue, deployJob, nil), "unknown_key")
			accept(t, seen)                                  // verified before the outage
			accept(t, g.jobToken(t, newKey, deployJob, nil)) // new, signed with a key already loaded
			check(0, 1)
		})
	}
}

// When the upstream fails, no log holds the caller's credentials. Caddy's
// error logger (http.log.error.*) would log the caller's original request,
// URI and headers included, through the default log, which the site's
// access-log filter does not cover. Two things keep them out: the handler
// answers an unreachable upstream itself (GitLab's 502, logged without the
// request), so Caddy has no handler error to log; and the harness, like
// Caddyfile.example, filters the default log as well as the access log.
// The log scan at cleanup fails the test if ?job_token=, JOB-TOKEN or
// ?token= reach any log.
func TestJobTokenNotInErrorLogWhenUpstreamFails(t *testing.T) {
	t.Parallel()
	key := jobKey(0, "gitlab-1")
	jwks := newJWKSServer(t, key)
	up := newUpstream(t)
	g := newGatewayFor(t, config{Gateway: jobTokenBlock(jwks) + `
		project 9 {
			job_token_allow 12
		}`}, up)
	up.srv.Close()

	for name, send := range map[string]func(tok string) response{
		"artifacts, job_token": func(tok string) response {
			return g.get(t, "/api/v4/projects/9/jobs/artifacts/main/download?job=build&job_token="+tok)
		},
		"artifacts, JOB-TOKEN": func(tok string) response {
			return g.get(t, "/api/v4/projects/9/jobs/artifacts/main/download?job=build", "JOB-TOKEN", tok)
		},
		"trigger, query token": func(tok string) response {
			return g.post(t, "/api/v4/projects/9/trigger/pipeline?ref=main&token="+tok, reqBody{})
		},
	} {
		if resp := send(g.jobToken(t, key, deployJob, nil)); resp.Status != http.StatusBadGateway {
			t.Errorf("%s: caller got %s, want the proxy's 502", name, resp)
		}
	}
}
