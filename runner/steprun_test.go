package runner_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/transport"
)

// errTimedOut, returned by a runFleet's behaviour, is an attempt that ran
// past its timeout (the host ends it).
var errTimedOut = errors.New("timed out")

// errEndRun, returned by a runFleet's breakAt, makes the host end the run
// (its closing frame) before that attempt, as a host that disagrees with
// the controller's rules would.
var errEndRun = errors.New("end the run")

// runFleet is a fake fleet whose sessions run steps in step runs, applying
// the rules the step-run script applies on a host (docs/design.md), with
// each attempt's result from behave. It records every launch.
type runFleet struct {
	behave func(host string, cmd transport.Command, attempt int) (transport.Result, error)
	// breakAt, when set, breaks a host's run with its error when the
	// attempt (step index, attempt) begins.
	breakAt func(host string, step, attempt int) error

	mu       sync.Mutex
	launches []string // "host run 0,1,2" or "host alone 3"
}

func (f *runFleet) Dial(_ context.Context, t transport.Target) (transport.Session, error) {
	return &runSession{fleet: f, host: t.Name}, nil
}

func (f *runFleet) log(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.launches = append(f.launches, s)
}

type runSession struct {
	fleet *runFleet
	host  string
	// attempts counts attempts per step index across launches.
	attempts map[int]int
}

func (s *runSession) attempt(idx int) int {
	if s.attempts == nil {
		s.attempts = map[int]int{}
	}
	s.attempts[idx]++
	return s.attempts[idx]
}

func (s *runSession) Run(ctx context.Context, cmd transport.Command) (transport.Result, error) {
	idx := stepIndex(cmd)
	s.fleet.log(fmt.Sprintf("%s alone %d", s.host, idx))
	res, err := s.fleet.behave(s.host, cmd, s.attempt(idx))
	if errors.Is(err, errTimedOut) {
		<-ctx.Done() // the runner's step timeout
		return transport.Result{}, &transport.Error{Class: transport.ClassTimeout, Message: "deadline", Err: ctx.Err()}
	}
	return res, err
}

// stepIndex reads the step's index from its name ("s<index>").
func stepIndex(cmd transport.Command) int {
	var i int
	_, _ = fmt.Sscanf(cmd.Name, "s%d", &i)
	return i
}

func (s *runSession) Close(context.Context) error { return nil }

func (s *runSession) RunsTogether(cmd transport.Command) bool {
	return cmd.Kind == transport.KindArgv || cmd.Kind == transport.KindCmd || cmd.Kind == transport.KindPowerShell
}

func (s *runSession) RunSteps(ctx context.Context, steps []transport.RunStep, obs transport.RunObserver) error {
	var idx []string
	for _, st := range steps {
		idx = append(idx, fmt.Sprint(st.Index))
	}
	s.fleet.log(fmt.Sprintf("%s run %s", s.host, strings.Join(idx, ",")))
	at := time.Duration(0)
	for k, st := range steps {
		for a := 1; ; a++ {
			if s.fleet.breakAt != nil {
				if err := s.fleet.breakAt(s.host, st.Index, a); errors.Is(err, errEndRun) {
					return nil
				} else if err != nil {
					obs.AttemptStarted(k, a, at)
					return err
				}
			}
			stdout, _ := obs.AttemptStarted(k, a, at)
			res, err := s.fleet.behave(s.host, st.Command, s.attempt(st.Index))
			at += time.Millisecond
			if errors.Is(err, errTimedOut) {
				obs.AttemptFinished(k, a, transport.Result{}, true, at)
				if !st.ContinueOnError {
					return nil
				}
				break
			}
			if err != nil {
				return err
			}
			if stdout != nil {
				_, _ = stdout.Write([]byte(res.Stdout))
			}
			obs.AttemptFinished(k, a, res, false, at)
			if slices.Contains(st.Accept, res.ExitCode) {
				break
			}
			if slices.Contains(st.RetryOn, res.ExitCode) && a <= st.Retries {
				if len(st.RetryDelays) != st.Retries {
					return fmt.Errorf("%d retries, %d delays", st.Retries, len(st.RetryDelays))
				}
				continue
			}
			if !st.ContinueOnError {
				return nil
			}
			break
		}
	}
	return nil
}

