package sim

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf16"

	"github.com/jonboulle/clockwork"

	"github.com/fleetrun/fleetrun/sim/internal/cmdexe"
)

// Step runs (docs/design.md, "Step runs"): one launch of fleetrun's
// launcher carries several consecutive steps of a host, which run one
// after another, each through the same path as when it is sent alone,
// while the launcher's stdout carries frames that say which step and
// attempt wrote what, and how each attempt ended.

// runPayload is a step run's payload: {"v":1,"kind":"run","steps":[...]}.
type runPayload struct {
	V     int       `json:"v"`
	Kind  string    `json:"kind"`
	Steps []runStep `json:"steps"`
}

// runStep is one step of a run.
type runStep struct {
	Index int    `json:"index"`
	Kind  string `json:"kind"`
	// File, CommandLine, Env and Workdir are an argv step's, as in a
	// single argv payload.
	File        string            `json:"file"`
	CommandLine string            `json:"command_line"`
	Env         map[string]string `json:"env"`
	Workdir     string            `json:"workdir"`
	// Payload is a script step's own single script payload, in base64.
	Payload         string   `json:"payload"`
	TimeoutMS       int64    `json:"timeout_ms"`
	Accept          []uint32 `json:"accept"`
	RetryOn         []uint32 `json:"retry_on"`
	Retries         int      `json:"retries"`
	RetryDelaysMS   []int64  `json:"retry_delays_ms"`
	ContinueOnError bool     `json:"continue_on_error"`
}

// maxRunMS bounds the millisecond fields so that they convert to a
// time.Duration without overflow.
const maxRunMS = math.MaxInt64 / int64(time.Millisecond)

// parseRunPayload decodes and checks a run payload strictly: a launcher
// that guessed at a malformed run would hide a controller's bug.
// stepRunMarker is the first line of fleetrun's step-run script, which
// travels as the script of a launcher payload (docs/design.md, "Step
// runs") and carries the run in its own $fleetrunPayload statement.
const stepRunMarker = "# fleetrun-steprun v1"

// parseStepRunScript decodes the run the step-run script carries. Only the
// payload is read, never the script's PowerShell.
func parseStepRunScript(script string) (*runPayload, error) {
	m := payloadStatements(script)
	if len(m) != 1 {
		return nil, fmt.Errorf("step-run script has %d $fleetrunPayload statements, expected 1", len(m))
	}
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(m[0]), ""))
	if err != nil {
		return nil, fmt.Errorf("decode payload: %w", err)
	}
	return parseRunPayload(raw)
}

func parseRunPayload(raw []byte) (*runPayload, error) {
	var run runPayload
	if err := decodeStrictJSON(raw, &run); err != nil {
		return nil, err
	}
	if run.V != 1 {
		return nil, fmt.Errorf("payload version %d, expected 1", run.V)
	}
	if len(run.Steps) == 0 {
		return nil, errors.New("run payload without steps")
	}
	for i := range run.Steps {
		st := &run.Steps[i]
		if err := st.check(); err != nil {
			return nil, fmt.Errorf("run payload: steps[%d]: %w", i, err)
		}
		// Frames name steps by index, so two steps may not share one.
		if i > 0 && st.Index <= run.Steps[i-1].Index {
			return nil, fmt.Errorf("run payload: steps[%d]: index %d does not follow index %d", i, st.Index, run.Steps[i-1].Index)
		}
	}
	return &run, nil
}

// check validates one step of a run.
func (st *runStep) check() error {
	switch {
	case st.Index < 0:
		return fmt.Errorf("negative index %d", st.Index)
	case st.TimeoutMS < 0 || st.TimeoutMS > maxRunMS:
		return fmt.Errorf("timeout_ms %d out of range", st.TimeoutMS)
	case st.Retries < 0:
		return fmt.Errorf("negative retries %d", st.Retries)
	case len(st.RetryDelaysMS) != st.Retries:
		return fmt.Errorf("%d retry_delays_ms for %d retries", len(st.RetryDelaysMS), st.Retries)
	case len(st.Accept) == 0:
		return errors.New("no accept codes")
	}
	for _, d := range st.RetryDelaysMS {
		if d < 0 || d > maxRunMS {
			return fmt.Errorf("retry_delays_ms value %d out of range", d)
		}
	}
	switch st.Kind {
	case "argv":
		if st.File == "" || st.CommandLine == "" {
			return errors.New("argv step without file or command_line")
		}
		if st.Payload != "" {
			return errors.New("argv step with a payload")
		}
	case "script":
		if st.File != "" || st.CommandLine != "" || len(st.Env) > 0 || st.Workdir != "" {
			return errors.New("script step with file, command_line, env or workdir outside its payload")
		}
		if st.Payload == "" {
			return errors.New("script step without payload")
		}
		// The step's powershell.exe decodes the payload itself; a payload
		// it would refuse is refused here, before any step runs.
		var raw json.RawMessage
		if err := decodePayloadText(st.Payload, &raw); err != nil {
			return fmt.Errorf("script step payload: %w", err)
		}
		pl, err := parsePayloadJSON(raw)
		if err != nil {
			return fmt.Errorf("script step payload: %w", err)
		}
		if pl.Kind != "script" {
			return fmt.Errorf("script step payload of kind %q, expected script", pl.Kind)
		}
	default:
		return fmt.Errorf("step kind %q, expected argv or script", st.Kind)
	}
	return nil
}

