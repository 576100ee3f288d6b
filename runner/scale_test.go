//go:build scale

package runner_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/winrm"
)

// TestScaleThousandHostsThreeSteps runs a three-step playbook (argv, cmd,
// PowerShell) on 1,000 simulated hosts at forks 200 (make test-scale).
func TestScaleThousandHostsThreeSteps(t *testing.T) {
	hosts, fleet := simFleet(t, 1000, "")
	pb := mustPlaybook(t, `
name: scale
forks: 200
serial: [100, "40%"]
max_fail: "1%"
steps:
  - name: argv
    command: ['C:\tools\echoargs.exe', "two words", "{{ .host.name }}"]
  - name: cmd
    cmd: echo %COMPUTERNAME%
  - name: ps
    powershell: Write-Output "hello from $env:COMPUTERNAME"
`)
	log := newEventLog()
	start := time.Now()
	res, err := runner.Run(context.Background(), pb, hosts, runner.Options{
		Dialer: winrm.NewDialer(winrm.Options{}), Target: simTarget, Sinks: []runner.Sink{log},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("1,000 hosts × 3 steps at forks 200: %s", time.Since(start).Round(time.Millisecond))
	if st := statuses(res); st[runner.StatusOK] != 1000 {
		t.Fatalf("statuses %v, want 1000 ok", st)
	}
	stats := fleet.Stats()
	if stats.PeakShells > 200 {
		t.Errorf("peak concurrent shells %d > forks 200", stats.PeakShells)
	}
	// One shell per host, and its three steps in one step run.
	if st := stats.Totals; st.ShellsOpened != 1000 || st.Commands != 1000 || st.StepRuns != 1000 || st.RunSteps != 3000 {
		t.Errorf("shells %d, commands %d, step runs %d, steps in runs %d; want 1000, 1000, 1000 and 3000", st.ShellsOpened, st.Commands, st.StepRuns, st.RunSteps)
	}
	log.checkNoOverlap(t)
	for _, h := range res.Hosts {
		// COMPUTERNAME is upper case on Windows.
		if want := "hello from " + strings.ToUpper(h.Name) + "\r\n"; h.Steps[2].Stdout != want {
			t.Errorf("%s: stdout %q", h.Name, h.Steps[2].Stdout)
			break
		}
	}
}

// TestScaleTaskRolloutRidesOutANetworkCut is TestTaskRolloutRidesOutANetworkCut
// on 300 hosts at forks 100.
func TestScaleTaskRolloutRidesOutANetworkCut(t *testing.T) {
	taskRolloutRidesOutANetworkCut(t, 300, 100)
}
