//go:build !race

package runner

// raceOn: see race_on_test.go.
const raceOn = false
