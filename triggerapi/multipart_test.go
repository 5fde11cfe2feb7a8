package triggerapi

import (
	"strings"
	"testing"
)

// The bodies curl --form writes take the in-place path; every other shape
// is left to mime/multipart (FuzzMultipartFastPath checks they agree).
func TestSplitSimpleMultipart(t *testing.T) {
	const b = "XyZ"
	part := func(name, value string) string {
		return "--" + b + "\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value + "\r\n"
	}
	curl := part("token", "T") + part("ref", "main") + part("variables[A]", "x\r\n--y") + "--" + b + "--\r\n"
	tests := []struct {
		name, body string
		want       []string // name=value, when the body is simple
	}{
		{"curl --form", curl, []string{"token=T", "ref=main", "variables[A]=x\r\n--y"}},
		{"no CRLF after the closing boundary", strings.TrimSuffix(curl, "\r\n"), []string{"token=T", "ref=main", "variables[A]=x\r\n--y"}},
		// mime/multipart reads a boundary followed by other text as part of
		// the value; this path leaves such a rare body to it.
		{"boundary text in a value", part("ref", "x\r\n--XyZZ") + "--" + b + "--", nil},
		{"empty value", part("ref", "") + "--" + b + "--", []string{"ref="}},
		// With no CRLF between the headers and the boundary, mime/multipart
		// still reads an empty value, and then judges the boundary's padding.
		{"boundary right after the headers", "--" + b + "\r\nContent-Disposition: form-data; name=\"ref\"\r\n\r\n--" + b + " \r\n--" + b + "--", nil},
		{"value opens with boundary text", part("ref", "--"+b+"Z") + "--" + b + "--", nil},
		{"no parts", "--" + b + "--", []string{}},
		{"epilogue", curl + "more", nil},
		{"preamble", "hello\r\n" + curl, nil},
		{"LF lines", strings.ReplaceAll(curl, "\r\n", "\n"), nil},
		{"padding after a boundary", strings.Replace(curl, b+"\r\n", b+" \r\n", 1), nil},
		{"second header", strings.Replace(curl, "name=\"ref\"\r\n", "name=\"ref\"\r\nContent-Type: text/plain\r\n", 1), nil},
		{"file part", strings.Replace(curl, "name=\"ref\"", "name=\"ref\"; filename=\"r\"", 1), nil},
		{"lower-case header", strings.Replace(curl, "Content-Disposition", "content-disposition", 1), nil},
		{"escaped name", part(`a\"b`, "v") + "--" + b + "--", nil},
		{"empty name", part("", "v") + "--" + b + "--", nil},
		{"unquoted name", strings.Replace(curl, `name="ref"`, `name=ref`, 1), nil},
		{"no closing boundary", part("ref", "main"), nil},
		{"other boundary", strings.ReplaceAll(curl, b, "abc"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fields, ok := splitSimpleMultipart(nil, []byte(tt.body), b)
			if ok != (tt.want != nil) {
				t.Fatalf("simple = %v, want %v", ok, tt.want != nil)
			}
			if !ok {
				return
			}
			got := []string{}
			for _, f := range fields {
				got = append(got, string(f.name)+"="+string(f.value))
			}
			if strings.Join(got, "\x00") != strings.Join(tt.want, "\x00") || len(got) != len(tt.want) {
				t.Errorf("fields %q, want %q", got, tt.want)
			}
		})
	}
}
