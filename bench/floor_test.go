package bench

import (
	"testing"
	"time"
)

func TestFloorIsTheDesignFormulaTimesTheWaves(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	tests := []struct {
		name                string
		hosts, forks, steps int
		latency, start      time.Duration
		waves               int
		floor, simMinimum   time.Duration
	}{
		{"the main workload at forks 200 takes five waves", 1000, 200, 3, 50 * ms, 100 * ms, 5, 5 * 700 * ms, 5 * 550 * ms},
		{"forks above the host count is one wave", 200, 1000, 20, 50 * ms, 100 * ms, 1, 4100 * ms, 3100 * ms},
		{"a partial last wave counts whole", 1000, 300, 1, 50 * ms, 100 * ms, 4, 4 * 300 * ms, 4 * 250 * ms},
		{"a start cost below the latency hides under the Receive", 10, 10, 2, 50 * ms, 20 * ms, 1, 340 * ms, 300 * ms},
		{"no hosts take no time", 0, 50, 3, 50 * ms, 100 * ms, 0, 0, 0},
		{"zero forks count as one", 3, 0, 1, 10 * ms, 0, 3, 3 * 40 * ms, 3 * 40 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Waves(tt.hosts, tt.forks); got != tt.waves {
				t.Errorf("Waves = %d, want %d", got, tt.waves)
			}
			if got := Floor(tt.hosts, tt.forks, tt.steps, tt.latency, tt.start); got != tt.floor {
				t.Errorf("Floor = %s, want %s", got, tt.floor)
			}
			if got := SimMinimum(tt.hosts, tt.forks, tt.steps, tt.latency, tt.start); got != tt.simMinimum {
				t.Errorf("SimMinimum = %s, want %s", got, tt.simMinimum)
			}
		})
	}
}
