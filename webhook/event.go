package webhook

import "net/http"

// EventHeaders are the headers by which forges name the event a webhook
// delivery carries, in canonical form: GitLab's, GitHub's, Gitea's and those
// of its forks (Forgejo sends X-Forgejo-Event, Gogs X-Gogs-Event; Gitea
// sends X-Gogs-Event too).
var EventHeaders = []string{
	"X-Gitlab-Event",
	"X-Github-Event",
	"X-Gitea-Event",
	"X-Forgejo-Event",
	"X-Gogs-Event",
}

// CarriesEvent reports whether a request says it is a webhook delivery: it
// carries one of EventHeaders, whatever its value (an empty one included).
// A project that requires a secret or signature requires it of every such
// request, whichever route it came by: the event header is what a forge
// sends, and a delivery must not skip the check by choosing a URL.
func CarriesEvent(header http.Header) bool {
	for _, name := range EventHeaders {
		if _, ok := header[name]; ok {
			return true
		}
	}
	return false
}