// stepRunExitCancelled is the launcher's code when its run was stopped
// from outside (the command's Signal, the launcher's process ended): the
// code a process stopped by Ctrl+C ends with, STATUS_CONTROL_C_EXIT. The
// run's output is incomplete (no Z) whatever the code.
const stepRunExitCancelled = 0xC000013A

// stepRun runs a run's steps one after another and writes their frames on
// the launcher's stdout: nothing else goes there. It returns 0 after Z;
// when the launcher is stopped it returns at once, without Z.
func (h *Host) stepRun(ctx context.Context, p *cmdexe.Proc, run *runPayload) uint32 {
	fw := &frameWriter{w: p.Stdout, clock: h.clock, start: h.clock.Now(), hold: h.frameHold}
	defer fw.close()
	ahead := &startedAhead{h: h, steps: run.Steps, ready: map[int]time.Time{}}
	for i := range run.Steps {
		st := &run.Steps[i]
		ahead.topUp()
		ok := h.runStepAttempts(ctx, p, fw, st, ahead, i)
		if launcherStopped(ctx) {
			return stepRunExitCancelled
		}
		if !ok && !st.ContinueOnError {
			break
		}
	}
	fw.header("Z %d\n", fw.ms())
	fw.flush()
	return 0
}

// launcherStopped reports whether the launcher was stopped: its process
// ended, or its tree (the command's Signal). A tree ends its processes
// together, but the simulator learns of it process by process, so a step's
// program may see it before the launcher's own context does.
func launcherStopped(ctx context.Context) bool {
	return ctx.Err() != nil || procFrom(ctx).tree.Err() != nil
}

// runStepAttempts runs a step's attempts and reports whether the step
// ended well.
func (h *Host) runStepAttempts(ctx context.Context, p *cmdexe.Proc, fw *frameWriter, st *runStep, ahead *startedAhead, pos int) bool {
	ps := procFrom(ctx)
	for attempt := 1; ; attempt++ {
		fw.header("B %d %d %d\n", st.Index, attempt, fw.ms())
		// A script step's first attempt uses the process started ahead
		// for it; a further attempt starts one of its own.
		start := h.cfg.ProcessStart + h.cfg.Faults.SlowStart
		if st.Kind == "script" && attempt == 1 {
			start = ahead.take(pos)
		}
		code, timedOut := h.stepAttempt(ctx, p, fw, st, start)
		if launcherStopped(ctx) {
			return false
		}
		if timedOut {
			// A timed-out step is not retried.
			fw.header("T %d %d %d\n", st.Index, attempt, fw.ms())
			return false
		}
		fw.header("X %d %d %d %d\n", st.Index, attempt, code, fw.ms())
		switch {
		case slices.Contains(st.Accept, code):
			return true
		case slices.Contains(st.RetryOn, code) && attempt <= st.Retries:
			// The delay is waited on the host's clock, as a waiting
			// process; stopping the launcher ends it. The script writes
			// out what it holds before it sleeps.
			fw.flush()
			if ps.sleep(ctx, time.Duration(st.RetryDelaysMS[attempt-1])*time.Millisecond) != nil {
				return false
			}
		default:
			return false
		}
	}
}

