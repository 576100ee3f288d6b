package main

import (
	"math"
	"runtime/debug"
	"testing"
)

// TestTuneGCSetsTheFleetCommandsDefaults changes the process's collector
// settings, so it does not run in parallel and restores them.
func TestTuneGCSetsTheFleetCommandsDefaults(t *testing.T) {
	percent := debug.SetGCPercent(100)
	limit := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	})
	tests := []struct {
		name        string
		args        []string
		env         map[string]string
		wantPercent int
		wantLimit   int64
	}{
		{"apply", []string{"apply", "pb.yaml", "-i", "inv.yaml"}, nil, fleetGCPercent, fleetMemoryLimit},
		{"run", []string{"run", "-i", "inv.yaml", "--", "hostname"}, nil, fleetGCPercent, fleetMemoryLimit},
		{"preflight", []string{"preflight", "-i", "inv.yaml"}, nil, fleetGCPercent, fleetMemoryLimit},
		{"GOGC set", []string{"apply"}, map[string]string{"GOGC": "100"}, 100, fleetMemoryLimit},
		{"GOMEMLIMIT set", []string{"apply"}, map[string]string{"GOMEMLIMIT": "1GiB"}, fleetGCPercent, math.MaxInt64},
		{"sim keeps Go's defaults", []string{"sim", "--hosts", "10"}, nil, 100, math.MaxInt64},
		{"validate keeps Go's defaults", []string{"validate", "pb.yaml"}, nil, 100, math.MaxInt64},
		{"no command", nil, nil, 100, math.MaxInt64},
	}
	for _, tt := range tests {
		debug.SetGCPercent(100)
		debug.SetMemoryLimit(math.MaxInt64)
		tuneGC(tt.args, func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
		gotPercent := debug.SetGCPercent(100)
		gotLimit := debug.SetMemoryLimit(-1) // a negative limit only reads it
		if gotPercent != tt.wantPercent || gotLimit != tt.wantLimit {
			t.Errorf("%s: GOGC %d, memory limit %d; want %d, %d", tt.name, gotPercent, gotLimit, tt.wantPercent, tt.wantLimit)
		}
	}
}
