package caddymodule

import (
	"fmt"
	"maps"
	"slices"

	"github.com/caddyserver/caddy/v2"

	"github.com/triggergate/caddy-trigger-gateway/secret"
	"github.com/triggergate/caddy-trigger-gateway/webhook"
)

// provisionSecrets resolves every secret-bearing setting of the handler but
// the management tokens (provisionManagement): the upstream tokens, the
// webhook secrets and the artifacts credentials. A secret configured but
// resolving to nothing stops the config from loading (see package secret):
// an upstream_token left empty by a missing environment variable would
// forward the caller's own token, a webhook secret would refuse every
// delivery. Projects are visited in order, so the error is the same on
// every try.
func (h *Handler) provisionSecrets(repl *caddy.Replacer) error {
	h.projectTokens = make(map[string]string)
	h.artifactCredentials = make(map[string][2]string)
	h.webhookVerifiers = make(map[string]*webhook.Verifier)
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
	for _, id := range slices.Sorted(maps.Keys(h.Projects)) {
		project := h.Projects[id]
		if project == nil {
			continue
		}
		if err := h.provisionProjectSecrets(repl, id, project); err != nil {
			return err
		}
	}
	return nil
}

// provisionProjectSecrets resolves the secrets of one project block.
func (h *Handler) provisionProjectSecrets(repl *caddy.Replacer, id string, project *Project) error {
	setting := func(name string) string { return "project " + id + ": " + name }
	if project.UpstreamToken != nil {
		token, err := secret.Resolve(repl, setting("upstream_token"), *project.UpstreamToken)
		if err != nil {
			return err
		}
		h.projectTokens[id] = token
	}
	gitlab, err := secret.ResolveOptional(repl, setting("webhook_gitlab_token"), project.WebhookGitLabToken)
	if err != nil {
		return err
	}
	github, err := secret.ResolveOptional(repl, setting("webhook_github_secret"), project.WebhookGitHubSecret)
	if err != nil {
		return err
	}
	if gitlab != "" || github != "" {
		h.webhookVerifiers[id] = &webhook.Verifier{GitLabToken: gitlab, GitHubSecret: github}
	}
	value, err := resolveArtifactsCredential(repl, "project "+id, project.ArtifactsHeader, project.ArtifactsCredential)
	if err != nil {
		return err
	}
	if project.ArtifactsHeader != "" {
		h.artifactCredentials[id] = [2]string{project.ArtifactsHeader, value}
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
