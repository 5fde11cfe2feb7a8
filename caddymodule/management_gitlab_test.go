package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

func TestManagementListPagination(t *testing.T) {
	h := newManagementHandler(t, nil)
	var ids []int64
	for range 45 {
		tr, _ := createToken(t, h, "9", "alice")
		ids = append(ids, tr.ID)
	}
	_, _ = createToken(t, h, "12", "alice") // another project's: never listed
	const list = "/api/v4/projects/9/triggers"
	tests := []struct {
		name                    string
		query                   string
		first, count            int // the answer is ids[first:first+count]
		page, perPage, nextPrev string
		totalPages              string
	}{
		{"defaults", "", 0, 20, "1", "20", "2/", "3"},
		{"python-gitlab's first page", "?per_page=20&page=1", 0, 20, "1", "20", "2/", "3"},
		{"second page", "?per_page=20&page=2", 20, 20, "2", "20", "3/1", "3"},
		{"last page, short", "?per_page=20&page=3", 40, 5, "3", "20", "/2", "3"},
		{"past the last", "?per_page=20&page=4", 45, 0, "4", "20", "/", "3"},
		{"at most 100", "?per_page=1000", 0, 45, "1", "100", "/", "1"},
		{"negative per_page is the default, as Kaminari's", "?per_page=-1", 0, 20, "1", "20", "2/", "3"},
		{"empty page is page 1", "?page=&per_page=7", 0, 7, "1", "7", "2/", "7"},
		{"negative page is page 1", "?page=-3&per_page=7", 0, 7, "1", "7", "2/", "7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := manage(t, h, mgmtRequest{method: "GET", target: list + tt.query, auth: "private", token: mgmtAll})
			got := decodeTriggerJSON[[]gitlabTrigger](t, w)
			if w.Code != 200 || len(got) != tt.count {
				t.Fatalf("%d, %d triggers, want 200 and %d: %s", w.Code, len(got), tt.count, w.Body)
			}
			for i, tr := range got {
				if tr.ID != ids[tt.first+i] {
					t.Fatalf("trigger %d is %d, want %d", i, tr.ID, ids[tt.first+i])
				}
			}
			h := w.Header()
			if np := h.Get("X-Next-Page") + "/" + h.Get("X-Prev-Page"); np != tt.nextPrev {
				t.Errorf("X-Next-Page/X-Prev-Page = %q, want %q", np, tt.nextPrev)
			}
			if h.Get("X-Total") != "45" || h.Get("X-Total-Pages") != tt.totalPages || h.Get("X-Page") != tt.page ||
				h.Get("X-Per-Page") != tt.perPage || !strings.Contains(h.Get("Link"), `rel="first"`) {
				t.Errorf("headers %v", h)
			}
		})
	}

	// A project named by its alias, with the other parameters of the query.
	w := manage(t, h, mgmtRequest{method: "GET", target: "/api/v4/projects/group%2Fproject/triggers?per_page=20&page=2&order_by=id",
		auth: "private", token: mgmtTeamA})
	const self = "http://example.com/api/v4/projects/group%2Fproject/triggers"
	want := `<` + self + `?order_by=id&page=1&per_page=20>; rel="prev", ` +
		`<` + self + `?order_by=id&page=3&per_page=20>; rel="next", ` +
		`<` + self + `?order_by=id&page=1&per_page=20>; rel="first", ` +
		`<` + self + `?order_by=id&page=3&per_page=20>; rel="last"`
	if link := w.Header().Get("Link"); w.Code != 200 || link != want {
		t.Errorf("Link = %s\n want %s", link, want)
	}

	// HEAD answers the headers alone.
	w = manage(t, h, mgmtRequest{method: "HEAD", target: list, auth: "private", token: mgmtAll})
	if w.Code != 200 || w.Header().Get("X-Total") != "45" {
		t.Errorf("HEAD: %d, X-Total %q", w.Code, w.Header().Get("X-Total"))
	}
	// A value GitLab's validation refuses is refused as GitLab does, without
	// pagination headers (the values themselves: triggerapi.CheckPage).
	w = manage(t, h, mgmtRequest{method: "GET", target: list + "?page=x&per_page=0", auth: "private", token: mgmtAll})
	if w.Code != 400 || w.Body.String() != `{"error":"page is invalid, per_page has a value not allowed"}` || w.Header().Get("X-Total") != "" {
		t.Errorf("bad pagination: %d %s with headers %v", w.Code, w.Body, w.Header())
	}
	// A refusal has no pagination headers.
	w = manage(t, h, mgmtRequest{method: "GET", target: "/api/v4/projects/10/triggers", auth: "private", token: mgmtTeamA})
	if w.Code != 404 || w.Header().Get("X-Total") != "" || w.Header().Get("Link") != "" {
		t.Errorf("refused list: %d with headers %v", w.Code, w.Header())
	}
}

