package triggerapi

import (
	"crypto/sha256"
	"encoding/binary"
	"strconv"
	"strings"
	"time"
)

// The answers of GitLab's trigger-management API as its entities show them
// (lib/api/entities/trigger.rb, user_basic.rb, user.rb, project.rb),
// reduced to what the gateway knows.

// TimeLayout is how GitLab's API writes a time: UTC, milliseconds, as in
// "2016-01-07T09:53:58.235Z".
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// Time is a time as GitLab's API writes it (TimeLayout).
type Time time.Time

// MarshalJSON writes the time in TimeLayout, in UTC.
func (t Time) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format(TimeLayout) + `"`), nil
}

// TimeOf is t as GitLab writes it; nil (JSON null) for nil.
func TimeOf(t *time.Time) *Time {
	if t == nil {
		return nil
	}
	g := Time(*t)
	return &g
}

// UserBasic is a user as GitLab's UserBasic entity shows it (a trigger's
// owner), reduced to what the gateway knows: a name.
type UserBasic struct {
	Username string `json:"username"`
	Name     string `json:"name"`
}

// Trigger is a trigger as GitLab's Trigger entity shows it. The gateway
// keeps only a hash of the token, so Token is the whole token only in the
// answer to the creation; elsewhere it is the token's display prefix
// (GitLab, too, shows other users' tokens shortened), also given as
// token_prefix. Owner is nil (null) for a trigger nobody owns.
type Trigger struct {
	ID          int64      `json:"id"`
	Token       string     `json:"token"`
	TokenPrefix string     `json:"token_prefix"`
	Description string     `json:"description"`
	CreatedAt   Time       `json:"created_at"`
	UpdatedAt   Time       `json:"updated_at"`
	LastUsed    *Time      `json:"last_used"`
	ExpiresAt   *Time      `json:"expires_at"`
	Owner       *UserBasic `json:"owner"`
}

// User is a management token's identity as GitLab's user entity shows it
// (GET /user), reduced to what the gateway knows: its name.
type User struct {
	ID        int64   `json:"id"`
	Username  string  `json:"username"`
	Name      string  `json:"name"`
	State     string  `json:"state"`
	Locked    bool    `json:"locked"`
	Bot       bool    `json:"bot"`
	AvatarURL *string `json:"avatar_url"`
}

// NewUser is the user of the management token named name.
func NewUser(name string) User {
	return User{
		ID:       UserID(name),
		Username: name,
		Name:     name,
		State:    "active",
		Bot:      true, // a machine credential, as GitLab's project and group access tokens' users are
	}
}

// UserID is the user ID of a management token: 31 bits of the SHA-256 of
// its name. It depends on the name alone, so that it stays the same across
// restarts, reloads, reordered configs, token rotations and every instance
// of a cluster; it fits in 31 bits, as GitLab's user IDs do, so that
// clients decoding it into a 32-bit integer read it whole. Two names may
// share an ID: the configuration refuses them.
func UserID(name string) int64 {
	sum := sha256.Sum256([]byte(name))
	id := int64(binary.BigEndian.Uint32(sum[:4]) & 0x7fffffff)
	return max(id, 1) // GitLab's IDs start at 1
}

// Project is a project as GitLab's project entity shows it (GET
// /projects/:id), reduced to what the gateway knows. ID is a number for a
// project known by its numeric ID, and the project's path for one known
// only by its path: python-gitlab builds the URLs of
// projects.get(id).triggers from this id, so null would send it to
// /projects/None/triggers. The path fields are null when the gateway knows
// no path for the project.
type Project struct {
	ID                any     `json:"id"`
	Name              *string `json:"name"`
	Path              *string `json:"path"`
	PathWithNamespace *string `json:"path_with_namespace"`
}

// NewProject describes a canonical project: a numeric ID, whose path is
// the first of aliases with a slash (if any), or a path.
func NewProject(project string, aliases []string) Project {
	var out Project
	fullPath := ""
	// Numeric only in its canonical spelling, which a canonical project
	// has ("009" is folded to "9" before it gets here): any other name is
	// a path, whose id is the name.
	if id, err := strconv.ParseInt(project, 10, 64); err == nil && id > 0 && strconv.FormatInt(id, 10) == project {
		out.ID = id
		for _, alias := range aliases {
			if strings.Contains(alias, "/") {
				fullPath = alias
				break
			}
		}
	} else {
		out.ID = project
		fullPath = project
	}
	if fullPath != "" {
		path := fullPath[strings.LastIndexByte(fullPath, '/')+1:]
		out.Name, out.Path, out.PathWithNamespace = &path, &path, &fullPath
	}
	return out
}
