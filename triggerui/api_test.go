package triggerui

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// fakeBackend is an in-memory Backend that records the changes asked of it.
type fakeBackend struct {
	triggers []Trigger
	created  []CreateRequest
	revoked  []int64
	revokers []string
}

func (b *fakeBackend) List(_ *http.Request, project string, revoked bool) ([]Trigger, error) {
	var out []Trigger
	for _, t := range b.triggers {
		if (project == "" || t.Project == project) && (t.RevokedAt != nil) == revoked {
			out = append(out, t)
		}
	}
	return out, nil
}

func (b *fakeBackend) Create(_ *http.Request, req CreateRequest) (Trigger, error) {
	if req.Project == "" {
		return Trigger{}, &Error{Status: http.StatusBadRequest, Message: "400 Bad request - project is required"}
	}
	b.created = append(b.created, req)
	return Trigger{ID: int64(len(b.triggers) + 1), Token: testToken, TokenPrefix: testToken[:14], Project: req.Project}, nil
}

func (b *fakeBackend) Revoke(_ *http.Request, id int64, user string) error {
	b.revoked = append(b.revoked, id)
	b.revokers = append(b.revokers, user)
	return nil
}

func (b *fakeBackend) Deliveries(_ *http.Request, id int64) ([]Delivery, error) {
	if id != 1 {
		return nil, &Error{Status: http.StatusNotFound, Message: "404 Not Found - trigger not found"}
	}
	pipeline := int64(4001)
	return []Delivery{{Source: "trigger", Ref: "main", Variables: []string{"DEPLOY"}, Outcome: "accepted", Status: 201,
		PipelineID: &pipeline, WebURL: "https://ci.example/p/4001"}}, nil
}

func (b *fakeBackend) PathPrefix(*http.Request) string { return "/api/v4" }

const testToken = "glptt-0123456789abcdef0123456789abcdef01234567"

// testSession is the session cookie of the requests the tests send.
const testSession = "test-session"

// request builds a request to the page's mount on host page.example.
func request(method, rel, body string, header map[string]string) *http.Request {
	r := httptest.NewRequest(method, "http://page.example/triggers/"+rel, strings.NewReader(body))
	for k, v := range header {
		r.Header.Set(k, v)
	}
	return r
}

// sameOrigin are the headers the page's own script sends with a change.
func sameOrigin(mount, user string) map[string]string {
	return map[string]string{
		"Origin":         "http://page.example",
		"Sec-Fetch-Site": "same-origin",
		"Content-Type":   "application/json",
		"Cookie":         sessionCookie + "=" + testSession,
		csrfHeader:       csrfToken(mount, user, testSession),
	}
}

func serve(p *Page, r *http.Request, v Viewer) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	rel := strings.TrimPrefix(r.URL.Path, "/triggers/")
	p.Serve(w, r, rel, v)
	return w
}

