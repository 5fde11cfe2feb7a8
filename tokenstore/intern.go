package tokenstore

import (
	"strings"
	"sync"
)

// maxInterned bounds the strings an interner keeps; past it, strings are
// copied rather than shared. Projects and owners are few next to tokens.
const maxInterned = 4096

// interner shares one copy of each project and owner name among the cached
// credentials that hold it: a cache of tokens costs one copy of each name,
// not one per token. The strings it returns never alias the caller's, so a
// record's bytes can be dropped once decoded.
type interner struct {
	mu    sync.Mutex
	names map[string]string
}

// intern returns a string equal to s, shared with earlier callers.
func (n *interner) intern(s string) string {
	if s == "" {
		return ""
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if v, ok := n.names[s]; ok {
		return v
	}
	v := strings.Clone(s)
	if len(n.names) < maxInterned {
		if n.names == nil {
			n.names = make(map[string]string)
		}
		n.names[v] = v
	}
	return v
}

// cloneStrings copies a list of strings, so that none aliases the
// record they were decoded from; nil stays nil.
func cloneStrings(list []string) []string {
	if list == nil {
		return nil
	}
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = strings.Clone(s)
	}
	return out
}
