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

func TestStepRunFloorCountsALaunchPerRun(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	tests := []struct {
		name              string
		hosts, forks      int
		g                 Grouping
		latency, start    time.Duration
		floor, simMinimum time.Duration
	}{
		// (2 + 2)·50 + (1 + 6)·100 = 900 ms, against the per-step 4,100;
		// the simulator starts the six powershell.exe four ahead:
		// 2·50 + 50 + (1 + 2)·100 = 450 ms.
		{"the twenty steps, six of them powershell, in one run", 200, 200, Grouping{Runs: 1, PowerShellInRuns: 6}, 50 * ms, 100 * ms, 900 * ms, 450 * ms},
		// 5 × ((2 + 2)·150 + (1 + 1)·100) = 4,000 ms, against the per-step 7,500.
		{"the main workload on the cross-region fleet", 1000, 200, Grouping{Runs: 1, PowerShellInRuns: 1}, 150 * ms, 100 * ms, 4000 * ms, 3250 * ms},
		{"10,000 hosts at forks 2,000", 10000, 2000, Grouping{Runs: 1, PowerShellInRuns: 1}, 50 * ms, 100 * ms, 2000 * ms, 1750 * ms},
		// A single step goes alone: the per-step floor of one step.
		{"a single step is the per-step floor", 1000, 1000, Grouping{Alone: 1}, 50 * ms, 100 * ms, 300 * ms, 250 * ms},
		// (2 + 2·5)·10 + (5 + 1)·20 = 240 ms;
		// 2·10 + 2·10 + max(2·10, (2 + 1)·20) + 3·(10 + 20) = 190 ms.
		{"runs and steps alone together", 10, 10, Grouping{Runs: 2, PowerShellInRuns: 1, Alone: 3}, 10 * ms, 20 * ms, 240 * ms, 190 * ms},
		{"no hosts take no time", 0, 50, Grouping{Runs: 1}, 50 * ms, 100 * ms, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := StepRunFloor(tt.hosts, tt.forks, tt.g, tt.latency, tt.start); got != tt.floor {
				t.Errorf("StepRunFloor = %s, want %s", got, tt.floor)
			}
			if got := StepRunSimMinimum(tt.hosts, tt.forks, tt.g, tt.latency, tt.start); got != tt.simMinimum {
				t.Errorf("StepRunSimMinimum = %s, want %s", got, tt.simMinimum)
			}
		})
	}
}

func TestNewResultTakesThePathsFloor(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	fp := &FleetPlan{Spec: FleetSpec{Hosts: 200, Latency: 50 * ms, ProcessStart: 100 * ms}}
	tests := []struct {
		w                               Workload
		path                            Path
		floor, simMinimum, perStepFloor time.Duration
	}{
		{TwentySteps, PerStep, 4100 * ms, 3100 * ms, 4100 * ms},
		{TwentySteps, StepRuns, 900 * ms, 450 * ms, 4100 * ms},
		// One step goes alone: 1,000 hosts in five waves of the per-step floor.
		{Megabyte, StepRuns, 1500 * ms, 1250 * ms, 1500 * ms},
	}
	for _, tt := range tests {
		r := NewResult(fp, RunPlan{Workload: tt.w, Forks: 200}, tt.path)
		if r.Floor != tt.floor || r.SimMinimum != tt.simMinimum || r.PerStepFloor != tt.perStepFloor || r.Path != tt.path {
			t.Errorf("%s, %s: floor %s, sim minimum %s, per-step floor %s; want %s, %s, %s", tt.w.Name, tt.path, r.Floor, r.SimMinimum, r.PerStepFloor, tt.floor, tt.simMinimum, tt.perStepFloor)
		}
	}
}

func TestRunStartsOverlapFourPowerShellProcesses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		g    Grouping
		want int
	}{
		{Grouping{Runs: 1}, 1},
		{Grouping{Runs: 1, PowerShellInRuns: 1}, 2},
		{Grouping{Runs: 1, PowerShellInRuns: 4}, 2},
		{Grouping{Runs: 1, PowerShellInRuns: 5}, 3},
		{Grouping{Runs: 1, PowerShellInRuns: 6}, 3},
		{Grouping{Runs: 2, PowerShellInRuns: 1, Alone: 3}, 3},
		{Grouping{Alone: 1}, 0},
	}
	for _, tt := range tests {
		if got := runStarts(tt.g); got != tt.want {
			t.Errorf("runStarts(%+v) = %d, want %d", tt.g, got, tt.want)
		}
	}
}
