package caddymodule

import (
	"io"
	"strings"
	"unicode"

	"golang.org/x/text/width"
)

// The CLI's tables are aligned in terminal columns, not in runes as
// text/tabwriter aligns them: a description in Chinese or Japanese, or
// with combining accents, would push the rest of its row out of line.

// displayWidth is the number of terminal columns s takes: two for an East
// Asian wide or fullwidth character, none for a combining mark or a format
// character (such as a zero-width joiner), one for any other.
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		n += runeWidth(r)
	}
	return n
}

func runeWidth(r rune) int {
	if unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf) {
		return 0
	}
	switch width.LookupRune(r).Kind() {
	case width.EastAsianWide, width.EastAsianFullwidth:
		return 2
	}
	return 1
}

// truncateWidth cuts s to at most cols columns, ending with an ellipsis
// when it is cut.
func truncateWidth(s string, cols int) string {
	if displayWidth(s) <= cols {
		return s
	}
	var b strings.Builder
	used := 0
	for _, r := range s {
		w := runeWidth(r)
		if used+w > cols-1 {
			break
		}
		b.WriteRune(r)
		used += w
	}
	b.WriteString("…")
	return b.String()
}

// writeTable writes rows as columns two spaces apart, each as wide as its
// widest cell; the last cell of a row is not padded.
func writeTable(w io.Writer, rows [][]string) error {
	var widths []int
	for _, row := range rows {
		for i, cell := range row {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], displayWidth(cell))
		}
	}
	var b strings.Builder
	for _, row := range rows {
		for i, cell := range row {
			b.WriteString(cell)
			if i < len(row)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-displayWidth(cell)+2))
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}
