package jobtoken

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidation(t *testing.T) {
	base := func(mod func(*Config)) Config {
		c := Config{JWKSURL: "https://gitlab.example.com/oauth/discovery/keys", Issuer: testIssuer, Audience: testAudience}
		if mod != nil {
			mod(&c)
		}
		return c
	}
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"valid URL", base(nil), ""},
		{"valid file", base(func(c *Config) { c.JWKSURL, c.JWKSFile = "", "/etc/caddy/jwks.json" }), ""},
		{"no source", base(func(c *Config) { c.JWKSURL = "" }), "one of jwks_url and jwks_file"},
		{"both sources", base(func(c *Config) { c.JWKSFile = "/x" }), "mutually exclusive"},
		{"relative URL", base(func(c *Config) { c.JWKSURL = "/oauth/discovery/keys" }), "absolute http or https"},
		{"ftp URL", base(func(c *Config) { c.JWKSURL = "ftp://gitlab.example.com/keys" }), "absolute http or https"},
		{"unparsable URL", base(func(c *Config) { c.JWKSURL = "https://%zz" }), "absolute http or https"},
		{"no issuer", base(func(c *Config) { c.Issuer = "" }), "issuer is required"},
		{"no audience", base(func(c *Config) { c.Audience = "" }), "audience is required"},
		{"negative leeway", base(func(c *Config) { c.Leeway = -time.Second }), "leeway must not be negative"},
		{"negative refresh", base(func(c *Config) { c.RefreshInterval = -time.Second }), "refresh interval must not be negative"},
		{"negative min refresh", base(func(c *Config) { c.MinRefreshInterval = -time.Second }), "minimum refresh interval"},
		{"negative cache", base(func(c *Config) { c.CacheSize = -1 }), "cache size"},
		{"several errors at once", Config{}, "issuer is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cfg.withDefaults()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if _, nerr := New(tt.cfg); nerr == nil {
					t.Fatal("New accepted an invalid config")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Leeway != DefaultLeeway || got.RefreshInterval != DefaultRefreshInterval ||
				got.MinRefreshInterval != DefaultMinRefreshInterval || got.CacheSize != DefaultCacheSize ||
				got.HTTPClient == nil || got.HTTPClient.Timeout != DefaultHTTPTimeout ||
				got.Logger == nil || got.Observer == nil || got.Now == nil {
				t.Errorf("defaults not applied: %+v", got)
			}
			want := ClaimNames{"project_id", "project_path", "pipeline_id", "job_id", "ref", "user_login"}
			if got.Claims != want {
				t.Errorf("claims = %+v, want %+v", got.Claims, want)
			}
		})
	}
}

func TestJWKSSourceRedactsPassword(t *testing.T) {
	got := jwksSource(Config{JWKSURL: "https://user:s3cret@gitlab.example.com/keys"})
	if strings.Contains(got, "s3cret") || !strings.Contains(got, "gitlab.example.com/keys") {
		t.Errorf("jwksSource = %q", got)
	}
}
