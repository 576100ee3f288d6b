package sim

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/sim/internal/cmdexe"
)

// runOf is a run payload of steps.
func runOf(steps ...map[string]any) map[string]any {
	return map[string]any{"v": 1, "kind": "run", "steps": steps}
}

// stepRunScript stands for fleetrun's step-run script: its marker, its
// payload statement carrying the run, and PowerShell the simulator never
// reads.
func stepRunScript(runB64 string) string {
	return stepRunMarker + "\r\n$fleetrunPayload = '" + runB64 + "'\r\n# ... run the steps, write their frames ...\r\n"
}

// asSent is a payload as fleetrun sends it: a run goes as the script of a
// launcher payload, the step-run script carrying it; other payloads go as
// they are.
func asSent(t testing.TB, payload map[string]any) map[string]any {
	t.Helper()
	if payload["kind"] != "run" {
		return payload
	}
	raw, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	return scriptPayload(stepRunScript(base64.StdEncoding.EncodeToString(raw)))
}

// argvStep is a run's argv step with the defaults a controller sends: no
// timeout, exit 0 accepted, no retries.
func argvStep(index int, file, commandLine string) map[string]any {
	return map[string]any{
		"index": index, "kind": "argv", "file": file, "command_line": commandLine, "env": map[string]string{}, "workdir": "",
		"timeout_ms": 0, "accept": []uint32{0}, "retry_on": []uint32{}, "retries": 0, "retry_delays_ms": []int64{}, "continue_on_error": false,
	}
}

// scriptStep is a run's script step: its own single script payload in
// base64.
func scriptStep(t testing.TB, index int, payload map[string]any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{
		"index": index, "kind": "script", "payload": base64.StdEncoding.EncodeToString(raw),
		"timeout_ms": 0, "accept": []uint32{0}, "retry_on": []uint32{}, "retries": 0, "retry_delays_ms": []int64{}, "continue_on_error": false,
	}
}

// with returns a copy of a step or payload with fields set.
func with(m map[string]any, kv ...any) map[string]any {
	out := maps.Clone(m)
	for i := 0; i < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// runFrame is one frame of a run's stdout.
type runFrame struct {
	Tag            string
	Index, Attempt int
	Code           uint32
	T              int64
	Data           string
}

// parseFrames reads a run's stdout strictly: anything but frames fails the
// test.
func parseFrames(t testing.TB, out string) []runFrame {
	t.Helper()
	var frames []runFrame
	for out != "" {
		line, rest, ok := strings.Cut(out, "\n")
		if !ok {
			t.Fatalf("a frame without its line end: %q", out)
		}
		f := strings.Fields(line)
		num := func(i int) int64 {
			if i >= len(f) {
				t.Fatalf("frame %q too short", line)
			}
			n, err := strconv.ParseInt(f[i], 10, 64)
			if err != nil || strconv.FormatInt(n, 10) != f[i] {
				t.Fatalf("frame %q: field %d is not a decimal number", line, i)
			}
			return n
		}
		want := map[string]int{"B": 4, "O": 3, "E": 3, "X": 5, "T": 4, "Z": 2}[f[0]]
		if want == 0 || len(f) != want || strings.Join(f, " ") != line {
			t.Fatalf("not a frame: %q", line)
		}
		fr := runFrame{Tag: f[0]}
		switch f[0] {
		case "B", "T":
			fr.Index, fr.Attempt, fr.T = int(num(1)), int(num(2)), num(3)
		case "O", "E":
			fr.Index = int(num(1))
			n := int(num(2))
			if n > len(rest) {
				t.Fatalf("frame %q: only %d bytes follow", line, len(rest))
			}
			fr.Data, rest = rest[:n], rest[n:]
		case "X":
			fr.Index, fr.Attempt, fr.Code, fr.T = int(num(1)), int(num(2)), uint32(num(3)), num(4)
		case "Z":
			fr.T = num(1)
		}
		frames = append(frames, fr)
		out = rest
	}
	return frames
}

// framesText renders frames as the launcher writes them.
func framesText(frames ...runFrame) string {
	var b strings.Builder
	for _, f := range frames {
		switch f.Tag {
		case "B", "T":
			fmt.Fprintf(&b, "%s %d %d %d\n", f.Tag, f.Index, f.Attempt, f.T)
		case "O", "E":
			fmt.Fprintf(&b, "%s %d %d\n%s", f.Tag, f.Index, len(f.Data), f.Data)
		case "X":
			fmt.Fprintf(&b, "X %d %d %d %d\n", f.Index, f.Attempt, f.Code, f.T)
		case "Z":
			fmt.Fprintf(&b, "Z %d\n", f.T)
		}
	}
	return b.String()
}

// Frame constructors, to write expected runs compactly.
func fB(i, a int, t int64) runFrame  { return runFrame{Tag: "B", Index: i, Attempt: a, T: t} }
func fO(i int, data string) runFrame { return runFrame{Tag: "O", Index: i, Data: data} }
func fE(i int, data string) runFrame { return runFrame{Tag: "E", Index: i, Data: data} }
func fX(i, a int, code uint32, t int64) runFrame {
	return runFrame{Tag: "X", Index: i, Attempt: a, Code: code, T: t}
}
func fT(i, a int, t int64) runFrame { return runFrame{Tag: "T", Index: i, Attempt: a, T: t} }
func fZ(t int64) runFrame           { return runFrame{Tag: "Z", T: t} }

// stepResult is what a step wrote and how it ended.
type stepResult struct {
	Stdout, Stderr string
	Code           uint32
}

// resultsByStep gathers each step's last attempt from a run's frames.
func resultsByStep(frames []runFrame) map[int]stepResult {
	out := map[int]stepResult{}
	for _, f := range frames {
		r := out[f.Index]
		switch f.Tag {
		case "B":
			r = stepResult{}
		case "O":
			r.Stdout += f.Data
		case "E":
			r.Stderr += f.Data
		case "X":
			r.Code = f.Code
		}
		if f.Tag != "Z" {
			out[f.Index] = r
		}
	}
	return out
}

// stepRunFleet starts hosts on a fake clock nothing moves unless a test
// does, reached with Basic over plain HTTP (so clients may run at once).
func stepRunFleet(t *testing.T, hosts int, scenario string, opts FleetOptions) (*Fleet, *testClock) {
	t.Helper()
	clock := newTestClock()
	opts.Hosts, opts.Clock, opts.Dir = hosts, clock, t.TempDir()
	opts.Scenario = mustScenario(t, "defaults:\n  allow_unencrypted: true\n"+scenario)
	return startFleet(t, opts), clock
}

// runLauncherMZ sends a launcher payload through WinRS (cmd.exe, then
// powershell.exe) with masterzen's client, inline or on stdin.
func runLauncherMZ(t *testing.T, f *Fleet, h *Host, payload map[string]any, viaStdin bool) (stdout, stderr string, code uint32) {
	t.Helper()
	c := mzClient(t, f, h, basicHTTP, "PT60S")
	command, stdin := launcherCommand(t, asSent(t, payload), viaStdin)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var n int
	var err error
	if viaStdin {
		stdout, stderr, n, err = c.RunWithContextWithString(ctx, command, stdin)
	} else {
		stdout, stderr, n, err = c.RunCmdWithContext(ctx, command)
	}
	if err != nil {
		t.Fatal(err)
	}
	return stdout, stderr, uint32(n)
}

// inProcess is a launcher started on a host without WinRS, so that the
// host's fake clock has no timers but the run's and a test can move it
// exactly.
type inProcess struct {
	done        chan struct{}
	cancel      context.CancelFunc
	out, errOut lockedBuffer
	writes      writeLog // stdout, write by write
	code        uint32
}

// writeLog keeps each write to it apart.
type writeLog struct {
	mu      sync.Mutex
	writes  []string
	changed chan struct{} // closed and replaced at each write
}

func (l *writeLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes = append(l.writes, string(p))
	if l.changed != nil {
		close(l.changed)
	}
	l.changed = make(chan struct{})
	return len(p), nil
}

// waitFor waits until at least n writes were made and returns them.
func (l *writeLog) waitFor(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		l.mu.Lock()
		if len(l.writes) >= n {
			w := slices.Clone(l.writes)
			l.mu.Unlock()
			return w
		}
		if l.changed == nil {
			l.changed = make(chan struct{})
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("fewer than %d writes after 30s", n)
		}
	}
}

