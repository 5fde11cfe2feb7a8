package triggerapi_test

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/textproto"
	"net/url"
	"strings"
	"testing"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// formFields decodes an application/x-www-form-urlencoded string pair by
// pair with net/url, keeping the order. ok is false when net/url cannot
// judge it (it refuses ';' separators, which Rack reads as part of a key);
// bad is true when a pair does not unescape.
func formFields(s string) (fields []modelField, bad, ok bool) {
	for _, pair := range strings.Split(s, "&") {
		if strings.Contains(pair, ";") {
			return nil, false, false
		}
		values, err := url.ParseQuery(pair)
		if err != nil {
			return nil, true, true
		}
		for key, vals := range values { // one pair: at most one key and value
			fields = append(fields, modelField{key: key, value: vals[0]})
		}
	}
	return fields, false, true
}

// FuzzParseForm checks the query-string and urlencoded-body forms against
// net/url and the model: body fields win over query fields, the last of a
// repeated field wins, and a bad escape refuses the whole request.
func FuzzParseForm(f *testing.F) {
	for _, s := range [][2]string{
		{"token=T&ref=main&variables[A]=1", ""},
		{"token=T", "ref=feature%2Fx&variables[A]=a+b&variables[B]=%E2%9C%93&inputs[n]=1"},
		{"token=Q&ref=q", "token=B&ref=b"},
		{"", "token=T&token[]=x&ref=main"},
		{"ref=%20", "token=T&variables=x"},
		{"token=T&ref=main", "variables[a][b]=c&variables[]=d&inputs=e"},
		{"token=%zz", "ref=main"},
		{"", "=&&a&token=T=U&ref=r&variables[a[b]=1"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, query, body string) {
		contentType := ctForm
		if len(body)%2 == 1 {
			contentType = "" // Rack reads a body without Content-Type as a form
		}
		got, perr := triggerapi.Parse(pipelineRoute, contentType, query, []byte(body))
		fromQuery, badQuery, okQuery := formFields(query)
		fromBody, badBody, okBody := formFields(body)
		if !okQuery || !okBody {
			return
		}
		if badQuery || badBody {
			if perr == nil || string(perr.Body) != bodyBadBody {
				t.Fatalf("Parse(%q, %q) = %+v, %v; want %s", query, body, got, perr, bodyBadBody)
			}
			return
		}
		var m model
		for _, field := range append(fromQuery, fromBody...) {
			m.addForm(field)
		}
		m.check(t, got, perr)
	})
}

// fuzzMultipartBoundary is the boundary of FuzzParseMultipart's bodies;
// inputs holding it are skipped, since they cannot be framed by it.
const fuzzMultipartBoundary = "fuzz-b0undary-Q7x"

