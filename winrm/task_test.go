package winrm

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/sim"
	"github.com/fleetrun/fleetrun/transport"
)

// fastTask are task options that follow a task closely, for tests.
var fastTask = Options{TaskPoll: 10 * time.Millisecond, TaskWindow: 300 * time.Millisecond, TaskRetry: 20 * time.Millisecond, TaskRetryMax: 200 * time.Millisecond}

// asSystem returns cmd with run_as: system and a task name of its own.
func asTask(cmd transport.Command, task string) transport.Command {
	cmd.RunAs, cmd.Task = transport.RunAsSystem, task
	return cmd
}

// signedCode is a DWORD exit code as cmd.exe's exit /b and PowerShell's
// exit take it: a signed 32-bit number.
func signedCode(code uint32) string { return strconv.Itoa(int(int32(code))) }

// A step run as a scheduled task gives the exit code and the bytes of
// output the same step gives in the shell, for every kind of step, on a
// host whose programs write UTF-8 and on a Japanese one (CP932).
func TestRunAsSystemGivesTheSameExitCodeAndOutputAsTheShell(t *testing.T) {
	t.Parallel()
	sc, err := sim.ParseScenario("test.yaml", []byte("host_settings:\n  sim-0002: {output_encoding: cp932}\n"))
	if err != nil {
		t.Fatal(err)
	}
	f := startFleet(t, sim.FleetOptions{Hosts: 2, Scenario: sc})
	for i, h := range f.Hosts() {
		t.Run(h.Config().OutputEncoding, func(t *testing.T) {
			t.Parallel()
			s := open(t, targetFor(f, h, ntlmHTTP), fastTask)
			for _, code := range []uint32{0, 1, 3010, 9999, 3221225477, 4294967295} {
				steps := map[string]transport.Command{
					"argv": argv(`C:\tools\emit.exe`, strconv.FormatUint(uint64(code), 10), "日本語 out", "エラー err"),
					"cmd":  {Kind: transport.KindCmd, Line: "echo 日本語 out& echo エラー err 1>&2& exit /b " + signedCode(code)},
					"powershell": {Kind: transport.KindPowerShell,
						Script: "Write-Output '日本語 out'\n[Console]::Error.WriteLine('エラー err')\nexit " + signedCode(code) + "\n"},
				}
				for kind, cmd := range steps {
					inShell := run(t, s, cmd)
					asTask := run(t, s, asTask(cmd, fmt.Sprintf("fleetrun-identity-%d-%s-%d", i, kind, code)))
					if inShell.ExitCode != code {
						t.Errorf("%s exit %d in the shell: got %d", kind, code, inShell.ExitCode)
					}
					if diff := cmp.Diff(inShell, asTask); diff != "" {
						t.Errorf("%s exit %d: run_as: system differs from the shell (-shell +task):\n%s", kind, code, diff)
					}
					if inShell.Stdout == "" || inShell.Stderr == "" {
						t.Errorf("%s exit %d: no output to compare: %+v", kind, code, inShell)
					}
				}
			}
			if st := h.Stats(); st.Tasks.Runs != 18 || st.Tasks.Running != 0 || st.Processes != 0 {
				t.Errorf("tasks %+v, processes %d; want 18 runs, none left running", st.Tasks, st.Processes)
			}
		})
	}
}

// The per-shell memory cap does not apply to a task: a JVM that needs
// 512 MB fails in a 150 MB shell and runs as SYSTEM.
func TestRunAsSystemEscapesTheShellsMemoryCap(t *testing.T) {
	t.Parallel()
	s := on2008R2(t, fastTask)
	java := argv(`C:\ProgramData\Oracle\Java\javapath\java.exe`, "-Xmx512m", "-jar", `C:\tools\report.jar`)
	res := run(t, s, java)
	if te := s.ClassifyExit(java, res); res.ExitCode == 0 || te == nil || te.Class != transport.ClassMemoryCap {
		t.Fatalf("java in a 150 MB shell: %+v, classified %v; want a memory_cap failure", res, te)
	}
	res = run(t, s, asTask(java, "fleetrun-java-512"))
	want := transport.Result{Stdout: "simulated JVM: C:\\tools\\report.jar ran with a 512 MB heap\r\n"}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("java as SYSTEM (-want +got):\n%s", diff)
	}
}