// stepAttempt runs one attempt of a step and returns its exit code, or
// timedOut when it ran past the step's timeout and was ended.
func (h *Host) stepAttempt(ctx context.Context, p *cmdexe.Proc, fw *frameWriter, st *runStep, start time.Duration) (code uint32, timedOut bool) {
	h.stats.add(&h.stats.runSteps, 1)
	ps := procFrom(ctx)
	// The attempt's own work in the launcher (a program's start, a batch
	// file run as cmd.exe would) stops with runCtx; the processes it
	// starts belong to a tree of their own inside the launcher's, so a
	// timeout ends every one of them, even one that was being started
	// when the timeout came.
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	tree, cancelTree := context.WithCancel(ps.tree)
	defer cancelTree()
	aps := *ps
	aps.tree = tree
	actx := context.WithValue(runCtx, procKey{}, &aps)

	out := &frameStream{fw: fw, tag: 'O', index: st.Index}
	errOut := &frameStream{fw: fw, tag: 'E', index: st.Index}
	child := &cmdexe.Proc{
		Name: p.Name, CommandLine: p.CommandLine, Args: p.Args, Env: p.Env,
		// An argv step's stdin is closed at once; a script step's carries
		// its payload (scriptStep).
		Stdin:  strings.NewReader(""),
		Stdout: sameConsole(p.Stdout, out), Stderr: sameConsole(p.Stderr, errOut),
	}

	var (
		mu               sync.Mutex
		finished, killed bool
		wg               sync.WaitGroup
	)
	done := make(chan struct{})
	if st.TimeoutMS > 0 {
		t := h.clock.NewTimer(time.Duration(st.TimeoutMS) * time.Millisecond)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer t.Stop()
			select {
			case <-t.Chan():
			case <-done:
				return
			}
			mu.Lock()
			if finished {
				mu.Unlock()
				return
			}
			killed = true
			mu.Unlock()
			// Whatever the dying processes would still write is lost, as
			// with TerminateProcess.
			out.closed.Store(true)
			errOut.closed.Store(true)
			// taskkill /T /F on the step's process ("/t ends the specified
			// process and any child processes started by it", Microsoft's
			// taskkill docs): the launcher's children are the current
			// attempt's, and their descendants go too, deepest first. The
			// root of a tree (pid 0) has no process of its own to look
			// under; cancelling the attempt's tree ends what it started.
			if ps.pid != 0 {
				for _, pid := range h.childProcesses(ps.pid) {
					h.killTree(pid, true)
				}
			}
			cancelTree()
			cancelRun()
		}()
	}

	if st.Kind == "script" {
		code = h.scriptStep(actx, child, st.Payload, start)
	} else {
		code = h.launch(actx, child, &launcherPayload{V: 1, Kind: "argv", File: st.File, CommandLine: st.CommandLine, Env: st.Env, Workdir: st.Workdir})
	}
	mu.Lock()
	finished = true
	timedOut = killed
	mu.Unlock()
	close(done)
	wg.Wait()
	return code, timedOut
}

// stdinLauncherCommand is the command line a run's script step starts
// powershell.exe with: the usual arguments and the stdin variant of the
// launcher (an empty payload literal), as fleetrun sends a step alone
// when its payload is too large for the command line. The launcher's
// text beyond its marker and payload statement is never read here.
var stdinLauncherCommand = `"` + pathPowerShell + `" -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand ` +
	encodeUTF16Base64(launcherMarker+"\r\n$fleetrunPayload = ''\r\n")

