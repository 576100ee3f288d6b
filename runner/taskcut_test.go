package runner_test

import (
	"context"
	"path"
	"strconv"
	"testing"
	"time"

	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/winrm"
)

// A rollout whose installer runs as a scheduled task rides out a network
// cut: the hosts stop answering while their tasks run, for longer than the
// step's poll interval and the requests' timeouts, and when they answer
// again every step is followed to its end — the installer ran once per
// host and the result carries the exit codes the tasks ended with.
//
// make test runs it on 60 hosts at forks 20 (three rounds of the pool);
// make test-scale runs TestScaleTaskRolloutRidesOutANetworkCut on 300 at
// forks 100.
func TestTaskRolloutRidesOutANetworkCut(t *testing.T) {
	t.Parallel()
	taskRolloutRidesOutANetworkCut(t, 60, 20)
}

func taskRolloutRidesOutANetworkCut(t *testing.T, hosts, forks int) {
	hs, fleet := simFleet(t, hosts, `
defaults:
  process_start: 100ms
  files: {'C:\patches\KB5034439.msu': "simulated update package"}
groups:
  - name: patched
    hosts: "sim-0??[05]"
    installed_kbs: [KB5034439]
`)
	pb, err := playbook.Parse("cut.yaml", []byte(`
name: cut
forks: `+strconv.Itoa(forks)+`
defaults:
  # Requests that time out (during the cut, and on a loaded machine with
  # the short timeouts below) are tried again.
  retries: 20
  retry_delay: 200ms
  timeout: 3m
steps:
  - name: install
    command: [wusa.exe, 'C:\patches\KB5034439.msu', /quiet, /norestart]
    run_as: system
    expect_exit: [3010, 2359302]
  - name: after
    cmd: echo installed
`))
	if err != nil {
		t.Fatal(err)
	}
	opts := winrm.Options{
		OperationTimeout: 2 * time.Second, ReceiveTimeout: 2 * time.Second, RequestGrace: time.Second, CleanupTimeout: 5 * time.Second,
		TaskPoll: 50 * time.Millisecond, TaskWindow: time.Second, TaskRetry: 100 * time.Millisecond, TaskRetryMax: time.Second,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cutCtx, stopCutting := context.WithCancel(ctx)
	defer stopCutting()
	cutDone := make(chan struct{})
	var caught []string // hosts whose task ran when the cut began
	go func() {
		defer close(cutDone)
		if fleet.WaitFor(cutCtx, func() bool {
			t := fleet.Stats().Totals.Tasks
			return t.Runs >= int64(hosts/10) && t.Running >= 1
		}) != nil {
			return // the run ended first; the test reports it
		}
		fleet.SetNetworkCut(true)
		for _, h := range fleet.Stats().Hosts {
			if h.Tasks.Running > 0 {
				caught = append(caught, h.Name)
			}
		}
		// The cut lasts until every task running when it began has ended
		// and the controller has met the silence on each of those hosts.
		_ = fleet.WaitFor(ctx, func() bool {
			st := fleet.Stats()
			if st.Totals.Tasks.Running > 0 {
				return false
			}
			for _, name := range caught {
				if fleet.Host(name).Stats().Requests["unanswered_in_cut"] == 0 {
					return false
				}
			}
			return true
		})
		fleet.SetNetworkCut(false)
	}()
	res, err := runner.Run(ctx, pb, hs, runner.Options{Dialer: winrm.NewDialer(opts), Target: simTarget, CloseTimeout: 5 * time.Second})
	stopCutting()
	<-cutDone
	if err != nil {
		t.Fatal(err)
	}
	st := fleet.Stats()
	if st.Totals.Requests["network_cut"] != int64(hosts) {
		t.Fatalf("the fleet was cut off %d times, want once per host", st.Totals.Requests["network_cut"])
	}
	t.Logf("%d requests went unanswered during the cut; %d hosts had a task running when it began", st.Totals.Requests["unanswered_in_cut"], len(caught))
	if len(caught) == 0 {
		t.Errorf("no task ran when the cut began")
	}
	for _, h := range res.Hosts {
		if h.Status != runner.StatusOK {
			t.Errorf("%s: %s %v", h.Name, h.Status, h.FailedStep())
			continue
		}
		want := uint32(3010)
		if patched(h.Name) {
			want = 2359302
		}
		if c := h.Steps[0].ExitCode; c == nil || *c != want {
			t.Errorf("%s: install exit code %v, want %d", h.Name, c, want)
		}
	}
	for _, h := range st.Hosts {
		if h.Programs["wusa.exe"] != 1 || h.Tasks.Runs != 1 || h.Tasks.Running != 0 {
			t.Errorf("%s: the installer ran %d times in %d task runs (%d running); want exactly once", h.Name, h.Programs["wusa.exe"], h.Tasks.Runs, h.Tasks.Running)
		}
	}
}

// patched reports whether the scenario above gives host the update.
func patched(name string) bool {
	ok, err := path.Match("sim-0??[05]", name)
	return err == nil && ok
}
