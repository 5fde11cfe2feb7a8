package triggerapi_test

import (
	"bytes"
	"mime/multipart"
	"testing"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

func TestParseManagementRoute(t *testing.T) {
	tests := []struct {
		name   string
		prefix string
		path   string
		want   triggerapi.ManagementRoute
		ok     bool
	}{
		{"list", "/api/v4", "/api/v4/projects/9/triggers", triggerapi.ManagementRoute{Project: "9"}, true},
		{"item", "/api/v4", "/api/v4/projects/9/triggers/12", triggerapi.ManagementRoute{Project: "9", TriggerID: "12", Item: true}, true},
		{"encoded project", "/api/v4", "/api/v4/projects/group%2Fsub%2Fproject/triggers",
			triggerapi.ManagementRoute{Project: "group/sub/project"}, true},
		{"encoded unreserved", "/api/v4", "/api/v4/%70rojects/9/trigger%73",
			triggerapi.ManagementRoute{Project: "9"}, true},
		{"non-integer id is the handler's to refuse", "/api/v4", "/api/v4/projects/9/triggers/abc",
			triggerapi.ManagementRoute{Project: "9", TriggerID: "abc", Item: true}, true},
		{"prefix with trailing slash", "/api/v4/", "/api/v4/projects/9/triggers", triggerapi.ManagementRoute{Project: "9"}, true},
		{"custom prefix", "/gitlab/api/v4", "/gitlab/api/v4/projects/9/triggers/1",
			triggerapi.ManagementRoute{Project: "9", TriggerID: "1", Item: true}, true},

		{"other prefix", "/api/v4", "/api/v3/projects/9/triggers", triggerapi.ManagementRoute{}, false},
		{"trailing slash", "/api/v4", "/api/v4/projects/9/triggers/", triggerapi.ManagementRoute{}, false},
		{"take_ownership", "/api/v4", "/api/v4/projects/9/triggers/3/take_ownership", triggerapi.ManagementRoute{}, false},
		{"plain slash in project", "/api/v4", "/api/v4/projects/group/project/triggers", triggerapi.ManagementRoute{}, false},
		{"empty project", "/api/v4", "/api/v4/projects//triggers", triggerapi.ManagementRoute{}, false},
		{"trigger pipeline", "/api/v4", "/api/v4/projects/9/trigger/pipeline", triggerapi.ManagementRoute{}, false},
		{"singular", "/api/v4", "/api/v4/projects/9/trigger", triggerapi.ManagementRoute{}, false},
		{"bad escape", "/api/v4", "/api/v4/projects/9/triggers/%zz", triggerapi.ManagementRoute{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := triggerapi.ParseManagementRoute(tt.prefix, tt.path)
			if ok != tt.ok || got != tt.want {
				t.Errorf("ParseManagementRoute(%q, %q) = %+v, %v; want %+v, %v", tt.prefix, tt.path, got, ok, tt.want, tt.ok)
			}
			// The trigger routes and the management routes never overlap.
			if _, isTrigger := triggerapi.ParseRoute(tt.prefix, tt.path); isTrigger && ok {
				t.Errorf("%q is both a trigger route and a management route", tt.path)
			}
		})
	}
	if got := (triggerapi.ManagementRoute{}).Allow(); got != "GET, HEAD, POST" {
		t.Errorf("collection Allow = %q", got)
	}
	if got := (triggerapi.ManagementRoute{Item: true}).Allow(); got != "GET, HEAD, PUT, DELETE" {
		t.Errorf("item Allow = %q", got)
	}
	if got := triggerapi.KindManagement.String(); got != "management" {
		t.Errorf("KindManagement.String() = %q", got)
	}
	if k, ok := triggerapi.ParseKind("management"); !ok || k != triggerapi.KindManagement {
		t.Errorf("ParseKind(management) = %v, %v", k, ok)
	}
}

func TestParseTriggerID(t *testing.T) {
	for _, s := range []string{"1", "42", "9223372036854775807"} {
		if _, err := triggerapi.ParseTriggerID(s); err != nil {
			t.Errorf("ParseTriggerID(%q): %v", s, err)
		}
	}
	for _, s := range []string{"", "0", "-1", "abc", "1.5", "9223372036854775808", " 1", "glptt-0123"} {
		if _, err := triggerapi.ParseTriggerID(s); err != triggerapi.ErrTriggerIDInvalid {
			t.Errorf("ParseTriggerID(%q) = %v, want ErrTriggerIDInvalid", s, err)
		}
	}
	if got := string(triggerapi.ErrTriggerIDInvalid.Body); got != `{"error":"trigger_id is invalid"}` {
		t.Errorf("body = %s", got)
	}
}

func TestParseManagementParams(t *testing.T) {
	multipartBody := func(fields map[string]string, file string) (string, []byte) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for k, v := range fields {
			_ = mw.WriteField(k, v)
		}
		if file != "" {
			fw, _ := mw.CreateFormFile(file, "x.txt")
			_, _ = fw.Write([]byte("content"))
		}
		_ = mw.Close()
		return mw.FormDataContentType(), buf.Bytes()
	}
	mpType, mpBody := multipartBody(map[string]string{"description": "from multipart", "expires_at": "2030-01-02"}, "")
	mpFileType, mpFileBody := multipartBody(nil, "description")

	tests := []struct {
		name        string
		contentType string
		query       string
		body        string
		rawBody     []byte
		want        triggerapi.ManagementParams
		wantErr     *triggerapi.Error
	}{
		{name: "nothing", want: triggerapi.ManagementParams{}},
		{name: "query", query: "description=from+query",
			want: triggerapi.ManagementParams{Description: "from query", HasDescription: true}},
		{name: "form", contentType: "application/x-www-form-urlencoded", body: "description=my%20trigger&expires_at=2030-01-02T00:00:00Z",
			want: triggerapi.ManagementParams{Description: "my trigger", HasDescription: true, ExpiresAt: "2030-01-02T00:00:00Z", HasExpiresAt: true}},
		{name: "form without content type", body: "description=d",
			want: triggerapi.ManagementParams{Description: "d", HasDescription: true}},
		{name: "body wins over query", contentType: "application/x-www-form-urlencoded", query: "description=q", body: "description=b",
			want: triggerapi.ManagementParams{Description: "b", HasDescription: true}},
		{name: "json", contentType: "application/json", body: `{"description":"from json","other":1}`,
			want: triggerapi.ManagementParams{Description: "from json", HasDescription: true}},
		{name: "json null is absent", contentType: "application/json", body: `{"description":null}`,
			want: triggerapi.ManagementParams{}},
		{name: "json with charset", contentType: "application/json; charset=utf-8", body: `{"description":"d","expires_at":"2030-01-02"}`,
			want: triggerapi.ManagementParams{Description: "d", HasDescription: true, ExpiresAt: "2030-01-02", HasExpiresAt: true}},
		{name: "multipart", contentType: mpType, rawBody: mpBody,
			want: triggerapi.ManagementParams{Description: "from multipart", HasDescription: true, ExpiresAt: "2030-01-02", HasExpiresAt: true}},

		{name: "blank description", contentType: "application/x-www-form-urlencoded", body: "description=+", wantErr: triggerapi.ErrDescriptionEmpty},
		{name: "empty description in query", query: "description=", wantErr: triggerapi.ErrDescriptionEmpty},
		{name: "json description not a string", contentType: "application/json", body: `{"description":["a"]}`, wantErr: triggerapi.ErrDescriptionInvalid},
		{name: "json expires_at not a string", contentType: "application/json", body: `{"description":"d","expires_at":1}`, wantErr: triggerapi.ErrExpiresAtInvalid},
		{name: "json not an object", contentType: "application/json", body: `["description"]`, wantErr: triggerapi.ErrBadBody},
		{name: "malformed json", contentType: "application/json", body: `{"description":`, wantErr: triggerapi.ErrBadBody},
		{name: "multipart file", contentType: mpFileType, rawBody: mpFileBody, wantErr: triggerapi.ErrDescriptionInvalid},
		{name: "multipart without boundary", contentType: "multipart/form-data", body: "x", wantErr: triggerapi.ErrBadBody},
		{name: "unsupported media type", contentType: "text/plain", body: "description", wantErr: triggerapi.ErrMediaType},
		{name: "malformed content type", contentType: "application/json;;", body: "{}", wantErr: triggerapi.ErrMediaType},
		{name: "bad query escape", query: "description=%zz", wantErr: triggerapi.ErrBadBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.rawBody
			if body == nil {
				body = []byte(tt.body)
			}
			got, err := triggerapi.ParseManagementParams(tt.contentType, tt.query, body)
			if err != tt.wantErr {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && got != tt.want {
				t.Errorf("params = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestManagementErrorShapes(t *testing.T) {
	tests := []struct {
		err    *triggerapi.Error
		status int
		body   string
	}{
		{triggerapi.ErrUnauthorized, 401, `{"message":"401 Unauthorized"}`},
		{triggerapi.ErrProjectNotFound, 404, `{"message":"404 Project Not Found"}`},
		{triggerapi.ErrTriggerNotFound, 404, `{"message":"404 Not found"}`},
		{triggerapi.ErrDescriptionMissing, 400, `{"error":"description is missing"}`},
		{triggerapi.ErrDescriptionEmpty, 400, `{"error":"description is empty"}`},
		{triggerapi.ErrInternal, 500, `{"message":"500 Internal Server Error"}`},
	}
	for _, tt := range tests {
		if tt.err.Status != tt.status || string(tt.err.Body) != tt.body {
			t.Errorf("%s: %d %s, want %d %s", tt.err.Reason, tt.err.Status, tt.err.Body, tt.status, tt.body)
		}
	}
}

func TestParseGitLabPath(t *testing.T) {
	user := triggerapi.GitLabPath{Resource: triggerapi.ResourceUser}
	unserved := triggerapi.GitLabPath{Resource: triggerapi.ResourceUnserved}
	project := func(p string) triggerapi.GitLabPath {
		return triggerapi.GitLabPath{Resource: triggerapi.ResourceProject, Project: p}
	}
	tests := []struct {
		name   string
		prefix string
		path   string
		want   triggerapi.GitLabPath
		ok     bool
	}{
		{"user", "/api/v4", "/api/v4/user", user, true},
		{"user, prefix with trailing slash", "/api/v4/", "/api/v4/user", user, true},
		{"user, encoded unreserved", "/api/v4", "/api/v4/%75ser", user, true},
		{"project by ID", "/api/v4", "/api/v4/projects/9", project("9"), true},
		{"project by path", "/api/v4", "/api/v4/projects/group%2Fsub%2Fproject", project("group/sub/project"), true},
		{"custom prefix", "/gitlab/api/v4", "/gitlab/api/v4/projects/9", project("9"), true},

		{"users", "/api/v4", "/api/v4/users", unserved, true},
		{"user's keys", "/api/v4", "/api/v4/user/keys", unserved, true},
		{"user, trailing slash", "/api/v4", "/api/v4/user/", unserved, true},
		{"projects", "/api/v4", "/api/v4/projects", unserved, true},
		{"empty project", "/api/v4", "/api/v4/projects/", unserved, true},
		{"project, trailing slash", "/api/v4", "/api/v4/projects/9/", unserved, true},
		{"plain slash in project", "/api/v4", "/api/v4/projects/group/project", unserved, true},
		{"pipelines", "/api/v4", "/api/v4/projects/9/pipelines", unserved, true},
		{"bad escape", "/api/v4", "/api/v4/projects/%zz", unserved, true},
		{"the prefix itself", "/api/v4", "/api/v4", unserved, true},
		{"the prefix and a slash", "/api/v4", "/api/v4/", unserved, true},

		{"not under the prefix", "/api/v4", "/health", triggerapi.GitLabPath{}, false},
		{"a longer segment is not the prefix", "/api/v4", "/api/v45/user", triggerapi.GitLabPath{}, false},
		{"other version", "/api/v4", "/api/v3/user", triggerapi.GitLabPath{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := triggerapi.ParseGitLabPath(tt.prefix, tt.path)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("ParseGitLabPath(%q, %q) = %+v, %v, want %+v, %v", tt.prefix, tt.path, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestUnknownRouteError(t *testing.T) {
	e := triggerapi.UnknownRouteError("unserved_path", "404 Not Found")
	if e.Status != 404 || string(e.Body) != `{"error":"404 Not Found"}` || e.Reason != "unserved_path" {
		t.Fatalf("UnknownRouteError = %d %s (%s)", e.Status, e.Body, e.Reason)
	}
}
