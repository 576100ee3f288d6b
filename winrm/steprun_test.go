package winrm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/launcher"
	"github.com/fleetrun/fleetrun/sim"
	"github.com/fleetrun/fleetrun/transport"
)

// attemptLog is a RunObserver recording every attempt, with the raw bytes
// its writers received.
type attemptLog struct {
	lines []string
	raw   map[string]*bytes.Buffer // "k/attempt stdout" → bytes
	res   map[int]transport.Result // position → last result
	// started, when set, is called when an attempt begins.
	started func(k, attempt int)
}

func newAttemptLog() *attemptLog {
	return &attemptLog{raw: map[string]*bytes.Buffer{}, res: map[int]transport.Result{}}
}

func (l *attemptLog) AttemptStarted(k, attempt int, _ time.Duration) (io.Writer, io.Writer) {
	l.lines = append(l.lines, fmt.Sprintf("start %d/%d", k, attempt))
	if l.started != nil {
		l.started(k, attempt)
	}
	out, errOut := &bytes.Buffer{}, &bytes.Buffer{}
	l.raw[fmt.Sprintf("%d/%d stdout", k, attempt)], l.raw[fmt.Sprintf("%d/%d stderr", k, attempt)] = out, errOut
	return out, errOut
}

func (l *attemptLog) AttemptFinished(k, attempt int, res transport.Result, timedOut bool, _ time.Duration) {
	l.lines = append(l.lines, fmt.Sprintf("end %d/%d code %d timed out %v", k, attempt, res.ExitCode, timedOut))
	l.res[k] = res
}