// The Link header's URLs are those the client addressed: the original URL
// behind a rewrite, the scheme of a trusted proxy's X-Forwarded-Proto, not
// an untrusted one's.
func TestRequestURL(t *testing.T) {
	tests := []struct {
		name    string
		target  string
		proto   string
		trusted bool
		orig    string
		want    string
	}{
		{"plain", "http://gw.example:8080/api/v4/projects/9/triggers?page=2", "", false, "",
			"http://gw.example:8080/api/v4/projects/9/triggers?page=2"},
		{"TLS", "https://gw.example/api/v4/projects/group%2Fproject/triggers", "", false, "",
			"https://gw.example/api/v4/projects/group%2Fproject/triggers"},
		{"trusted proxy", "http://gw.example/api/v4/projects/9/triggers", "https", true, "",
			"https://gw.example/api/v4/projects/9/triggers"},
		{"trusted proxy, several hops", "http://gw.example/api/v4/projects/9/triggers", "HTTPS, http", true, "",
			"https://gw.example/api/v4/projects/9/triggers"},
		{"trusted proxy, not a scheme", "http://gw.example/api/v4/projects/9/triggers", "javascript", true, "",
			"http://gw.example/api/v4/projects/9/triggers"},
		{"untrusted proxy", "http://gw.example/api/v4/projects/9/triggers", "https", false, "",
			"http://gw.example/api/v4/projects/9/triggers"},
		{"rewritten", "http://gw.example/api/v4/projects/9/triggers?page=2", "", false, "/ci/api/v4/projects/9/triggers?page=2",
			"http://gw.example/ci/api/v4/projects/9/triggers?page=2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tt.target, nil)
			if tt.proto != "" {
				r.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			ctx := context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{caddyhttp.TrustedProxyVarKey: tt.trusted})
			if tt.orig != "" {
				orig := r.Clone(ctx)
				orig.URL, _ = url.Parse(tt.orig)
				ctx = context.WithValue(ctx, caddyhttp.OriginalRequestCtxKey, *orig)
			}
			if got := requestURL(r.WithContext(ctx)).String(); got != tt.want {
				t.Fatalf("requestURL = %s, want %s", got, tt.want)
			}
		})
	}
	if http.CanonicalHeaderKey(headerForwardedProto) != headerForwardedProto {
		t.Errorf("%q is not canonical", headerForwardedProto)
	}
}

