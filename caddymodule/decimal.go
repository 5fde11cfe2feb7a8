package caddymodule

import "strconv"

// decimal is strconv.Itoa without an allocation for the numbers below
// decimalsCut, the lengths of most canonical bodies (Content-Length):
// their decimal forms are cut from one string built once (3 KB, and 2 KB
// for the table of where each ends).
func decimal(n int) string {
	if n < 0 || n >= decimalsCut {
		return strconv.Itoa(n)
	}
	start := uint16(0)
	if n > 0 {
		start = decimalEnds[n-1]
	}
	return decimals[start:decimalEnds[n]]
}

const decimalsCut = 1024

// decimals holds "0123...1023"; decimalEnds[n] is where n's digits end.
var decimals, decimalEnds = buildDecimals()

func buildDecimals() (string, [decimalsCut]uint16) {
	var digits []byte
	var ends [decimalsCut]uint16
	for n := range decimalsCut {
		digits = strconv.AppendInt(digits, int64(n), 10)
		ends[n] = uint16(len(digits))
	}
	return string(digits), ends
}
