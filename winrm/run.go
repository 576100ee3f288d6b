package winrm

import (
	"context"
	"errors"
	"fmt"
	"io"

	"golang.org/x/text/encoding"

	"github.com/fleetrun/fleetrun/launcher"
	"github.com/fleetrun/fleetrun/transport"
)

// Run implements transport.Session: it runs cmd in the session's shell and
// waits for it to finish or for ctx to end.
//
// The shell is re-created transparently when the host reports it gone or
// its operation quota spent when the command is started. When ctx ends
// first, the command is terminated (Signal terminate), the shell deleted
// under a short deadline of its own, and the error has class timeout (a
// deadline) or interrupted (a cancellation); the next Run opens a new
// shell. A fault while the command runs (the shell deleted under it, say)
// ends Run with a wsman_fault error at once.
//
// A Result is returned for every exit code; see ClassifyExit for one that
// was not expected. File steps (copy, download, fetch) run fleetrun's file
// scripts instead of the launcher and succeed only as a whole: a Result
// lists the files, anything else is an error (files.go).
func (s *Session) Run(ctx context.Context, cmd transport.Command) (transport.Result, error) {
	if cmd.Kind.IsFile() {
		return s.runFile(ctx, cmd)
	}
	if _, err := StepEncoding(cmd.OutputEncoding); err != nil {
		return transport.Result{}, &transport.Error{Class: transport.ClassInternal, Err: err,
			Message: fmt.Sprintf("%s: %v", s.name, err)}
	}
	if cmd.RunAs == transport.RunAsSystem {
		return s.runTask(ctx, cmd)
	}
	if cmd.RunAs != transport.RunAsSession {
		return transport.Result{}, &transport.Error{Class: transport.ClassInternal,
			Message: fmt.Sprintf("%s: run_as %q is not supported over WinRM (only system)", s.name, cmd.RunAs)}
	}
	rendered, err := renderLauncher(cmd, launcher.RenderOptions{MaxCommandLine: s.opts.MaxCommandLine})
	if err != nil {
		return transport.Result{}, &transport.Error{Class: transport.ClassInternal, Err: err,
			Message: fmt.Sprintf("%s: %v", s.name, err)}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(ctx); err != nil {
		return transport.Result{}, err
	}
	res, err := s.run(ctx, cmd, rendered)
	if err != nil && ctx.Err() != nil {
		// The step's time is up or the run is stopping: stop the command
		// and drop the shell, then report why.
		s.abandonShell(ctx)
		return transport.Result{}, contextError(ctx, s.name)
	}
	return res, err
}

// run starts the command and collects its output; s.mu is held.
func (s *Session) run(ctx context.Context, cmd transport.Command, r launcher.Rendered) (transport.Result, error) {
	out := s.newOutput(cmd)
	code, err := s.exec(ctx, r, out.stdoutW, out.stderrW)
	if err != nil {
		return transport.Result{}, err
	}
	return s.result(ctx, code, out), nil
}

// output is what a step's process writes: capped captures for the Result,
// and the Command's own writers for logs.
type output struct {
	stdout, stderr   *capture
	stdoutW, stderrW io.Writer
	// enc is the step's own output encoding; nil means auto.
	enc encoding.Encoding
}

func (s *Session) newOutput(cmd transport.Command) *output {
	// Run checked the name; an unknown one cannot reach here.
	enc, _ := StepEncoding(cmd.OutputEncoding)
	o := &output{stdout: &capture{max: s.opts.OutputCap}, stderr: &capture{max: s.opts.OutputCap}, enc: enc}
	o.stdoutW, o.stderrW = io.Writer(o.stdout), io.Writer(o.stderr)
	if cmd.Stdout != nil {
		o.stdoutW = io.MultiWriter(o.stdout, cmd.Stdout)
	}
	if cmd.Stderr != nil {
		o.stderrW = io.MultiWriter(o.stderr, cmd.Stderr)
	}
	return o
}

// result decodes a finished process's output; s.mu is held.
func (s *Session) result(ctx context.Context, code uint32, o *output) transport.Result {
	res := transport.Result{
		ExitCode:        code,
		Stdout:          o.stdout.decode(o.enc, s.enc),
		Stderr:          o.stderr.decode(o.enc, s.enc),
		StdoutTruncated: o.stdout.truncated,
		StderrTruncated: o.stderr.truncated,
	}
	if code != 0 && matchesMemorySignature(res) {
		// Read the host's memory cap now, while a context is at hand, so
		// ClassifyExit can name it; a failure just leaves it unknown.
		_, _ = s.config(ctx)
	}
	return res
}

// exec starts a rendered command in the shell, sends its stdin and
// collects its output into stdout and stderr until it exits, returning its
// exit code; s.mu is held. After a failure once the command started, the
// command is terminated and the shell dropped (see failed).
func (s *Session) exec(ctx context.Context, r launcher.Rendered, stdout, stderr io.Writer) (uint32, error) {
	commandID, err := s.start(ctx, r)
	if err != nil {
		return 0, err
	}
	code, err := s.receive(ctx, commandID, stdout, stderr)
	if err != nil {
		s.failed(ctx, err)
		return 0, err
	}
	return code, nil
}

// start starts a rendered command and sends its stdin payload, if it has
// one; s.mu is held. A failed Send terminates the command and drops the
// shell (see failed).
func (s *Session) start(ctx context.Context, r launcher.Rendered) (string, error) {
	commandID, err := s.startCommand(ctx, r)
	if err != nil {
		return "", err
	}
	if r.Stdin {
		if err := s.sendStdin(ctx, commandID, []byte(r.Payload())); err != nil {
			s.failed(ctx, err)
			return "", err
		}
	}
	return commandID, nil
}

// startCommand opens the shell if needed and starts the command, opening
// a new shell once when the host reports the old one gone or its
// operations used up.
func (s *Session) startCommand(ctx context.Context, r launcher.Rendered) (string, error) {
	for attempt := 0; ; attempt++ {
		if s.shellID == "" {
			if err := s.openShell(ctx); err != nil {
				return "", err
			}
		}
		msg := commandMessage(s.ep.url, s.opXS(), s.shellID, r.RemoteCommand[0], r.RemoteCommand[1:], r.Stdin)
		resp, err := s.ep.post(ctx, "Command", msg, s.opts.OperationTimeout)
		releaseMessage(msg) // sent (post keeps no part of it)
		if err == nil {
			if !validID(resp.CommandID) {
				return "", &transport.Error{Class: transport.ClassInternal,
					Message: fmt.Sprintf("Command on %s: the answer names no usable command ID (%q)", s.name, resp.CommandID)}
			}
			s.lastCommand = resp.CommandID
			return resp.CommandID, nil
		}
		var te *transport.Error
		if attempt > 0 || !errors.As(err, &te) {
			return "", err
		}
		switch te.Code {
		case CodeShellNotFound:
			s.shellID, s.lastCommand = "", ""
		case CodeMaxOperationsPerUser:
			// Signal does not return operations to the quota; only a
			// new shell starts from zero (WSMV endnote 118, ansible#83656).
			// A failed Delete is not the step's failure: the shell is
			// forgotten either way and the host's IdleTimeout reclaims it.
			_ = s.deleteShell(ctx)
		default:
			return "", err
		}
	}
}

// sendStdin sends data as stdin in Send requests that each fit the host's
// MaxEnvelopeSizekb, the last one with End="true".
func (s *Session) sendStdin(ctx context.Context, commandID string, data []byte) error {
	// What fits one Send under the smallest MaxEnvelopeSizekb a host can
	// have, 32 (MS-WSMV 2.2.4.10: "The minimum value MUST be 32"), goes
	// without asking the host for its limit: that Get would be one more
	// round trip per host for every step run.
	chunk := sendChunkSize(minEnvelopeKB)
	if len(data) > chunk {
		chunk = sendChunkSize(s.maxEnvelopeKB(ctx))
	}
	for {
		n := min(chunk, len(data))
		end := n == len(data)
		msg := sendMessage(s.ep.url, s.opXS(), s.shellID, commandID, data[:n], end)
		if _, err := s.ep.post(ctx, "Send", msg, s.opts.OperationTimeout); err != nil {
			return err
		}
		data = data[n:]
		if end {
			return nil
		}
	}
}

// minEnvelopeKB is the smallest MaxEnvelopeSizekb a host accepts.
const minEnvelopeKB = 32

// maxEnvelopeKB is the host's MaxEnvelopeSizekb, read once; 150 (WinRM
// 2.0's default, the smallest in use) when it cannot be read.
func (s *Session) maxEnvelopeKB(ctx context.Context) int {
	if cfg, err := s.config(ctx); err == nil && cfg.MaxEnvelopeSizeKB > 0 {
		return int(cfg.MaxEnvelopeSizeKB)
	}
	return 150
}

// receive polls the command's output until it is done and returns its exit
// code. A Receive that times out on the host (no output within
// OperationTimeout) is simply repeated; any other fault ends the wait.
func (s *Session) receive(ctx context.Context, commandID string, stdout, stderr io.Writer) (uint32, error) {
	_, code, err := s.receiveFn(ctx, commandID, func(stream string, data []byte) (bool, error) {
		// The writers are captures and the caller's log writers; a
		// failing log writer must not fail the step.
		switch stream {
		case "stdout":
			_, _ = stdout.Write(data)
		case "stderr":
			_, _ = stderr.Write(data)
		}
		return false, nil
	})
	return code, err
}

// receiveFn polls the command's output, handing every non-empty chunk of
// stdout and stderr to consume, until the command is done (done true, its
// exit code) or, after a whole answer was consumed, consume asked to stop
// (done false). An error of consume ends the wait with it.
func (s *Session) receiveFn(ctx context.Context, commandID string, consume func(stream string, data []byte) (stop bool, err error)) (done bool, code uint32, err error) {
	receiveTimeout := s.opts.ReceiveTimeout
	msgTimeout := durationXS(receiveTimeout)
	for {
		msg := receiveMessage(s.ep.url, s.shellID, commandID, msgTimeout)
		resp, err := s.ep.post(ctx, "Receive", msg, receiveTimeout)
		if err != nil {
			var te *transport.Error
			if errors.As(err, &te) && te.Code == CodeOperationTimeout && ctx.Err() == nil {
				continue
			}
			return false, 0, err
		}
		stop := false
		for _, chunk := range resp.Streams {
			if (chunk.Name != "stdout" && chunk.Name != "stderr") || len(chunk.Data) == 0 {
				continue
			}
			st, err := consume(chunk.Name, chunk.Data)
			if err != nil {
				return false, 0, err
			}
			stop = stop || st
		}
		if resp.Done {
			if resp.ExitCode == nil {
				return false, 0, &transport.Error{Class: transport.ClassInternal,
					Message: fmt.Sprintf("Receive on %s: the command is done but no exit code was sent", s.name)}
			}
			return true, *resp.ExitCode, nil
		}
		if stop {
			return false, 0, nil
		}
	}
}

// failed handles an error after the command started: a shell that is gone
// is forgotten; otherwise (a lost connection, a host that stopped
// answering, an unexpected fault) the command may still run, so it is
// terminated and the shell deleted before the error is reported, lest a
// retry of the step run beside it. When ctx itself ended, Run does that.
func (s *Session) failed(ctx context.Context, err error) {
	switch {
	case errors.Is(err, ErrShellGone):
		s.shellID, s.lastCommand = "", ""
	case ctx.Err() == nil:
		s.abandonShell(ctx)
	}
}

// abandonShell terminates the running command and deletes the shell after
// the caller's context ended, as Close does (endShell).
func (s *Session) abandonShell(ctx context.Context) {
	// Best effort: the step has already failed; a shell that could not be
	// deleted even so is reclaimed by the host's IdleTimeout.
	_ = s.endShell(ctx)
}

// signalLast sends Signal terminate for the last command started. Its
// error is not reported: the command may have ended already, and the shell
// is deleted next anyway.
func (s *Session) signalLast(ctx context.Context) {
	if s.shellID == "" || s.lastCommand == "" {
		return
	}
	_, _ = s.ep.post(ctx, "Signal", signalMessage(s.ep.url, s.opXS(), s.shellID, s.lastCommand), s.opts.OperationTimeout)
	s.lastCommand = ""
}

// deleteShell deletes the shell and forgets it, returning the error of the
// Delete (a shell already gone counts as deleted).
func (s *Session) deleteShell(ctx context.Context) error {
	id := s.shellID
	s.shellID, s.lastCommand = "", ""
	return s.deleteShellID(ctx, id)
}

// deleteShellID deletes the shell id ("" is none); a shell the host no
// longer has counts as deleted.
func (s *Session) deleteShellID(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	_, err := s.ep.post(ctx, "Delete shell", deleteShellMessage(s.ep.url, s.opXS(), id), s.opts.OperationTimeout)
	if errors.Is(err, ErrShellGone) {
		return nil
	}
	return err
}

// endShell terminates the last command (Signal) and deletes the shell,
// each under a deadline of CleanupTimeout of its own that outlives ctx,
// so that a Signal that used up its time, or a caller whose context has
// ended, does not leave the shell open (and one of the user's
// MaxShellsPerUser taken) until the host's IdleTimeout (2 hours by
// default). A Delete that got no answer in time (the host was too busy:
// thousands of closes arriving at once, a host deep in an update; or the
// request was lost with its connection) is sent once more, on a new
// connection, under the same bound; a shell the first one did remove
// answers ShellNotFound, which counts as deleted. s.mu is held.
func (s *Session) endShell(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.CleanupTimeout)
	defer cancel()
	if ctx.Err() == nil {
		// The Signal honours the caller's context while it still runs.
		var stop context.CancelFunc
		cctx, stop = mergeDone(cctx, ctx)
		defer stop()
	}
	s.signalLast(cctx)
	id := s.shellID
	s.shellID, s.lastCommand = "", ""
	err := s.deleteWithin(ctx, id)
	var te *transport.Error
	if errors.As(err, &te) && te.Class == transport.ClassTimeout {
		s.ep.conn.close()
		err = s.deleteWithin(ctx, id)
	}
	return err
}

