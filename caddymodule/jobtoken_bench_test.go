package caddymodule

import (
	"net/http"
	"testing"

	"go.uber.org/zap"
)

// BenchmarkServeHTTPJobToken measures requests carrying a job token the
// verifier has seen before (the cached path): the first request verifies
// the signature, every later one only hashes the token and looks it up.
func BenchmarkServeHTTPJobToken(b *testing.B) {
	h, _ := jobTokenHandler(b, &Handler{
		JobTokens: &JobTokens{ArtifactsHeader: "PRIVATE-TOKEN", ArtifactsCredential: "read-secret"},
		Projects:  map[string]*Project{"9": {Aliases: []string{"group/project"}, JobTokenAllow: []string{"12", "tools/*"}}},
	})
	h.logger = zap.NewNop()
	byID := jobToken(b, "12", "infra/deployer")
	byGlob := jobToken(b, "33", "tools/release-bot")
	const pipeline = "http://gw/api/v4/projects/9/trigger/pipeline"

	b.Run("trigger_form", func(b *testing.B) {
		benchmarkServe(b, h, http.MethodPost, pipeline, "application/x-www-form-urlencoded",
			"token="+byID+"&ref=main&variables[A]=1&variables[B]=2")
	})
	b.Run("trigger_json_alias_glob", func(b *testing.B) {
		benchmarkServe(b, h, http.MethodPost, "http://gw/api/v4/projects/group%2Fproject/trigger/pipeline", "application/json",
			`{"token":"`+byGlob+`","ref":"main","variables":{"A":"1","B":"2"}}`)
	})
	b.Run("artifacts_query", func(b *testing.B) {
		benchmarkServe(b, h, http.MethodGet,
			"http://gw/api/v4/projects/9/jobs/artifacts/main/download?job=build&job_token="+byID, "", "")
	})
	b.Run("refused_not_allowed", func(b *testing.B) {
		benchmarkServe(b, h, http.MethodPost, "http://gw/api/v4/projects/40/trigger/pipeline?ref=main&token="+byID, "", "")
	})
}
