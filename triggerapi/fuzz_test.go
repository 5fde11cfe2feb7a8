package triggerapi_test

import (
	"encoding/json"
	"net/url"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

func FuzzParseRoute(f *testing.F) {
	for _, seed := range []struct{ prefix, path string }{
		{"/api/v4", "/api/v4/projects/9/trigger/pipeline"},
		{"/api/v4", "/api/v4/projects/group%2Fproject/ref/feature%2Fx/trigger/pipeline"},
		{"/api/v4", "/api/v4/projects/9/ref/a/b/trigger/pipeline"},
		{"/api/v4", "/api/v4/projects/9/jobs/artifacts/main/download"},
		{"/api/v4", "/api/v4/projects/9/ref/trigger/pipeline"},
		{"/api/v4", "/api/v4/projects/9/jobs/artifacts/download"},
		{"/gitlab/", "/gitlab/projects/a%2Fb%2Fc/trigger/pipeline"},
		{"", "/projects/%zz/trigger/pipeline"},
	} {
		f.Add(seed.prefix, seed.path)
	}
	f.Fuzz(func(t *testing.T, prefix, path string) {
		route, ok := triggerapi.ParseRoute(prefix, path)
		if !ok {
			if route != (triggerapi.Route{}) {
				t.Fatalf("ParseRoute(%q, %q) = %+v with false", prefix, path, route)
			}
			return
		}
		if route.Project == "" {
			t.Fatalf("ParseRoute(%q, %q): empty project", prefix, path)
		}
		switch route.Kind {
		case triggerapi.KindPipeline:
			if route.Ref != "" {
				t.Fatalf("ParseRoute(%q, %q): pipeline route with ref %q", prefix, path, route.Ref)
			}
		case triggerapi.KindWebhook, triggerapi.KindArtifacts:
			if route.Ref == "" {
				t.Fatalf("ParseRoute(%q, %q): %s route without ref", prefix, path, route.Kind)
			}
		default:
			t.Fatalf("ParseRoute(%q, %q): kind %d", prefix, path, route.Kind)
		}

		// The canonical request the upstream receives names the same project.
		canonPath, canonRaw := triggerapi.PipelinePath(triggerapi.DefaultPathPrefix, route.Project)
		u := url.URL{Path: canonPath, RawPath: canonRaw}
		back, ok := triggerapi.ParseRoute(triggerapi.DefaultPathPrefix, u.EscapedPath())
		if !ok || back.Kind != triggerapi.KindPipeline || back.Project != route.Project {
			t.Fatalf("project %q: canonical path %q parses as %+v, %v", route.Project, u.EscapedPath(), back, ok)
		}
	})
}

// fuzzBoundary is the boundary FuzzParse's multipart bodies use.
const fuzzBoundary = "fuzzboundary"

// fuzzContentTypes are the four ways a caller sends parameters: query
// string only (no body), form, multipart form, JSON.
var fuzzContentTypes = []string{"", ctForm, "multipart/form-data; boundary=" + fuzzBoundary, ctJSON}

func FuzzParse(f *testing.F) {
	mp := "--" + fuzzBoundary + "\r\nContent-Disposition: form-data; name=\"variables[A]\"\r\n\r\n1\r\n--" + fuzzBoundary + "--\r\n"
	seeds := []struct {
		form        uint8
		ref         string
		query, body string
	}{
		{0, "", "token=T&ref=main&variables[A]=1", ""},
		{0, "", "ref=&token[]=x", ""},
		{1, "", "", "token=T&ref=feature%2Fx&variables[A]=a+b&inputs[i]=1"},
		{1, "x", "token=T", "variables[a][b]=c"},
		{2, "", "token=T&ref=main", mp},
		{3, "", "", `{"token":"T","ref":"main","variables":{"A":"1"},"inputs":{"n":1},"object_kind":"push"}`},
		{3, "main", "token=T", pushEvent},
		{3, "", "", `{"token":1,"variables":[]}`},
	}
	for _, s := range seeds {
		f.Add(s.form, s.ref, s.query, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, form uint8, urlRef, query string, body []byte) {
		contentType := fuzzContentTypes[int(form)%len(fuzzContentTypes)]
		if contentType == "" {
			body = nil
		}
		route := pipelineRoute
		if urlRef != "" {
			route = triggerapi.Route{Kind: triggerapi.KindWebhook, Project: "9", Ref: urlRef}
		}
		req, perr := triggerapi.Parse(route, contentType, query, body)
		if perr != nil {
			if req != nil {
				t.Fatalf("Parse returned a request with error %s", perr.Body)
			}
			if perr.Status != 400 && perr.Status != 415 || !json.Valid(perr.Body) {
				t.Fatalf("Parse error %d %s", perr.Status, perr.Body)
			}
			return
		}
		if urlRef != "" && req.Ref != urlRef {
			t.Fatalf("Ref = %q, want the URL's %q", req.Ref, urlRef)
		}
		canonical := triggerapi.CanonicalBody(req.Token, req.Ref, req.Variables, req.Inputs, req.Payload)
		if !json.Valid(canonical) {
			t.Fatalf("CanonicalBody is not JSON: %q", canonical)
		}
		// What the upstream receives reads back as the same request, unless
		// a string had invalid UTF-8 (JSON carries it as U+FFFD).
		if !allValidUTF8(req) {
			return
		}
		back, perr := triggerapi.Parse(pipelineRoute, ctJSON, "", canonical)
		if perr != nil {
			t.Fatalf("canonical body %s refused: %s", canonical, perr.Body)
		}
		if back.Token != req.Token || back.Ref != req.Ref || len(back.Variables) != len(req.Variables) ||
			len(req.Variables) > 0 && !slices.Equal(back.Variables, req.Variables) {
			t.Fatalf("canonical body %s reads back as %+v, want %+v", canonical, back, req)
		}
		if len(back.Inputs) != len(req.Inputs) || len(back.Payload) != len(req.Payload) {
			t.Fatalf("canonical body %s: inputs/payload %d/%d, want %d/%d", canonical,
				len(back.Inputs), len(back.Payload), len(req.Inputs), len(req.Payload))
		}
	})
}

func allValidUTF8(r *triggerapi.Request) bool {
	if !utf8.ValidString(r.Token) || !utf8.ValidString(r.Ref) {
		return false
	}
	for _, v := range r.Variables {
		if !utf8.ValidString(v.Name) || !utf8.ValidString(v.Value) {
			return false
		}
	}
	for k := range r.Inputs {
		if !utf8.ValidString(k) {
			return false
		}
	}
	return true
}
