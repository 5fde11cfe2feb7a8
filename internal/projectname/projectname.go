// Package projectname compares the names a request may give a project as
// GitLab does: a full path in any case ("Group/Project" is
// "group/project"), a numeric ID with any number of leading zeros ("009"
// is project 9: GitLab's find_project reads any all-digit name as an ID).
// Storage keys, project rules and the trigger matcher all go through it,
// so no spelling of a project escapes the rules of the project it names.
package projectname

// Fold returns the one form of a project name that keys and comparisons
// use: the ID without leading zeros, or the path with its ASCII letters in
// lower case. Only ASCII letters fold: GitLab's paths are ASCII, and
// Unicode folding would make "group/\u017fecret" (a long s) the project
// "group/secret". It allocates only when the name has upper-case letters.
func Fold(name string) string {
	name = canonicalID(name)
	for i := 0; i < len(name); i++ {
		if c := name[i]; 'A' <= c && c <= 'Z' {
			folded := []byte(name)
			for j := i; j < len(folded); j++ {
				if c := folded[j]; 'A' <= c && c <= 'Z' {
					folded[j] = c + 'a' - 'A'
				}
			}
			return string(folded)
		}
	}
	return name
}

// Equal reports whether a and b name the same project (Fold(a) ==
// Fold(b)), without allocating.
func Equal(a, b string) bool {
	a, b = canonicalID(a), canonicalID(b)
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

// canonicalID strips the leading zeros of an all-digit name, keeping one
// digit: "009" is "9", "000" is "0". Any other name is returned as it is.
func canonicalID(name string) string {
	if len(name) < 2 || name[0] != '0' {
		return name
	}
	zeros := 0
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c < '0' || c > '9':
			return name
		case c == '0' && zeros == i:
			zeros++
		}
	}
	return name[min(zeros, len(name)-1):]
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
