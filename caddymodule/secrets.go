package caddymodule

import (
	"fmt"

	"github.com/caddyserver/caddy/v2"

	"github.com/triggergate/caddy-trigger-gateway/secret"
)

// provisionSecrets resolves the gateway-wide secrets of the handler: the
// upstream token and the artifacts credential (a project's are resolved
// with its rules, compileProject; the management tokens by
// provisionManagement). A secret configured but resolving to nothing stops
// the config from loading (see package secret): an upstream_token left
// empty by a missing environment variable would forward the caller's own
// token, a webhook secret would refuse every delivery.
func (h *Handler) provisionSecrets(repl *caddy.Replacer) error {
	h.artifactsSecret = ""
	var err error
	if h.upstreamToken, err = secret.ResolveOptional(repl, "upstream_token", h.UpstreamToken); err != nil {
		return err
	}
	if h.JobTokens != nil {
		h.artifactsSecret, err = resolveArtifactsCredential(repl, "job_token", h.JobTokens.ArtifactsHeader, h.JobTokens.ArtifactsCredential)
		if err != nil {
			return err
		}
	}
	return nil
}

// resolveArtifactsCredential resolves an artifacts_credential: the value of
// its header, which must not be empty once the header is configured (the
// Caddyfile always gives both). within names the block, for the error.
func resolveArtifactsCredential(repl *caddy.Replacer, within, header, credential string) (string, error) {
	switch {
	case header == "" && credential == "":
		return "", nil
	case header == "":
		return "", fmt.Errorf("%s: artifacts_credential needs artifacts_header, the header it is sent in", within)
	}
	return secret.Resolve(repl, within+": artifacts_credential", credential)
}
