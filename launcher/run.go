package launcher

import (
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fleetrun/fleetrun/transport"
)

// stepRunSource is the commented step-run script; see steprun.ps1.
//
//go:embed steprun.ps1
var stepRunSource string

// StepRunMarker is the step-run script's first line.
const StepRunMarker = "# fleetrun-steprun v1"

// stepRunWire is the step-run script as sent.
var stepRunWire = wireForm(stepRunSource)

// StepRunSource returns the commented source of the step-run script, for
// review and syntax checks.
func StepRunSource() string { return stepRunSource }

// StepRunText returns the step-run script exactly as the launcher receives
// it as a script, with payloadB64 (the run document) as its payload.
func StepRunText(payloadB64 string) string {
	return strings.Replace(stepRunWire, payloadStatement, "$fleetrunPayload = '"+payloadB64+"'", 1)
}

// runPayload is a step run's document (docs/design.md, "Step runs").
type runPayload struct {
	V     int    `json:"v"`
	Kind  string `json:"kind"`
	Steps []any  `json:"steps"`
}

// runRules are the rules the launcher applies to every step of a run.
type runRules struct {
	TimeoutMS       int64    `json:"timeout_ms"`
	Accept          []uint32 `json:"accept"`
	RetryOn         []uint32 `json:"retry_on"`
	Retries         int      `json:"retries"`
	RetryDelaysMS   []int64  `json:"retry_delays_ms"`
	ContinueOnError bool     `json:"continue_on_error"`
}

type runArgvStep struct {
	Index       int               `json:"index"`
	Kind        string            `json:"kind"`
	File        string            `json:"file"`
	CommandLine string            `json:"command_line"`
	Env         map[string]string `json:"env"`
	Workdir     string            `json:"workdir"`
	runRules
}

type runScriptStep struct {
	Index   int    `json:"index"`
	Kind    string `json:"kind"`
	Payload string `json:"payload"`
	runRules
}

// maxRunSteps bounds the steps of one run; a playbook's steps are bounded
// far below it.
const maxRunSteps = 10000

// BuildRun turns consecutive steps into one step run's payload. Each
// step's body is built exactly as Build builds it alone (argv and cmd steps
// keep their file, command line, env and workdir; a powershell step carries
// its own script payload, which the launcher hands to a powershell.exe of
// its own), so it fails where Build would, naming the step.
func BuildRun(steps []transport.RunStep) (string, error) {
	if len(steps) == 0 || len(steps) > maxRunSteps {
		return "", fmt.Errorf("a step run needs 1 to %d steps, not %d", maxRunSteps, len(steps))
	}
	doc := runPayload{V: 1, Kind: "run", Steps: make([]any, 0, len(steps))}
	for _, st := range steps {
		rules, err := rulesOf(st)
		if err != nil {
			return "", fmt.Errorf("step %d: %w", st.Index, err)
		}
		cmd := st.Command
		if cmd.RunAs != transport.RunAsSession || cmd.Kind.IsFile() || cmd.Kind == transport.KindReboot {
			return "", fmt.Errorf("step %d: a %s step run as %q cannot be part of a step run", st.Index, cmd.Kind, cmd.RunAs)
		}
		p, err := Build(cmd)
		if err != nil {
			return "", fmt.Errorf("step %d: %w", st.Index, err)
		}
		if cmd.Kind == transport.KindPowerShell {
			doc.Steps = append(doc.Steps, runScriptStep{Index: st.Index, Kind: "script", Payload: p.B64, runRules: rules})
			continue
		}
		file := "cmd.exe"
		if cmd.Kind == transport.KindArgv {
			file = cmd.Argv[0]
		}
		env := cmd.Env
		if env == nil {
			env = map[string]string{}
		}
		doc.Steps = append(doc.Steps, runArgvStep{Index: st.Index, Kind: "argv", File: file, CommandLine: p.CommandLine,
			Env: env, Workdir: cmd.Workdir, runRules: rules})
	}
	return encodePayload(doc)
}

