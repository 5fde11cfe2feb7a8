//go:build !race

package caddymodule

// raceAllocSlack: see race_on_test.go.
const raceAllocSlack = 0
