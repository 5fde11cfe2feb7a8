package caddymodule

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
	"unicode"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/triggergate/caddy-trigger-gateway/secret"
	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// ManagementToken is a credential for GitLab's trigger-management API on
// the gateway (GET/POST /projects/:id/triggers, GET/PUT/DELETE
// /projects/:id/triggers/:trigger_id), sent in the PRIVATE-TOKEN header or
// as Authorization: Bearer.
type ManagementToken struct {
	// Name identifies the token in the gateway's log lines (never in
	// metrics), and becomes the owner of the triggers created with it (so
	// they are not legacy triggers). Required; unique among the handler's
	// management tokens; no spaces or control characters.
	Name string `json:"name,omitempty"`

	// Token is the secret callers send. Placeholders such as {env.X} or
	// {file./path} are resolved when the config loads; the value must not
	// be empty, nor have a placeholder that resolves to nothing, and must
	// differ from every other management token's. It is compared in
	// constant time and never logged. Required.
	Token string `json:"token,omitempty"`

	// Projects, when not empty, are the only projects this token may
	// manage: numeric IDs or aliases of a project block, which resolve to
	// their project. Requests about any other project answer 404 Project
	// Not Found, as GitLab answers for a project one cannot see. Default
	// (empty): every project.
	Projects []string `json:"projects,omitempty"`
}

// managementCredential is a provisioned management token.
type managementCredential struct {
	name     string
	sum      [sha256.Size]byte   // SHA-256 of the resolved token
	projects map[string]struct{} // canonical projects; nil: every project
}

// managementWeakTokenLen is the length under which a management token is
// accepted with a warning.
const managementWeakTokenLen = 16

// unmarshalManagementToken reads
// "management_token <name> <token> [<project>...]".
func (h *Handler) unmarshalManagementToken(d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	if len(args) < 2 {
		return d.ArgErr()
	}
	if d.NextBlock(d.Nesting()) {
		return d.Errf("management_token takes no block")
	}
	h.ManagementTokens = append(h.ManagementTokens, &ManagementToken{
		Name:     args[0],
		Token:    args[1],
		Projects: args[2:],
	})
	return nil
}

// validateManagement checks the management tokens as configured.
func (h *Handler) validateManagement() error {
	seen := make(map[string]bool, len(h.ManagementTokens))
	for i, mt := range h.ManagementTokens {
		switch {
		case mt == nil || mt.Name == "":
			return fmt.Errorf("management_token #%d needs a name", i+1)
		case strings.ContainsFunc(mt.Name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
			return fmt.Errorf("management_token %q: the name must not contain spaces or control characters", mt.Name)
		case seen[mt.Name]:
			return fmt.Errorf("management_token %q is configured twice", mt.Name)
		case mt.Token == "":
			return &secret.EmptyError{Setting: "management_token " + mt.Name}
		}
		seen[mt.Name] = true
		for _, p := range mt.Projects {
			if strings.TrimSpace(p) == "" {
				return fmt.Errorf("management_token %s: empty project name", mt.Name)
			}
		}
	}
	return nil
}

// provisionManagement resolves the management tokens' placeholders and
// their projects' aliases. It runs after the project blocks are read.
func (h *Handler) provisionManagement(repl *caddy.Replacer) error {
	if len(h.ManagementTokens) == 0 {
		return nil
	}
	if err := h.validateManagement(); err != nil {
		return err
	}
	h.management = make([]managementCredential, 0, len(h.ManagementTokens))
	for _, mt := range h.ManagementTokens {
		token, err := secret.Resolve(repl, "management_token "+mt.Name, mt.Token)
		if err != nil {
			return err
		}
		cred := managementCredential{name: mt.Name, sum: sha256.Sum256([]byte(token))}
		for _, other := range h.management {
			if other.sum == cred.sum {
				return fmt.Errorf("management_token %s and %s have the same token", other.name, mt.Name)
			}
			if triggerapi.UserID(other.name) == triggerapi.UserID(mt.Name) {
				// GET /user would show both as one user: about one chance in 2^31 per pair.
				return fmt.Errorf("management_token %s and %s have the same user ID: rename one", other.name, mt.Name)
			}
		}
		if len(token) < managementWeakTokenLen && h.logger != nil {
			h.logger.Warn("management token is short: use a long random value",
				zap.String("management_token", mt.Name), zap.Int("length", len(token)))
		}
		if len(mt.Projects) > 0 {
			cred.projects = make(map[string]struct{}, len(mt.Projects))
			for _, p := range mt.Projects {
				cred.projects[h.canonicalProject(p)] = struct{}{}
			}
		}
		h.management = append(h.management, cred)
	}
	h.unservedPath = unservedPathError(h.PathPrefix)
	return nil
}

// managementCredentialOf finds the management token a request carries.
// Every configured token is compared, in constant time, whichever matches.
func (h *Handler) managementCredentialOf(r *http.Request) (*managementCredential, *triggerapi.Error) {
	token := headerValue(r.Header, headerPrivateToken)
	if bearer, ok := bearerToken(headerValue(r.Header, headerAuthorization)); ok {
		if token != "" && bearer != token {
			// Two management credentials: answering for either would let
			// the other pass unseen.
			return nil, errConflictingCredential
		}
		token = bearer
	}
	if token == "" {
		return nil, errManagementNoToken
	}
	found := h.managementCredential(token)
	if found == nil {
		return nil, errManagementBadToken
	}
	return found, nil
}

// bearerToken is the token of an "Authorization: Bearer <token>" value.
func bearerToken(auth string) (string, bool) {
	const scheme = "Bearer "
	if len(auth) <= len(scheme) || !strings.EqualFold(auth[:len(scheme)], scheme) {
		return "", false
	}
	token := strings.TrimSpace(auth[len(scheme):])
	return token, token != ""
}

// managementCredential finds the management token's credential, or nil.
// Every configured token is compared, in constant time, so the answer's
// timing tells nothing about which one came close.
func (h *Handler) managementCredential(token string) *managementCredential {
	sum := sha256.Sum256([]byte(token))
	var found *managementCredential
	for i := range h.management {
		if subtle.ConstantTimeCompare(sum[:], h.management[i].sum[:]) == 1 {
			found = &h.management[i]
		}
	}
	return found
}

// mayManage reports whether the credential covers the canonical project.
func (c *managementCredential) mayManage(project string) bool {
	if c.projects == nil {
		return true
	}
	_, ok := c.projects[project]
	return ok
}
