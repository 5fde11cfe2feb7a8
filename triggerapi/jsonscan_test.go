package triggerapi

import (
	"bytes"
	"encoding/json"
	"maps"
	"strings"
	"testing"
)

// jsonObjectMembers must judge JSON as json.Valid does, and read each
// member as encoding/json does (the last of a repeated name counts).
func FuzzJSONObjectMembers(f *testing.F) {
	for _, s := range []string{
		`{}`, ` { "a" : 1 , "b":[true,false,null,{"c":"d"}] } `,
		`{"token":"T","ref":"main","variables":{"A":"1"}}`,
		`{"\u0074oken":"\ud83d\ude00","a\"b":"\\\/\b\f\n\r\t"}`,
		`{"n":[0,-0,1.5,-2e10,3E+2,4e-2,1e999]}`,
		`{"n":01}`, `{"n":1.}`, `{"n":.5}`, `{"n":-}`, `{"n":1e}`, `{"n":+1}`,
		`{"s":"\x"}`, `{"s":"\u12G4"}`, "{\"s\":\"a\tb\"}", "{\"s\":\"\xff\xfe\"}",
		`{"a":1,}`, `{"a" 1}`, `{"a":1 "b":2}`, `{a:1}`, `{"a":tru}`, `{"a":nul}`,
		`{"a":1}}`, `{"a":[1,]}`, `{"a":[1 2]}`, `{"a":{"b":}}`, `[]`, `"s"`, `1`, ``, ` `,
		`{"a":1,"a":2}`, "\ufeff{}", `{"a":1}` + "\x00",
		strings.Repeat(`{"a":`, 10001) + `1` + strings.Repeat(`}`, 10001),
		strings.Repeat(`[`, 10000) + strings.Repeat(`]`, 10000),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, doc := range [][]byte{data, []byte(`{"v":` + string(data) + `}`)} {
			members, ok := jsonObjectMembers(nil, doc)
			isObject := bytes.HasPrefix(bytes.TrimLeft(doc, " \t\r\n"), []byte("{"))
			if want := json.Valid(doc) && isObject; ok != want {
				t.Fatalf("jsonObjectMembers(%q) ok = %v, json.Valid and an object: %v", doc, ok, want)
			}
			if !ok {
				continue
			}
			var want map[string]json.RawMessage
			if err := json.Unmarshal(doc, &want); err != nil {
				t.Fatalf("encoding/json cannot read %q: %v", doc, err)
			}
			j := jsonBody{data: doc}
			got := map[string]json.RawMessage{}
			for _, m := range members {
				got[j.key(m)] = j.keep(m.value)
			}
			if !maps.EqualFunc(got, want, func(a, b json.RawMessage) bool { return bytes.Equal(a, b) }) {
				t.Fatalf("members of %q: %q, encoding/json reads %q", doc, got, want)
			}
		}
	})
}

func TestJSONString(t *testing.T) {
	tests := []struct {
		literal string
		want    string
		ok      bool
	}{
		{`"plain"`, "plain", true},
		{`""`, "", true},
		{`"a\"b\\c\/\n\u00e9"`, "a\"b\\c/\né", true},
		{"\"\xff\"", "\ufffd", true}, // invalid UTF-8 decodes as encoding/json decodes it
		{`null`, "", false},
		{`1`, "", false},
		{`{"a":"b"}`, "", false},
	}
	for _, tt := range tests {
		got, ok := jsonString([]byte(tt.literal))
		if got != tt.want || ok != tt.ok {
			t.Errorf("jsonString(%s) = %q, %v; want %q, %v", tt.literal, got, ok, tt.want, tt.ok)
		}
	}
}
