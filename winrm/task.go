package winrm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fleetrun/fleetrun/launcher"
	"github.com/fleetrun/fleetrun/transport"
)

// Steps with run_as: system run as a one-shot scheduled task as SYSTEM
// (docs/design.md, "Steps run as scheduled tasks"): the session starts the
// task with fleetrun's task script, follows its output files on the host
// with further calls of the script until the task ends, and leaves the
// task and its files for Forget once the caller has recorded the result.
// The task outlives the shell, the connection and the controller; while
// the host does not answer, the session keeps trying within the step's
// time.

// Defaults of the task options.
const (
	defaultTaskPoll     = 500 * time.Millisecond
	defaultTaskWindow   = 30 * time.Second
	defaultTaskRetry    = time.Second
	defaultTaskRetryMax = 30 * time.Second
	// defaultTaskLimit is the ExecutionTimeLimit of a task without a
	// deadline: the Task Scheduler's own default, 72 hours.
	defaultTaskLimit = 72 * time.Hour
	// taskLimitMargin is added to a step's remaining time for its task's
	// ExecutionTimeLimit: fleetrun's own deadline comes first, the Task
	// Scheduler's is the backstop when fleetrun is gone.
	taskLimitMargin = 5 * time.Minute
	// maxScriptStderr bounds what is kept of the task script's own errors.
	maxScriptStderr = 8 << 10
)

var _ transport.TaskRunner = (*Session)(nil)

// Detaches implements transport.TaskRunner: steps with run_as: system run
// as tasks.
func (s *Session) Detaches(cmd transport.Command) bool {
	return cmd.RunAs == transport.RunAsSystem && !cmd.Kind.IsFile()
}

// NewTaskName returns a fresh task name for a step.
func NewTaskName() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "fleetrun-" + hex.EncodeToString(b[:])
}

// runTask runs cmd as a scheduled task and follows it. When cmd names no
// task, the session names it and forgets it once done; otherwise the
// caller does (transport.TaskRunner).
func (s *Session) runTask(ctx context.Context, cmd transport.Command) (transport.Result, error) {
	step, err := launcher.Build(cmd)
	if err != nil {
		return transport.Result{}, &transport.Error{Class: transport.ClassInternal, Err: err, Message: fmt.Sprintf("%s: %v", s.name, err)}
	}
	name, own := cmd.Task, cmd.Task == ""
	if own {
		name = NewTaskName()
	}
	if err := launcher.CheckTaskName(name); err != nil {
		return transport.Result{}, &transport.Error{Class: transport.ClassInternal, Err: err, Message: fmt.Sprintf("%s: %v", s.name, err)}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(ctx); err != nil {
		return transport.Result{}, err
	}
	res, err := s.followTask(ctx, cmd, name, step)
	if own && !transport.IsUnsettled(err) {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.CleanupTimeout)
		// Best effort: a task left behind holds only its files, and the
		// step's outcome is decided.
		_ = s.forgetLocked(cctx, name)
		cancel()
	}
	return res, err
}

