// Package bench measures fleetrun at fleet scale. It starts a simulated
// fleet (`fleetrun sim`) in a process of its own, runs `fleetrun apply` and a
// pywinrm peer against it as child processes, measures each child's wall
// time, CPU and peak RSS and the WS-Man requests the fleet counted, compares
// the wall time with the protocol floor, and renders BENCHMARKS.md.
//
// It leaves the protocol to sim and winrm and the scheduling to runner: it
// only starts processes, counts and writes. bench/run is the entry point
// (`make bench`); bench/cmd/fleetbench is the program it runs.
package bench