// rulesOf is the launcher's form of a step's rules.
func rulesOf(st transport.RunStep) (runRules, error) {
	if st.Timeout < 0 || st.Retries < 0 {
		return runRules{}, errors.New("negative timeout or retries")
	}
	if len(st.RetryDelays) != st.Retries {
		return runRules{}, fmt.Errorf("%d retries but %d retry delays", st.Retries, len(st.RetryDelays))
	}
	r := runRules{TimeoutMS: ceilMS(st.Timeout), Accept: nonNil(st.Accept), RetryOn: nonNil(st.RetryOn),
		Retries: st.Retries, RetryDelaysMS: make([]int64, len(st.RetryDelays)), ContinueOnError: st.ContinueOnError}
	for i, d := range st.RetryDelays {
		if d < 0 {
			return runRules{}, errors.New("negative retry delay")
		}
		r.RetryDelaysMS[i] = ceilMS(d)
	}
	return r, nil
}

// ceilMS is d in whole milliseconds, rounded up so that a bound is never
// shortened.
func ceilMS(d time.Duration) int64 { return int64((d + time.Millisecond - 1) / time.Millisecond) }

func nonNil(c []uint32) []uint32 {
	if c == nil {
		return []uint32{}
	}
	return c
}

// RenderRun is what goes to WinRS for a step run: the launcher with a
// script payload whose script is the step-run script carrying the run
// document (BuildRun). It never fits -EncodedCommand; it goes in the
// compressed form (CompressedCommand) when that fits the command line,
// which saves the Send of the stdin variant, and on stdin otherwise.
func RenderRun(steps []transport.RunStep, opts RenderOptions) (Rendered, error) {
	doc, err := BuildRun(steps)
	if err != nil {
		return Rendered{}, err
	}
	p, err := Build(transport.Command{Kind: transport.KindPowerShell, Script: StepRunText(doc)})
	if err != nil {
		return Rendered{}, err
	}
	return renderPayload(p.B64, "", opts, true), nil
}

// FrameHandler receives a step run's frames as FrameParser reads them. i
// is the step's index, a the attempt, t the time since the run started on
// the host. An error stops the parser with it.
type FrameHandler interface {
	Begin(i, a int, t time.Duration) error
	Output(i int, stderr bool, data []byte) error
	Exit(i, a int, code uint32, t time.Duration) error
	Timeout(i, a int, t time.Duration) error
	End(t time.Duration) error
}

// ErrFrames wraps every error of FrameParser about the launcher's output.
var ErrFrames = errors.New("the launcher's step-run output is not well framed")

// maxHeader bounds a frame's header line; the longest ("X i a code t")
// is well under it.
const maxHeader = 96

// FrameParser reads the frames of a step run's stdout (docs/design.md) as
// they arrive, in pieces of any size, and hands them to its handler; data
// bytes pass through without being held. It checks the frames' order: an
// attempt begins, its output follows, it ends (X or T), and Z comes last,
// outside any attempt. Write returns the first error for good.
type FrameParser struct {
	h    FrameHandler
	line []byte
	// open is the step of the attempt that began and has not ended, -1
	// for none; attempt its attempt.
	open, attempt int
	// left is how many data bytes of the current O or E frame are still
	// to come; stderr says which stream they belong to.
	left   int64
	stderr bool
	ended  bool
	err    error
}

// NewFrameParser returns a parser handing frames to h.
func NewFrameParser(h FrameHandler) *FrameParser { return &FrameParser{h: h, open: -1} }

// Ended reports whether the run's closing frame (Z) arrived.
func (p *FrameParser) Ended() bool { return p.ended && p.err == nil && p.left == 0 }