// FuzzParseMultipart checks the multipart/form-data form: fields, each
// "name=value" and separated by NUL, are framed by mime/multipart as curl
// --form would, bit i of files making field i a file upload. What
// mime/multipart reads back as each part's name must then go through the
// same rules as a urlencoded field.
func FuzzParseMultipart(f *testing.F) {
	for _, s := range []struct {
		fields string
		files  uint64
	}{
		{"token=T\x00ref=main\x00variables[A]=1", 0},
		{"token=T\x00ref=feature/x\x00variables[MULTI]=line1\r\nline2\x00inputs[n]=1", 0},
		{"token=T\x00ref=main\x00variables[F]=file content", 0b100},
		{"token=T\x00ref=main", 0b1},
		{"tok\"en=T\x00ref\\=main\x00variables[A\"]=q", 0},
		{"token=T\x00ref=\x00variables=x", 0},
		{"", 0},
	} {
		f.Add(s.fields, s.files)
	}
	f.Fuzz(func(t *testing.T, fields string, files uint64) {
		if strings.Contains(fields, fuzzMultipartBoundary) {
			return
		}
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		if err := w.SetBoundary(fuzzMultipartBoundary); err != nil {
			t.Fatal(err)
		}
		var m model
		entries := strings.Split(fields, "\x00")
		if fields == "" {
			entries = nil
		}
		for i, entry := range entries {
			name, value, _ := strings.Cut(entry, "=")
			if strings.ContainsAny(name, "\r\n") {
				return // a header line cannot hold it
			}
			file := i < 64 && files&(1<<i) != 0
			disposition := `form-data; name="` + quoteEscaper.Replace(name) + `"`
			if file {
				disposition += `; filename="value.txt"`
			}
			part, err := w.CreatePart(textproto.MIMEHeader{"Content-Disposition": {disposition}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := part.Write([]byte(value)); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		got, perr := triggerapi.Parse(pipelineRoute, w.FormDataContentType(), "", buf.Bytes())
		read, ok := readMultipart(buf.Bytes())
		if !ok {
			if perr == nil || string(perr.Body) != bodyBadBody {
				t.Fatalf("Parse(%q) = %+v, %v; want %s", buf.Bytes(), got, perr, bodyBadBody)
			}
			return
		}
		for _, field := range read {
			m.addForm(field)
		}
		m.check(t, got, perr)
	})
}

// readMultipart reads the fields of a multipart body with mime/multipart,
// which is the judge of its framing: a header it cannot read makes the
// body malformed, a part without a form-data name is no field.
func readMultipart(body []byte) (fields []modelField, ok bool) {
	r := multipart.NewReader(bytes.NewReader(body), fuzzMultipartBoundary)
	for {
		part, err := r.NextPart()
		if err == io.EOF { //nolint:errorlint // only a bare io.EOF is the closing boundary
			return fields, true
		}
		if err != nil {
			return nil, false
		}
		value, err := io.ReadAll(part)
		if err != nil {
			return nil, false
		}
		if name := part.FormName(); name != "" {
			fields = append(fields, modelField{key: name, value: string(value), file: part.FileName() != ""})
		}
	}
}

// quoteEscaper escapes a field name as mime/multipart's WriteField does.
var quoteEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

// FuzzMultipartFastPath feeds raw bytes as a multipart/form-data body.
// Parse reads the common shape of such bodies itself and leaves the rest
// to mime/multipart: whichever path reads a body, the fields must be those
// mime/multipart reads, and a body it cannot read must be refused.
func FuzzMultipartFastPath(f *testing.F) {
	const b = fuzzMultipartBoundary
	part := func(name, value string) string {
		return "--" + b + "\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value + "\r\n"
	}
	simple := part("token", "T") + part("ref", "main") + part("variables[A]", "1")
	for _, body := range []string{
		simple + "--" + b + "--\r\n",
		simple + "--" + b + "--",
		simple + "--" + b + "--\r\nepilogue",
		simple + "--" + b + "--  \r\n",
		"preamble\r\n" + simple + "--" + b + "--\r\n",
		part("token", "T") + part("ref", "a\r\n--"+b+"X\r\n--"+b+"-x") + "--" + b + "--\r\n",
		part("token", "T") + part("ref", "main") + "--" + b + " \r\n" + part("variables[A]", "1") + "--" + b + "--\r\n",
		strings.ReplaceAll(simple, "\r\n", "\n") + "--" + b + "--\n",
		part("token", "T") + "--" + b + "\r\ncontent-disposition: form-data; name=\"ref\"\r\n\r\nmain\r\n--" + b + "--\r\n",
		part("token", "T") + "--" + b + "\r\nContent-Disposition: form-data; name=\"ref\"\r\nContent-Type: text/plain\r\n\r\nmain\r\n--" + b + "--\r\n",
		part("token", "T") + "--" + b + "\r\nContent-Disposition: form-data; name=\"ref\"; filename=\"r.txt\"\r\n\r\nmain\r\n--" + b + "--\r\n",
		part("token", "T") + part(`ref\"x`, "main") + part("", "empty name") + "--" + b + "--\r\n",
		part("token", "T") + "--" + b + "\r\nContent-Disposition: form-data; name=ref\r\n\r\nmain\r\n--" + b + "--\r\n",
		part("token", "T") + part("ref", "main") + "--" + b + "\rx",
		part("token", "T") + part("ref", "main"),
		"--" + b + "--\r\n",
		"",
	} {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, perr := triggerapi.Parse(pipelineRoute, "multipart/form-data; boundary="+b, "", body)
		if len(body) == 0 {
			return // no body: only the (absent) query string counts
		}
		read, ok := readMultipart(body)
		if !ok {
			if perr == nil || string(perr.Body) != bodyBadBody {
				t.Fatalf("Parse(%q) = %+v, %v; want %s", body, got, perr, bodyBadBody)
			}
			return
		}
		var m model
		for _, field := range read {
			m.addForm(field)
		}
		m.check(t, got, perr)
	})
}
