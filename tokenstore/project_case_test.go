package tokenstore

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"testing"

	"github.com/caddyserver/certmagic"
)

func TestFoldProject(t *testing.T) {
	for in, want := range map[string]string{
		"9":                 "9",
		"group/project":     "group/project",
		"Group/Project":     "group/project",
		"GROUP/SUB/APP":     "group/sub/app",
		"group/my_app-2":    "group/my_app-2",
		"group/\u017fecret": "group/\u017fecret", // a long s is no s
		"\u212a8s/App":      "\u212a8s/app",      // nor a Kelvin sign a k
		"009":               "9",                 // GitLab reads an all-digit name as an ID
		"000":               "0",
		"090/a":             "090/a",
	} {
		if got := FoldProject(in); got != want {
			t.Errorf("FoldProject(%q) = %q, want %q", in, got, want)
		}
	}
}

// listIDs lists a project's trigger IDs.
func listIDs(t *testing.T, s *Store, project string) []int64 {
	t.Helper()
	list, err := s.List(context.Background(), project)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, tu := range list {
		ids = append(ids, tu.Trigger.ID)
	}
	return ids
}

// Project names are case-insensitive in storage keys: a trigger created
// under any spelling is listed under every spelling, once. A marker that a
// store before folding wrote under a mixed-case directory is found too,
// and its trigger, once revoked, is listed with the revoked ones.
func TestProjectCaseFolded(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	s := newTestStore(t, storage, Config{})
	lower, _ := mustCreate(t, s, CreateRequest{Project: "group/project", Description: "lower"})
	mixed, _ := mustCreate(t, s, CreateRequest{Project: "Group/Project", Description: "mixed"})
	other, _ := mustCreate(t, s, CreateRequest{Project: "group/other", Description: "other"})
	if !storage.Exists(ctx, projectKey("group/project", mixed.ID)) {
		t.Fatal("the mixed-case trigger's marker is not under the folded project")
	}

	// A marker as a store before folding wrote it, for a trigger recorded
	// under "GROUP/Project".
	legacy, _ := mustCreate(t, s, CreateRequest{Project: "GROUP/Project", Description: "legacy"})
	markAsRecorded(t, storage, "GROUP/Project", legacy.ID)

	fresh := newTestStore(t, storage, Config{InstanceID: "instance-b"}) // finds the legacy directory on its first listing
	want := []int64{lower.ID, mixed.ID, legacy.ID}
	for _, spelling := range []string{"group/project", "Group/Project", "GROUP/PROJECT"} {
		if got := listIDs(t, fresh, spelling); !slices.Equal(got, want) {
			t.Errorf("List(%q) = %v, want %v", spelling, got, want)
		}
	}
	if got := listIDs(t, fresh, "group/other"); !slices.Equal(got, []int64{other.ID}) {
		t.Errorf("List(group/other) = %v, want [%d]", got, other.ID)
	}

	if err := fresh.Revoke(ctx, legacy.ID, "admin API"); err != nil {
		t.Fatal(err)
	}
	if got := listIDs(t, fresh, "group/project"); !slices.Equal(got, []int64{lower.ID, mixed.ID}) {
		t.Errorf("List after revoking = %v", got)
	}
	revoked, err := fresh.ListRevoked(ctx, "GROUP/PROJECT")
	if err != nil {
		t.Fatal(err)
	}
	if len(revoked) != 1 || revoked[0].Trigger.ID != legacy.ID {
		t.Errorf("ListRevoked after revoking = %v, want the legacy trigger %d", revoked, legacy.ID)
	}
}

// recordedProjectKey is the marker key of a trigger as a store before
// project keys were folded wrote it: under its project as recorded.
func recordedProjectKey(project string, id int64) string {
	return projectsDir + "/" + url.PathEscape(project) + "/" + strconv.FormatInt(id, 10)
}

// A numeric ID with leading zeros is the ID, as GitLab reads it: a
// trigger created for "009" is listed as project 9's, and one that a store
// before this rule recorded under projects/009 is found by a new store.
func TestProjectIDLeadingZerosFolded(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	s := newTestStore(t, storage, Config{})
	nine, _ := mustCreate(t, s, CreateRequest{Project: "9", Description: "nine"})
	zeros, _ := mustCreate(t, s, CreateRequest{Project: "009", Description: "zeros"})
	ninety, _ := mustCreate(t, s, CreateRequest{Project: "90", Description: "ninety"})
	if !storage.Exists(ctx, projectKey("9", zeros.ID)) {
		t.Fatal("the trigger of 009 has no marker under project 9")
	}
	legacy, _ := mustCreate(t, s, CreateRequest{Project: "0009", Description: "legacy"})
	markAsRecorded(t, storage, "0009", legacy.ID)

	fresh := newTestStore(t, storage, Config{InstanceID: "instance-b"})
	want := []int64{nine.ID, zeros.ID, legacy.ID}
	for _, spelling := range []string{"9", "09", "0009"} {
		if got := listIDs(t, fresh, spelling); !slices.Equal(got, want) {
			t.Errorf("List(%q) = %v, want %v", spelling, got, want)
		}
	}
	if got := listIDs(t, fresh, "90"); !slices.Equal(got, []int64{ninety.ID}) {
		t.Errorf("List(90) = %v, want [%d]", got, ninety.ID)
	}
}

// markAsRecorded moves trigger id's project marker to where a store before
// project names were folded wrote it: under the project as recorded.
func markAsRecorded(t *testing.T, storage certmagic.Storage, recorded string, id int64) {
	t.Helper()
	ctx := context.Background()
	if err := storage.Delete(ctx, projectKey(recorded, id)); err != nil {
		t.Fatal(err)
	}
	if err := storage.Store(ctx, recordedProjectKey(recorded, id), []byte(strconv.FormatInt(id, 10))); err != nil {
		t.Fatal(err)
	}
}
