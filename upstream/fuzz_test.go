package upstream

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// A CI's answer is input too: each answer parser is fuzzed for panics, for
// a web_url that is anything but an http(s) URL without user info, and for
// an id taken from anywhere but the member the CI documents.

// checkWebURL fails unless u is "" or a web_url the gateway may pass on.
func checkWebURL(t *testing.T, u string) {
	t.Helper()
	if u == "" {
		return
	}
	parsed, err := url.Parse(u)
	if !triggerapi.IsPipelineWebURL(u) || err != nil || parsed.User != nil ||
		(!strings.EqualFold(parsed.Scheme, "http") && !strings.EqualFold(parsed.Scheme, "https")) {
		t.Fatalf("web_url %q", u)
	}
}

// checkIDFrom fails unless id is nil or the member named of the answer's
// JSON object, written as the plain integer it is.
func checkIDFrom(t *testing.T, body []byte, id *int64, member string) {
	t.Helper()
	if id == nil {
		return
	}
	var object map[string]json.RawMessage
	if json.Unmarshal(body, &object) != nil || string(object[member]) != strconv.FormatInt(*id, 10) || *id < 1 {
		t.Fatalf("id %d is not the answer's %s: %s", *id, member, body)
	}
}

func fuzzStatuses(f *testing.F, seeds ...string) {
	for _, status := range []int{200, 201, 204, 302, 400, 401, 404, 422, 500} {
		for _, seed := range seeds {
			f.Add(status, []byte(seed))
		}
	}
}

func FuzzJenkinsRead(f *testing.F) {
	for _, seed := range []string{
		"https://jenkins.example.com/queue/item/3901/", "/queue/item/7/", "https://a:b@j/queue/item/1/",
		"https://j/queue/item/01/", "https://j/queue/item/1/?x", "javascript:x//queue/item/1", "",
	} {
		f.Add(201, seed)
		f.Add(302, seed)
	}
	m := &Jenkins{}
	f.Fuzz(func(t *testing.T, status int, location string) {
		got, err := m.Read(&Answer{Status: status, Header: http.Header{"Location": {location}}})
		if err != nil {
			if _, ok := err.(*RefusedError); !ok || success(status) {
				t.Fatalf("status %d: %v", status, err)
			}
			return
		}
		checkWebURL(t, got.WebURL)
		if got.WebURL != "" && got.WebURL != location {
			t.Fatalf("web_url %q is not the Location %q", got.WebURL, location)
		}
		if got.ID != nil {
			u, _ := url.Parse(location)
			if !strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), "/queue/item/"+strconv.FormatInt(*got.ID, 10)) {
				t.Fatalf("id %d is not the queue item of %q", *got.ID, location)
			}
		}
	})
}

func FuzzGitHubRead(f *testing.F) {
	fuzzStatuses(f, `{"workflow_run_id":22,"run_url":"https://api.github.com/r","html_url":"https://github.com/a/b/actions/runs/22"}`,
		``, `{"workflow_run_id":"22"}`, `{"workflow_run_id":1e3,"html_url":"https://u:p@x/"}`, `[1]`)
	m := &GitHubActions{}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		got, err := m.Read(&Answer{Status: status, Body: body})
		if err != nil {
			return
		}
		checkWebURL(t, got.WebURL)
		checkIDFrom(t, body, got.ID, "workflow_run_id")
	})
}

func FuzzBuildkiteRead(f *testing.F) {
	fuzzStatuses(f, `{"id":"f8d2a3c4","number":42,"web_url":"https://buildkite.com/a/p/builds/42"}`, `{"number":-1}`, `null`)
	m := &Buildkite{}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		got, err := m.Read(&Answer{Status: status, Body: body})
		if err != nil {
			return
		}
		checkWebURL(t, got.WebURL)
		checkIDFrom(t, body, got.ID, "number")
	})
}

func FuzzWoodpeckerRead(f *testing.F) {
	fuzzStatuses(f, `{"id":1234,"number":56}`, `{"number":"56"}`, `{`)
	m := &Woodpecker{RepositoryID: 7, webURL: "https://ci.example.com"}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		got, err := m.Read(&Answer{Status: status, Body: body})
		if err != nil {
			return
		}
		checkWebURL(t, got.WebURL)
		checkIDFrom(t, body, got.ID, "number")
		if got.ID != nil && got.WebURL != "https://ci.example.com/repos/7/pipeline/"+strconv.FormatInt(*got.ID, 10) {
			t.Fatalf("web_url %q for pipeline %d", got.WebURL, *got.ID)
		}
	})
}

func FuzzBuildbotRead(f *testing.F) {
	fuzzStatuses(f, `{"id":1,"jsonrpc":"2.0","result":[7,{"1":12}]}`, `{"result":[7,{"10":30,"2":31}]}`,
		`{"error":{"code":-32602,"message":"x"}}`, `{"result":["7"]}`, `{"result":[7,{"-1":1}]}`)
	m := &Buildbot{webURL: "https://buildbot.example.com"}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		got, err := m.Read(&Answer{Status: status, Body: body})
		if err != nil {
			return
		}
		checkWebURL(t, got.WebURL)
		if got.ID == nil {
			if got.WebURL != "" {
				t.Fatalf("a page %q without a buildset", got.WebURL)
			}
			return
		}
		var reply struct{ Result []json.RawMessage }
		var object map[string]json.RawMessage
		if json.Unmarshal(body, &object) != nil || json.Unmarshal(object["result"], &reply.Result) != nil ||
			len(reply.Result) == 0 || string(reply.Result[0]) != strconv.FormatInt(*got.ID, 10) {
			t.Fatalf("id %d is not the answer's buildset: %s", *got.ID, body)
		}
		if got.WebURL != "" && !strings.HasPrefix(got.WebURL, "https://buildbot.example.com/#/buildrequests/") {
			t.Fatalf("web_url %q", got.WebURL)
		}
	})
}
