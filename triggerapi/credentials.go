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
	return rewriteQuery(raw, func(pair string) (string, bool) {
		if isQueryCredentialPair(pair) {
			return "", true
		}
		return pair, false
	})
}

// RedactedValue stands for a variable's or input's value that
// WithoutQuerySecrets took out, as the documented access-log filter
// writes it.
const RedactedValue = "REDACTED"

// WithoutQuerySecrets is WithoutQueryCredentials that also replaces the
// value of every variables[KEY] and inputs[KEY] parameter, in any case,
// with RedactedValue: what reads the request after the handler
// (log_append {http.request.uri}) then sees which variables a caller
// sent, never their values.
func WithoutQuerySecrets(raw string) (string, bool) {
	return rewriteQuery(raw, func(pair string) (string, bool) {
		if isQueryCredentialPair(pair) {
			return "", true
		}
		key, value, _ := strings.Cut(pair, "=")
		if value == "" || value == RedactedValue || !isValuePair(key) {
			return pair, false
		}
		return key + "=" + RedactedValue, true
	})
}

// rewriteQuery applies rewrite to each key=value pair of raw, in order:
// it returns the pair to keep ("" drops it) and whether it changed.
// Nothing is allocated when no pair changes.
func rewriteQuery(raw string, rewrite func(pair string) (string, bool)) (string, bool) {
	changed := false
	for rest := raw; rest != "" && !changed; {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		_, changed = rewrite(pair)
	}
	if !changed {
		return raw, false
	}
	var kept strings.Builder
	kept.Grow(len(raw))
	for rest := raw; rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		if out, _ := rewrite(pair); out != "" || pair == "" {
			if kept.Len() > 0 {
				kept.WriteByte('&')
			}
			kept.WriteString(out)
		}
	}
	return kept.String(), true
}

// isValuePair reports whether a query key, unescaped as the parser
// unescapes it, is a variable's or an input's: variables[KEY] or
// inputs[KEY], in any case.
func isValuePair(key string) bool {
	if strings.ContainsAny(key, "%+") {
		if unescaped, err := url.QueryUnescape(key); err == nil {
			key = unescaped
		}
	}
	for _, name := range [...]string{"variables[", "inputs["} {
		if len(key) >= len(name) && strings.EqualFold(key[:len(name)], name) {
			return true
		}
	}
	return false
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