// deleteWithin deletes the shell id under a deadline of CleanupTimeout
// that outlives ctx.
func (s *Session) deleteWithin(ctx context.Context, id string) error {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.CleanupTimeout)
	defer cancel()
	return s.deleteShellID(dctx, id)
}

// Close implements transport.Session: it ends the shell (endShell: Signal
// for the last command, then Delete, each under a deadline of its own, the
// Delete once more if it got no answer) and closes the connections. Close
// is safe to call more than once; calls after the first return nil.
func (s *Session) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.endShell(ctx)
	s.ep.auth.close()
	s.ep.conn.close()
	return err
}

// mergeDone returns a context derived from a that also ends when b ends.
func mergeDone(a, b context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(a)
	stop := context.AfterFunc(b, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

// ClassifyExit implements transport.ExitClassifier: a remote_denied error
// when Windows refused the step's work to a remote caller, a memory_cap
// error when the step's output shows it ran out of memory and the host's
// MaxMemoryPerShellMB is known to be finite (read from the host's
// configuration when the session needed it) and the step ran in the
// shell, else what ClassifyExit adds.
func (s *Session) ClassifyExit(cmd transport.Command, res transport.Result) *transport.Error {
	capMB := 0
	if cmd.RunAs == transport.RunAsSession {
		capMB = int(s.memCapMB.Load())
	}
	return ClassifyExit(cmd, res, capMB)
}
