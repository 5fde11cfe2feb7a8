package projectname

import "testing"

func TestFold(t *testing.T) {
	tests := []struct{ name, want string }{
		{"9", "9"},
		{"009", "9"},
		{"0009000", "9000"},
		{"0", "0"},
		{"000", "0"},
		{"90", "90"},
		{"-009", "-009"}, // no project has a negative ID: left as it is
		{"0x9", "0x9"},
		{"09a", "09a"},
		{"00/9", "00/9"},
		{"Group/Project", "group/project"},
		{"group/project", "group/project"},
		{"Group/\u017fecret", "group/\u017fecret"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Fold(tt.name); got != tt.want {
			t.Errorf("Fold(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestEqual(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"9", "9", true},
		{"009", "9", true},
		{"9", "0009", true},
		{"0", "000", true},
		{"9", "90", false},
		{"09", "90", false},
		{"Group/Project", "group/PROJECT", true},
		{"group/\u017fecret", "group/secret", false},
		{"group/a", "group/b", false},
		{"", "", true},
		{"", "0", false},
	}
	for _, tt := range tests {
		if got := Equal(tt.a, tt.b); got != tt.want {
			t.Errorf("Equal(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := Fold(tt.a) == Fold(tt.b); got != tt.want {
			t.Errorf("Fold(%q) == Fold(%q) is %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestFoldAllocatesOnlyForUpperCase(t *testing.T) {
	for _, name := range []string{"9", "009", "group/project"} {
		if n := testing.AllocsPerRun(100, func() { Fold(name) }); n != 0 {
			t.Errorf("Fold(%q) allocates %v times", name, n)
		}
	}
	if n := testing.AllocsPerRun(100, func() { Equal("Group/Project", "group/project") }); n != 0 {
		t.Errorf("Equal allocates %v times", n)
	}
}
