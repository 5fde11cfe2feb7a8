package triggerapi

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// GitLab's offset pagination (lib/api/helpers/pagination.rb, with
// Kaminari's defaults from config/initializers/kaminari_config.rb).
const (
	// DefaultPerPage is the page size when the caller gives none.
	DefaultPerPage = 20
	// MaxPerPage is the largest page size; larger requests get this.
	MaxPerPage = 100
)

// linkQueryMax bounds the caller's other query parameters that the Link
// header repeats: the header holds them up to four times, and a page link
// needs none of them to work.
const linkQueryMax = 1 << 10

// Page is one page of a list as GitLab's offset pagination serves it.
type Page struct {
	// Number is the page asked for, from 1; it may lie past the last page,
	// which is then empty.
	Number int
	// PerPage is the page size, from 1 to MaxPerPage.
	PerPage int
	// Total is the number of items in the whole list.
	Total int
}

// The refusals of GitLab's pagination parameters, as Grape words them
// (lib/api/concerns/pagination_params.rb: page and per_page are Integers,
// per_page has except_values [0]).
const (
	msgPageInvalid     = "page is invalid"
	msgPerPageInvalid  = "per_page is invalid"
	msgPerPageNotAllow = "per_page has a value not allowed"
)

// CheckPage refuses the page and per_page values GitLab's parameter
// validation refuses, with its 400 {"error": ...}: a value that is not an
// integer, or per_page=0. Those it takes (an empty value, a page below 1, a
// negative per_page, a number too large for an int) pass, and ParsePage
// reads them as Kaminari does.
func CheckPage(query url.Values) *Error {
	var messages []string
	if _, ok := lastParam(query, "page"); !ok {
		messages = append(messages, msgPageInvalid)
	}
	switch n, ok := lastParam(query, "per_page"); {
	case !ok:
		messages = append(messages, msgPerPageInvalid)
	case n == "0":
		messages = append(messages, msgPerPageNotAllow)
	}
	if len(messages) == 0 {
		return nil
	}
	return ValidationError("invalid_pagination", messages...)
}

// lastParam is the last value of a repeated parameter (as Rack reads it),
// without surrounding spaces and canonical when it is zero ("0"), and
// whether it is absent, empty or an integer as Grape coerces one: an
// optional sign and decimal digits, of any length.
func lastParam(query url.Values, name string) (string, bool) {
	values := query[name]
	if len(values) == 0 {
		return "", true
	}
	v := strings.TrimSpace(values[len(values)-1])
	digits := strings.TrimLeft(v, "+-")
	if len(v)-len(digits) > 1 {
		return v, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return v, false
		}
	}
	if digits != "" && strings.Trim(digits, "0") == "" {
		return "0", true
	}
	return v, digits != "" || v == ""
}

// ParsePage reads page and per_page as GitLab's pagination takes them
// once CheckPage passed them (a value CheckPage refuses falls back to the
// default here): page below 1 is page 1, per_page below 1 is
// DefaultPerPage, above MaxPerPage is MaxPerPage. Rack reads the last of
// repeated parameters.
func ParsePage(query url.Values, total int) Page {
	p := Page{Number: 1, PerPage: DefaultPerPage, Total: max(total, 0)}
	if n, ok := lastInt(query, "page"); ok && n > 1 {
		p.Number = n
	}
	if n, ok := lastInt(query, "per_page"); ok && n > 0 {
		p.PerPage = min(n, MaxPerPage)
	}
	return p
}

func lastInt(query url.Values, name string) (int, bool) {
	values := query[name]
	if len(values) == 0 {
		return 0, false
	}
	n, err := strconv.Atoi(values[len(values)-1])
	return n, err == nil
}

// TotalPages is the number of pages, at least 1 (as GitLab's X-Total-Pages).
func (p Page) TotalPages() int {
	return max((p.Total+p.PerPage-1)/p.PerPage, 1)
}

// Bounds are the indexes of the page's items in the whole list,
// list[start:end]; start == end for a page past the last.
func (p Page) Bounds() (start, end int) {
	if p.Number-1 >= (p.Total+p.PerPage-1)/p.PerPage { // also guards the product below against overflow
		return p.Total, p.Total
	}
	start = (p.Number - 1) * p.PerPage
	return start, min(start+p.PerPage, p.Total)
}

// Next is the next page's number, 0 on the last page or past it
// (Kaminari's next_page).
func (p Page) Next() int {
	if p.Number >= p.TotalPages() {
		return 0
	}
	return p.Number + 1
}

// Prev is the previous page's number, 0 on the first page or past the last
// (Kaminari's prev_page: a page out of range has none).
func (p Page) Prev() int {
	if p.Number == 1 || p.Number > p.TotalPages() {
		return 0
	}
	return p.Number - 1
}

// SetHeaders sets GitLab's pagination headers: X-Total, X-Total-Pages,
// X-Per-Page, X-Page, X-Next-Page, X-Prev-Page (empty when there is none)
// and Link, whose absolute URLs are base (scheme, host and path of the
// request) with the caller's query, its page and per_page replaced.
func (p Page) SetHeaders(h http.Header, base *url.URL) {
	h.Set("X-Total", strconv.Itoa(p.Total))
	h.Set("X-Total-Pages", strconv.Itoa(p.TotalPages()))
	h.Set("X-Per-Page", strconv.Itoa(p.PerPage))
	h.Set("X-Page", strconv.Itoa(p.Number))
	h.Set("X-Next-Page", pageNumber(p.Next()))
	h.Set("X-Prev-Page", pageNumber(p.Prev()))
	h.Set("Link", p.link(base))
}

func pageNumber(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// link is the Link header, in GitLab's order: prev, next, first, last.
func (p Page) link(base *url.URL) string {
	query := linkQuery(base.RawQuery)
	href := func(page int) string {
		query.Set("page", strconv.Itoa(page))
		query.Set("per_page", strconv.Itoa(p.PerPage))
		u := url.URL{Scheme: base.Scheme, Host: base.Host, Path: base.Path, RawPath: base.RawPath, RawQuery: query.Encode()}
		return "<" + u.String() + ">"
	}
	var b strings.Builder
	if prev := p.Prev(); prev != 0 {
		b.WriteString(href(prev) + `; rel="prev", `)
	}
	if next := p.Next(); next != 0 {
		b.WriteString(href(next) + `; rel="next", `)
	}
	b.WriteString(href(1) + `; rel="first", `)
	b.WriteString(href(p.TotalPages()) + `; rel="last"`)
	return b.String()
}

// linkQuery is the caller's query as page links repeat it: without
// credentials (response headers end up in access logs), and without any other parameter when they are long or
// malformed.
func linkQuery(raw string) url.Values {
	query, err := url.ParseQuery(raw)
	if err != nil || len(raw) > linkQueryMax {
		return url.Values{}
	}
	DeleteQueryCredentials(query)
	return query
}