// followTask starts (or finds) the task and follows it to its end; s.mu is
// held.
func (s *Session) followTask(ctx context.Context, cmd transport.Command, name string, step launcher.Payload) (transport.Result, error) {
	out := s.newOutput(cmd)
	limit := defaultTaskLimit
	if dl, ok := ctx.Deadline(); ok {
		limit = time.Until(dl) + taskLimitMargin
	}
	req := launcher.TaskRequest{Op: launcher.TaskRun, Name: name, Step: step,
		Poll: s.opts.TaskPoll, Window: s.opts.TaskWindow, Limit: limit}
	pause := s.opts.TaskRetry
	var seen bool // the task was seen started or attached: it exists
	var lastErr error
	for {
		if ctx.Err() != nil {
			return transport.Result{}, s.stopTask(ctx, name, seen, lastErr)
		}
		r, err := launcher.RenderTask(req, launcher.RenderOptions{MaxCommandLine: s.opts.MaxCommandLine})
		if err != nil {
			return transport.Result{}, &transport.Error{Class: transport.ClassInternal, Err: err, Message: fmt.Sprintf("%s: %v", s.name, err)}
		}
		frames := &launcher.TaskFrames{Stdout: out.stdoutW, Stderr: out.stderrW, Out: req.Out, ErrBytes: req.Err}
		scriptErr := &capture{max: maxScriptStderr}
		code, err := s.exec(ctx, r, frames, scriptErr)
		req.Out, req.Err = frames.Out, frames.ErrBytes
		if frames.Started || frames.Attached {
			// From now on only follow: should the task vanish, it is not
			// registered again.
			seen, req.Op = true, launcher.TaskFollow
		}
		switch {
		case err != nil && ctx.Err() != nil:
			return transport.Result{}, s.stopTask(ctx, name, seen, err)
		case err != nil && followable(err):
			// The host stopped answering, or dropped the shell: the task
			// goes on without us. Try again after a pause.
			lastErr = err
			if !s.pause(ctx, pause) {
				continue // the loop's first check ends it
			}
			pause = min(2*pause, s.opts.TaskRetryMax)
			continue
		case err != nil:
			return transport.Result{}, s.unsettled(name, err)
		case code != 0:
			return transport.Result{}, s.taskScriptError(name, seen, code, decodeOutput(s.enc, scriptErr.bytes()))
		}
		if ferr := frames.Check(); ferr != nil {
			return transport.Result{}, s.unsettled(name, &transport.Error{Class: transport.ClassInternal, Err: ferr,
				Message: fmt.Sprintf("%s: task %s: %v", s.name, name, ferr)})
		}
		pause = s.opts.TaskRetry
		switch frames.End {
		case launcher.TaskEndRunning:
			continue
		case launcher.TaskEndExit:
			return s.result(ctx, frames.ExitCode, out), nil
		case launcher.TaskEndLost:
			return transport.Result{}, &transport.Error{Class: transport.ClassInterrupted, Code: frames.LastResult,
				Message: fmt.Sprintf("%s: the step's task %s%s ended without an exit code (the Task Scheduler's last result: %s)", s.name, launcher.TaskFolder, name, taskResultText(frames.LastResult)),
				Hint:    "the host restarted while the task ran, or someone ended the task; run the step again (fleetrun --resume does)"}
		case launcher.TaskEndMissing:
			return transport.Result{}, &transport.Error{Class: transport.ClassInternal,
				Message: fmt.Sprintf("%s: the step's task %s%s is gone from the host and left no exit code", s.name, launcher.TaskFolder, name),
				Hint:    "someone deleted the task, or its files in " + launcher.TaskDir + ", while it ran"}
		default:
			return transport.Result{}, s.unsettled(name, &transport.Error{Class: transport.ClassInternal,
				Message: fmt.Sprintf("%s: the task script for %s ended without saying how the task is", s.name, name)})
		}
	}
}

// followable reports whether following a task should go on after err: the
// connection was lost, the host did not answer, refused connections (it
// may be restarting), or dropped the shell.
func followable(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	return te.Transient || te.Class == transport.ClassTimeout || te.Class == transport.ClassConnectTimeout || te.Class == transport.ClassRefused
}

// pause waits d or until ctx ends; false when ctx ended.
func (s *Session) pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// stopTask ends the task's process tree and the task after ctx ended (the
// step's timeout, a second interrupt), under a deadline of its own, and
// returns the context's error: settled when the stop was confirmed, else
// marked Unsettled. s.mu is held.
func (s *Session) stopTask(ctx context.Context, name string, seen bool, cause error) error {
	s.abandonShell(ctx)
	te := contextError(ctx, s.name)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.CleanupTimeout)
	defer cancel()
	r, err := launcher.RenderTask(launcher.TaskRequest{Op: launcher.TaskStop, Name: name}, launcher.RenderOptions{MaxCommandLine: s.opts.MaxCommandLine})
	if err == nil {
		frames := &launcher.TaskFrames{}
		var code uint32
		code, err = s.exec(cctx, r, frames, &capture{max: maxScriptStderr})
		if err == nil && (code != 0 || frames.Check() != nil || frames.End != launcher.TaskEndStopped) {
			err = fmt.Errorf("the task script's stop ended with exit code %d", code)
		}
		if err == nil {
			te.Message += fmt.Sprintf("; its task %s%s was ended with its processes", launcher.TaskFolder, name)
			return te
		}
	}
	s.abandonShell(cctx)
	if cause == nil {
		cause = err
	}
	te.Err = cause
	te.Unsettled = seen || cause != nil
	te.Message += fmt.Sprintf("; its task %s%s could not be ended (%v) and may still be running on the host", launcher.TaskFolder, name, err)
	te.Hint = "the task finishes on its own; fleetrun --resume follows it to its end without starting the step again"
	return te
}

// unsettled marks err as the failure of a task that may still run. It is
// said of every failure once the task script was sent: its answer may have
// been lost after it registered the task, and following an unsettled task
// later starts it only if it never started.
func (s *Session) unsettled(name string, err error) error {
	te := transport.Classify(err)
	out := *te
	out.Unsettled = true
	out.Transient = false
	out.Message = fmt.Sprintf("%s (following the step's task %s%s, which may still be running)", te.Message, launcher.TaskFolder, name)
	if out.Hint == "" {
		out.Hint = "fleetrun --resume follows the task to its end without starting the step again"
	}
	return &out
}

