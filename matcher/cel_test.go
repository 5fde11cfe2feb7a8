package matcher

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// The expressions go through caddyhttp.MatchExpression, as in a real
// config: Caddy gathers every registered matcher's CEL library, so these
// tests also prove the trigger macro coexists with the standard ones.
func TestCELExpressions(t *testing.T) {
	const (
		pipeline9  = "POST /api/v4/projects/9/trigger/pipeline"
		pipelineGP = "POST /api/v4/projects/group%2Fproject/trigger/pipeline"
		webhook9   = "POST /api/v4/projects/9/ref/main/trigger/pipeline"
		webhookGP  = "POST /api/v4/projects/group%2Fproject/ref/feature%2Fx/trigger/pipeline"
		artifacts9 = "GET /api/v4/projects/9/jobs/artifacts/main/download"
		artifactsP = "POST /api/v4/projects/9/jobs/artifacts/main/download"
		custom9    = "POST /gitlab/api/v4/projects/9/trigger/pipeline"
		manage9    = "GET /api/v4/projects/9/triggers"
		manageGP   = "DELETE /api/v4/projects/group%2Fproject/triggers/3"
		health     = "GET /health"
	)
	tests := []struct {
		expr    string
		matches []string
		misses  []string
	}{
		{
			expr:    `trigger()`,
			matches: []string{pipeline9, pipelineGP, webhook9, webhookGP, artifacts9, manage9, manageGP},
			misses:  []string{custom9, health},
		},
		{
			expr:    `trigger({})`,
			matches: []string{pipeline9, webhookGP, artifacts9},
			misses:  []string{custom9, health},
		},
		{
			expr:    `trigger('pipeline')`,
			matches: []string{pipeline9, pipelineGP},
			misses:  []string{webhook9, webhookGP, artifacts9, custom9, health, manage9},
		},
		{
			expr:    `trigger('management')`,
			matches: []string{manage9, manageGP},
			misses:  []string{pipeline9, webhook9, artifacts9, health},
		},
		{
			expr:    `trigger({'kinds': 'management', 'projects': ['group/project']})`,
			matches: []string{manageGP},
			misses:  []string{manage9, pipelineGP},
		},
		{
			expr:    `trigger('pipeline', "webhook")`,
			matches: []string{pipeline9, pipelineGP, webhook9, webhookGP},
			misses:  []string{artifacts9, health},
		},
		{
			expr:    `trigger({'kinds': 'webhook'})`,
			matches: []string{webhook9, webhookGP},
			misses:  []string{pipeline9, artifacts9},
		},
		{
			expr:    `trigger({'kinds': ['webhook'], 'projects': ['group/project']})`,
			matches: []string{webhookGP},
			misses:  []string{webhook9, pipelineGP},
		},
		{
			expr:    `trigger({'projects': ['9', 'group/project']})`,
			matches: []string{pipeline9, pipelineGP, webhook9, webhookGP, artifacts9},
			misses:  []string{custom9},
		},
		{
			expr:    `trigger({'kinds': ['pipeline'], 'path_prefix': '/gitlab/api/v4'})`,
			matches: []string{custom9},
			misses:  []string{pipeline9, webhook9},
		},
		{
			expr:    `trigger('artifacts') && method('GET')`,
			matches: []string{artifacts9},
			misses:  []string{artifactsP, pipeline9},
		},
		{
			expr:    `!trigger()`,
			matches: []string{health, custom9},
			misses:  []string{pipeline9, artifacts9},
		},
		{
			expr:    `trigger('webhook') || path('/health')`,
			matches: []string{webhook9, health},
			misses:  []string{pipeline9},
		},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			m := provisionExpression(t, tt.expr)
			for _, req := range tt.matches {
				if !evalExpression(t, m, req) {
					t.Errorf("%s does not match %s", tt.expr, req)
				}
			}
			for _, req := range tt.misses {
				if evalExpression(t, m, req) {
					t.Errorf("%s matches %s", tt.expr, req)
				}
			}
		})
	}
}

func TestCELExpressionErrors(t *testing.T) {
	tests := []struct {
		expr    string
		wantErr string
	}{
		{`trigger('bogus')`, `unknown trigger route kind "bogus"`},
		{`trigger('pipeline', 'Webhook')`, `"Webhook"`},
		{`trigger({'kinds': ['pipeline', 'bogus']})`, `"bogus"`},
		{`trigger(1)`, "arguments must be string literals"},
		{`trigger('pipeline', 1)`, "arguments must be string literals"},
		{`trigger(['pipeline'])`, "arguments must be string literals"},
		{`trigger({'kinds': ['pipeline']}, 'webhook')`, "arguments must be string literals"},
		{`trigger({http.request.host})`, "arguments must be string literals"},
		{`trigger({'kind': ['pipeline']})`, `unknown key "kind"`},
		{`trigger({1: 'pipeline'})`, "map keys must be string literals"},
		{`trigger({'kinds': [1]})`, "map values must be string or list-of-string literals"},
		{`trigger({'kinds': 'pipe' + 'line'})`, "map values must be string or list-of-string literals"},
		{`trigger({'path_prefix': ['/a', '/b']})`, "path_prefix takes exactly one path"},
		{`trigger({'path_prefix': 'api'})`, "must be a URL path"},
		{`trigger({'projects': ['group%2Fproject']})`, "URL-encoded"},
		{`trigger({'projects': ''})`, "empty project"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			m := &caddyhttp.MatchExpression{Expr: tt.expr}
			err := m.Provision(ctx)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Provision(%s) error = %v, want one containing %q", tt.expr, err, tt.wantErr)
			}
		})
	}
}

func provisionExpression(t *testing.T, expr string) *caddyhttp.MatchExpression {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	m := &caddyhttp.MatchExpression{Expr: expr}
	if err := m.Provision(ctx); err != nil {
		t.Fatalf("Provision(%s): %v", expr, err)
	}
	return m
}

// evalExpression evaluates m on a request given as "METHOD target".
func evalExpression(t *testing.T, m *caddyhttp.MatchExpression, request string) bool {
	t.Helper()
	method, target, _ := strings.Cut(request, " ")
	r := httptest.NewRequest(method, target, nil)
	repl := caddy.NewReplacer()
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
	match, err := m.MatchWithError(r)
	if err != nil {
		t.Fatalf("%s on %s: %v", m.Expr, request, err)
	}
	return match
}
