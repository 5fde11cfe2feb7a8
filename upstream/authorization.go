package upstream

import (
	"encoding/base64"
	"errors"
	"strings"

	"github.com/triggergate/caddy-trigger-gateway/secret"
)

// The Authorization header a module sends its CI, from a credential
// configured as {env.X} or {file./path}: resolved when the config loads
// (secret.Resolve refuses one that resolves to nothing), never logged, and
// listed in Request.Secret so that explain masks it.

// bearerAuthorization is "Bearer <token>" for the configured token, or ""
// when none is configured. setting names it in errors, e.g.
// "upstream buildkite: token".
func bearerAuthorization(setting, configured string) (string, error) {
	if configured == "" {
		return "", nil
	}
	token, err := secret.Resolve(nil, setting, configured)
	if err != nil {
		return "", err
	}
	return "Bearer " + token, nil
}

// basicAuthorization is HTTP Basic user:password for the configured
// password, or "" when none is configured. module is e.g. "upstream
// jenkins", passwordName the password's setting, e.g. "api_token". The
// user may come from a placeholder too ({env.JENKINS_USER}), resolved the
// same way; Validate's checkBasic runs after Provision, so a user left out
// is its to refuse, and what the user resolved to is checked here.
func basicAuthorization(module, passwordName, user, configured string) (string, error) {
	if configured == "" || user == "" {
		return "", nil
	}
	name, err := secret.Resolve(nil, module+": user", user)
	if err != nil {
		return "", err
	}
	if err := checkBasicUser(module, name); err != nil {
		return "", err
	}
	password, err := secret.Resolve(nil, module+": "+passwordName, configured)
	if err != nil {
		return "", err
	}
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(name+":"+password)), nil
}

// checkBasic refuses half an HTTP Basic credential, and a user name that
// Basic cannot carry: a ':' would end it early. module is e.g. "upstream
// jenkins", passwordName the password's setting, e.g. "api_token".
func checkBasic(module, passwordName, user, password string) error {
	if (user == "") != (password == "") {
		return errors.New(module + ": user and " + passwordName + " go together")
	}
	return checkBasicUser(module, user)
}

// checkBasicUser refuses a user name that Basic cannot carry: a ':' would
// end it early.
func checkBasicUser(module, user string) error {
	if strings.Contains(user, ":") || hasControl(user) {
		return errors.New(module + ": user must not hold ':' or a control character")
	}
	return nil
}