// A second interrupt ends the step's task and every process of it on the
// host; the failure is a settled interruption.
func TestRunAsSystemInterruptEndsTheTaskAndItsProcesses(t *testing.T) {
	t.Parallel()
	f, h := fleetFor(t, ntlmHTTP, nil)
	s := open(t, targetFor(f, h, ntlmHTTP), fastTask)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	sctx, scancel := context.WithCancel(ctx)
	go func() {
		// The step's time runs out once its program runs.
		if err := h.WaitFor(ctx, func() bool { return h.Stats().Programs["sleep.exe"] == 1 }); err == nil {
			scancel()
		}
	}()
	_, err := s.Run(sctx, asTask(argv(`C:\tools\sleep.exe`, "600"), "fleetrun-timeout-1"))
	scancel()
	te := transport.Classify(err)
	if te.Class != transport.ClassInterrupted || te.Unsettled {
		t.Fatalf("error %v (unsettled %v); want a settled interruption", err, te.Unsettled)
	}
	if err := h.WaitFor(ctx, func() bool { return len(h.Processes()) == 0 }); err != nil {
		t.Fatalf("processes left on the host: %+v", h.Processes())
	}
	checkTaskEnded(t, h)
	if err := s.Forget(ctx, "fleetrun-timeout-1"); err != nil {
		t.Fatal(err)
	}
	if len(h.Tasks()) != 0 {
		t.Errorf("tasks after Forget: %+v", h.Tasks())
	}
	res := run(t, s, transport.Command{Kind: transport.KindCmd, Line: `dir /b C:\ProgramData\fleetrun\tasks`})
	if res.Stdout != "" {
		t.Errorf("files left after Forget: %q", res.Stdout)
	}
}

// While a task runs the host may stop answering for longer than the
// follower's window: the session keeps following it, and the step's
// program runs once.
func TestRunAsSystemFollowsThroughANetworkCut(t *testing.T) {
	t.Parallel()
	f, h := fleetFor(t, ntlmHTTP, nil)
	opts := fastTask
	opts.OperationTimeout, opts.ReceiveTimeout, opts.RequestGrace = time.Second, time.Second, 200*time.Millisecond
	s := open(t, targetFor(f, h, ntlmHTTP), opts)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	go func() {
		// Cut the host off once the step's program runs, for as long as it
		// runs, and until the session tried to reach it a few times.
		if h.WaitFor(ctx, func() bool { return h.Stats().Programs["sleep.exe"] == 1 }) != nil {
			return
		}
		h.SetNetworkCut(true)
		_ = h.WaitFor(ctx, func() bool { return h.Stats().Programs["sleep.exe"] == 1 && len(h.Processes()) == 0 })
		_ = h.WaitFor(ctx, func() bool { return h.Stats().Requests["unanswered_in_cut"] >= 3 })
		h.SetNetworkCut(false)
	}()
	res, err := s.Run(ctx, asTask(argv(`C:\tools\sleep.exe`, "1", "done"), "fleetrun-cut-1"))
	if err != nil {
		t.Fatalf("run through a cut: %v", err)
	}
	if res.ExitCode != 0 || res.Stdout != "done\r\n" {
		t.Errorf("result %+v", res)
	}
	st := h.Stats()
	if st.Programs["sleep.exe"] != 1 || st.Tasks.Runs != 1 || st.Requests["network_cut"] != 1 {
		t.Errorf("sleep.exe ran %d times in %d task runs, cuts %d; want once, once, one", st.Programs["sleep.exe"], st.Tasks.Runs, st.Requests["network_cut"])
	}
}

// stepDeadline is a step's context whose deadline passes when the test
// says so (expire), as a step's timeout does, without a race against the
// clock.
type stepDeadline struct {
	context.Context
	done chan struct{}
	once sync.Once
}

func newStepDeadline() *stepDeadline {
	return &stepDeadline{Context: context.Background(), done: make(chan struct{})}
}

func (d *stepDeadline) expire() { d.once.Do(func() { close(d.done) }) }

func (d *stepDeadline) Deadline() (time.Time, bool) { return time.Now().Add(time.Hour), true }

func (d *stepDeadline) Done() <-chan struct{} { return d.done }

