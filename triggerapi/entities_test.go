package triggerapi

import (
	"encoding/json"
	"testing"
	"time"
)

func TestTimeMarshalJSON(t *testing.T) {
	tests := []struct {
		name string
		in   time.Time
		want string
	}{
		{"UTC, milliseconds", time.Date(2016, 1, 7, 9, 53, 58, 235_000_000, time.UTC), `"2016-01-07T09:53:58.235Z"`},
		{"whole seconds keep their zeros", time.Date(2016, 1, 7, 9, 53, 58, 0, time.UTC), `"2016-01-07T09:53:58.000Z"`},
		{"other zones in UTC", time.Date(2016, 1, 7, 11, 53, 58, 999_999_999, time.FixedZone("CEST", 2*3600)), `"2016-01-07T09:53:58.999Z"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(Time(tt.in))
			if err != nil || string(got) != tt.want {
				t.Errorf("Marshal = %s, %v; want %s", got, err, tt.want)
			}
		})
	}
	if TimeOf(nil) != nil {
		t.Error("TimeOf(nil) is not nil")
	}
}

func TestTriggerJSON(t *testing.T) {
	created := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		in   Trigger
		want string
	}{
		{"nobody's, never used", Trigger{ID: 3, Token: "glptt-ab", TokenPrefix: "glptt-ab", Description: "d",
			CreatedAt: Time(created), UpdatedAt: Time(created)},
			`{"id":3,"token":"glptt-ab","token_prefix":"glptt-ab","description":"d","created_at":"2024-05-01T12:00:00.000Z",` +
				`"updated_at":"2024-05-01T12:00:00.000Z","last_used":null,"expires_at":null,"owner":null}`},
		{"owned, used, expiring", Trigger{ID: 4, Token: "t", TokenPrefix: "p", CreatedAt: Time(created), UpdatedAt: Time(created),
			LastUsed: TimeOf(&created), ExpiresAt: TimeOf(&created), Owner: &UserBasic{Username: "ci", Name: "ci"}},
			`{"id":4,"token":"t","token_prefix":"p","description":"","created_at":"2024-05-01T12:00:00.000Z",` +
				`"updated_at":"2024-05-01T12:00:00.000Z","last_used":"2024-05-01T12:00:00.000Z",` +
				`"expires_at":"2024-05-01T12:00:00.000Z","owner":{"username":"ci","name":"ci"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.in)
			if err != nil || string(got) != tt.want {
				t.Errorf("Marshal = %s, %v;\nwant %s", got, err, tt.want)
			}
		})
	}
}

func TestNewUser(t *testing.T) {
	got, err := json.Marshal(NewUser("terraform"))
	want := `{"id":` + jsonInt(UserID("terraform")) + `,"username":"terraform","name":"terraform","state":"active",` +
		`"locked":false,"bot":true,"avatar_url":null}`
	if err != nil || string(got) != want {
		t.Errorf("NewUser = %s, %v; want %s", got, err, want)
	}
	for _, name := range []string{"", "a", "terraform", "n65535"} {
		if id := UserID(name); id < 1 || id > 1<<31-1 || id != UserID(name) {
			t.Errorf("UserID(%q) = %d, want a stable ID in [1, 2^31)", name, id)
		}
	}
	if UserID("a") == UserID("b") {
		t.Error("UserID: a and b share an ID")
	}
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestNewProject(t *testing.T) {
	tests := []struct {
		name    string
		project string
		aliases []string
		want    string
	}{
		{"numeric, no path", "9", nil, `{"id":9,"name":null,"path":null,"path_with_namespace":null}`},
		{"numeric, aliases without a slash", "9", []string{"short"}, `{"id":9,"name":null,"path":null,"path_with_namespace":null}`},
		{"numeric, the first alias with a slash", "14", []string{"short", "group/sub/tools", "other/x"},
			`{"id":14,"name":"tools","path":"tools","path_with_namespace":"group/sub/tools"}`},
		{"a path", "group/pathonly", nil,
			`{"id":"group/pathonly","name":"pathonly","path":"pathonly","path_with_namespace":"group/pathonly"}`},
		{"not canonical numeric: a name", "009", []string{"a/b"}, `{"id":"009","name":"009","path":"009","path_with_namespace":"009"}`},
		{"zero is not an ID", "0", nil, `{"id":"0","name":"0","path":"0","path_with_namespace":"0"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(NewProject(tt.project, tt.aliases))
			if err != nil || string(got) != tt.want {
				t.Errorf("NewProject(%q, %q) = %s, %v; want %s", tt.project, tt.aliases, got, err, tt.want)
			}
		})
	}
}