func TestManagementUser(t *testing.T) {
	h := newManagementHandler(t, nil)
	type user struct {
		ID        *int64  `json:"id"`
		Username  string  `json:"username"`
		Name      string  `json:"name"`
		State     string  `json:"state"`
		Locked    *bool   `json:"locked"`
		Bot       bool    `json:"bot"`
		AvatarURL *string `json:"avatar_url"`
	}
	seen := map[int64]string{}
	for _, tc := range []struct{ name, token, auth string }{{"terraform", mgmtAll, "private"}, {"team-a", mgmtTeamA, "bearer"}} {
		for _, method := range []string{"GET", "HEAD"} {
			w := manage(t, h, mgmtRequest{method: method, target: "/api/v4/user", auth: tc.auth, token: tc.token})
			if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("%s /user as %s: %d %s", method, tc.name, w.Code, w.Body)
			}
		}
		w := manage(t, h, mgmtRequest{method: "GET", target: "/api/v4/user", auth: tc.auth, token: tc.token})
		u := decodeTriggerJSON[user](t, w)
		if u.ID == nil || *u.ID < 1 || *u.ID > 1<<31-1 || u.Username != tc.name || u.Name != tc.name || u.State != "active" ||
			u.Locked == nil || *u.Locked || !u.Bot || strings.Contains(w.Body.String(), tc.token) {
			t.Fatalf("/user as %s: %s", tc.name, w.Body)
		}
		if *u.ID != triggerapi.UserID(tc.name) {
			t.Errorf("/user as %s: id %d, want %d", tc.name, *u.ID, triggerapi.UserID(tc.name))
		}
		if other, dup := seen[*u.ID]; dup {
			t.Errorf("%s and %s have the same id %d", other, tc.name, *u.ID)
		}
		seen[*u.ID] = tc.name
	}
	// The ID is the name's: another handler (a reload, another instance)
	// with the tokens in another order gives the same.
	other := newManagementHandler(t, func(h *Handler) {
		h.ManagementTokens[0], h.ManagementTokens[1] = h.ManagementTokens[1], h.ManagementTokens[0]
	})
	w := manage(t, other, mgmtRequest{method: "GET", target: "/api/v4/user", auth: "private", token: mgmtAll})
	if u := decodeTriggerJSON[user](t, w); u.ID == nil || seen[*u.ID] != "terraform" {
		t.Errorf("after reordering, terraform's /user is %s", w.Body)
	}

	for _, tc := range []struct {
		name   string
		req    mgmtRequest
		status int
		body   string
	}{
		{"no token", mgmtRequest{method: "GET", target: "/api/v4/user"}, 401, `{"message":"401 Unauthorized"}`},
		{"wrong token", mgmtRequest{method: "GET", target: "/api/v4/user", auth: "private", token: mgmtWrong}, 401, `{"message":"401 Unauthorized"}`},
		{"POST", mgmtRequest{method: "POST", target: "/api/v4/user", auth: "private", token: mgmtAll}, 405, `{"message":"405 Method Not Allowed"}`},
	} {
		w := manage(t, h, tc.req)
		if w.Code != tc.status || w.Body.String() != tc.body {
			t.Errorf("%s: %d %s, want %d %s", tc.name, w.Code, w.Body, tc.status, tc.body)
		}
		if tc.status == 405 && w.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: Allow %q", tc.name, w.Header().Get("Allow"))
		}
	}
}

// Two names whose IDs coincide cannot be told apart by GET /user: the
// config is refused. Such names are found by search.
func TestManagementUserIDsDiffer(t *testing.T) {
	names := map[int64]string{}
	var a, b string
	for i := 0; a == ""; i++ {
		name := "n" + strconv.Itoa(i)
		id := triggerapi.UserID(name)
		if prev, ok := names[id]; ok {
			a, b = prev, name
		}
		names[id] = name
		if i > 1<<18 { // the first comes near 2^16 (the hash is fixed, so always the same pair)
			t.Fatal("no two names with the same ID among 2^18")
		}
	}
	h := &Handler{ManagementTokens: []*ManagementToken{
		{Name: a, Token: "token-a-0123456789abcdef"},
		{Name: b, Token: "token-b-0123456789abcdef"},
	}}
	err := h.provisionManagement(caddy.NewReplacer())
	if err == nil || !strings.Contains(err.Error(), "same user ID") || strings.Contains(err.Error(), "token-") {
		t.Fatalf("%s and %s: %v", a, b, err)
	}
}