// stepRunPlaybook names its steps s0, s1, ... so the fake knows them.
const stepRunPlaybook = `
name: runs
forks: 4
steps:
  - {name: s0, cmd: echo zero}
  - {name: s1, command: ['C:\tools\code.exe'], retry_on_exit: [1618], retries: 2, retry_delay: 1ms}
  - {name: s2, powershell: "exit 3", expect_exit: [0, 3], outcomes: {3: ok}}
  - {name: s3, cmd: slow, timeout: 1s, continue_on_error: true}
  - {name: s4, cmd: echo four, continue_on_error: true}
  - {name: s5, reboot: {timeout: 1m}}
  - {name: s6, cmd: echo six}
  - {name: s7, cmd: echo seven}
`

// stepRunBehaviour: host h000 succeeds everywhere (its slow step is
// quick), h001 gets 1618 twice then 0 on s1 and times out on s3, h002
// fails s4 (let go) and fails s6, h003 fails s1 for good.
func stepRunBehaviour(host string, cmd transport.Command, attempt int) (transport.Result, error) {
	switch {
	case cmd.Name == "s1" && host == "h001" && attempt < 3:
		return transport.Result{ExitCode: 1618, Stdout: "busy"}, nil
	case cmd.Name == "s1" && host == "h003":
		return transport.Result{ExitCode: 1618, Stderr: "still busy"}, nil
	case cmd.Name == "s2":
		return transport.Result{ExitCode: 3}, nil
	case cmd.Name == "s3" && host == "h001":
		return transport.Result{}, errTimedOut
	case cmd.Name == "s4" && host == "h002", cmd.Name == "s6" && host == "h002":
		return transport.Result{ExitCode: 9, Stderr: "no"}, nil
	}
	return transport.Result{Stdout: cmd.Name + " on " + host}, nil
}

// runAndLog runs the playbook on a runFleet, with or without step runs,
// and returns the results and the fleet's launches.
func runAndLog(t *testing.T, text string, noStepRuns bool, breakAt func(string, int, int) error, opts runner.Options) (*runner.Result, []string) {
	t.Helper()
	fleet := &runFleet{behave: stepRunBehaviour, breakAt: breakAt}
	opts.Dialer, opts.Target, opts.NoStepRuns, opts.After = &rebootingFleet{fleet}, target, noStepRuns, immediate
	res, err := runner.Run(context.Background(), mustPlaybook(t, text), makeHosts(4), opts)
	if err != nil {
		t.Fatal(err)
	}
	fleet.mu.Lock()
	defer fleet.mu.Unlock()
	launches := slices.Clone(fleet.launches)
	slices.Sort(launches)
	return res, launches
}

// rebootingFleet gives runFleet's sessions a reboot that always works.
type rebootingFleet struct{ *runFleet }

func (f *rebootingFleet) Dial(ctx context.Context, t transport.Target) (transport.Session, error) {
	s, err := f.runFleet.Dial(ctx, t)
	return rebootingSession{s.(*runSession)}, err
}

type rebootingSession struct{ *runSession }

func (rebootingSession) Reboot(context.Context, transport.RebootOptions) error { return nil }

// timeless drops what differs between two runs of the same work.
var timeless = cmpopts.IgnoreFields(runner.StepResult{}, "Started", "Finished")

var timelessHost = cmpopts.IgnoreFields(runner.HostResult{}, "Started", "Finished")

// causeless drops the error a step's error wraps, which reports do not
// show: alone, a timeout wraps the context's error; in a run the host
// ended the step and there is none.
var causeless = cmpopts.IgnoreFields(transport.Error{}, "Err")

