package triggergateway

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The documentation is split into pages (README.md, docs/*.md,
// BENCHMARKS.md) that link to each other's sections: every relative link
// must name a file that exists and, with a #fragment, a heading of that
// page, by GitHub's anchor rules. The README's map links to every page.
func TestDocLinksResolve(t *testing.T) {
	t.Parallel()
	pages, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	pages = append([]string{"README.md", "BENCHMARKS.md"}, pages...)
	linked := map[string]bool{}
	for _, page := range pages {
		for _, link := range markdownLinks(t, page) {
			if absoluteURL.MatchString(link.target) {
				continue // an absolute URL
			}
			file, fragment, _ := strings.Cut(link.target, "#")
			dest := page
			if file != "" {
				dest = filepath.Join(filepath.Dir(page), file)
			}
			if page == "README.md" {
				linked[dest] = true
			}
			if _, err := os.Stat(dest); err != nil {
				t.Errorf("%s:%d: %s: no file %s", page, link.line, link.target, dest)
				continue
			}
			if fragment != "" && !markdownAnchors(t, dest)[fragment] {
				t.Errorf("%s:%d: %s: no heading #%s in %s", page, link.line, link.target, fragment, dest)
			}
		}
	}
	for _, page := range pages[1:] {
		if !linked[page] {
			t.Errorf("README.md does not link to %s", page)
		}
	}
}

// markdownLink is a link's target and the line it is on.
type markdownLink struct {
	line   int
	target string
}

// numberedLine is a page's line and its number.
type numberedLine struct {
	n    int
	text string
}

var (
	absoluteURL = regexp.MustCompile(`^[a-z]+:`)
	fenceLine   = regexp.MustCompile("^ {0,3}(```|~~~)")
	inlineCode  = regexp.MustCompile("`[^`]*`")
	linkTarget  = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	headingRe   = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*$`)
	linkText    = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
	notInSlug   = regexp.MustCompile(`[^\p{L}\p{N}_\- ]`)
)

// markdownLines returns a page's lines outside fenced code blocks, in
// order, with their line numbers.
func markdownLines(t *testing.T, page string) []numberedLine {
	t.Helper()
	data, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	var lines []numberedLine
	fence := ""
	for i, line := range strings.Split(string(data), "\n") {
		if m := fenceLine.FindStringSubmatch(line); m != nil {
			switch fence {
			case "":
				fence = m[1]
			case m[1]:
				fence = ""
			}
			continue
		}
		if fence == "" {
			lines = append(lines, numberedLine{i + 1, line})
		}
	}
	return lines
}

// markdownLinks returns the link targets of a page, outside code.
func markdownLinks(t *testing.T, page string) []markdownLink {
	t.Helper()
	var links []markdownLink
	for _, line := range markdownLines(t, page) {
		for _, m := range linkTarget.FindAllStringSubmatch(inlineCode.ReplaceAllString(line.text, ""), -1) {
			links = append(links, markdownLink{line.n, m[1]})
		}
	}
	return links
}

// markdownAnchors returns the anchors GitHub gives a page's headings:
// lower case, punctuation removed, spaces to '-', repeats numbered.
func markdownAnchors(t *testing.T, page string) map[string]bool {
	t.Helper()
	anchors := map[string]bool{}
	seen := map[string]int{}
	for _, line := range markdownLines(t, page) {
		m := headingRe.FindStringSubmatch(line.text)
		if m == nil {
			continue
		}
		slug := linkText.ReplaceAllString(m[1], "$1")
		slug = strings.ReplaceAll(notInSlug.ReplaceAllString(strings.ToLower(slug), ""), " ", "-")
		if k := seen[slug]; k > 0 {
			anchors[slug+"-"+strconv.Itoa(k)] = true
		} else {
			anchors[slug] = true
		}
		seen[slug]++
	}
	return anchors
}
