package caddymodule

import (
	"errors"
	"net/http"
	"strings"
	"unicode"
)

// Who revoked a trigger, as its revoked_by says: the admin API, with the
// user its caller names (the CLI sends the user running it), or a
// management token of GitLab's API, by its name.
const (
	revokedByAdminAPI        = "admin API"
	revokedByAdminAPIUser    = "admin API, user "
	revokedByManagementToken = "management token "
)

// adminUserHeader names the user behind an admin API request, for the
// record of a revocation. Anyone who can reach the admin endpoint may set
// it: it says who the caller claims to be, it proves nothing.
const adminUserHeader = "X-Trigger-Gateway-User"

// maxAdminUser bounds the user an admin API request names.
const maxAdminUser = 128

// adminRevokedBy is the revoked_by of a revocation through the admin API
// with these request headers: revokedByAdminAPI, and the user named in
// adminUserHeader when there is one. A user with control characters or
// longer than maxAdminUser bytes is refused with 400.
func adminRevokedBy(header http.Header) (string, error) {
	user := strings.TrimSpace(header.Get(adminUserHeader))
	switch {
	case user == "":
		return revokedByAdminAPI, nil
	case len(user) > maxAdminUser || strings.ContainsFunc(user, unicode.IsControl):
		return "", adminError(http.StatusBadRequest,
			errors.New(adminUserHeader+" must be a user name: at most 128 bytes, no control character"))
	}
	return revokedByAdminAPIUser + user, nil
}
