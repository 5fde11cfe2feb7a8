package triggerapi_test

import (
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

func TestParsePage(t *testing.T) {
	tests := []struct {
		name          string
		query         string
		page, perPage int
	}{
		{"defaults", "", 1, 20},
		{"given", "page=3&per_page=7", 3, 7},
		{"per_page at most 100", "per_page=101", 1, 100},
		{"per_page 100", "per_page=100", 1, 100},
		{"per_page 1", "per_page=1", 1, 1},
		{"per_page 0", "per_page=0", 1, 20},
		{"per_page negative", "per_page=-5", 1, 20},
		{"per_page not a number", "per_page=ten", 1, 20},
		{"per_page empty", "per_page=", 1, 20},
		{"per_page fraction", "per_page=2.5", 1, 20},
		{"per_page overflows", "per_page=99999999999999999999", 1, 20},
		{"page 0", "page=0", 1, 20},
		{"page negative", "page=-2", 1, 20},
		{"page not a number", "page=two", 1, 20},
		{"page with a sign", "page=%2B2", 2, 20},
		{"page overflows", "page=99999999999999999999", 1, 20},
		{"page past the last is kept", "page=1000", 1000, 20},
		{"repeated: the last wins, as Rack reads it", "page=2&page=4&per_page=5&per_page=10", 4, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			query, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			p := triggerapi.ParsePage(query, 45)
			if p.Number != tt.page || p.PerPage != tt.perPage || p.Total != 45 {
				t.Fatalf("ParsePage(%q) = %+v, want page %d, per_page %d, total 45", tt.query, p, tt.page, tt.perPage)
			}
		})
	}
}

