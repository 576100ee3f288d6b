package launcher

import (
	_ "embed"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/fleetrun/fleetrun/transport"
)

// taskSource is the commented task script; see task.ps1.
//
//go:embed task.ps1
var taskSource string

// TaskMarker is the task script's first line.
const TaskMarker = "# fleetrun-task v1"

// TaskDir is the folder on a host where task steps keep their files: the
// batch file the task runs, the step's payload, its output and its exit
// code. The task script creates it readable by SYSTEM and Administrators
// only.
const TaskDir = `C:\ProgramData\fleetrun\tasks`

// TaskFolder is the Task Scheduler folder of fleetrun's tasks.
const TaskFolder = `\fleetrun\`

// taskWire is the task script as sent.
var taskWire = wireForm(taskSource)

// TaskSource returns the commented source of the task script, for review
// and syntax checks.
func TaskSource() string { return taskSource }

// TaskText returns the task script exactly as it is sent, with payloadB64
// as its payload literal.
func TaskText(payloadB64 string) string {
	return strings.Replace(taskWire, payloadStatement, "$fleetrunPayload = '"+payloadB64+"'", 1)
}

// TaskOp is an operation of the task script.
type TaskOp string

// Task script operations (see task.ps1).
const (
	// TaskRun starts the step's task unless it exists and ran or left an
	// exit code, then follows it.
	TaskRun TaskOp = "run"
	// TaskFollow follows the task without ever starting it.
	TaskFollow TaskOp = "follow"
	// TaskStop ends the task's process tree and the task.
	TaskStop TaskOp = "stop"
	// TaskForget deletes the task and its files.
	TaskForget TaskOp = "forget"
)

// taskNameRE is what a task name may be: the task script refuses others.
var taskNameRE = regexp.MustCompile(`^fleetrun-[0-9a-z-]{1,64}$`)

// CheckTaskName reports whether name can name a task.
func CheckTaskName(name string) error {
	if !taskNameRE.MatchString(name) {
		return fmt.Errorf("task name %q: expected fleetrun- and up to 64 lower-case letters, digits and hyphens", name)
	}
	return nil
}

// TaskRequest is one call of the task script.
type TaskRequest struct {
	Op   TaskOp
	Name string
	// Step is the step's launcher payload (TaskRun only).
	Step Payload
	// Out and Err are how many bytes of the task's stdout and stderr the
	// caller has (TaskRun, TaskFollow).
	Out, Err int64
	// Poll is how often the script looks at the task's files; Window how
	// long it follows before answering "still running".
	Poll, Window time.Duration
	// Limit is the task's ExecutionTimeLimit, after which the Task
	// Scheduler stops it; zero means none.
	Limit time.Duration
}

// taskPayload is the task script's JSON document; names are the contract
// in docs/design.md.
type taskPayload struct {
	V        int    `json:"v"`
	Op       TaskOp `json:"op"`
	Task     string `json:"task"`
	Dir      string `json:"dir"`
	Batch    string `json:"batch,omitempty"`
	Input    string `json:"input,omitempty"`
	LimitS   int64  `json:"limit_s,omitempty"`
	Out      int64  `json:"out"`
	Err      int64  `json:"err"`
	PollMS   int64  `json:"poll_ms,omitempty"`
	WindowMS int64  `json:"window_ms,omitempty"`
}

// TaskBatch is the batch file a step's task runs: in a console switched to
// UTF-8 (what a WinRS shell gets), the stdin variant of the launcher with
// the step's payload file on stdin and its stdout and stderr in files, byte
// for byte as over WinRS; then the exit code, written as a line to the .rc
// file (the sign of completion the task script waits for) and passed on as
// the task's own result. cmd.exe's %ERRORLEVEL% is a signed 32-bit number:
// 0xC0000005 is written as -1073741819.
func TaskBatch(name string) string {
	f := TaskDir + `\` + name
	rc := RemoteCommand(Text(""))
	return "@echo off\r\n" +
		"chcp 65001 >nul\r\n" +
		strings.Join(rc, " ") + ` <"` + f + `.in" >"` + f + `.out" 2>"` + f + `.err"` + "\r\n" +
		"set FLEETRUN_RC=%ERRORLEVEL%\r\n" +
		`>"` + f + `.rc" echo %FLEETRUN_RC%` + "\r\n" +
		"exit %FLEETRUN_RC%\r\n"
}

// RenderTask renders one call of the task script as a WinRS command, like
// Render does for a step: the payload moves to stdin when the command line
// would be too long.
func RenderTask(req TaskRequest, opts RenderOptions) (Rendered, error) {
	if err := CheckTaskName(req.Name); err != nil {
		return Rendered{}, err
	}
	doc := taskPayload{V: 1, Op: req.Op, Task: req.Name, Dir: TaskDir, Out: req.Out, Err: req.Err}
	switch req.Op {
	case TaskRun, TaskFollow:
		doc.PollMS = max(req.Poll.Milliseconds(), 1)
		doc.WindowMS = max(req.Window.Milliseconds(), 0)
		if req.Op == TaskRun {
			if req.Step.B64 == "" {
				return Rendered{}, errors.New("task run without a step payload")
			}
			doc.Batch, doc.Input = TaskBatch(req.Name), req.Step.B64
			doc.LimitS = int64((req.Limit + time.Second - 1) / time.Second)
		}
	case TaskStop, TaskForget:
	default:
		return Rendered{}, fmt.Errorf("unknown task operation %q", req.Op)
	}
	b64, err := encodePayload(doc)
	if err != nil {
		return Rendered{}, err
	}
	// The script, with its payload, is a script step's payload of the
	// launcher: it travels as steps do (on stdin when large) and is run
	// the way they are.
	return Render(transport.Command{Kind: transport.KindPowerShell, Script: TaskText(b64)}, opts)
}

// TaskEnd is how a call of the task script ended, from its last frame.
type TaskEnd byte

// Ends of a task script call.
const (
	TaskEndNone      TaskEnd = 0   // no final frame (yet)
	TaskEndExit      TaskEnd = 'X' // the task finished with ExitCode
	TaskEndLost      TaskEnd = 'L' // the task ended without an exit code; LastResult says how
	TaskEndMissing   TaskEnd = 'N' // no such task and no exit code
	TaskEndRunning   TaskEnd = 'R' // still running: follow again
	TaskEndStopped   TaskEnd = 'K' // stop is done; Killed trees ended
	TaskEndForgotten TaskEnd = 'F' // forget is done
)

// maxFrameData bounds one O or E frame; the script sends at most 64 KiB.
const maxFrameData = 1 << 20

// TaskFrames reads the task script's stdout as it arrives (it is an
// io.Writer): O and E data go to Stdout and Stderr, and the offsets and the
// final frame are recorded. It fails on bytes that are not frames.
type TaskFrames struct {
	Stdout, Stderr io.Writer
	// Out and ErrBytes count the task's output bytes written so far; start
	// them at the offsets the request carried.
	Out, ErrBytes int64
	// Started is true after "S started", Attached after "S attached".
	Started, Attached bool
	End               TaskEnd
	// ExitCode is the task's exit code (TaskEndExit) as Windows reports it,
	// a DWORD; LastResult its LastTaskResult (TaskEndLost); Killed the
	// process trees stop ended.
	ExitCode   uint32
	LastResult uint32
	Killed     int

	line    []byte
	data    int64 // bytes of data still expected for the current frame
	dataDst io.Writer
	isOut   bool
	err     error
}

// Write implements io.Writer.
func (f *TaskFrames) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if f.err != nil {
			return 0, f.err
		}
		if f.data > 0 {
			k := int(min(int64(len(p)), f.data))
			if f.dataDst != nil {
				// The destinations are captures and log writers; a failing
				// log writer must not fail the step.
				_, _ = f.dataDst.Write(p[:k])
			}
			if f.isOut {
				f.Out += int64(k)
			} else {
				f.ErrBytes += int64(k)
			}
			f.data -= int64(k)
			p = p[k:]
			continue
		}
		i := 0
		for i < len(p) && p[i] != '\n' {
			i++
		}
		f.line = append(f.line, p[:i]...)
		if len(f.line) > 256 {
			f.err = fmt.Errorf("task script: a frame header longer than 256 bytes: %.40q", f.line)
			return 0, f.err
		}
		if i == len(p) {
			break
		}
		p = p[i+1:]
		f.err = f.header(string(f.line))
		f.line = f.line[:0]
	}
	return n, nil
}

// header interprets one frame header line.
func (f *TaskFrames) header(h string) error {
	if f.End != TaskEndNone {
		return fmt.Errorf("task script: frame %q after the final one", h)
	}
	tag, arg, _ := strings.Cut(h, " ")
	num := func() (int64, error) {
		v, err := strconv.ParseInt(arg, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("task script: frame %q: %w", h, err)
		}
		return v, nil
	}
	switch tag {
	case "S":
		switch arg {
		case "started":
			f.Started = true
		case "attached":
			f.Attached = true
		default:
			return fmt.Errorf("task script: unknown start frame %q", h)
		}
	case "O", "E":
		v, err := num()
		if err != nil {
			return err
		}
		if v <= 0 || v > maxFrameData {
			return fmt.Errorf("task script: frame %q: size out of range", h)
		}
		f.data, f.isOut = v, tag == "O"
		f.dataDst = f.Stderr
		if f.isOut {
			f.dataDst = f.Stdout
		}
	case "X", "L":
		v, err := num()
		if err != nil {
			return err
		}
		if v < -1<<31 || v > 1<<32-1 {
			return fmt.Errorf("task script: frame %q: not a 32-bit code", h)
		}
		if tag == "X" {
			f.End, f.ExitCode = TaskEndExit, uint32(v)
		} else {
			f.End, f.LastResult = TaskEndLost, uint32(v)
		}
	case "K":
		v, err := num()
		if err != nil {
			return err
		}
		if v < 0 || v > 1<<31-1 {
			return fmt.Errorf("task script: frame %q: count out of range", h)
		}
		f.End, f.Killed = TaskEndStopped, int(v)
	case "N", "R", "F":
		if arg != "" {
			return fmt.Errorf("task script: unknown frame %q", h)
		}
		f.End = TaskEnd(tag[0])
	default:
		return fmt.Errorf("task script: unknown frame %q", h)
	}
	return nil
}

// Check reports a malformed stream, or a frame left incomplete.
func (f *TaskFrames) Check() error {
	switch {
	case f.err != nil:
		return f.err
	case f.data > 0:
		return fmt.Errorf("task script: output ended with %d bytes of a data frame missing", f.data)
	case len(f.line) > 0:
		return fmt.Errorf("task script: output ended inside a frame header %.40q", f.line)
	}
	return nil
}