// encodeUTF16Base64 is PowerShell's -EncodedCommand encoding: base64 of
// the UTF-16LE text.
func encodeUTF16Base64(s string) string {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// scriptStep starts a script step's own powershell.exe, with the stdin
// variant of the launcher and the step's payload on its stdin: the step
// runs exactly as alone (its exit, $LASTEXITCODE and throw are its
// process's). Starting it costs the host's process start, as the command's
// own process does.
func (h *Host) scriptStep(ctx context.Context, p *cmdexe.Proc, payload string, start time.Duration) uint32 {
	if procFrom(ctx).sleep(ctx, start) != nil {
		return stepRunExitCancelled
	}
	prog, ok := h.lookup(pathPowerShell)
	if !ok {
		// The host's program table always has powershell.exe.
		h.writeHost(p.Stderr, "Exception calling \"Start\" with \"1\" argument(s): \"The system cannot find the file specified\"\r\n")
		return 1
	}
	return prog(ctx, &cmdexe.Proc{
		Name: pathPowerShell, CommandLine: stdinLauncherCommand, Args: cmdexe.ParseArgs(stdinLauncherCommand),
		Env: p.Env, Stdin: strings.NewReader(payload), Stdout: p.Stdout, Stderr: p.Stderr,
	})
}

// startedAhead models the step-run script starting PowerShell steps'
// processes ahead (docs/design.md, "Step runs"): at most four at a time,
// in step order, topped up before each step; each is ready a process
// start after it was started, so starts made together overlap. Only the
// cost is modelled: a process started ahead runs nothing until its step's
// turn, when scriptStep starts the step's powershell.exe for real.
type startedAhead struct {
	h     *Host
	steps []runStep
	// next is the position of the next step to look at; ready holds,
	// for processes started and not yet used, when each is ready.
	next  int
	ready map[int]time.Time
}

// maxStartedAhead is how many processes the script starts ahead.
const maxStartedAhead = 4

// topUp starts processes ahead until four wait or no script step is left.
func (a *startedAhead) topUp() {
	for len(a.ready) < maxStartedAhead && a.next < len(a.steps) {
		if a.steps[a.next].Kind == "script" {
			a.ready[a.next] = a.h.clock.Now().Add(a.h.cfg.ProcessStart + a.h.cfg.Faults.SlowStart)
		}
		a.next++
	}
}

// take hands the process started ahead for the step at pos to it and
// returns how much of its start is still to come.
func (a *startedAhead) take(pos int) time.Duration {
	t, ok := a.ready[pos]
	if !ok {
		return a.h.cfg.ProcessStart + a.h.cfg.Faults.SlowStart
	}
	delete(a.ready, pos)
	return max(0, t.Sub(a.h.clock.Now()))
}

// sameConsole gives w the console conversion the launcher's own pipe like
// has: cmd.exe's built-ins write the console's code page there
// (consoleWriter), so a step's cmd.exe writes the same bytes in a run as
// alone.
func sameConsole(like, w io.Writer) io.Writer {
	if cw, ok := like.(*consoleWriter); ok {
		return consoleOut(w, cw.console)
	}
	return w
}

// frameWriter writes a run's frames on the launcher's stdout. It is the
// only writer there, and writes each frame whole, so frames never
// interleave.
//
// Like the step-run script, it holds frames back and writes them out
// together (docs/design.md, "Step runs"): when the run ends, before a
// retry's delay, when frameHold has passed since the oldest frame held,
// or when frameHoldBytes are held. A run of short steps then reaches the
// command's output at once, and one Receive carries all of it. Frames held
// when the launcher is stopped are lost with its process.
type frameWriter struct {
	w     io.Writer
	clock clockwork.Clock
	start time.Time
	hold  time.Duration // frameHold, unless a test wants another

	mu     sync.Mutex
	held   []byte
	timer  *time.Timer // flushes held frames hold after the first
	closed bool
}

// frameHold and frameHoldBytes bound how long and how much the step-run
// script holds frames back; the script has the same numbers.
const (
	frameHold      = 250 * time.Millisecond
	frameHoldBytes = 64 << 10
)

// put holds a frame, and writes out what is held when it reaches
// frameHoldBytes.
func (f *frameWriter) put(b []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	if len(f.held) == 0 {
		// Real time, not the host's clock: the hold decides only when
		// output is delivered, never what it says, and a test that moves
		// a fake host clock sees the run's timers alone.
		f.timer = time.AfterFunc(f.hold, f.flush)
	}
	f.held = append(f.held, b...)
	if len(f.held) >= frameHoldBytes {
		f.flushLocked()
	}
}

// flush writes out the frames held.
func (f *frameWriter) flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.flushLocked()
	}
}

func (f *frameWriter) flushLocked() {
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
	if len(f.held) > 0 {
		rawWrite(f.w, f.held)
		f.held = nil
	}
}

// close ends the writer when the launcher ends: what is still held (only
// when the launcher was stopped) is dropped, and a pending flush does
// nothing. A flush the timer is running holds mu, so close waits for it;
// one the timer has just started finds the writer closed and returns.
func (f *frameWriter) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
	f.held = nil
}

// ms is the time since the run started, in milliseconds of the host's
// clock.
func (f *frameWriter) ms() int64 { return f.clock.Since(f.start).Milliseconds() }

// header writes a frame that is a header line alone.
func (f *frameWriter) header(format string, a ...any) {
	line := fmt.Sprintf(format, a...)
	f.put([]byte(line))
}

// data writes a data frame: its header line, then the bytes.
func (f *frameWriter) data(tag byte, index int, p []byte) {
	b := make([]byte, 0, len(p)+24)
	b = append(b, tag, ' ')
	b = strconv.AppendInt(b, int64(index), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(p)), 10)
	b = append(b, '\n')
	b = append(b, p...)
	f.put(b)
}

// frameStream is a step's stdout or stderr: each write becomes one frame.
type frameStream struct {
	fw     *frameWriter
	tag    byte
	index  int
	closed atomic.Bool
}

func (s *frameStream) Write(p []byte) (int, error) {
	if len(p) > 0 && !s.closed.Load() {
		s.fw.data(s.tag, s.index, p)
	}
	return len(p), nil
}