func (d *stepDeadline) Err() error {
	select {
	case <-d.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

// A step's timeout ends its task and every process of it on the host (the
// fleet's counters show it); the failure is a settled timeout.
func TestRunAsSystemStepTimeoutEndsTheTaskAndItsProcesses(t *testing.T) {
	t.Parallel()
	f, h := fleetFor(t, ntlmHTTP, nil)
	s := open(t, targetFor(f, h, ntlmHTTP), fastTask)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	step := newStepDeadline()
	defer step.expire()
	go func() {
		// The step's time runs out once its program runs.
		if h.WaitFor(ctx, func() bool { return h.Stats().Programs["sleep.exe"] == 1 }) == nil {
			step.expire()
		}
	}()
	_, err := s.Run(step, asTask(argv(`C:\tools\sleep.exe`, "600"), "fleetrun-deadline-1"))
	if te := transport.Classify(err); te.Class != transport.ClassTimeout || te.Unsettled {
		t.Fatalf("error %v (unsettled %v); want a settled timeout", err, te.Unsettled)
	}
	if err := h.WaitFor(ctx, func() bool { return len(h.Processes()) == 0 }); err != nil {
		t.Fatalf("the task's processes outlived the step's timeout: %+v", h.Processes())
	}
	checkTaskEnded(t, h)
	if ti, ok := h.Task(`\fleetrun\fleetrun-deadline-1`); !ok || ti.Status != "Ready" || (ti.LastResult != 267014 && ti.LastResult != 1) {
		t.Errorf("the task after the timeout: %+v (registered %v); want Ready, 267014 or 1, until forgotten", ti, ok)
	}
}

// checkTaskEnded checks that h's one task is no longer running and that
// its tree (cmd, powershell, sleep) was killed. Whether the Task Scheduler
// saw the stop (Ended, last result 267014) or first saw its action's
// process die of taskkill (last result 1) is a race on Windows as in the
// simulated fleet: the stop kills the tree first, then stops the task.
func checkTaskEnded(t *testing.T, h *sim.Host) {
	t.Helper()
	st := h.Stats()
	if st.Tasks.Ended > 1 || st.Tasks.Running != 0 || st.ProcessesKilled < 3 {
		t.Errorf("tasks %+v, processes killed %d; want the task stopped and its tree (cmd, powershell, sleep) killed", st.Tasks, st.ProcessesKilled)
	}
}

// When fleetrun cannot end a task because the host stopped answering, the
// failure is unsettled; following the same task later (a resumed run) finds
// it and waits for its end without starting the step again.
func TestRunAsSystemUnreachableTaskIsUnsettledAndFollowedLater(t *testing.T) {
	t.Parallel()
	f, h := fleetFor(t, ntlmHTTP, nil)
	opts := fastTask
	opts.OperationTimeout, opts.ReceiveTimeout, opts.RequestGrace, opts.CleanupTimeout = time.Second, time.Second, 200*time.Millisecond, 500*time.Millisecond
	s := open(t, targetFor(f, h, ntlmHTTP), opts)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	sctx, interrupt := context.WithCancel(ctx)
	go func() {
		// The host goes silent once the step runs; the run is interrupted
		// once the session met the silence.
		if h.WaitFor(ctx, func() bool { return h.Stats().Programs["sleep.exe"] == 1 }) != nil {
			return
		}
		h.SetNetworkCut(true)
		_ = h.WaitFor(ctx, func() bool { return h.Stats().Requests["unanswered_in_cut"] >= 1 })
		interrupt()
	}()
	cmd := asTask(argv(`C:\tools\sleep.exe`, "1", "done"), "fleetrun-later-1")
	_, err := s.Run(sctx, cmd)
	te := transport.Classify(err)
	if te.Class != transport.ClassInterrupted || !te.Unsettled {
		t.Fatalf("error %v (unsettled %v); want an unsettled interruption", err, te.Unsettled)
	}
	h.SetNetworkCut(false)
	res, err := s.Run(ctx, cmd)
	if err != nil || res.ExitCode != 0 || res.Stdout != "done\r\n" {
		t.Fatalf("following the task again: %+v, %v", res, err)
	}
	if st := h.Stats(); st.Programs["sleep.exe"] != 1 || st.Tasks.Runs != 1 {
		t.Errorf("sleep.exe ran %d times in %d task runs; want once", st.Programs["sleep.exe"], st.Tasks.Runs)
	}
}