func TestManagementProject(t *testing.T) {
	h := newManagementHandler(t, func(h *Handler) {
		h.Projects["14"] = &Project{Aliases: []string{"short", "group/sub/tools"}}
		h.Projects["group/pathonly"] = &Project{}
	})
	type project struct {
		ID                any     `json:"id"`
		Name              *string `json:"name"`
		Path              *string `json:"path"`
		PathWithNamespace *string `json:"path_with_namespace"`
	}
	str := func(s string) *string { return &s }
	tests := []struct {
		name, target, token string
		want                project
	}{
		{"by ID, with its path", "/api/v4/projects/9", mgmtAll,
			project{float64(9), str("project"), str("project"), str("group/project")}},
		{"by path", "/api/v4/projects/group%2Fproject", mgmtAll,
			project{float64(9), str("project"), str("project"), str("group/project")}},
		{"by path, limited token", "/api/v4/projects/group%2Fproject", mgmtTeamA,
			project{float64(9), str("project"), str("project"), str("group/project")}},
		{"no path known", "/api/v4/projects/12", mgmtTeamA, project{float64(12), nil, nil, nil}},
		{"the first alias with a slash", "/api/v4/projects/short", mgmtAll,
			project{float64(14), str("tools"), str("tools"), str("group/sub/tools")}},
		{"known by its path only: the path is its id", "/api/v4/projects/group%2Fpathonly", mgmtAll,
			project{"group/pathonly", str("pathonly"), str("pathonly"), str("group/pathonly")}},
		{"any project for an unlimited token", "/api/v4/projects/77", mgmtAll, project{float64(77), nil, nil, nil}},
		{"leading zeros: the ID, as GitLab reads it", "/api/v4/projects/077", mgmtAll, project{float64(77), nil, nil, nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := manage(t, h, mgmtRequest{method: "GET", target: tt.target, auth: "private", token: tt.token})
			if w.Code != 200 {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			var got project
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			gotJSON, _ := json.Marshal(got)
			wantJSON, _ := json.Marshal(tt.want)
			if string(gotJSON) != string(wantJSON) {
				t.Fatalf("got %s, want %s", gotJSON, wantJSON)
			}
		})
	}
	for _, target := range []string{"/api/v4/projects/10", "/api/v4/projects/group%2Fother", "/api/v4/projects/14"} {
		w := manage(t, h, mgmtRequest{method: "GET", target: target, auth: "bearer", token: mgmtTeamA})
		if w.Code != 404 || w.Body.String() != `{"message":"404 Project Not Found"}` {
			t.Errorf("team-a GET %s: %d %s", target, w.Code, w.Body)
		}
	}
	w := manage(t, h, mgmtRequest{method: "GET", target: "/api/v4/projects/9"})
	if w.Code != 401 {
		t.Errorf("no token: %d %s", w.Code, w.Body)
	}
	w = manage(t, h, mgmtRequest{method: "DELETE", target: "/api/v4/projects/9", auth: "private", token: mgmtAll})
	if w.Code != 405 || w.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("DELETE: %d %s, Allow %q", w.Code, w.Body, w.Header().Get("Allow"))
	}
}

// Other paths under path_prefix: GitLab's 404 for an unknown route, saying
// what the gateway serves, with or without a credential; nothing logged as
// a management decision.
func TestManagementUnservedPath(t *testing.T) {
	h := newManagementHandler(t, func(h *Handler) { h.PathPrefix = "/gitlab/api/v4" })
	for _, m := range []mgmtRequest{
		{method: "GET", target: "/gitlab/api/v4/projects/9/pipelines", auth: "private", token: mgmtAll},
		{method: "GET", target: "/gitlab/api/v4/projects"},
		{method: "POST", target: "/gitlab/api/v4/projects/9/triggers/1/take_ownership", auth: "private", token: mgmtWrong},
		{method: "GET", target: "/gitlab/api/v4/projects/9/triggers/"},
		{method: "GET", target: "/gitlab/api/v4/version"},
		{method: "GET", target: "/gitlab/api/v4"},
	} {
		w := manage(t, h, m)
		var body struct{ Error string }
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != 404 ||
			w.Header().Get("Content-Type") != "application/json" ||
			!strings.HasPrefix(body.Error, "404 Not Found: this is a GitLab trigger gateway; under /gitlab/api/v4 it serves only ") ||
			!strings.Contains(body.Error, "/projects/:id/triggers") || !strings.Contains(body.Error, "GET /user") {
			t.Errorf("%s %s: %d %s", m.method, m.target, w.Code, w.Body)
		}
	}
	r := mgmtRequest{method: "GET", target: "/api/v4/projects/9/pipelines", auth: "private", token: mgmtAll}.build()
	if _, _, err := serve(h, r, new(recorder)); !errors.Is(err, errNotTriggerAPI) {
		t.Errorf("outside path_prefix: %v, want the handler's 404", err)
	}
}
