package policy

// DefaultProtected are the variable name globs no caller may set: GitLab
// reserves these names for the CI server itself.
var DefaultProtected = []string{"CI_*", "GITLAB_*"}

// Default limits on the variables of one request.
const (
	DefaultMaxVariables     = 100
	DefaultMaxVariableBytes = 10 << 10
	// MaxKeyLength is GitLab's limit on a variable's name.
	MaxKeyLength = 255
)

// validKey is GitLab's rule for variable names: letters, digits and '_'.
func validKey(name string) bool {
	if name == "" || len(name) > MaxKeyLength {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !nameChar(name[i]) {
			return false
		}
	}
	return true
}

// nameChar reports whether c may appear in a variable name.
func nameChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}
