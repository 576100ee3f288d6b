//go:build race

package report

// raceOn: under the race detector sync.Pool drops what it holds at
// random, so allocation counts are not what a normal build's are.
const raceOn = true
