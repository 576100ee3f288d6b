package main

import (
	"runtime/debug"
)

// Garbage collector settings for the commands that drive a fleet (apply,
// run, preflight). Go's default (GOGC=100) collects whenever the heap has
// doubled since the last collection; a controller with a few megabytes
// live and hundreds of hosts answering allocates that much in a few
// milliseconds, so it collects continuously. GOGC=150 collects a third
// less often for about a tenth more memory with 1,000 hosts in flight
// (higher values cost more memory than the budget of 150 MB for 1,000
// hosts allows, for no CPU the benchmarks could tell apart). The memory
// limit bounds the controller with thousands of hosts in flight, where
// the live heap and the goroutines' stacks grow with the hosts: near the
// limit the runtime collects as often as it needs to stay under it,
// whatever GOGC says.
const (
	// fleetGCPercent is GOGC for the fleet commands.
	fleetGCPercent = 150
	// fleetMemoryLimit is GOMEMLIMIT for the fleet commands: a soft
	// limit on all the memory the Go runtime holds.
	fleetMemoryLimit = 512 << 20
)

// fleetCommands are the commands tuneGC tunes: those that hold many hosts'
// connections at once. The others (sim among them, which serves a whole
// fleet from one process) keep Go's defaults.
var fleetCommands = map[string]bool{"apply": true, "run": true, "preflight": true}

// tuneGC applies the fleet commands' garbage collector settings when args
// name one of them, unless the environment sets GOGC or GOMEMLIMIT, which
// the runtime has then already applied and which win.
func tuneGC(args []string, lookupEnv func(string) (string, bool)) {
	if len(args) == 0 || !fleetCommands[args[0]] {
		return
	}
	if _, set := lookupEnv("GOGC"); !set {
		debug.SetGCPercent(fleetGCPercent)
	}
	if _, set := lookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(fleetMemoryLimit)
	}
}