func TestStepRunsGiveTheResultsOfStepsAlone(t *testing.T) {
	t.Parallel()
	alone, aloneLaunches := runAndLog(t, stepRunPlaybook, true, nil, runner.Options{})
	runs, runLaunches := runAndLog(t, stepRunPlaybook, false, nil, runner.Options{})
	if diff := cmp.Diff(alone.Hosts, runs.Hosts, timeless, timelessHost, causeless, cmpopts.IgnoreFields(runner.Result{}, "Started", "Finished")); diff != "" {
		t.Errorf("results differ (-alone +step runs):\n%s", diff)
	}
	wantRuns := []string{
		// A timeout (s3, continue_on_error) ends h001's attempt, the run
		// goes on; the reboot step splits every host's steps in two runs.
		"h000 run 0,1,2,3,4", "h000 run 6,7",
		"h001 run 0,1,2,3,4", "h001 run 6,7",
		// h002: s6 fails, the host stops.
		"h002 run 0,1,2,3,4", "h002 run 6,7",
		// h003: s1 fails for good after its retries; nothing else runs.
		"h003 run 0,1,2,3,4",
	}
	if !cmp.Equal(runLaunches, wantRuns) {
		t.Errorf("launches %q, want %q", runLaunches, wantRuns)
	}
	for _, l := range aloneLaunches {
		if strings.Contains(l, " run ") {
			t.Errorf("--no-step-runs launched %q", l)
		}
	}
	h1 := runs.Hosts[1]
	if s := h1.Steps[1]; s.Attempts != 3 || s.Status != runner.StatusOK {
		t.Errorf("h001's s1: %d attempts, %s; want 3, ok", s.Attempts, s.Status)
	}
	if s := h1.Steps[3]; s.Status != runner.StatusFailed || s.Err == nil || s.Err.Class != transport.ClassTimeout ||
		s.Err.Message != "step did not finish within its timeout of 1s; it was terminated on the host" {
		t.Errorf("h001's s3: %s %v; want failed with the step timeout", s.Status, s.Err)
	}
	if h := runs.Hosts[3]; h.Status != runner.StatusFailed || h.Steps[1].Attempts != 3 || h.Steps[2].Status != runner.StatusSkipped || h.Steps[2].Reason != runner.ReasonEarlierStepFailed {
		t.Errorf("h003: %s, s1 %d attempts, s2 %s (%q)", h.Status, h.Steps[1].Attempts, h.Steps[2].Status, h.Steps[2].Reason)
	}
}

// A run that breaks on a transient failure (a reset connection) sends the
// rest of the host's steps alone, from the step that broke, which then
// has its retries; any other failure fails that step and skips the rest.
func TestABrokenStepRunGoesOnAloneOrFails(t *testing.T) {
	t.Parallel()
	reset := &transport.Error{Class: transport.ClassConnectionLost, Message: "connection reset", Transient: true}
	fatal := &transport.Error{Class: transport.ClassWSManFault, Message: "the shell was deleted"}
	breakAt := func(host string, step, attempt int) error {
		switch {
		case host == "h000" && step == 1 && attempt == 1:
			return reset
		case host == "h001" && step == 2:
			return fatal
		case host == "h002" && step == 0:
			return reset // s0 has no retries: it fails
		}
		return nil
	}
	res, launches := runAndLog(t, stepRunPlaybook, false, breakAt, runner.Options{})
	want := []string{
		"h000 alone 1", "h000 alone 2", "h000 alone 3", "h000 alone 4", "h000 alone 6", "h000 alone 7", "h000 run 0,1,2,3,4",
		"h001 run 0,1,2,3,4",
		"h002 run 0,1,2,3,4",
		"h003 run 0,1,2,3,4",
	}
	if !cmp.Equal(launches, want) {
		t.Errorf("launches %q, want %q", launches, want)
	}
	if h := res.Hosts[0]; h.Status != runner.StatusOK || len(h.Steps) != 8 {
		t.Errorf("h000: %s with %d steps; want ok with 8", h.Status, len(h.Steps))
	}
	h1 := res.Hosts[1]
	if s := h1.Steps[2]; h1.Status != runner.StatusFailed || s.Status != runner.StatusFailed || s.Err == nil || s.Err.Class != transport.ClassWSManFault || s.ExitCode != nil {
		t.Errorf("h001: %s, s2 %+v; want s2 failed with the run's error", h1.Status, s)
	}
	if s := h1.Steps[3]; s.Status != runner.StatusSkipped || s.Reason != runner.ReasonEarlierStepFailed {
		t.Errorf("h001's s3: %s (%q), want skipped after the failure", s.Status, s.Reason)
	}
	if h := res.Hosts[2]; h.Status != runner.StatusUnreachable || h.Steps[0].Err == nil || h.Steps[0].Err.Class != transport.ClassConnectionLost {
		t.Errorf("h002: %s %v; want unreachable: its first step failed with the reset", h.Status, h.Steps[0].Err)
	}
}

