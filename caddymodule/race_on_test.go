//go:build race

package caddymodule

// raceAllocSlack: under the race detector, sync.Pool drops a share of what
// is put back (the body buffers), which then costs allocations again.
const raceAllocSlack = 3