// A step run gives each step the result the same step gets alone, over
// every auth, with each attempt's raw bytes on its writers; the host saw
// one Command for the run.
func TestRunStepsGivesEachStepItsResultAlone(t *testing.T) {
	t.Parallel()
	steps := []transport.Command{
		argv(`C:\tools\echoargs.exe`, "two words", `tail\`, "日本語"),
		{Kind: transport.KindCmd, Line: "echo out& echo err 1>&2& exit /b 3"},
		{Kind: transport.KindPowerShell, Script: "Write-Output 'from powershell'\n[Console]::Error.WriteLine('e')\nexit 4\n"},
		{Kind: transport.KindCmd, Line: "echo %FLEETRUN_X%", Env: map[string]string{"FLEETRUN_X": "set"}},
		{Kind: transport.KindCmd, Line: "echo [%FLEETRUN_X%]"},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			want, log, before, after := aloneThenInARun(t, m, steps, 10, []uint32{0, 3, 4})
			for k := range steps {
				if diff := cmp.Diff(want[k], log.res[k]); diff != "" {
					t.Errorf("step %d (-alone +in a run):\n%s", k, diff)
				}
				if got := log.raw[fmt.Sprintf("%d/1 stdout", k)].String(); got != want[k].Stdout {
					t.Errorf("step %d: the writer received %q, want %q", k, got, want[k].Stdout)
				}
			}
			wantLines := []string{"start 0/1", "end 0/1 code 0 timed out false", "start 1/1", "end 1/1 code 3 timed out false",
				"start 2/1", "end 2/1 code 4 timed out false", "start 3/1", "end 3/1 code 0 timed out false", "start 4/1", "end 4/1 code 0 timed out false"}
			if !cmp.Equal(log.lines, wantLines) {
				t.Errorf("attempts %q, want %q", log.lines, wantLines)
			}
			if n := after.Commands - before.Commands; n != 1 {
				t.Errorf("the run took %d Commands, want 1", n)
			}
			if n := after.StepRuns - before.StepRuns; n != 1 {
				t.Errorf("the host counted %d step runs, want 1", n)
			}
			// Its payload fits the smallest envelope a host may have, so
			// it went in one Send without reading the host's limit.
			if sends, gets := after.Requests["Send"]-before.Requests["Send"], after.Requests["Get"]-before.Requests["Get"]; sends != 1 || gets != 0 {
				t.Errorf("the run took %d Sends and %d Gets, want 1 and 0", sends, gets)
			}
		})
	}
}

// The host applies the rules: a code worth a retry is retried, a failure
// stops the run unless the step may fail, and a step past its timeout is
// ended there.
func TestRunStepsAppliesEachStepsRulesOnTheHost(t *testing.T) {
	t.Parallel()
	m := ntlmHTTP
	f, h := fleetFor(t, m, nil)
	s := open(t, targetFor(f, h, m), Options{})
	rs := []transport.RunStep{
		{Index: 0, Command: argv(`C:\tools\exitcode.exe`, "1618"), Accept: []uint32{0}, RetryOn: []uint32{1618}, Retries: 2,
			RetryDelays: []time.Duration{time.Millisecond, time.Millisecond}, ContinueOnError: true},
		{Index: 1, Command: argv(`C:\tools\sleep.exe`, "600", "late"), Accept: []uint32{0}, Timeout: time.Second, ContinueOnError: true},
		{Index: 2, Command: argv(`C:\tools\exitcode.exe`, "5"), Accept: []uint32{0}},
		{Index: 3, Command: argv(`C:\tools\exitcode.exe`, "0"), Accept: []uint32{0}},
	}
	log := newAttemptLog()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := s.RunSteps(ctx, rs, log); err != nil {
		t.Fatalf("RunSteps: %v", err)
	}
	want := []string{
		"start 0/1", "end 0/1 code 1618 timed out false", "start 0/2", "end 0/2 code 1618 timed out false", "start 0/3", "end 0/3 code 1618 timed out false",
		"start 1/1", "end 1/1 code 0 timed out true",
		"start 2/1", "end 2/1 code 5 timed out false",
	}
	if !cmp.Equal(log.lines, want) {
		t.Errorf("attempts %q, want %q", log.lines, want)
	}
	// The host ends a process tree as taskkill does, process by process:
	// wait (bounded) for its last process rather than read the count once.
	if err := h.WaitFor(ctx, func() bool { return h.Stats().Processes == 0 }); err != nil {
		t.Errorf("processes still run on the host after the run, want the timed-out step's ended: %v", err)
	}
}

// Cancelling the run's context mid-step terminates the command on the
// host, drops the shell and says why; the session goes on with a new one.
func TestRunStepsCancelledMidStepStopsTheHost(t *testing.T) {
	t.Parallel()
	m := basicHTTPS
	f, h := fleetFor(t, m, nil)
	s := open(t, targetFor(f, h, m), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := newAttemptLog()
	log.started = func(k, _ int) {
		if k == 1 {
			cancel()
		}
	}
	rs := []transport.RunStep{
		{Index: 0, Command: argv(`C:\tools\exitcode.exe`, "0"), Accept: []uint32{0}},
		{Index: 1, Command: argv(`C:\tools\sleep.exe`, "600", "late"), Accept: []uint32{0}},
		{Index: 2, Command: argv(`C:\tools\exitcode.exe`, "0"), Accept: []uint32{0}},
	}
	err := s.RunSteps(ctx, rs, log)
	var te *transport.Error
	if !errors.As(err, &te) || te.Class != transport.ClassInterrupted {
		t.Fatalf("RunSteps = %v, want class interrupted", err)
	}
	if want := []string{"start 0/1", "end 0/1 code 0 timed out false", "start 1/1"}; !cmp.Equal(log.lines, want) {
		t.Errorf("attempts %q, want %q", log.lines, want)
	}
	wctx, wcancel := context.WithTimeout(context.Background(), testTimeout)
	defer wcancel()
	if err := h.WaitFor(wctx, func() bool { return h.Stats().Processes == 0 }); err != nil {
		t.Errorf("processes left on the host after the cancelled run: %v", err)
	}
	if st := h.Stats(); st.Signals < 1 || st.Deletes < 1 {
		t.Errorf("host saw %d Signals and %d Deletes; want the command ended and the shell deleted", st.Signals, st.Deletes)
	}
	if res := run(t, s, argv(`C:\tools\exitcode.exe`, "7")); res.ExitCode != 7 {
		t.Errorf("the next step exited %d, want 7", res.ExitCode)
	}
}

// Runs that differ in any field RenderRun reads never share a rendering;
// the same run renders once.
func TestRenderRunIsRememberedOnlyForTheSameRun(t *testing.T) {
	t.Parallel()
	base := func() []transport.RunStep {
		return []transport.RunStep{
			{Index: 1, Command: transport.Command{Kind: transport.KindArgv, Argv: []string{"a", "b c"}, Env: map[string]string{"A": "1", "B": "2"}, Workdir: `C:\w`},
				Timeout: time.Second, Accept: []uint32{0}, RetryOn: []uint32{5}, Retries: 1, RetryDelays: []time.Duration{time.Second}},
			{Index: 2, Command: transport.Command{Kind: transport.KindPowerShell, Script: "x"}, Accept: []uint32{0}, ContinueOnError: true},
		}
	}
	edits := []func([]transport.RunStep){
		func(s []transport.RunStep) { s[0].Index = 3 },
		func(s []transport.RunStep) { s[0].Command.Argv = []string{"a b", "c"} },
		func(s []transport.RunStep) { s[0].Command.Argv = []string{"a", "b c", ""} },
		func(s []transport.RunStep) { s[0].Command.Env = map[string]string{"A": "12"} },
		func(s []transport.RunStep) { s[0].Command.Env = map[string]string{"A": "1", "B": "3"} },
		func(s []transport.RunStep) { s[0].Command.Workdir = `C:\x` },
		func(s []transport.RunStep) { s[0].Timeout = 2 * time.Second },
		func(s []transport.RunStep) { s[0].Accept = []uint32{0, 1} },
		func(s []transport.RunStep) { s[0].RetryOn = nil },
		func(s []transport.RunStep) { s[0].Retries, s[0].RetryDelays = 0, nil },
		func(s []transport.RunStep) { s[0].RetryDelays = []time.Duration{2 * time.Second} },
		func(s []transport.RunStep) { s[1].Command.Script = "y" },
		func(s []transport.RunStep) { s[1].ContinueOnError = false },
		func(s []transport.RunStep) {
			s[1].Command.Kind, s[1].Command.Line, s[1].Command.Script = transport.KindCmd, "x", ""
		},
	}
	want, err := renderRun(base(), 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, edit := range edits {
		steps := base()
		edit(steps)
		got, err := renderRun(steps, 0)
		if err != nil {
			t.Fatal(err)
		}
		direct, err := launcher.RenderRun(steps, launcher.RenderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Payload() == want.Payload() || got.Payload() != direct.Payload() {
			t.Errorf("edit %d: the rendering was not made afresh", i)
		}
	}
	again, err := renderRun(base(), 0)
	if err != nil || again.Payload() != want.Payload() {
		t.Errorf("the same run rendered differently: %v", err)
	}
}

// A step in a run that runs out of memory under the host's cap is
// classified as alone: the session reads the cap while the run goes on.
func TestRunStepsClassifiesAMemoryCapFailureAsAlone(t *testing.T) {
	t.Parallel()
	s := on2008R2(t, Options{})
	java := argv("java", "-Xmx512m", "-jar", `C:\app\tool.jar`)
	log := newAttemptLog()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	err := s.RunSteps(ctx, []transport.RunStep{
		{Index: 0, Command: argv(`C:\tools\exitcode.exe`, "0"), Accept: []uint32{0}},
		{Index: 1, Command: java, Accept: []uint32{0}},
	}, log)
	if err != nil {
		t.Fatalf("RunSteps: %v", err)
	}
	res := log.res[1]
	if te := s.ClassifyExit(java, res); res.ExitCode == 0 || te == nil || te.Class != transport.ClassMemoryCap || !strings.Contains(te.Message, "150 MB") {
		t.Errorf("java in a run: exit %d, ClassifyExit %v; want memory_cap naming 150 MB", res.ExitCode, te)
	}
}

// A run whose launcher fits the command line compressed goes without a
// Send (nor a Get), and gives each step its result alone.
func TestASmallStepRunGoesOnTheCommandLine(t *testing.T) {
	t.Parallel()
	steps := []transport.Command{
		argv(`C:\tools\echoargs.exe`, "hello", "two words"),
		{Kind: transport.KindCmd, Line: "echo hello from cmd"},
		{Kind: transport.KindPowerShell, Script: "Write-Output 'hello from powershell'"},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			alone, log, before, after := aloneThenInARun(t, m, steps, 0, []uint32{0})
			var got, want []string
			for k := range steps {
				got = append(got, log.res[k].Stdout)
				want = append(want, alone[k].Stdout)
			}
			if !cmp.Equal(got, want) {
				t.Errorf("stdout per step %q, want %q", got, want)
			}
			if n, sends, gets := after.Commands-before.Commands, after.Requests["Send"]-before.Requests["Send"], after.Requests["Get"]-before.Requests["Get"]; n != 1 || sends != 0 || gets != 0 {
				t.Errorf("the run took %d Commands, %d Sends and %d Gets, want 1, 0 and 0", n, sends, gets)
			}
		})
	}
}

// aloneThenInARun runs steps one by one in a session of their own, then
// as one run in another (indexes from first, each accepting accept), and
// returns each step's result alone, the run's attempts, and the host's
// statistics before and after the run.
func aloneThenInARun(t *testing.T, m mode, steps []transport.Command, first int, accept []uint32) (alone []transport.Result, log *attemptLog, before, after sim.HostStats) {
	t.Helper()
	f, h := fleetFor(t, m, nil)
	s1 := open(t, targetFor(f, h, m), Options{})
	for _, cmd := range steps {
		alone = append(alone, run(t, s1, cmd))
	}
	s := open(t, targetFor(f, h, m), Options{})
	rs := make([]transport.RunStep, len(steps))
	for k, cmd := range steps {
		rs[k] = transport.RunStep{Index: k + first, Command: cmd, Accept: accept}
	}
	before = h.Stats()
	log = newAttemptLog()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := s.RunSteps(ctx, rs, log); err != nil {
		t.Fatalf("RunSteps: %v", err)
	}
	return alone, log, before, h.Stats()
}
