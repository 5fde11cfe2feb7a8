package integration

import (
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// One Caddy, two teams, two trigger_gateways on two storages. Team B's
// Triggers page is bound to team B's storage: it lists and adds team B's
// triggers only, and a request naming team A's storage with ?storage=
// (which a maintainer of team B's page could guess) changes nothing of
// team A's. A page bound to no storage serves neither, without naming
// them. Before pages were bound, ?storage= chose among every storage in
// use, so team B's maintainer could add triggers to team A's.
func TestSitePageServesItsOwnStorageOnly(t *testing.T) {
	hash := hashPassword(t, pagePassword)
	teamB := filepath.Join(t.TempDir(), "team-b")
	g := newGateway(t, config{Site: fmt.Sprintf(`
handle_path /team-b/* {
	trigger_gateway {
		storage file_system %[2]s
	}
}
handle_path /pages/team-b/* {
	basic_auth {
		alice %[1]s
	}
	trigger_gateway_ui {
		maintainers alice
		storage file_system %[2]s
	}
}
handle_path /pages/unbound/* {
	basic_auth {
		alice %[1]s
	}
	trigger_gateway_ui {
		maintainers alice
	}
}`, hash, teamB)})
	teamA := "FileStorage:" + filepath.Join(g.dir, "storage") // the harness's storage, the site's own gateway
	teamBKey := "FileStorage:" + teamB

	// Team A's trigger, through the admin API, which names the storage.
	if resp := g.adminPostJSON(t, "/trigger_gateway/triggers?storage="+url.QueryEscape(teamA),
		map[string]string{"project": "9", "description": "team A's"}); resp.Status != http.StatusCreated {
		t.Fatalf("admin API: %s", resp)
	}

	pageURL := g.base() + "/pages/team-b/"
	naming := "?storage=" + url.QueryEscape(teamA)
	if resp := pagePost(t, g, pageURL, naming, `{"project":"9","description":"added on team B's page"}`); resp.Status != http.StatusCreated {
		t.Fatalf("add on team B's page: %s", resp)
	}
	for _, suffix := range []string{"", naming} {
		list := g.do(t, withAuth(mustRequest(t, http.MethodGet, pageURL+"api/triggers"+suffix), "alice", pageURL))
		if list.Status != http.StatusOK || !strings.Contains(string(list.Body), "added on team B's page") ||
			strings.Contains(string(list.Body), "team A's") {
			t.Errorf("team B's page lists, with %q: %s", suffix, list)
		}
	}
	for storage, want := range map[string]string{teamA: "team A's", teamBKey: "added on team B's page"} {
		list := g.adminGet(t, "/trigger_gateway/triggers?project=9&storage="+url.QueryEscape(storage))
		if list.Status != http.StatusOK || strings.Count(string(list.Body), `"description"`) != 1 || !strings.Contains(string(list.Body), want) {
			t.Errorf("storage %s holds %s, want only %q", storage, list, want)
		}
	}

	unbound := g.base() + "/pages/unbound/"
	for _, suffix := range []string{"", naming} {
		resp := g.do(t, withAuth(mustRequest(t, http.MethodGet, unbound+"api/triggers"+suffix), "alice", unbound))
		if resp.Status != http.StatusServiceUnavailable || !strings.Contains(string(resp.Body), "several trigger_gateway storages are in use") ||
			strings.Contains(string(resp.Body), "FileStorage") || strings.Contains(string(resp.Body), g.dir) {
			t.Errorf("the unbound page, with %q: %s", suffix, resp)
		}
	}
	if resp := pagePost(t, g, unbound, naming, `{"project":"9","description":"added on the unbound page"}`); resp.Status != http.StatusServiceUnavailable {
		t.Errorf("add on the unbound page: %s", resp)
	}
	// The operator reads the storages in the log, once.
	warnings := g.logLines(t, regexp.MustCompile(`the Triggers page on this site serves none of them until it is bound to one`))
	if len(warnings) != 1 || !strings.Contains(warnings[0], teamA) || !strings.Contains(warnings[0], teamBKey) {
		t.Errorf("warnings: %q", warnings)
	}
}

// pagePost adds a trigger through a page's API as its script does: the
// session's CSRF token and cookie, the page's origin.
func pagePost(t *testing.T, g *gateway, pageURL, query, body string) response {
	t.Helper()
	session := g.do(t, withAuth(mustRequest(t, http.MethodGet, pageURL+"api/session"), "alice", pageURL))
	csrf := regexp.MustCompile(`"csrf_token":"([^"]+)"`).FindStringSubmatch(string(session.Body))
	if session.Status != http.StatusOK || csrf == nil {
		t.Fatalf("session: %s", session)
	}
	req, err := http.NewRequest(http.MethodPost, pageURL+"api/triggers"+query, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", g.base())
	req.Header.Set("X-CSRF-Token", csrf[1])
	for _, cookie := range (&http.Response{Header: session.Header}).Cookies() {
		req.AddCookie(cookie)
	}
	return g.do(t, withAuth(req, "alice", pageURL))
}