func message(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var body struct {
		Message string `json:"message"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q is not GitLab's {\"message\": ...}: %v", w.Body, err)
	}
	return body.Message
}

func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	p := &Page{Backend: &fakeBackend{}, Mount: "site"}
	maintainer := Viewer{User: "alice", CanManage: true}
	for _, tc := range []struct {
		name   string
		r      *http.Request
		status int
	}{
		{"page", request(http.MethodGet, "", "", nil), http.StatusOK},
		{"script", request(http.MethodGet, "app.js", "", nil), http.StatusOK},
		{"stylesheet", request(http.MethodGet, "style.css", "", nil), http.StatusOK},
		{"session", request(http.MethodGet, "api/session", "", nil), http.StatusOK},
		{"list", request(http.MethodGet, "api/triggers", "", nil), http.StatusOK},
		{"created", request(http.MethodPost, "api/triggers", `{"project":"9","description":"d"}`, sameOrigin("site", "alice")), http.StatusCreated},
		{"refused", request(http.MethodPost, "api/triggers", `{}`, nil), http.StatusForbidden},
		{"unknown file", request(http.MethodGet, "secret.txt", "", nil), http.StatusNotFound},
		{"unknown route", request(http.MethodGet, "api/nothing", "", nil), http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := serve(p, tc.r, maintainer)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			for name, want := range map[string]string{
				"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
					"img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
				"X-Frame-Options":        "DENY",
				"X-Content-Type-Options": "nosniff",
				"Cache-Control":          "no-store",
				"Referrer-Policy":        "same-origin",
			} {
				if got := w.Header().Get(name); got != want {
					t.Errorf("%s: %q, want %q", name, got, want)
				}
			}
			if w.Header().Get("Access-Control-Allow-Origin") != "" {
				t.Error("the page's answers must not allow another origin to read them")
			}
		})
	}
}

func TestStateChangesNeedTheSameOriginAndCSRFToken(t *testing.T) {
	good := sameOrigin("site", "alice")
	with := func(changes map[string]string) map[string]string {
		h := map[string]string{}
		for k, v := range good {
			h[k] = v
		}
		for k, v := range changes {
			if v == "" {
				delete(h, k)
			} else {
				h[k] = v
			}
		}
		return h
	}
	maintainer := Viewer{User: "alice", CanManage: true}
	for _, tc := range []struct {
		name   string
		viewer Viewer
		header map[string]string
		status int
	}{
		{"from the page", maintainer, good, 0},
		{"a viewer", Viewer{User: "bob"}, sameOrigin("site", "bob"), http.StatusForbidden},
		{"anonymous", Viewer{}, sameOrigin("site", ""), http.StatusForbidden},
		{"no Origin", maintainer, with(map[string]string{"Origin": ""}), http.StatusForbidden},
		{"another origin", maintainer, with(map[string]string{"Origin": "http://evil.example"}), http.StatusForbidden},
		{"a look-alike origin", maintainer, with(map[string]string{"Origin": "http://page.example.evil.example"}), http.StatusForbidden},
		{"Origin null", maintainer, with(map[string]string{"Origin": "null"}), http.StatusForbidden},
		{"cross-site fetch", maintainer, with(map[string]string{"Sec-Fetch-Site": "cross-site"}), http.StatusForbidden},
		{"same-site but other origin", maintainer, with(map[string]string{"Sec-Fetch-Site": "same-site"}), http.StatusForbidden},
		{"no CSRF token", maintainer, with(map[string]string{csrfHeader: ""}), http.StatusForbidden},
		{"another user's CSRF token", maintainer, with(map[string]string{csrfHeader: csrfToken("site", "bob", testSession)}), http.StatusForbidden},
		{"another mount's CSRF token", maintainer, with(map[string]string{csrfHeader: csrfToken("admin", "alice", testSession)}), http.StatusForbidden},
		{"another session's CSRF token", maintainer, with(map[string]string{csrfHeader: csrfToken("site", "alice", "other-session")}), http.StatusForbidden},
		{"no session cookie", maintainer, with(map[string]string{"Cookie": ""}), http.StatusForbidden},
		{"a forged CSRF token", maintainer, with(map[string]string{csrfHeader: "AAAA"}), http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, change := range []struct {
				method, rel, body string
				status            int
			}{
				{http.MethodPost, "api/triggers", `{"project":"9","description":"nightly"}`, http.StatusCreated},
				{http.MethodDelete, "api/triggers/7", "", http.StatusNoContent},
			} {
				b := &fakeBackend{}
				p := &Page{Backend: b, Mount: "site"}
				w := serve(p, request(change.method, change.rel, change.body, tc.header), tc.viewer)
				want := tc.status
				if want == 0 {
					want = change.status
				}
				if w.Code != want {
					t.Fatalf("%s %s: status %d, want %d: %s", change.method, change.rel, w.Code, want, w.Body)
				}
				if want == http.StatusForbidden {
					if m := message(t, w); m != "403 Forbidden" {
						t.Errorf("message %q, want GitLab's 403 Forbidden", m)
					}
					if len(b.created) != 0 || len(b.revoked) != 0 {
						t.Errorf("a refused change reached the store: created %v, revoked %v", b.created, b.revoked)
					}
				}
			}
		})
	}
}

func TestSessionTellsWhoMayManage(t *testing.T) {
	p := &Page{Backend: &fakeBackend{}, Mount: "site", GatewayURL: "https://ci.example"}
	for _, v := range []Viewer{{User: "alice", CanManage: true}, {User: "bob"}, {}} {
		w := serve(p, request(http.MethodGet, "api/session", "", nil), v)
		var s session
		if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil {
			t.Fatal(err)
		}
		cookies := w.Result().Cookies()
		if len(cookies) != 1 || cookies[0].Name != sessionCookie || !cookies[0].HttpOnly ||
			cookies[0].SameSite != http.SameSiteStrictMode || cookies[0].Path != "/triggers/" || len(cookies[0].Value) < 24 {
			t.Fatalf("session cookie %+v: want one HttpOnly, SameSite=Strict cookie on the page's path", cookies)
		}
		want := session{User: v.User, CanManage: v.CanManage, CSRFToken: csrfToken("site", v.User, cookies[0].Value),
			PathPrefix: "/api/v4", GatewayURL: "https://ci.example"}
		if s != want {
			t.Errorf("viewer %+v: session %+v, want %+v", v, s, want)
		}
	}
	if csrfToken("site", "alice", "s") == csrfToken("site", "bob", "s") || csrfToken("site", "alice", "s") == csrfToken("admin", "alice", "s") ||
		csrfToken("site", "alice", "s") == csrfToken("site", "alice", "t") {
		t.Error("CSRF tokens must differ per user, per mount and per session")
	}
}

func TestCreateAnswersTheTokenOnce(t *testing.T) {
	b := &fakeBackend{}
	p := &Page{Backend: b, Mount: "admin"}
	admin := Viewer{CanManage: true}
	w := serve(p, request(http.MethodPost, "api/triggers",
		`{"project":"9","description":"deploy","owner":"alice","expires_at":"2030-01-01"}`, sameOrigin("admin", "")), admin)
	if w.Code != http.StatusCreated || !strings.Contains(w.Body.String(), testToken) {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	if want := (CreateRequest{Project: "9", Description: "deploy", Owner: "alice", ExpiresAt: "2030-01-01"}); len(b.created) != 1 || b.created[0] != want {
		t.Errorf("backend got %+v, want %+v", b.created, want)
	}
	b.triggers = append(b.triggers, Trigger{ID: 1, Token: testToken, Project: "9"})
	w = serve(p, request(http.MethodGet, "api/triggers", "", nil), admin)
	if strings.Contains(w.Body.String(), testToken) || strings.Contains(w.Body.String(), `"token"`) {
		t.Errorf("the list holds a token: %s", w.Body)
	}

	for _, tc := range []struct {
		name, contentType, body string
		status                  int
	}{
		{"unknown field", "application/json", `{"project":"9","description":"d","token":"mine"}`, http.StatusBadRequest},
		{"two objects", "application/json", `{"project":"9","description":"d"}{}`, http.StatusBadRequest},
		{"not JSON", "application/json", `project=9`, http.StatusBadRequest},
		{"wrong type", "application/json", `{"project":9}`, http.StatusBadRequest},
		{"a form", "application/x-www-form-urlencoded", `project=9&description=d`, http.StatusUnsupportedMediaType},
		{"too large", "application/json", `{"project":"9","description":"` + strings.Repeat("x", maxCreateBody) + `"}`, http.StatusRequestEntityTooLarge},
		{"refused by the store", "application/json", `{"description":"d"}`, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := sameOrigin("admin", "")
			h["Content-Type"] = tc.contentType
			w := serve(p, request(http.MethodPost, "api/triggers", tc.body, h), admin)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if m := message(t, w); m == "" || strings.Contains(m, "mine") {
				t.Errorf("message %q", m)
			}
		})
	}
}

func TestRevokeRecordsTheUser(t *testing.T) {
	b := &fakeBackend{}
	p := &Page{Backend: b, Mount: "site"}
	w := serve(p, request(http.MethodDelete, "api/triggers/12", "", sameOrigin("site", "alice")), Viewer{User: "alice", CanManage: true})
	if w.Code != http.StatusNoContent || len(b.revoked) != 1 || b.revoked[0] != 12 || b.revokers[0] != "alice" {
		t.Fatalf("revoke: %d %s, backend %v by %v", w.Code, w.Body, b.revoked, b.revokers)
	}
	for _, rel := range []string{"api/triggers/0", "api/triggers/x", "api/triggers/-1", "api/triggers/" + testToken} {
		w := serve(p, request(http.MethodDelete, rel, "", sameOrigin("site", "alice")), Viewer{User: "alice", CanManage: true})
		if w.Code != http.StatusBadRequest || strings.Contains(w.Body.String(), testToken) {
			t.Errorf("DELETE %s: %d %s", rel, w.Code, w.Body)
		}
	}
	w = serve(p, request(http.MethodPut, "api/triggers/12", "", sameOrigin("site", "alice")), Viewer{User: "alice", CanManage: true})
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("PUT: %d", w.Code)
	}
}

func TestListSortsAndPages(t *testing.T) {
	const n = 5000
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := &fakeBackend{}
	for i := 1; i <= n; i++ {
		tr := Trigger{ID: int64(i), TokenPrefix: fmt.Sprintf("glptt-%08d", i), Project: "9", CreatedAt: base.Add(time.Duration(i) * time.Minute)}
		if i%2 == 0 { // every other one used, the later IDs longer ago
			used := base.Add(time.Duration(n-i) * time.Hour)
			tr.LastUsed, tr.UseCount = &used, int64(i)
		}
		if i == 3 {
			past := base
			tr.ExpiresAt = &past
		}
		b.triggers = append(b.triggers, tr)
	}
	b.triggers = append(b.triggers, Trigger{ID: n + 1, Project: "12"})
	p := &Page{Backend: b, Mount: "site"}
	get := func(query string) listPage {
		t.Helper()
		w := serve(p, request(http.MethodGet, "api/triggers?"+query, "", nil), Viewer{User: "bob"})
		if w.Code != http.StatusOK {
			t.Fatalf("list ?%s: %d %s", query, w.Code, w.Body)
		}
		var page listPage
		if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil {
			t.Fatal(err)
		}
		return page
	}
	ids := func(page listPage) []int64 {
		out := make([]int64, len(page.Triggers))
		for i, tr := range page.Triggers {
			out[i] = tr.ID
		}
		return out
	}

	first := get("project=9&per_page=50")
	if first.Total != n || first.TotalPages != n/50 || len(first.Triggers) != 50 {
		t.Fatalf("first page: total %d, pages %d, rows %d", first.Total, first.TotalPages, len(first.Triggers))
	}
	if got := ids(first)[:3]; fmt.Sprint(got) != "[2 4 6]" {
		t.Errorf("by last use: first IDs %v, want the most recently used [2 4 6]", got)
	}
	last := get("project=9&per_page=50&page=100")
	if got := ids(last)[47:]; fmt.Sprint(got) != "[5 3 1]" {
		t.Errorf("by last use: last IDs %v, want the never used, newest first, [5 3 1]", got)
	}
	if tr := last.Triggers[48]; tr.ID != 3 || !tr.Expired {
		t.Errorf("trigger 3 expired in the past: %+v", tr)
	}
	if got := ids(get("project=9&sort=created&per_page=2")); fmt.Sprint(got) != "[5000 4999]" {
		t.Errorf("by creation: %v", got)
	}
	if page := get("project=9&per_page=1000"); len(page.Triggers) != 100 {
		t.Errorf("per_page=1000 gave %d rows, want at most 100", len(page.Triggers))
	}
	if page := get("project=9&page=101&per_page=50"); len(page.Triggers) != 0 {
		t.Errorf("past the last page: %d rows", len(page.Triggers))
	}
	if page := get(""); page.Total != n+1 {
		t.Errorf("every project: %d", page.Total)
	}
	for _, query := range []string{"sort=token", "revoked=maybe"} {
		w := serve(p, request(http.MethodGet, "api/triggers?"+query, "", nil), Viewer{User: "bob"})
		if w.Code != http.StatusBadRequest {
			t.Errorf("?%s: %d", query, w.Code)
		}
	}
}

func TestDeliveriesForEveryViewer(t *testing.T) {
	p := &Page{Backend: &fakeBackend{}, Mount: "site"}
	w := serve(p, request(http.MethodGet, "api/triggers/1/deliveries", "", nil), Viewer{User: "bob"})
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"pipeline_id":4001`) || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("deliveries: %d %s", w.Code, w.Body)
	}
	for _, tc := range []struct {
		method, rel string
		status      int
	}{
		{http.MethodGet, "api/triggers/2/deliveries", http.StatusNotFound},
		{http.MethodGet, "api/triggers/x/deliveries", http.StatusBadRequest},
		{http.MethodGet, "api/triggers/1/2/deliveries", http.StatusNotFound},
		{http.MethodGet, "api/triggers/1/history", http.StatusNotFound},
		{http.MethodPost, "api/triggers/1/deliveries", http.StatusMethodNotAllowed},
	} {
		if w := serve(p, request(tc.method, tc.rel, "", nil), Viewer{User: "bob"}); w.Code != tc.status {
			t.Errorf("%s %s: %d, want %d: %s", tc.method, tc.rel, w.Code, tc.status, w.Body)
		}
	}
}

// A second tab of the same browser gets the session it already has: its
// token stays valid in the first tab.
func TestSessionSharedByTabs(t *testing.T) {
	p := &Page{Backend: &fakeBackend{}, Mount: "site"}
	v := Viewer{User: "alice", CanManage: true}
	first := serve(p, request(http.MethodGet, "api/session", "", nil), v)
	cookies := first.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("first session set cookies %v", cookies)
	}
	second := serve(p, request(http.MethodGet, "api/session", "", map[string]string{"Cookie": cookies[0].Name + "=" + cookies[0].Value}), v)
	if len(second.Result().Cookies()) != 0 || second.Body.String() != first.Body.String() {
		t.Errorf("a second tab got a new session: %v %s, first %s", second.Result().Cookies(), second.Body, first.Body)
	}
	forged := serve(p, request(http.MethodGet, "api/session", "", map[string]string{"Cookie": sessionCookie + "=short"}), v)
	if len(forged.Result().Cookies()) != 1 {
		t.Error("a malformed session cookie was kept")
	}
}