func TestCheckPage(t *testing.T) {
	tests := []struct {
		name, query string
		want        string // the 400's body; "" when GitLab takes the values
	}{
		{"absent", "", ""},
		{"given", "page=3&per_page=7", ""},
		{"empty values count as absent", "page=&per_page=", ""},
		{"page 0 and negative: Kaminari's page 1", "page=0&per_page=-5", ""},
		{"signs and spaces, as Ruby's Integer takes them", "page=%2B2&per_page=%2010%20", ""},
		{"beyond an int: a page past the last", "page=99999999999999999999&per_page=99999999999999999999", ""},
		{"page not a number", "page=two", `{"error":"page is invalid"}`},
		{"page a fraction", "page=1.5", `{"error":"page is invalid"}`},
		{"page a bare sign", "page=-", `{"error":"page is invalid"}`},
		{"page two signs", "page=--1", `{"error":"page is invalid"}`},
		{"per_page not a number", "per_page=ten", `{"error":"per_page is invalid"}`},
		{"per_page 0", "per_page=0", `{"error":"per_page has a value not allowed"}`},
		{"per_page 0 spelled otherwise", "per_page=-00", `{"error":"per_page has a value not allowed"}`},
		{"both, in Grape's order", "per_page=0&page=x", `{"error":"page is invalid, per_page has a value not allowed"}`},
		{"repeated: the last is checked", "page=x&page=2&per_page=5&per_page=0", `{"error":"per_page has a value not allowed"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			query, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			refusal := triggerapi.CheckPage(query)
			switch {
			case tt.want == "" && refusal != nil:
				t.Fatalf("CheckPage(%q) = %s, want no refusal", tt.query, refusal.Body)
			case tt.want != "" && refusal == nil:
				t.Fatalf("CheckPage(%q) refuses nothing, want %s", tt.query, tt.want)
			case tt.want != "" && (refusal.Status != http.StatusBadRequest || string(refusal.Body) != tt.want):
				t.Fatalf("CheckPage(%q) = %d %s, want 400 %s", tt.query, refusal.Status, refusal.Body, tt.want)
			}
		})
	}
}

func TestPageArithmetic(t *testing.T) {
	tests := []struct {
		name                   string
		page                   triggerapi.Page
		start, end             int
		totalPages, next, prev int
	}{
		{"first of 45 by 20", triggerapi.Page{Number: 1, PerPage: 20, Total: 45}, 0, 20, 3, 2, 0},
		{"middle", triggerapi.Page{Number: 2, PerPage: 20, Total: 45}, 20, 40, 3, 3, 1},
		{"last, short", triggerapi.Page{Number: 3, PerPage: 20, Total: 45}, 40, 45, 3, 0, 2},
		{"past the last: empty, no prev (Kaminari's out_of_range)", triggerapi.Page{Number: 4, PerPage: 20, Total: 45}, 45, 45, 3, 0, 0},
		{"exact multiple", triggerapi.Page{Number: 2, PerPage: 20, Total: 40}, 20, 40, 2, 0, 1},
		{"one page", triggerapi.Page{Number: 1, PerPage: 20, Total: 5}, 0, 5, 1, 0, 0},
		{"empty list: one page", triggerapi.Page{Number: 1, PerPage: 20, Total: 0}, 0, 0, 1, 0, 0},
		{"empty list, page 2", triggerapi.Page{Number: 2, PerPage: 20, Total: 0}, 0, 0, 1, 0, 0},
		{"one per page", triggerapi.Page{Number: 45, PerPage: 1, Total: 45}, 44, 45, 45, 0, 44},
		{"huge page, no overflow", triggerapi.Page{Number: math.MaxInt, PerPage: 100, Total: 45}, 45, 45, 1, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.page
			if start, end := p.Bounds(); start != tt.start || end != tt.end {
				t.Errorf("Bounds() = %d, %d, want %d, %d", start, end, tt.start, tt.end)
			}
			if got := p.TotalPages(); got != tt.totalPages {
				t.Errorf("TotalPages() = %d, want %d", got, tt.totalPages)
			}
			if got := p.Next(); got != tt.next {
				t.Errorf("Next() = %d, want %d", got, tt.next)
			}
			if got := p.Prev(); got != tt.prev {
				t.Errorf("Prev() = %d, want %d", got, tt.prev)
			}
		})
	}
}

// Every item of the list is on exactly one page, in order.
func TestPagesCoverTheList(t *testing.T) {
	for total := 0; total <= 45; total++ {
		for perPage := 1; perPage <= 21; perPage++ {
			next := 0
			for n := 1; ; n++ {
				p := triggerapi.Page{Number: n, PerPage: perPage, Total: total}
				start, end := p.Bounds()
				if start != next || end < start || end-start > perPage {
					t.Fatalf("total %d, per_page %d, page %d: [%d:%d] after %d", total, perPage, n, start, end, next)
				}
				next = end
				if p.Next() == 0 {
					break
				}
				if p.Next() != n+1 {
					t.Fatalf("total %d, per_page %d, page %d: next %d", total, perPage, n, p.Next())
				}
			}
			if next != total {
				t.Fatalf("total %d, per_page %d: the pages end at %d", total, perPage, next)
			}
		}
	}
}

func TestPageHeaders(t *testing.T) {
	base := func(raw string) *url.URL {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	const triggers = "https://ci.example.com/api/v4/projects/group%2Fproject/triggers"
	tests := []struct {
		name   string
		page   triggerapi.Page
		base   string
		header map[string]string
	}{
		{
			name: "middle page, other parameters kept, sorted",
			page: triggerapi.Page{Number: 2, PerPage: 20, Total: 45},
			base: triggers + "?sort=asc&page=2&order_by=id",
			header: map[string]string{
				"X-Total": "45", "X-Total-Pages": "3", "X-Per-Page": "20", "X-Page": "2",
				"X-Next-Page": "3", "X-Prev-Page": "1",
				"Link": `<` + triggers + `?order_by=id&page=1&per_page=20&sort=asc>; rel="prev", ` +
					`<` + triggers + `?order_by=id&page=3&per_page=20&sort=asc>; rel="next", ` +
					`<` + triggers + `?order_by=id&page=1&per_page=20&sort=asc>; rel="first", ` +
					`<` + triggers + `?order_by=id&page=3&per_page=20&sort=asc>; rel="last"`,
			},
		},
		{
			name: "first page: no prev",
			page: triggerapi.Page{Number: 1, PerPage: 20, Total: 45},
			base: "http://127.0.0.1:8080/api/v4/projects/9/triggers",
			header: map[string]string{
				"X-Next-Page": "2", "X-Prev-Page": "",
				"Link": `<http://127.0.0.1:8080/api/v4/projects/9/triggers?page=2&per_page=20>; rel="next", ` +
					`<http://127.0.0.1:8080/api/v4/projects/9/triggers?page=1&per_page=20>; rel="first", ` +
					`<http://127.0.0.1:8080/api/v4/projects/9/triggers?page=3&per_page=20>; rel="last"`,
			},
		},
		{
			name: "empty list: first and last are page 1",
			page: triggerapi.Page{Number: 1, PerPage: 20, Total: 0},
			base: "http://gw/api/v4/projects/9/triggers",
			header: map[string]string{
				"X-Total": "0", "X-Total-Pages": "1", "X-Next-Page": "", "X-Prev-Page": "",
				"Link": `<http://gw/api/v4/projects/9/triggers?page=1&per_page=20>; rel="first", ` +
					`<http://gw/api/v4/projects/9/triggers?page=1&per_page=20>; rel="last"`,
			},
		},
		{
			name: "the per_page in force, not the one asked for",
			page: triggerapi.Page{Number: 1, PerPage: 100, Total: 1},
			base: "http://gw/api/v4/projects/9/triggers?per_page=5000",
			header: map[string]string{
				"X-Per-Page": "100",
				"Link": `<http://gw/api/v4/projects/9/triggers?page=1&per_page=100>; rel="first", ` +
					`<http://gw/api/v4/projects/9/triggers?page=1&per_page=100>; rel="last"`,
			},
		},
		{
			name: "credentials in the query are never repeated",
			page: triggerapi.Page{Number: 1, PerPage: 20, Total: 1},
			base: "http://gw/api/v4/projects/9/triggers?private_token=secret1&access_token=secret2&job_token=secret3&token=secret4&x=1",
			header: map[string]string{
				"Link": `<http://gw/api/v4/projects/9/triggers?page=1&per_page=20&x=1>; rel="first", ` +
					`<http://gw/api/v4/projects/9/triggers?page=1&per_page=20&x=1>; rel="last"`,
			},
		},
		{
			name: "a long query is left out",
			page: triggerapi.Page{Number: 1, PerPage: 20, Total: 1},
			base: "http://gw/api/v4/projects/9/triggers?x=" + strings.Repeat("a", 2000),
			header: map[string]string{
				"Link": `<http://gw/api/v4/projects/9/triggers?page=1&per_page=20>; rel="first", ` +
					`<http://gw/api/v4/projects/9/triggers?page=1&per_page=20>; rel="last"`,
			},
		},
		{
			name: "a malformed query is left out",
			page: triggerapi.Page{Number: 1, PerPage: 20, Total: 1},
			base: "http://gw/api/v4/projects/9/triggers?x=%zz",
			header: map[string]string{
				"Link": `<http://gw/api/v4/projects/9/triggers?page=1&per_page=20>; rel="first", ` +
					`<http://gw/api/v4/projects/9/triggers?page=1&per_page=20>; rel="last"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			tt.page.SetHeaders(h, base(tt.base))
			for name, want := range tt.header {
				if values := h.Values(name); len(values) != 1 || values[0] != want {
					t.Errorf("%s = %q\n want %q", name, values, want)
				}
			}
			if strings.Contains(h.Get("Link"), "secret") {
				t.Errorf("Link repeats a credential: %s", h.Get("Link"))
			}
			for _, name := range []string{"X-Total", "X-Total-Pages", "X-Per-Page", "X-Page", "X-Next-Page", "X-Prev-Page", "Link"} {
				if len(h.Values(name)) != 1 {
					t.Errorf("%s set %d times", name, len(h.Values(name)))
				}
			}
			if _, err := strconv.Atoi(h.Get("X-Total-Pages")); err != nil {
				t.Errorf("X-Total-Pages %q", h.Get("X-Total-Pages"))
			}
		})
	}
}
