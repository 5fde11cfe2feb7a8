// Package allocstest counts a function's allocations in a test process
// where other goroutines allocate too: a store's usage flush, heartbeat
// and layout migration, or those of a store an earlier test left closing.
package allocstest

import "testing"

// Fewest is testing.AllocsPerRun's count, taken tries times, the fewest.
//
// AllocsPerRun reads the whole process's malloc count: a background flush
// that lands inside one measurement adds its hundreds of allocations to
// it, divided by runs. An allocation f itself adds shows in every
// measurement, so the fewest still counts it.
func Fewest(tries, runs int, f func()) float64 {
	fewest := testing.AllocsPerRun(runs, f)
	for range tries - 1 {
		if fewest == 0 {
			break
		}
		fewest = min(fewest, testing.AllocsPerRun(runs, f))
	}
	return fewest
}
