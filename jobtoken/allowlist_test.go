package jobtoken

import "testing"

func TestAllowlist(t *testing.T) {
	tests := []struct {
		name    string
		entries []string
		id      string
		path    string
		want    bool
	}{
		{"nil entries deny", nil, "12", "group/project", false},
		{"empty entries deny", []string{}, "12", "group/project", false},
		{"ID match", []string{"12"}, "12", "other/project", true},
		{"ID with leading zeros", []string{"012"}, "12", "", true},
		{"claim ID with leading zeros", []string{"12"}, "0012", "", true},
		{"ID mismatch", []string{"12"}, "13", "group/project", false},
		{"ID is not a prefix", []string{"1"}, "12", "", false},
		{"exact path", []string{"group/project"}, "99", "group/project", true},
		{"exact path, other case", []string{"Group/Project"}, "99", "group/PROJECT", true},
		{"exact path is not a prefix", []string{"group/project"}, "99", "group/project-2", false},
		{"exact path does not cover children", []string{"group/project"}, "99", "group/project/x", false},
		{"direct child", []string{"group/*"}, "99", "group/project", true},
		{"direct child excludes grandchild", []string{"group/*"}, "99", "group/sub/project", false},
		{"direct child excludes the group itself", []string{"group/*"}, "99", "group", false},
		{"direct child excludes a sibling group", []string{"group/*"}, "99", "group2/project", false},
		{"nested direct child", []string{"group/sub/*"}, "99", "group/sub/project", true},
		{"any depth, child", []string{"group/**"}, "99", "group/project", true},
		{"any depth, grandchild", []string{"group/**"}, "99", "group/a/b/project", true},
		{"any depth excludes the group itself", []string{"group/**"}, "99", "group", false},
		{"any depth excludes group-prefixed names", []string{"group/**"}, "99", "groupie/project", false},
		{"dot segments never match", []string{"group/**"}, "99", "group/../other/project", false},
		{"empty segment never matches", []string{"group/**"}, "99", "group//project", false},
		{"mixed entries, path match", []string{"5", "team/*", "ops/deploy"}, "99", "ops/deploy", true},
		{"mixed entries, ID match", []string{"5", "team/*", "ops/deploy"}, "5", "x/y", true},
		{"mixed entries, no match", []string{"5", "team/*", "ops/deploy"}, "6", "team/a/b", false},
		{"empty path and ID", []string{"group/*"}, "", "", false},
		{"non-numeric ID ignored", []string{"group/*"}, "abc", "group/x", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := NewAllowlist(tt.entries)
			if err != nil {
				t.Fatal(err)
			}
			if got := a.Allows(tt.id, tt.path); got != tt.want {
				t.Errorf("Allows(%q, %q) = %v, want %v", tt.id, tt.path, got, tt.want)
			}
		})
	}
	var nilList *Allowlist
	if nilList.Allows("12", "group/project") {
		t.Error("nil allowlist allowed a project")
	}
	var zero Allowlist
	if zero.Allows("12", "group/project") {
		t.Error("zero allowlist allowed a project")
	}
}

func TestNewAllowlistInvalid(t *testing.T) {
	for _, entry := range []string{
		"", " ", "0", "000", "123456789012345678901", "*", "**", "/*", "group/", "/group", "group//project",
		"group/*/project", "group/**/project", "group/pro*", "group/***", "gr?up/x", "group/../x", "./x",
		"group/-project", "group project", "https://gitlab.example.com/group/project",
	} {
		if _, err := NewAllowlist([]string{"12", entry}); err == nil {
			t.Errorf("NewAllowlist accepted %q", entry)
		}
	}
}
