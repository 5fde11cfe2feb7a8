package triggerapi_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// AppendCanonicalBody writes CanonicalBody's bytes after dst's, in dst's
// room when it has enough: the request path's buffer.
func TestAppendCanonicalBody(t *testing.T) {
	vars := triggerapi.VariablesOf(map[string]string{"B": "2", "A": "<1>", "C": "é"})
	inputs := map[string]json.RawMessage{"n": json.RawMessage(`3`)}
	payload := map[string]json.RawMessage{"object_kind": json.RawMessage(`"push"`)}
	want := triggerapi.CanonicalBody(benchToken, "main", vars, inputs, payload)

	room := make([]byte, 3, 512)
	copy(room, "xyz")
	got := triggerapi.AppendCanonicalBody(room, benchToken, "main", vars, inputs, payload)
	if !bytes.Equal(got[:3], []byte("xyz")) || !bytes.Equal(got[3:], want) {
		t.Fatalf("AppendCanonicalBody = %s, want xyz%s", got, want)
	}
	if &got[0] != &room[0] {
		t.Error("AppendCanonicalBody did not write into dst's room")
	}
	plain := triggerapi.VariablesOf(map[string]string{"A": "1", "B": "2"})
	if allocs := testing.AllocsPerRun(10, func() {
		triggerapi.AppendCanonicalBody(room[:0], benchToken, "main", plain, nil, nil)
	}); allocs != 0 {
		t.Errorf("AppendCanonicalBody into enough room: %v allocations, want none", allocs)
	}
	// Too little room: a new array, dst's bytes first.
	got = triggerapi.AppendCanonicalBody([]byte("xyz"), benchToken, "main", vars, inputs, payload)
	if !bytes.Equal(got, append([]byte("xyz"), want...)) {
		t.Fatalf("AppendCanonicalBody = %s, want xyz%s", got, want)
	}
}

// ParseInto fills the caller's Request as Parse returns one, and leaves it
// as it was when it refuses the request.
func TestParseInto(t *testing.T) {
	body := []byte("token=" + benchToken + "&ref=main&variables[A]=1")
	want, perr := triggerapi.Parse(pipelineRoute, ctForm, "", body)
	if perr != nil {
		t.Fatal(perr)
	}
	var got triggerapi.Request
	if perr := triggerapi.ParseInto(&got, pipelineRoute, ctForm, "", body); perr != nil {
		t.Fatal(perr)
	}
	if dump(&got) != dump(want) {
		t.Errorf("ParseInto = %s, want %s", dump(&got), dump(want))
	}
	before := got
	if perr := triggerapi.ParseInto(&got, pipelineRoute, ctForm, "", []byte("ref=main")); perr != triggerapi.ErrTokenMissing {
		t.Fatalf("ParseInto without a token = %v, want ErrTokenMissing", perr)
	}
	if dump(&got) != dump(&before) {
		t.Errorf("a refused ParseInto changed the request: %s, was %s", dump(&got), dump(&before))
	}
}

// IsPipelinePath is true exactly when PipelinePath would build path again,
// with no RawPath.
func TestIsPipelinePath(t *testing.T) {
	prefixes := []string{"/api/v4", "/api/v4/", "", "/", "/gw/api/v4", "/a b"}
	projects := []string{"9", "group/project", "Group/Project", "a b", "é", "9/trigger", "%39"}
	paths := []string{"/api/v4/projects/9/trigger/pipeline", "/projects/9/trigger/pipeline",
		"/api/v4/projects/group/project/trigger/pipeline", "/api/v4/projects/99/trigger/pipeline",
		"/api/v4/projects/9/trigger/pipelines", "/api/v4/projects/9/ref/main/trigger/pipeline",
		"/gw/api/v4/projects/9/trigger/pipeline", "/api/v4/projects/9/trigger/trigger/pipeline"}
	for _, prefix := range prefixes {
		for _, project := range projects {
			path, raw := triggerapi.PipelinePath(prefix, project)
			for _, candidate := range append(paths, path) {
				want := raw == "" && candidate == path
				if got := triggerapi.IsPipelinePath(prefix, project, candidate); got != want {
					t.Errorf("IsPipelinePath(%q, %q, %q) = %v, want %v", prefix, project, candidate, got, want)
				}
			}
		}
	}
	if allocs := testing.AllocsPerRun(10, func() {
		triggerapi.IsPipelinePath("/api/v4", "9", "/api/v4/projects/9/trigger/pipeline")
	}); allocs != 0 {
		t.Errorf("IsPipelinePath: %v allocations, want none", allocs)
	}
}