// Write implements io.Writer.
func (p *FrameParser) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 && p.err == nil {
		if p.left > 0 {
			k := int(min(p.left, int64(len(b))))
			p.left -= int64(k)
			if err := p.h.Output(p.open, p.stderr, b[:k]); err != nil {
				p.err = err
				break
			}
			b = b[k:]
			continue
		}
		if p.ended {
			p.err = fmt.Errorf("%w: %d bytes after the closing frame", ErrFrames, len(b))
			break
		}
		nl := -1
		for i, c := range b {
			if c == '\n' {
				nl = i
				break
			}
		}
		if nl < 0 {
			p.line = append(p.line, b...)
			if len(p.line) > maxHeader {
				p.err = fmt.Errorf("%w: a header line longer than %d bytes (%q...)", ErrFrames, maxHeader, p.line[:16])
			}
			break
		}
		p.line = append(p.line, b[:nl]...)
		b = b[nl+1:]
		if len(p.line) > maxHeader {
			p.err = fmt.Errorf("%w: a header line longer than %d bytes (%q...)", ErrFrames, maxHeader, p.line[:16])
			break
		}
		p.err = p.header(string(p.line))
		p.line = p.line[:0]
	}
	if p.err != nil {
		return n - len(b), p.err
	}
	return n, nil
}

// header handles one header line.
func (p *FrameParser) header(line string) error {
	f, ok := fields(line)
	if !ok {
		return fmt.Errorf("%w: %q is not a frame", ErrFrames, line)
	}
	want := map[string]int{"B": 4, "O": 3, "E": 3, "X": 5, "T": 4, "Z": 2}[f.kind]
	if want == 0 || len(f.n) != want-1 {
		return fmt.Errorf("%w: %q is not a frame", ErrFrames, line)
	}
	ms := func(v int64) time.Duration { return time.Duration(v) * time.Millisecond }
	switch f.kind {
	case "B":
		if p.open >= 0 {
			return fmt.Errorf("%w: %q while attempt %d of step %d runs", ErrFrames, line, p.attempt, p.open)
		}
		// Attempts count from 1; whether the step is one of the run's is
		// the handler's to judge (it knows the run's steps).
		if f.n[1] < 1 {
			return fmt.Errorf("%w: %q names no step attempt", ErrFrames, line)
		}
		p.open, p.attempt = int(f.n[0]), int(f.n[1])
		return p.h.Begin(p.open, p.attempt, ms(f.n[2]))
	case "O", "E":
		if p.open < 0 || f.n[0] != int64(p.open) {
			return fmt.Errorf("%w: %q outside an attempt of that step", ErrFrames, line)
		}
		p.left, p.stderr = f.n[1], f.kind == "E"
		return nil
	case "X", "T":
		if p.open < 0 || f.n[0] != int64(p.open) || f.n[1] != int64(p.attempt) {
			return fmt.Errorf("%w: %q ends no running attempt", ErrFrames, line)
		}
		i, a := p.open, p.attempt
		p.open = -1
		if f.kind == "T" {
			return p.h.Timeout(i, a, ms(f.n[2]))
		}
		if f.n[2] > 0xFFFFFFFF {
			return fmt.Errorf("%w: %q: exit code out of range", ErrFrames, line)
		}
		return p.h.Exit(i, a, uint32(f.n[2]), ms(f.n[3]))
	default: // "Z"
		if p.open >= 0 {
			return fmt.Errorf("%w: the run ended while attempt %d of step %d ran", ErrFrames, p.attempt, p.open)
		}
		p.ended = true
		return p.h.End(ms(f.n[0]))
	}
}

// frame is a header line split into its kind and numbers.
type frame struct {
	kind string
	n    []int64
}

// fields splits a header: a kind letter, then non-negative decimal
// numbers separated by single spaces.
func fields(line string) (frame, bool) {
	if len(line) < 1 {
		return frame{}, false
	}
	f := frame{kind: line[:1]}
	rest := line[1:]
	for rest != "" {
		if rest[0] != ' ' {
			return frame{}, false
		}
		rest = rest[1:]
		end := 0
		for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
			end++
		}
		if end == 0 || end > 15 {
			return frame{}, false
		}
		v, err := strconv.ParseInt(rest[:end], 10, 64)
		if err != nil {
			return frame{}, false
		}
		f.n = append(f.n, v)
		rest = rest[end:]
	}
	return f, true
}