// taskScriptError explains the task script failing itself (exit code 1
// and a message): most often the account cannot register a task as SYSTEM,
// or the Task Scheduler service does not run.
func (s *Session) taskScriptError(name string, seen bool, code uint32, stderr string) error {
	msg := strings.TrimSpace(stderr)
	te := &transport.Error{Class: transport.ClassInternal, Code: code,
		Message: fmt.Sprintf("%s: the task script for %s failed (exit code %d): %s", s.name, name, code, msg)}
	switch {
	case strings.Contains(msg, "0x80070005") || strings.Contains(strings.ToLower(msg), "access is denied"):
		te.Class = transport.ClassRemoteDenied
		te.Hint = "running a step as SYSTEM needs an administrator whose token is not filtered over the network: use the built-in Administrator, a domain account in Administrators, or set LocalAccountTokenFilterPolicy to 1"
	case strings.Contains(msg, "0x80070426") || strings.Contains(strings.ToLower(msg), "service has not been started"):
		te.Hint = "the Task Scheduler service (Schedule) does not run on the host: start it (sc start Schedule) or run the step without run_as"
	}
	if seen {
		return s.unsettled(name, te)
	}
	return te
}

// forgetLocked deletes a task and its files; s.mu is held.
func (s *Session) forgetLocked(ctx context.Context, name string) error {
	r, err := launcher.RenderTask(launcher.TaskRequest{Op: launcher.TaskForget, Name: name}, launcher.RenderOptions{MaxCommandLine: s.opts.MaxCommandLine})
	if err != nil {
		return &transport.Error{Class: transport.ClassInternal, Err: err, Message: fmt.Sprintf("%s: %v", s.name, err)}
	}
	frames := &launcher.TaskFrames{}
	scriptErr := &capture{max: maxScriptStderr}
	code, err := s.exec(ctx, r, frames, scriptErr)
	switch {
	case err != nil:
		return err
	case code != 0:
		return s.taskScriptError(name, false, code, decodeOutput(s.enc, scriptErr.bytes()))
	case frames.Check() != nil:
		return &transport.Error{Class: transport.ClassInternal, Err: frames.Check(), Message: fmt.Sprintf("%s: forget %s: %v", s.name, name, frames.Check())}
	case frames.End != launcher.TaskEndForgotten:
		return &transport.Error{Class: transport.ClassInternal, Message: fmt.Sprintf("%s: forget %s: the task script did not confirm", s.name, name)}
	}
	return nil
}

// Forget implements transport.TaskRunner: it deletes the task and its
// files from the host.
func (s *Session) Forget(ctx context.Context, name string) error {
	if err := launcher.CheckTaskName(name); err != nil {
		return &transport.Error{Class: transport.ClassInternal, Err: err, Message: fmt.Sprintf("%s: %v", s.name, err)}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.closedError()
	}
	err := s.forgetLocked(ctx, name)
	if err != nil && ctx.Err() != nil {
		s.abandonShell(ctx)
	}
	return err
}

// taskResultText names a Task Scheduler result code.
func taskResultText(code uint32) string {
	switch code {
	case 0x41306:
		return "0x41306, the task was terminated"
	case 0x41301:
		return "0x41301, the task is running"
	case 0x41303:
		return "0x41303, the task has not run"
	}
	return fmt.Sprintf("0x%X", code)
}

// PlanStep shows, without I/O, how a step goes to a host: the WinRS
// command and the command line its program receives, as launcher.Render gives them,
// and for a step with run_as: system a note saying it runs as a task —
// the command shown is then the one the task's batch file runs, with the
// step's payload on its stdin. For a file step (copy, download, fetch)
// the command is the file script's (for a copy, the first file's: each
// file is one command) and the note says what would move.
func PlanStep(cmd transport.Command) (remoteCommand []string, commandLine, note string, err error) {
	if cmd.Kind.IsFile() {
		return planFile(cmd)
	}
	if cmd.RunAs != transport.RunAsSystem {
		r, err := launcher.Render(cmd, launcher.RenderOptions{})
		return r.RemoteCommand, r.CommandLine, "", err
	}
	r, err := launcher.Render(cmd, launcher.RenderOptions{ForceStdin: true})
	return r.RemoteCommand, r.CommandLine,
		"runs as a one-shot scheduled task as SYSTEM with highest privileges (" + launcher.TaskFolder + "fleetrun-..., its files in " + launcher.TaskDir +
			"), outside the WinRS shell: remote_command is what the task's batch file runs, with the step's payload on stdin", err
}