// startLauncher starts fleetrun's launcher with a payload as a process of
// a network logon, as WinRS's powershell.exe.
func startLauncher(t *testing.T, h *Host, payload map[string]any, viaStdin bool) *inProcess {
	t.Helper()
	command, stdin := launcherCommand(t, asSent(t, payload), viaStdin)
	command = strings.Replace(command, `%SystemRoot%`, `C:\Windows`, 1)
	ctx, cancel := context.WithCancel(context.Background())
	ps := &procState{host: h, logon: logonNetwork, user: h.cfg.User, console: newConsole(65001), tree: ctx}
	pctx := context.WithValue(ctx, procKey{}, ps)
	prog, ok := h.lookup(pathPowerShell)
	if !ok {
		t.Fatal("no powershell.exe")
	}
	r := &inProcess{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(r.done)
		r.code = prog(pctx, &cmdexe.Proc{
			Name: pathPowerShell, CommandLine: command, Args: cmdexe.ParseArgs(command),
			Env: cmdexe.NewEnv(h.baseEnv(""), h.userProfile("")), Stdin: strings.NewReader(stdin), Stdout: io.MultiWriter(&r.out, &r.writes), Stderr: &r.errOut,
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// wait waits for the launcher to end.
func (r *inProcess) wait(t *testing.T) (stdout, stderr string, code uint32) {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the launcher did not end")
	}
	return string(r.out.Bytes()), string(r.errOut.Bytes()), r.code
}

// advance waits until n timers wait on the clock, then moves it by d.
func advance(t *testing.T, clock *testClock, n int, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := clock.BlockUntilContext(ctx, n); err != nil {
		t.Fatalf("waiting for %d timers: %v", n, err)
	}
	clock.Advance(d)
}

func TestStepRunGivesEachStepItsBytesAlone(t *testing.T) {
	t.Parallel()
	f, _ := stepRunFleet(t, 2, `
  rules:
    - match: Invoke-Answered
      stdout: "答えた\r\n"
      stderr: "note\r\n"
      exit: 3
host_settings:
  sim-0002:
    output_encoding: cp932
`, FleetOptions{})
	tricky := `"C:\tools\echoargs.exe" "two words" "" "quote\"d" "trailing\\" ;&|<>^%PATH% 日本語`
	single := []map[string]any{
		argvPayload(`C:\tools\echoargs.exe`, tricky),
		argvPayload("cmd.exe", `"cmd.exe" /d /s /c "echo hi"`),
		argvPayload("cmd.exe", `"cmd.exe" /d /s /c "echo 日本語& echo err>&2& exit 7"`),
		argvPayload("hostname", `"hostname"`),
		argvPayload(`C:\tools\legacymsg.exe`, `"C:\tools\legacymsg.exe"`),
		scriptPayload("Write-Output 'x'\n[Console]::Error.WriteLine('warn')\n'日本語'"),
		scriptPayload("Invoke-Answered"),
		scriptPayload("throw 'bad thing'"),
		argvPayload(`C:\nope\missing.exe`, `"C:\nope\missing.exe"`),
	}
	for _, h := range f.Hosts() {
		t.Run(h.Name(), func(t *testing.T) {
			t.Parallel()
			var steps []map[string]any
			want := map[int]stepResult{}
			for i, pl := range single {
				out, errOut, code := runLauncherMZ(t, f, h, pl, false)
				want[i] = stepResult{out, errOut, code}
				st := argvStep(i, "", "")
				if pl["kind"] == "script" {
					st = scriptStep(t, i, pl)
				} else {
					st = with(st, "file", pl["file"], "command_line", pl["command_line"])
				}
				// Every code ends the step well, so every step runs.
				steps = append(steps, with(st, "accept", []uint32{0, 1, 3, 7}))
			}
			// Nine steps are too long for the command line: the run comes on
			// stdin.
			out, errOut, code := runLauncherMZ(t, f, h, runOf(steps...), true)
			if errOut != "" || code != 0 {
				t.Fatalf("run: stderr %q, exit %d", errOut, code)
			}
			frames := parseFrames(t, out)
			if diff := cmp.Diff(want, resultsByStep(frames)); diff != "" {
				t.Errorf("steps in a run differ from the same steps alone (-alone +run):\n%s", diff)
			}
			// Each step once, in order, on a clock that did not move.
			var heads []runFrame
			for _, fr := range frames {
				if fr.Tag != "O" && fr.Tag != "E" {
					heads = append(heads, fr)
				}
			}
			wantHeads := []runFrame{}
			for i := range single {
				wantHeads = append(wantHeads, fB(i, 1, 0), fX(i, 1, want[i].Code, 0))
			}
			wantHeads = append(wantHeads, fZ(0))
			if diff := cmp.Diff(wantHeads, heads); diff != "" {
				t.Errorf("frame headers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStepRunRules(t *testing.T) {
	t.Parallel()
	f, _ := stepRunFleet(t, 1, "", FleetOptions{})
	h := f.Hosts()[0]
	hostname := argvStep(0, "hostname", `"hostname"`)
	fails := argvStep(1, "cmd.exe", `"cmd.exe" /d /s /c "echo hi& exit 5"`)
	last := argvStep(2, "hostname", `"hostname"`)
	echoEnv := `"cmd.exe" /d /s /c "echo %FOO% & cd"`
	start := "Exception calling \"Start\" with \"1\" argument(s): \"The system cannot find the file specified\"\r\n"
	tests := []struct {
		name     string
		run      map[string]any
		viaStdin bool
		want     []runFrame
	}{
		{
			name: "a failed step stops the run", run: runOf(hostname, fails, last),
			want: []runFrame{fB(0, 1, 0), fO(0, "sim-0001\r\n"), fX(0, 1, 0, 0), fB(1, 1, 0), fO(1, "hi\r\n"), fX(1, 1, 5, 0), fZ(0)},
		},
		{
			name: "a run on stdin runs as inline", run: runOf(hostname, fails, last), viaStdin: true,
			want: []runFrame{fB(0, 1, 0), fO(0, "sim-0001\r\n"), fX(0, 1, 0, 0), fB(1, 1, 0), fO(1, "hi\r\n"), fX(1, 1, 5, 0), fZ(0)},
		},
		{
			name: "continue_on_error goes on after a failed step", run: runOf(hostname, with(fails, "continue_on_error", true), last),
			want: []runFrame{
				fB(0, 1, 0), fO(0, "sim-0001\r\n"), fX(0, 1, 0, 0), fB(1, 1, 0), fO(1, "hi\r\n"), fX(1, 1, 5, 0),
				fB(2, 1, 0), fO(2, "sim-0001\r\n"), fX(2, 1, 0, 0), fZ(0),
			},
		},
		{
			name: "a code in accept ends the step well", run: runOf(hostname, with(fails, "accept", []uint32{0, 5}), last),
			want: []runFrame{
				fB(0, 1, 0), fO(0, "sim-0001\r\n"), fX(0, 1, 0, 0), fB(1, 1, 0), fO(1, "hi\r\n"), fX(1, 1, 5, 0),
				fB(2, 1, 0), fO(2, "sim-0001\r\n"), fX(2, 1, 0, 0), fZ(0),
			},
		},
		{
			name: "a code in retry_on with no retries left fails the step",
			run:  runOf(with(fails, "retry_on", []uint32{5}), last),
			want: []runFrame{fB(1, 1, 0), fO(1, "hi\r\n"), fX(1, 1, 5, 0), fZ(0)},
		},
		{
			name: "a missing program is an attempt with exit code 1 and Start's error",
			run:  runOf(argvStep(1, `C:\nope\missing.exe`, `"C:\nope\missing.exe"`), last),
			want: []runFrame{fB(1, 1, 0), fE(1, start), fX(1, 1, 1, 0), fZ(0)},
		},
		{
			name: "env and workdir belong to their argv step",
			run: runOf(
				with(argvStep(0, "cmd.exe", echoEnv), "env", map[string]string{"FOO": "bar"}, "workdir", `C:\scripts`),
				argvStep(1, "cmd.exe", echoEnv),
			),
			want: []runFrame{
				fB(0, 1, 0), fO(0, "bar \r\n"), fO(0, "C:\\scripts\r\n"), fX(0, 1, 0, 0),
				fB(1, 1, 0), fO(1, "%FOO% \r\n"), fO(1, "C:\\Users\\fleetrun\r\n"), fX(1, 1, 0, 0), fZ(0),
			},
		},
		{
			name: "env and workdir belong to their script step",
			run: runOf(
				scriptStep(t, 0, with(scriptPayload("\"[$env:FOO]\"\n(Get-Location).Path"), "env", map[string]string{"FOO": "bar"}, "workdir", `C:\scripts`)),
				scriptStep(t, 1, scriptPayload("\"[$env:FOO]\"\n(Get-Location).Path")),
			),
			want: []runFrame{
				fB(0, 1, 0), fO(0, "[bar]\r\n"), fO(0, "C:\\scripts\r\n"), fX(0, 1, 0, 0),
				fB(1, 1, 0), fO(1, "[]\r\n"), fO(1, "C:\\Users\\fleetrun\r\n"), fX(1, 1, 0, 0), fZ(0),
			},
		},
		{
			name: "a script step's exit, throw and failing native command are its own",
			run: runOf(
				with(scriptStep(t, 0, scriptPayload("'a'\nexit 3")), "accept", []uint32{3}),
				with(scriptStep(t, 1, scriptPayload("cmd /c exit 5")), "continue_on_error", true),
				scriptStep(t, 2, scriptPayload("throw 'bad thing'")),
				with(last, "index", 3),
			),
			want: []runFrame{
				fB(0, 1, 0), fO(0, "a\r\n"), fX(0, 1, 3, 0),
				fB(1, 1, 0), fX(1, 1, 5, 0),
				fB(2, 1, 0), fE(2, "bad thing\nAt line:1 char:1\r\n+ throw 'bad thing'\r\n+ ~~~~~~~~~~~~~~~~~\r\n"), fX(2, 1, 1, 0), fZ(0),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runLauncherMZ(t, f, h, tt.run, tt.viaStdin)
			if diff := cmp.Diff([]any{framesText(tt.want...), "", uint32(0)}, []any{out, errOut, code}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestStepRunRetriesWaitOnTheHostClock(t *testing.T) {
	t.Parallel()
	// The line fails with 3 twice (leaving a file behind each time), then
	// succeeds.
	flaky := `"cmd.exe" /d /s /c "if exist C:\b.txt (echo ok& exit 0) else if exist C:\a.txt (echo.>C:\b.txt& exit 3) else (echo.>C:\a.txt& exit 3)"`
	// The same with PowerShell: 4 once, then 0.
	flakyPS := "if (Test-Path C:\\c.txt) { 'ok'; exit 0 }\nSet-Content -Path C:\\c.txt -Value x\nexit 4"
	retry := func(st map[string]any, codes []uint32, delays ...int64) map[string]any {
		return with(st, "retry_on", codes, "retries", len(delays), "retry_delays_ms", delays)
	}
	tests := []struct {
		name   string
		run    map[string]any
		delays []time.Duration // the clock moves by each once a timer waits
		want   []runFrame
	}{
		{
			name:   "an argv step is tried again after each delay until it succeeds",
			run:    runOf(retry(argvStep(0, "cmd.exe", flaky), []uint32{3}, 1000, 2000), argvStep(1, "hostname", `"hostname"`)),
			delays: []time.Duration{time.Second, 2 * time.Second},
			want: []runFrame{
				fB(0, 1, 0), fX(0, 1, 3, 0), fB(0, 2, 1000), fX(0, 2, 3, 1000), fB(0, 3, 3000), fO(0, "ok\r\n"), fX(0, 3, 0, 3000),
				fB(1, 1, 3000), fO(1, "sim-0001\r\n"), fX(1, 1, 0, 3000), fZ(3000),
			},
		},
		{
			name:   "a step out of retries fails the run",
			run:    runOf(retry(argvStep(0, "cmd.exe", flaky), []uint32{3}, 500), argvStep(1, "hostname", `"hostname"`)),
			delays: []time.Duration{500 * time.Millisecond},
			want:   []runFrame{fB(0, 1, 0), fX(0, 1, 3, 0), fB(0, 2, 500), fX(0, 2, 3, 500), fZ(500)},
		},
		{
			name: "a code outside retry_on is not retried",
			run:  runOf(retry(argvStep(0, "cmd.exe", flaky), []uint32{4}, 500)),
			want: []runFrame{fB(0, 1, 0), fX(0, 1, 3, 0), fZ(0)},
		},
		{
			name:   "a script step is tried again in a new powershell.exe",
			run:    runOf(retry(scriptStep(t, 7, scriptPayload(flakyPS)), []uint32{4}, 250)),
			delays: []time.Duration{250 * time.Millisecond},
			want:   []runFrame{fB(7, 1, 0), fX(7, 1, 4, 0), fB(7, 2, 250), fO(7, "ok\r\n"), fX(7, 2, 0, 250), fZ(250)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, clock := stepRunFleet(t, 1, "", FleetOptions{})
			h := f.Hosts()[0]
			r := startLauncher(t, h, tt.run, false)
			for _, d := range tt.delays {
				advance(t, clock, 1, d)
			}
			out, errOut, code := r.wait(t)
			if diff := cmp.Diff([]any{framesText(tt.want...), "", uint32(0)}, []any{out, errOut, code}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			attempts := 0
			for _, fr := range tt.want {
				if fr.Tag == "B" {
					attempts++
				}
			}
			if st := h.Stats(); st.StepRuns != 1 || st.RunSteps != int64(attempts) {
				t.Errorf("step_runs %d, run_steps %d; want 1, %d", st.StepRuns, st.RunSteps, attempts)
			}
		})
	}
}

func TestStepRunTimeoutEndsTheStepsProcessTree(t *testing.T) {
	t.Parallel()
	sleep := argvStep(0, `C:\tools\sleep.exe`, `"C:\tools\sleep.exe" 60 woke`)
	// Under PowerShell, sleep.exe is a grandchild of the launcher.
	sleepPS := scriptStep(t, 0, scriptPayload("'started'\n& 'C:\\tools\\sleep.exe' 60 woke"))
	after := argvStep(1, "hostname", `"hostname"`)
	tests := []struct {
		name   string
		run    map[string]any
		after  time.Duration // the step's timeout
		killed int64
		want   []runFrame
	}{
		{
			name:   "an argv step past its timeout is ended and stops the run",
			run:    runOf(with(sleep, "timeout_ms", 1000), after),
			after:  time.Second,
			killed: 1,
			want:   []runFrame{fB(0, 1, 0), fT(0, 1, 1000), fZ(1000)},
		},
		{
			name: "a timed-out step is not retried, and continue_on_error goes on",
			run: runOf(with(sleep, "timeout_ms", 1000, "retry_on", []uint32{1, 0xC000013A}, "retries", 2, "retry_delays_ms", []int64{1, 1},
				"continue_on_error", true), after),
			after:  time.Second,
			killed: 1,
			want:   []runFrame{fB(0, 1, 0), fT(0, 1, 1000), fB(1, 1, 1000), fO(1, "sim-0001\r\n"), fX(1, 1, 0, 1000), fZ(1000)},
		},
		{
			name:   "a script step's powershell.exe and the program it started are ended",
			run:    runOf(with(sleepPS, "timeout_ms", 1500), after),
			after:  1500 * time.Millisecond,
			killed: 2,
			want:   []runFrame{fB(0, 1, 0), fO(0, "started\r\n"), fT(0, 1, 1500), fZ(1500)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, clock := stepRunFleet(t, 1, "", FleetOptions{})
			h := f.Hosts()[0]
			r := startLauncher(t, h, tt.run, false)
			// The step's timeout and sleep.exe's wait: the clock moves to
			// the timeout.
			advance(t, clock, 2, tt.after)
			out, errOut, code := r.wait(t)
			if diff := cmp.Diff([]any{framesText(tt.want...), "", uint32(0)}, []any{out, errOut, code}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := h.WaitFor(ctx, func() bool { return h.Stats().Processes == 0 }); err != nil {
				t.Errorf("processes left: %v (%+v)", err, h.Processes())
			}
			if st := h.Stats(); st.Processes != 0 || st.ProcessesKilled != tt.killed {
				t.Errorf("processes %d, killed %d; want 0, %d (%+v)", st.Processes, st.ProcessesKilled, tt.killed, h.Processes())
			}
		})
	}
}

func TestStepRunStoppedLauncherStopsAtOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  map[string]any
	}{
		{"during a step", runOf(argvStep(0, `C:\tools\sleep.exe`, `"C:\tools\sleep.exe" 60`), argvStep(1, "hostname", `"hostname"`))},
		{"during a retry's delay", runOf(with(argvStep(0, "cmd.exe", `"cmd.exe" /d /s /c "exit 3"`), "retry_on", []uint32{3}, "retries", 1, "retry_delays_ms", []int64{60000}))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, clock := stepRunFleet(t, 1, "", FleetOptions{})
			h := f.Hosts()[0]
			r := startLauncher(t, h, tt.run, false)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := clock.BlockUntilContext(ctx, 1); err != nil {
				t.Fatal(err)
			}
			before := string(r.out.Bytes())
			// The command's Signal ends the launcher's tree.
			r.cancel()
			out, _, code := r.wait(t)
			if out != before || strings.Contains(out, "Z") || code != stepRunExitCancelled {
				t.Errorf("stdout %q (before the stop %q), exit %#x; want no more frames and no Z", out, before, code)
			}
			if err := h.WaitFor(ctx, func() bool { return len(h.Processes()) == 0 }); err != nil {
				t.Errorf("processes left: %+v", h.Processes())
			}
		})
	}
}

func TestStepRunChargesAProcessStartPerScriptStep(t *testing.T) {
	t.Parallel()
	f, clock := stepRunFleet(t, 1, "", FleetOptions{ProcessStart: 100 * time.Millisecond})
	h := f.Hosts()[0]
	before := h.Stats().Programs
	r := startLauncher(t, h, runOf(
		argvStep(0, "hostname", `"hostname"`),
		scriptStep(t, 1, scriptPayload("'one'")),
		argvStep(2, "hostname", `"hostname"`),
		scriptStep(t, 3, scriptPayload("'two'")),
	), false)
	// Both script steps' powershell.exe start together, ahead, when the
	// run starts: the first waits out its start, the second is ready by
	// its turn.
	advance(t, clock, 1, 100*time.Millisecond)
	out, errOut, code := r.wait(t)
	want := framesText(
		fB(0, 1, 0), fO(0, "sim-0001\r\n"), fX(0, 1, 0, 0),
		fB(1, 1, 0), fO(1, "one\r\n"), fX(1, 1, 0, 100),
		fB(2, 1, 100), fO(2, "sim-0001\r\n"), fX(2, 1, 0, 100),
		fB(3, 1, 100), fO(3, "two\r\n"), fX(3, 1, 0, 100), fZ(100),
	)
	if diff := cmp.Diff([]any{want, "", uint32(0)}, []any{out, errOut, code}); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// The run's launcher and its step-run script, then per step the
	// program it runs alone: a hostname.exe per argv step, a
	// powershell.exe running the launcher and its script per script step.
	got := h.Stats().Programs
	for k, v := range before {
		got[k] -= v
	}
	wantPrograms := map[string]int64{"powershell.exe": 3, "fleetrun-launcher": 3, "fleetrun-steprun": 1, "hostname.exe": 2, "script-interpreted": 2}
	if diff := cmp.Diff(wantPrograms, got); diff != "" {
		t.Errorf("programs (-want +got):\n%s", diff)
	}
}

// At most four PowerShell steps' processes are started ahead: six script
// steps in a row take two process starts, not six; a further attempt
// starts a process of its own and pays a whole start.
func TestStepRunStartsAtMostFourProcessesAhead(t *testing.T) {
	t.Parallel()
	f, clock := stepRunFleet(t, 1, "", FleetOptions{ProcessStart: 100 * time.Millisecond})
	h := f.Hosts()[0]
	var steps []map[string]any
	for i := range 6 {
		steps = append(steps, scriptStep(t, i, scriptPayload(fmt.Sprintf("'s%d'", i))))
	}
	retry := with(scriptStep(t, 6, scriptPayload("exit 3")), "retry_on", []uint32{3})
	retry = with(with(retry, "retries", 1), "retry_delays_ms", []int64{0})
	retry = with(retry, "continue_on_error", true)
	steps = append(steps, retry)
	r := startLauncher(t, h, runOf(steps...), false)
	// s0..s3 start at 0 and are ready at 100; s4 and s5 start when s1 and
	// s2 take theirs (at 100) and are ready at 200; the retry of s6 starts
	// its own process at 200, ready at 300.
	advance(t, clock, 1, 100*time.Millisecond)
	advance(t, clock, 1, 100*time.Millisecond)
	advance(t, clock, 1, 100*time.Millisecond)
	out, errOut, code := r.wait(t)
	want := framesText(
		fB(0, 1, 0), fO(0, "s0\r\n"), fX(0, 1, 0, 100),
		fB(1, 1, 100), fO(1, "s1\r\n"), fX(1, 1, 0, 100),
		fB(2, 1, 100), fO(2, "s2\r\n"), fX(2, 1, 0, 100),
		fB(3, 1, 100), fO(3, "s3\r\n"), fX(3, 1, 0, 100),
		fB(4, 1, 100), fO(4, "s4\r\n"), fX(4, 1, 0, 200),
		fB(5, 1, 200), fO(5, "s5\r\n"), fX(5, 1, 0, 200),
		fB(6, 1, 200), fX(6, 1, 3, 200), fB(6, 2, 200), fX(6, 2, 3, 300), fZ(300),
	)
	if diff := cmp.Diff([]any{want, "", uint32(0)}, []any{out, errOut, code}); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestStepRunStats(t *testing.T) {
	t.Parallel()
	f, _ := stepRunFleet(t, 2, "", FleetOptions{})
	h1, h2 := f.Hosts()[0], f.Hosts()[1]
	run := runOf(argvStep(0, "hostname", `"hostname"`), argvStep(1, "cmd.exe", `"cmd.exe" /d /s /c "exit 2"`), argvStep(2, "hostname", `"hostname"`))
	runLauncherMZ(t, f, h1, run, false)
	runLauncherMZ(t, f, h1, run, true)
	runLauncherMZ(t, f, h2, argvPayload("hostname", `"hostname"`), false)
	runLauncherMZ(t, f, h2, runOf(argvStep(0, "hostname", `"hostname"`)), false)
	st := f.Stats()
	got := [][2]int64{
		{st.Hosts[0].StepRuns, st.Hosts[0].RunSteps}, {st.Hosts[1].StepRuns, st.Hosts[1].RunSteps},
		{st.Totals.StepRuns, st.Totals.RunSteps},
	}
	if diff := cmp.Diff([][2]int64{{2, 4}, {1, 1}, {3, 5}}, got); diff != "" {
		t.Errorf("[step_runs, run_steps] per host and in total (-want +got):\n%s", diff)
	}
	raw, err := json.Marshal(st.Hosts[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"step_runs":2,"run_steps":4`) {
		t.Errorf("JSON lacks the counters: %s", raw)
	}
}

func TestStepRunRefusesMalformedPayloads(t *testing.T) {
	t.Parallel()
	f, _ := stepRunFleet(t, 1, "", FleetOptions{})
	h := f.Hosts()[0]
	ok := argvStep(0, "hostname", `"hostname"`)
	script := scriptStep(t, 1, scriptPayload("'x'"))
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name    string
		payload map[string]any
		want    string
	}{
		{"no steps", runOf(), "run payload without steps"},
		{"steps missing", map[string]any{"v": 1, "kind": "run"}, "run payload without steps"},
		{"another version", with(runOf(ok), "v", 2), "payload version 2, expected 1"},
		{"a field a run does not have", with(runOf(ok), "env", map[string]string{}), `decode payload JSON: json: unknown field "env"`},
		{"a field a step does not have", runOf(with(ok, "timeout", 5)), `decode payload JSON: json: unknown field "timeout"`},
		{"a step of unknown kind", runOf(with(ok, "kind", "cmd")), `run payload: steps[0]: step kind "cmd", expected argv or script`},
		{"an argv step without command_line", runOf(with(ok, "command_line", "")), "run payload: steps[0]: argv step without file or command_line"},
		{"an argv step without file", runOf(with(ok, "file", "")), "run payload: steps[0]: argv step without file or command_line"},
		{"an argv step with a payload", runOf(with(ok, "payload", script["payload"])), "run payload: steps[0]: argv step with a payload"},
		{"a script step without payload", runOf(with(script, "payload", "")), "run payload: steps[0]: script step without payload"},
		{
			"a script step with env beside its payload", runOf(ok, with(script, "env", map[string]string{"A": "b"})),
			"run payload: steps[1]: script step with file, command_line, env or workdir outside its payload",
		},
		{"a script step's payload not base64", runOf(with(script, "payload", "%%%")), "run payload: steps[0]: script step payload: decode payload: illegal base64 data at input byte 0"},
		{
			"a script step's payload of kind argv", runOf(with(script, "payload", b64(`{"v":1,"kind":"argv","file":"x","command_line":"x"}`))),
			`run payload: steps[0]: script step payload of kind "argv", expected script`,
		},
		{
			"a script step's payload that is a run", runOf(with(script, "payload", b64(`{"v":1,"kind":"run","steps":[]}`))),
			`run payload: steps[0]: script step payload: decode payload JSON: json: unknown field "steps"`,
		},
		{
			"a script step's payload with an unknown field", runOf(with(script, "payload", b64(`{"v":1,"kind":"script","script":"x","shell":"pwsh"}`))),
			`run payload: steps[0]: script step payload: decode payload JSON: json: unknown field "shell"`,
		},
		{"a negative index", runOf(with(ok, "index", -1)), "run payload: steps[0]: negative index -1"},
		{"indexes out of order", runOf(with(ok, "index", 3), with(script, "index", 3)), "run payload: steps[1]: index 3 does not follow index 3"},
		{"a negative timeout", runOf(with(ok, "timeout_ms", -1)), "run payload: steps[0]: timeout_ms -1 out of range"},
		{"a fractional timeout", runOf(with(ok, "timeout_ms", 1.5)), "decode payload JSON: json: cannot unmarshal number 1.5 into Go struct field runStep.steps.timeout_ms of type int64"},
		{"negative retries", runOf(with(ok, "retries", -1)), "run payload: steps[0]: negative retries -1"},
		{"fewer delays than retries", runOf(with(ok, "retries", 2, "retry_delays_ms", []int64{5})), "run payload: steps[0]: 1 retry_delays_ms for 2 retries"},
		{"more delays than retries", runOf(with(ok, "retry_delays_ms", []int64{5})), "run payload: steps[0]: 1 retry_delays_ms for 0 retries"},
		{"a negative delay", runOf(with(ok, "retries", 1, "retry_delays_ms", []int64{-5})), "run payload: steps[0]: retry_delays_ms value -5 out of range"},
		{"no accepted code", runOf(with(ok, "accept", []uint32{})), "run payload: steps[0]: no accept codes"},
		{"a negative exit code", runOf(with(ok, "accept", []int{-1})), "decode payload JSON: json: cannot unmarshal number -1 into Go struct field runStep.steps.accept of type uint32"},
		{"an exit code beyond 32 bits", runOf(with(ok, "retry_on", []int64{1 << 32})), "decode payload JSON: json: cannot unmarshal number 4294967296 into Go struct field runStep.steps.retry_on of type uint32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := startLauncher(t, h, tt.payload, false).wait(t)
			if diff := cmp.Diff([]any{"", "fleetrun launcher: " + tt.want + "\r\n", uint32(1)}, []any{out, errOut, code}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	// The same through WinRS, on stdin.
	out, errOut, code := runLauncherMZ(t, f, h, runOf(with(ok, "kind", "cmd")), true)
	if diff := cmp.Diff([]any{"", "fleetrun launcher: run payload: steps[0]: step kind \"cmd\", expected argv or script\r\n", uint32(1)}, []any{out, errOut, code}); diff != "" {
		t.Errorf("through WinRS (-want +got):\n%s", diff)
	}
	if st := h.Stats(); st.StepRuns != 0 || st.RunSteps != 0 {
		t.Errorf("refused runs counted: step_runs %d, run_steps %d", st.StepRuns, st.RunSteps)
	}
}

// FuzzParseRunPayload checks that the run payload's decoder never panics
// and that what it accepts keeps the contract's rules.
func FuzzParseRunPayload(f *testing.F) {
	script := base64.StdEncoding.EncodeToString([]byte(`{"v":1,"kind":"script","script":"exit 1","env":{},"workdir":""}`))
	f.Add(`{"v":1,"kind":"run","steps":[{"index":0,"kind":"argv","file":"x","command_line":"\"x\"","accept":[0]}]}`)
	f.Add(`{"v":1,"kind":"run","steps":[{"index":2,"kind":"script","payload":"` + script + `","timeout_ms":5,"accept":[0,3010],"retry_on":[1],"retries":1,"retry_delays_ms":[10],"continue_on_error":true}]}`)
	f.Add(`{"v":1,"kind":"run","steps":[{"index":0,"kind":"script","payload":"e30="}]}`)
	f.Add(`{"v":1,"kind":"run","steps":[]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		run, err := parseRunPayload([]byte(doc))
		if err != nil {
			return
		}
		prev := -1
		for _, st := range run.Steps {
			if st.Index <= prev || st.TimeoutMS < 0 || st.Retries != len(st.RetryDelaysMS) || len(st.Accept) == 0 {
				t.Errorf("accepted a malformed step: %+v", st)
			}
			prev = st.Index
		}
	})
}

func TestStepRunEndsWithItsCommandsSignal(t *testing.T) {
	t.Parallel()
	f, _ := stepRunFleet(t, 1, "", FleetOptions{})
	h := f.Hosts()[0]
	r := newRaw(t, f, h)
	shell := r.create()
	command, _ := launcherCommand(t, asSent(t, runOf(argvStep(0, `C:\tools\sleep.exe`, `"C:\tools\sleep.exe" 60`), argvStep(1, "hostname", `"hostname"`))), false)
	cmdID := r.command(shell, command).find(nsShell, "CommandId").text
	waitFor(t, h, "the first step's program", func() bool { return len(h.processesByImage("sleep.exe")) == 1 })
	r.mustDo(envelope(ActionSignal, ResourceShellCmd, shell, `<rsp:Signal CommandId="`+cmdID+`"><rsp:Code>`+signalTerminate+`</rsp:Code></rsp:Signal>`, "PT20S"))
	waitFor(t, h, "no process left", func() bool { return len(h.Processes()) == 0 })
	// The launcher went with its tree: the second step never started.
	st := h.Stats()
	if st.StepRuns != 1 || st.RunSteps != 1 || st.Programs["hostname.exe"] != 0 {
		t.Errorf("step_runs %d, run_steps %d, hostname.exe %d; want 1, 1, 0", st.StepRuns, st.RunSteps, st.Programs["hostname.exe"])
	}
}

// A missing working folder fails the step before it runs, as the
// launcher's Set-Location -EA Stop makes it fail on Windows, alone and in
// a step run; an existing one is entered.
func TestAMissingWorkdirFailsTheStep(t *testing.T) {
	t.Parallel()
	f, _ := stepRunFleet(t, 1, "", FleetOptions{})
	h := f.Hosts()[0]
	missing := "Cannot find path 'C:\\nope' because it does not exist.\r\n"
	cd := with(argvPayload("cmd.exe", `"cmd.exe" /d /s /c "cd"`), "workdir", `C:\nope`)
	script := with(scriptPayload("'ran'"), "workdir", `C:\nope`)
	for _, tc := range []struct {
		name    string
		payload map[string]any
	}{{"an argv step", cd}, {"a script step", script}} {
		out, errOut, code := startLauncher(t, h, tc.payload, false).wait(t)
		if diff := cmp.Diff([]any{"", missing, uint32(1)}, []any{out, errOut, code}); diff != "" {
			t.Errorf("%s alone (-want +got):\n%s", tc.name, diff)
		}
	}
	run := runOf(with(argvStep(0, "cmd.exe", `"cmd.exe" /d /s /c "cd"`), "workdir", `C:\nope`), with(argvStep(1, "cmd.exe", `"cmd.exe" /d /s /c "cd"`), "workdir", `C:\Windows`))
	out, errOut, code := startLauncher(t, h, run, false).wait(t)
	want := framesText(fB(0, 1, 0), fE(0, missing), fX(0, 1, 1, 0), fZ(0))
	if diff := cmp.Diff([]any{want, "", uint32(0)}, []any{out, errOut, code}); diff != "" {
		t.Errorf("in a run (-want +got):\n%s", diff)
	}
}

// A run's frames are held back and written out together (docs/design.md,
// "Step runs"): while the second step still runs nothing has gone out (the
// hold is longer than the test), and the whole run goes out in one write
// when it ends. TestFrameWriterFlushesOnItsTimer covers the hold running
// out while a step runs.
func TestStepRunHoldsFramesAndWritesThemTogether(t *testing.T) {
	t.Parallel()
	f, clock := stepRunFleet(t, 1, "", FleetOptions{})
	h := f.Hosts()[0]
	h.frameHold = time.Hour
	r := startLauncher(t, h, runOf(
		argvStep(0, "hostname", `"hostname"`),
		scriptStep(t, 1, scriptPayload("Start-Sleep -Seconds 5\n'late'")),
	), false)
	// Once the second step sleeps on the host's clock, the first step's
	// frames and the second's B are held, not written.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if got := r.writes.waitFor(t, 0); len(got) != 0 {
		t.Fatalf("writes while the second step runs: %q, want none", got)
	}
	clock.Advance(5 * time.Second)
	if _, _, code := r.wait(t); code != 0 {
		t.Fatalf("launcher exit %d", code)
	}
	want := []string{framesText(fB(0, 1, 0), fO(0, "sim-0001\r\n"), fX(0, 1, 0, 0), fB(1, 1, 0),
		fO(1, "late\r\n"), fX(1, 1, 0, 5000), fZ(5000))}
	if got := r.writes.waitFor(t, 1); !slices.Equal(got, want) {
		t.Errorf("writes: %q, want %q", got, want)
	}
}

// testFrameWriter is a frame writer holding frames for hold, writing to
// the log it returns.
func testFrameWriter(hold time.Duration) (*frameWriter, *writeLog) {
	w := &writeLog{}
	clock := newTestClock()
	return &frameWriter{w: w, clock: clock, start: clock.Now(), hold: hold}, w
}

// Frames held while a step runs go out when the hold runs out, without
// the run doing anything more: a long step's output still streams.
func TestFrameWriterFlushesOnItsTimer(t *testing.T) {
	t.Parallel()
	fw, w := testFrameWriter(time.Millisecond)
	defer fw.close()
	fw.header("B %d %d %d\n", 3, 1, 0)
	fw.data('O', 3, []byte("partial"))
	// The hold may run out between the two frames: one write or two.
	want := "B 3 1 0\nO 3 7\npartial"
	for n := 1; ; n++ {
		got := w.waitFor(t, n)
		if strings.Join(got, "") == want {
			return
		}
		if n == 2 {
			t.Fatalf("written on the timer: %q, want %q", got, want)
		}
	}
}

// The frame writer's own rules: nothing is written until it is flushed or
// holds frameHoldBytes; a stopped launcher's frames are dropped.
func TestFrameWriterHoldsUntilFlushedOrFull(t *testing.T) {
	t.Parallel()
	fw, w := testFrameWriter(time.Hour)
	fw.header("B %d %d %d\n", 0, 1, 0)
	fw.data('O', 0, []byte("x"))
	fw.flush()
	fw.flush() // nothing more held: no write
	big := bytes.Repeat([]byte("y"), frameHoldBytes)
	fw.data('O', 0, big) // more than frameHoldBytes with its header: out at once
	fw.header("Z %d\n", 0)
	fw.close() // the launcher stopped: Z is dropped
	fw.flush()
	want := []string{"B 0 1 0\nO 0 1\nx", fmt.Sprintf("O 0 %d\n%s", len(big), big)}
	if got := w.waitFor(t, 0); !slices.Equal(got, want) {
		t.Errorf("writes: %d, want %d; first %.40q", len(got), len(want), got)
	}
}
