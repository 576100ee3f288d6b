package ssm_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/sim"
	"github.com/fleetrun/fleetrun/transport"
)

// fleetPlaybook is the two-step playbook of the fleet-size runs.
const fleetPlaybook = `
name: fleet
forks: %d
steps:
  - name: who
    command: [hostname]
  - name: report
    powershell: Write-Output 'patched'
`

// runFleet applies fleetPlaybook to n simulated hosts over SSM and checks
// that every host succeeded, that commands were batched and that polling
// stayed well below one call per host per poll interval.
func runFleet(t *testing.T, n, forks int, rate float64) {
	t.Helper()
	f, hosts := startFleet(t, n, "", sim.FleetOptions{SSMRate: rate})
	pb, err := playbook.Parse("fleet.yaml", []byte(fmt.Sprintf(fleetPlaybook, forks)))
	if err != nil {
		t.Fatal(err)
	}
	opts := options(t)
	opts.PollInterval = 100 * time.Millisecond
	opts.MaxPollInterval = time.Second
	opts.BatchWindow = 100 * time.Millisecond
	d := newDialer(t, opts)
	for _, h := range hosts {
		h.Transport = "ssm"
	}
	start := time.Now()
	res, err := runner.Run(context.Background(), pb, hosts, runner.Options{
		Dialer: d,
		Target: func(ctx context.Context, h *inventory.Host) (transport.Target, error) {
			tg, err := runner.TargetOf(ctx, h, func(string) (string, bool) { return "", false })
			return tg, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	wall := time.Since(start)
	if sum := res.Summarize(); sum.OK != n {
		for _, h := range res.Hosts {
			if h.Status != runner.StatusOK {
				t.Errorf("%s: %s %v %+v", h.Name, h.Status, h.Err, h.FailedStep())
				break
			}
		}
		t.Fatalf("summary %+v, want %d ok", sum, n)
	}
	st := d.Stats()
	api := f.SSMStats()
	perHost := float64(st.Total()) / float64(n)
	intervals := wall.Seconds() / opts.PollInterval.Seconds()
	perHostPerInterval := float64(st.Total()) / (float64(n) * intervals)
	t.Logf("%d hosts, 2 steps, forks %d, in %v: %d SDK calls (%.3f per host, %.4f per host per %v poll interval): %v; %d commands for %d invocations; %d throttled; endpoint counted %v",
		n, forks, wall.Round(time.Millisecond), st.Total(), perHost, perHostPerInterval, opts.PollInterval, st.Calls, st.Commands, st.Invocations, st.Throttled, api.Calls)
	if st.Invocations != int64(2*n) {
		t.Errorf("%d invocations, want %d", st.Invocations, 2*n)
	}
	// Batched SendCommand: a command carries many hosts (at most 50).
	if maxCommands := int64(2*n/10 + 10); st.Commands > maxCommands {
		t.Errorf("%d commands for %d invocations, want at most %d", st.Commands, st.Invocations, maxCommands)
	}
	if perHostPerInterval > 0.1 {
		t.Errorf("%.3f SDK calls per host per poll interval, want well below 1 (at most 0.1)", perHostPerInterval)
	}
	if perHost > 1.5 {
		t.Errorf("%.2f SDK calls per host for two steps, want at most 1.5", perHost)
	}
}

func TestFleetOfThreeHundredOverSSM(t *testing.T) {
	t.Parallel()
	runFleet(t, 300, 300, 0)
}

func TestThrottledFleetOfThreeHundredOverSSM(t *testing.T) {
	t.Parallel()
	runFleet(t, 300, 300, 10)
}
