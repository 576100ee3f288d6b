package bench

import (
	"strings"
	"testing"
)

func TestCheckStepsCountsTheStepsInsideRuns(t *testing.T) {
	t.Parallel()
	w := ThreeSteps // 1,000 hosts × 3 steps
	tests := []struct {
		name                         string
		path                         Path
		commands, stepRuns, runSteps int64
		wantErr                      string
	}{
		{"every step alone", PerStep, 3000, 0, 0, ""},
		{"one run of three steps per host", StepRuns, 1000, 1000, 3000, ""},
		{"a step missing", PerStep, 2999, 0, 0, "executed 2999 steps (2999 commands, 0 step runs holding 0 steps), want 3000"},
		{"a run one step short", StepRuns, 1000, 1000, 2999, "executed 2999 steps"},
		{"a step retried", PerStep, 3001, 0, 0, "executed 3001 steps"},
		// A binary without step runs sends every step alone even when
		// asked for runs: the row would lie, so the run fails.
		{"no runs on the step-run path", StepRuns, 3000, 0, 0, "counted 0 step runs on the step runs path, want 1000"},
		{"runs on the per-step path", PerStep, 1000, 1000, 3000, "counted 1000 step runs on the per step path, want 0"},
		// Some hosts' steps went alone after a broken run.
		{"a host's steps alone", StepRuns, 1002, 999, 2997, "counted 999 step runs on the step runs path, want 1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := CheckSteps(w, tt.path, Measured{Commands: tt.commands, StepRuns: tt.stepRuns, RunSteps: tt.runSteps})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("CheckSteps: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("CheckSteps = %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
}

func TestPathsChooseTheApplyFlag(t *testing.T) {
	t.Parallel()
	if got := strings.Join(PerStep.Args(), " "); got != "--no-step-runs" {
		t.Errorf("per step: %q", got)
	}
	if got := StepRuns.Args(); len(got) != 0 {
		t.Errorf("step runs: %q, want the default", got)
	}
	if got := (RunPlan{}).paths(); len(got) != 1 || got[0] != StepRuns {
		t.Errorf("a plan naming no path runs %v, want the default", got)
	}
}

func TestCheckShellsClosedWantsNoneLeftOpen(t *testing.T) {
	t.Parallel()
	if err := CheckShellsClosed(Measured{Shells: 1000}); err != nil {
		t.Errorf("every shell deleted: %v", err)
	}
	err := CheckShellsClosed(Measured{Shells: 1000, LeftOpen: 5})
	if want := "5 shells were still open on the fleet when the client ended (it opened 1000); every shell must be deleted"; err == nil || err.Error() != want {
		t.Errorf("five left open: %v, want %q", err, want)
	}
}