// A journal written during step runs knows which steps of a run finished:
// a run interrupted at s2 resumes at s2.
func TestAnInterruptedStepRunResumesAfterItsLastFinishedStep(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pb := mustPlaybook(t, stepRunPlaybook)
	journal := filepath.Join(dir, "run.journal")
	j, err := runner.OpenJournal(journal, pb, fixedNow())
	if err != nil {
		t.Fatal(err)
	}
	fatal := &transport.Error{Class: transport.ClassInterrupted, Message: "cancelled by a second interrupt"}
	fleet := &runFleet{behave: stepRunBehaviour, breakAt: func(host string, step, _ int) error {
		if host == "h000" && step == 2 {
			return fatal
		}
		return nil
	}}
	if _, err := runner.Run(context.Background(), pb, makeHosts(1), runner.Options{Dialer: &rebootingFleet{fleet}, Target: target, After: immediate, Sinks: []runner.Sink{j}}); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	prog, err := runner.ReadJournal(journal)
	if err != nil {
		t.Fatal(err)
	}
	fleet2 := &runFleet{behave: stepRunBehaviour}
	res, err := runner.Run(context.Background(), pb, makeHosts(1), runner.Options{Dialer: &rebootingFleet{fleet2}, Target: target, After: immediate, Resume: &runner.Resume{Progress: prog}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"h000 run 2,3,4", "h000 run 6,7"}; !cmp.Equal(fleet2.launches, want) {
		t.Errorf("resumed launches %q, want %q", fleet2.launches, want)
	}
	h := res.Hosts[0]
	for k, s := range h.Steps {
		wantReason := ""
		if k < 2 {
			wantReason = runner.ReasonDoneEarlier
		}
		if s.Reason != wantReason {
			t.Errorf("step %d: reason %q, want %q", k, s.Reason, wantReason)
		}
	}
	if h.Status != runner.StatusOK {
		t.Errorf("resumed host %s, want ok", h.Status)
	}
}

// A plan says which steps go together: a reboot splits them, and a
// transport without step runs (or --no-step-runs) leaves them alone.
func TestPlanSaysWhichStepsGoInOneStepRun(t *testing.T) {
	t.Parallel()
	pb := mustPlaybook(t, stepRunPlaybook)
	for _, runs := range []bool{true, false} {
		plan, err := runner.Plan(pb, makeHosts(1), nil, func(*inventory.Host, transport.Command) (runner.Rendering, error) {
			return runner.Rendering{StepRuns: runs}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range plan.Hosts[0].Steps {
			got = append(got, s.Note)
		}
		first := "goes in one step run with steps 1 to 5 (sends: the step alone, as --no-step-runs sends it)"
		second := "goes in one step run with steps 7 to 8 (sends: the step alone, as --no-step-runs sends it)"
		want := []string{first, first, first, first, first, "", second, second}
		if !runs {
			want = make([]string, 8)
		}
		if !cmp.Equal(got, want) {
			t.Errorf("step runs %v: notes %q, want %q", runs, got, want)
		}
	}
}

// A host that ends a run where the controller's rules go on is never
// taken at its word: a retry it skipped fails the step (internal), and
// steps it left unstarted go alone.
func TestAHostEndingARunEarlyIsCaught(t *testing.T) {
	t.Parallel()
	breakAt := func(host string, step, attempt int) error {
		switch {
		case host == "h001" && step == 1 && attempt == 2:
			return errEndRun
		case host == "h002" && step == 2:
			return errEndRun
		}
		return nil
	}
	res, launches := runAndLog(t, stepRunPlaybook, false, breakAt, runner.Options{})
	h1 := res.Hosts[1]
	if s := h1.Steps[1]; h1.Status != runner.StatusFailed || s.Status != runner.StatusFailed || s.Err == nil || s.Err.Class != transport.ClassInternal ||
		s.Err.Message != `the host ended the step run after attempt 1 of step "s1" without the retry its rules call for` {
		t.Errorf("h001: %s, s1 %s %v; want s1 failed with an internal error", h1.Status, s.Status, s.Err)
	}
	if h := res.Hosts[2]; h.Status != runner.StatusFailed || h.Steps[2].Status != runner.StatusOK || h.Steps[6].Status != runner.StatusFailed {
		t.Errorf("h002: %s; want its steps from s2 on sent alone, failing at s6 as before", h.Status)
	}
	for _, want := range []string{"h002 alone 2", "h002 alone 3", "h002 alone 4", "h002 alone 6"} {
		if !slices.Contains(launches, want) {
			t.Errorf("launches %q lack %q", launches, want)
		}
	}
}

// The codes a step run retries come in one order whatever the order of
// the outcomes map, so every host's run renders the same.
func TestRetryCodesComeInAFixedOrder(t *testing.T) {
	t.Parallel()
	pb := mustPlaybook(t, `
name: r
steps:
  - name: busy
    command: ['C:\tools\x.exe']
    retry_on_exit: [7, 5]
    retries: 1
    outcomes: {1641: retry, 1618: retry, 3010: reboot_required, 42: retry, 0: ok}
`)
	for range 20 {
		if got := runner.RetryCodes(pb.Steps[0]); !cmp.Equal(got, []uint32{5, 7, 42, 1618, 1641}) {
			t.Fatalf("retry codes %v, want [5 7 42 1618 1641]", got)
		}
	}
}
