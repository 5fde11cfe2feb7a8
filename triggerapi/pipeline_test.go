package triggerapi_test

import (
	"strings"
	"testing"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// gitlabPipelineAnswer is GitLab's answer to POST /projects/:id/trigger/pipeline
// (Entities::Ci::Pipeline), as GitLab 17 writes it.
const gitlabPipelineAnswer = `{"id":4242,"iid":17,"project_id":9,"sha":"a91957a858320c0e17f3a0eca7cfacbff50ea29a",` +
	`"ref":"main","status":"created","source":"trigger","created_at":"2026-12-05T09:40:12.345Z",` +
	`"updated_at":"2026-12-05T09:40:12.345Z","web_url":"https://gitlab.example.com/group/project/-/pipelines/4242",` +
	`"before_sha":"0000000000000000000000000000000000000000","tag":false,"yaml_errors":null,` +
	`"user":{"id":1,"username":"root","name":"Administrator","state":"active","locked":false,` +
	`"avatar_url":"https://gitlab.example.com/uploads/-/system/user/avatar/1/avatar.png",` +
	`"web_url":"https://gitlab.example.com/root"},"started_at":null,"finished_at":null,"committed_at":null,` +
	`"duration":null,"queued_duration":null,"coverage":null,` +
	`"detailed_status":{"icon":"status_created","text":"Created","label":"created","group":"created",` +
	`"tooltip":"created","has_details":true,"details_path":"/group/project/-/pipelines/4242",` +
	`"illustration":null,"favicon":"/assets/ci_favicons/favicon_status_created.png"},"archived":false,"name":null}`

func TestParsePipeline(t *testing.T) {
	const url = "https://ci.example.com/p/-/pipelines/7"
	cases := []struct {
		name   string
		answer string
		want   triggerapi.Pipeline
		ok     bool
	}{
		{"GitLab's answer", gitlabPipelineAnswer,
			triggerapi.Pipeline{ID: 4242, WebURL: "https://gitlab.example.com/group/project/-/pipelines/4242"}, true},
		{"id only", `{"id":7}`, triggerapi.Pipeline{ID: 7}, true},
		{"spaces", " {\n \"id\" : 7 ,\t\"web_url\" : \"" + url + "\" }\n", triggerapi.Pipeline{ID: 7, WebURL: url}, true},
		{"id missing", `{"iid":7,"web_url":"` + url + `"}`, triggerapi.Pipeline{}, false},
		{"id a string", `{"id":"7","web_url":"` + url + `"}`, triggerapi.Pipeline{}, false},
		{"id null", `{"id":null}`, triggerapi.Pipeline{}, false},
		{"id zero", `{"id":0}`, triggerapi.Pipeline{}, false},
		{"id negative", `{"id":-7}`, triggerapi.Pipeline{}, false},
		{"id a fraction", `{"id":7.0}`, triggerapi.Pipeline{}, false},
		{"id an exponent", `{"id":7e2}`, triggerapi.Pipeline{}, false},
		{"id the largest int64", `{"id":9223372036854775807}`, triggerapi.Pipeline{ID: 1<<63 - 1}, true},
		{"id one past int64", `{"id":9223372036854775808}`, triggerapi.Pipeline{}, false},
		{"id huge", `{"id":` + strings.Repeat("9", 400) + `}`, triggerapi.Pipeline{}, false},
		{"id only nested", `{"pipeline":{"id":7,"web_url":"` + url + `"}}`, triggerapi.Pipeline{}, false},
		{"nested id ignored", `{"user":{"id":1,"web_url":"https://x.example/u"},"id":7}`, triggerapi.Pipeline{ID: 7}, true},
		{"last of repeated names", `{"id":1,"web_url":"https://a.example/1","id":2,"web_url":"https://a.example/2"}`,
			triggerapi.Pipeline{ID: 2, WebURL: "https://a.example/2"}, true},
		{"escaped name and URL", `{"\u0069d":7,"web_url":"https:\/\/ci.example.com\/p\/-\/pipelines\/7"}`,
			triggerapi.Pipeline{ID: 7, WebURL: url}, true},
		{"ID is not id", `{"ID":7}`, triggerapi.Pipeline{}, false},
		{"truncated", gitlabPipelineAnswer[:len(gitlabPipelineAnswer)/2], triggerapi.Pipeline{}, false},
		{"truncated after the id", `{"id":4242,"web_url":"https://gitlab.exa`, triggerapi.Pipeline{}, false},
		{"trailing garbage", `{"id":7} x`, triggerapi.Pipeline{}, false},
		{"an array", `[{"id":7}]`, triggerapi.Pipeline{}, false},
		{"empty", ``, triggerapi.Pipeline{}, false},
		{"not JSON", `<html>201 Created</html>`, triggerapi.Pipeline{}, false},
		{"too long", `{"id":7,"pad":"` + strings.Repeat("a", triggerapi.MaxPipelineAnswer) + `"}`, triggerapi.Pipeline{}, false},
		{"web_url javascript:", `{"id":7,"web_url":"javascript:alert(1)"}`, triggerapi.Pipeline{ID: 7}, true},
		{"web_url JaVaScRiPt: escaped", `{"id":7,"web_url":"\u006aavascript:alert(1)//https://x"}`, triggerapi.Pipeline{ID: 7}, true},
		{"web_url data:", `{"id":7,"web_url":"data:text/html,<b>x</b>"}`, triggerapi.Pipeline{ID: 7}, true},
		{"web_url relative", `{"id":7,"web_url":"/p/-/pipelines/7"}`, triggerapi.Pipeline{ID: 7}, true},
		{"web_url without host", `{"id":7,"web_url":"https:///p"}`, triggerapi.Pipeline{ID: 7}, true},
		{"web_url user info only", `{"id":7,"web_url":"https://user@/p"}`, triggerapi.Pipeline{ID: 7}, true},
		{"web_url with credentials", `{"id":7,"web_url":"https://bot:apitoken@jenkins.example.com/queue/item/7/"}`, triggerapi.Pipeline{ID: 7}, true},
		{"web_url with a user", `{"id":7,"web_url":"http://bot@ci.example.com/7"}`, triggerapi.Pipeline{ID: 7}, true},
		{"web_url HTTP upper case", `{"id":7,"web_url":"HTTP://ci.example.com/7"}`, triggerapi.Pipeline{ID: 7, WebURL: "HTTP://ci.example.com/7"}, true},
		{"web_url http with port", `{"id":7,"web_url":"http://ci:8080/p?x=1#y"}`, triggerapi.Pipeline{ID: 7, WebURL: "http://ci:8080/p?x=1#y"}, true},
		{"web_url with a space", `{"id":7,"web_url":"https://ci.example.com/a b"}`, triggerapi.Pipeline{ID: 7}, true},
		{"web_url with a newline", `{"id":7,"web_url":"https://ci.example.com/a\nb"}`, triggerapi.Pipeline{ID: 7}, true},
		{"web_url with a quote", `{"id":7,"web_url":"https://ci.example.com/\"><script>"}`, triggerapi.Pipeline{ID: 7}, true},
		{"web_url not ASCII", `{"id":7,"web_url":"https://ci.example.com/é"}`, triggerapi.Pipeline{ID: 7}, true},
		{"web_url a number", `{"id":7,"web_url":7}`, triggerapi.Pipeline{ID: 7}, true},
		{"web_url too long", `{"id":7,"web_url":"https://ci.example.com/` + strings.Repeat("a", triggerapi.MaxPipelineWebURL) + `"}`,
			triggerapi.Pipeline{ID: 7}, true},
		{"web_url longest", `{"id":7,"web_url":"https://c/` + strings.Repeat("a", triggerapi.MaxPipelineWebURL-len("https://c/")) + `"}`,
			triggerapi.Pipeline{ID: 7, WebURL: "https://c/" + strings.Repeat("a", triggerapi.MaxPipelineWebURL-len("https://c/"))}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := triggerapi.ParsePipeline([]byte(tc.answer))
			if got != tc.want || ok != tc.ok {
				t.Errorf("ParsePipeline(%.80q) = %+v, %v; want %+v, %v", tc.answer, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestParsePipelineAllocations(t *testing.T) {
	answer := []byte(gitlabPipelineAnswer)
	allocs := testing.AllocsPerRun(100, func() { _, _ = triggerapi.ParsePipeline(answer) })
	if allocs > 1 { // web_url's string
		t.Errorf("ParsePipeline of GitLab's answer: %v allocations, want at most 1", allocs)
	}
}

func TestIsJSONContentType(t *testing.T) {
	for _, tc := range []struct {
		contentType string
		want        bool
	}{
		{"application/json", true},
		{"application/json; charset=utf-8", true},
		{" Application/JSON ;charset=utf-8", true},
		{"application/vnd.api+json", true},
		{"", false},
		{"+json", false},
		{"text/html", false},
		{"text/plain; note=application/json", false},
		{"application/jsonp", false},
	} {
		if got := triggerapi.IsJSONContentType(tc.contentType); got != tc.want {
			t.Errorf("IsJSONContentType(%q) = %v, want %v", tc.contentType, got, tc.want)
		}
	}
}
