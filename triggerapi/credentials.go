package triggerapi

import (
	"net/url"
	"strings"
)

// QueryCredentialNames are the query parameters that carry a credential:
// GitLab's trigger token, job token and access tokens. They are matched
// whatever their case (IsQueryCredential), as the documented log filter
// does. Every place that scrubs a query uses this one list: the forwarded
// artifact download, the request once the handler is done with it, and
// the page links.
var QueryCredentialNames = [...]string{"token", "job_token", "private_token", "access_token"}

// IsQueryCredential reports whether an unescaped query parameter name is
// one of QueryCredentialNames, in any case.
func IsQueryCredential(name string) bool {
	for _, credential := range QueryCredentialNames {
		if strings.EqualFold(name, credential) {
			return true
		}
	}
	return false
}

// WithoutQueryCredentials is raw without its credential parameters, and
// whether any was there. The other parameters keep their order and
// spelling; nothing is allocated when there is nothing to remove.
func WithoutQueryCredentials(raw string) (string, bool) {
	found := false
	for rest := raw; rest != "" && !found; {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		found = isQueryCredentialPair(pair)
	}
	if !found {
		return raw, false
	}
	var kept strings.Builder
	kept.Grow(len(raw))
	for rest := raw; rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		if isQueryCredentialPair(pair) {
			continue
		}
		if kept.Len() > 0 {
			kept.WriteByte('&')
		}
		kept.WriteString(pair)
	}
	return kept.String(), true
}

// DeleteQueryCredentials removes every credential parameter from query.
func DeleteQueryCredentials(query url.Values) {
	for name := range query {
		if IsQueryCredential(name) {
			delete(query, name)
		}
	}
}

// isQueryCredentialPair reports whether a key=value pair's key, unescaped
// as the parser unescapes it, names a credential parameter.
func isQueryCredentialPair(pair string) bool {
	key, _, _ := strings.Cut(pair, "=")
	if strings.ContainsAny(key, "%+") {
		if unescaped, err := url.QueryUnescape(key); err == nil {
			key = unescaped
		}
	}
	return IsQueryCredential(key)
}
