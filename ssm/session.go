package ssm

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/text/encoding"

	"github.com/fleetrun/fleetrun/launcher"
	"github.com/fleetrun/fleetrun/transport"
)

// Session is one host reached through SSM. It holds no remote resource of
// its own: each Run is a command invocation handed to the Dialer's shared
// coordinator. It implements transport.Session; its methods may be called
// from several goroutines.
type Session struct {
	c     *coordinator
	hc    hostConfig
	enc   encoding.Encoding
	agent transport.AgentInfo

	mu      sync.Mutex
	closed  bool
	reboots int
}

var (
	_ transport.Session        = (*Session)(nil)
	_ transport.Rebooter       = (*Session)(nil)
	_ transport.AgentReporter  = (*Session)(nil)
	_ transport.ExitClassifier = (*Session)(nil)
)

// ClassifyExit implements transport.ExitClassifier: not_found when the
// step's program does not exist on the host (see launcher.NotFound); the
// agent runs the same launcher as WinRM, so the host says it in the same
// words. It returns nil otherwise.
func (s *Session) ClassifyExit(cmd transport.Command, res transport.Result) *transport.Error {
	return launcher.NotFound(cmd, res)
}

// InstanceID returns the host's EC2 instance id.
func (s *Session) InstanceID() string { return s.hc.instance }

// Run implements transport.Session: it sends cmd as an
// AWS-RunPowerShellScript command (batched with other hosts running the
// same text) and waits for its invocation to finish or for ctx to end.
//
// The command's executionTimeout is ctx's remaining time rounded up to the
// next minute, plus one (so that hosts of one step share a command and
// fleetrun's own deadline fires first), 48 hours when ctx has no deadline. When ctx ends first the invocation is cancelled
// (CancelCommand, bounded by CleanupTimeout) and the error has class
// timeout (a deadline) or interrupted (a cancellation).
//
// Statuses map to results as over WinRM: Success and Failed give a Result
// with the exit code (the runner compares it with expect_exit);
// ExecutionTimedOut gives class timeout; Cancelled (by someone else)
// interrupted; Undeliverable, Terminated and DeliveryTimedOut
// connect_timeout, which the runner reports as unreachable when no step
// ran. Output is what SSM returns inline (24,000 bytes of stdout, 8,000 of
// stderr, marked truncated when cut) or, with an S3 output bucket, the
// complete streams from S3 up to OutputCap; the writers of cmd receive it
// once the step has finished (SSM does not stream).
//
// File steps run fleetrun's download script through the agent (see
// runFile): a copy stages its files in the host's transfer bucket, a
// download fetches its URL (s3:// presigned by the controller); their
// Result carries Files and Unchanged, and a failure is an error (class
// hash_mismatch, config, unexpected_exit). Fetch fails with class config.
func (s *Session) Run(ctx context.Context, cmd transport.Command) (transport.Result, error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return transport.Result{}, &transport.Error{Class: transport.ClassInternal, Message: s.hc.name + ": session is closed"}
	}
	if cmd.Kind.IsFile() {
		return s.runFile(ctx, cmd)
	}
	if _, err := stepEncoding(cmd.OutputEncoding); err != nil {
		return transport.Result{}, &transport.Error{Class: transport.ClassInternal, Err: err, Message: fmt.Sprintf("%s: %v", s.hc.name, err)}
	}
	p, err := launcher.Build(cmd)
	if err != nil {
		return transport.Result{}, &transport.Error{Class: transport.ClassInternal, Err: err, Message: fmt.Sprintf("%s: %v", s.hc.name, err)}
	}
	return s.run(ctx, cmd.Name, launcher.SSMScript(p.B64), cmd)
}

// run sends a command text for the step named step and waits for its
// outcome.
func (s *Session) run(ctx context.Context, step, text string, cmd transport.Command) (transport.Result, error) {
	if ctx.Err() != nil {
		return transport.Result{}, contextError(ctx, s.hc.name)
	}
	// The command is sent, watched and cancelled by the coordinator, under
	// its own context: it is shared with other hosts' steps.
	// Run checked the name; file and reboot scripts name none (auto).
	stepEnc, _ := stepEncoding(cmd.OutputEncoding)
	w := s.c.submit(s.hc, s.enc, stepEnc, step, text, executionTimeout(ctx, time.Now())) //nolint:contextcheck // see above
	select {
	case out := <-w.done:
		if out.err != nil {
			return transport.Result{}, out.err
		}
		// The writers are the caller's logs; a failing one must not fail
		// the step.
		if cmd.Stdout != nil && len(out.stdout) > 0 {
			_, _ = cmd.Stdout.Write(out.stdout)
		}
		if cmd.Stderr != nil && len(out.stderr) > 0 {
			_, _ = cmd.Stderr.Write(out.stderr)
		}
		return out.res, nil
	case <-ctx.Done():
		stopped := s.c.abandon(w) //nolint:contextcheck // the cancellation runs after ctx ended, bounded by CleanupTimeout
		t := time.NewTimer(s.c.opts.CleanupTimeout)
		defer t.Stop()
		select {
		case <-stopped:
		case <-t.C:
		}
		return transport.Result{}, contextError(ctx, s.hc.name)
	}
}

// Close implements transport.Session. A session has nothing remote to
// release; Close marks it closed and is safe to call more than once.
func (s *Session) Close(context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

// executionTimeout is the executionTimeout parameter for a step whose
// context is ctx: the time left rounded up to the next whole minute, plus
// one, so that hosts of one step agree on it and share a command, and so
// that the agent's timeout fires after fleetrun's own; the maximum without
// a deadline.
func executionTimeout(ctx context.Context, now time.Time) int {
	deadline, ok := ctx.Deadline()
	if !ok {
		return maxExecutionTimeout
	}
	minutes := math.Ceil(deadline.Sub(now).Minutes())
	secs := int(minutes)*60 + 60
	return min(max(secs, minExecutionTimeout), maxExecutionTimeout)
}

// contextError is the error for a step cut short by its context.
func contextError(ctx context.Context, host string) *transport.Error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &transport.Error{Class: transport.ClassTimeout, Err: ctx.Err(),
			Message: fmt.Sprintf("step on %s did not finish within its timeout; its SSM command was cancelled", host)}
	}
	return &transport.Error{Class: transport.ClassInterrupted, Err: ctx.Err(),
		Message: fmt.Sprintf("step on %s was interrupted; its SSM command was cancelled", host)}
}

// DefaultRebootPoll is how often Reboot runs the test command while it
// fails, when RebootOptions.PollInterval is zero.
const DefaultRebootPoll = 5 * time.Second

// Reboot implements transport.Rebooter with the SSM agent's own restart:
// it runs fleetrun's SSM reboot script, which exits 3010 so that the agent
// restarts the instance and runs the script again once it is back; that
// second run succeeds, so the command's success means the instance has
// restarted and its agent answers. Then, when opts.TestCommand is set, it
// runs it (as a powershell step) until it exits 0. Hosts restarting in the
// same step share one command. When ctx ends first the error has class
// reboot_timeout (a deadline) or interrupted.
//
// A step whose program restarts the host itself (AlreadyInitiated, exit
// code 1641) is not supported over SSM: the agent is killed with the
// instance and reports the step as it sees fit; make such installers not
// restart (/norestart) and let a reboot step or reboot_on do it.
func (s *Session) Reboot(ctx context.Context, opts transport.RebootOptions) error {
	if opts.AlreadyInitiated {
		return &transport.Error{Class: transport.ClassInternal,
			Message: s.hc.name + ": the step restarted the host itself, which fleetrun cannot follow over SSM",
			Hint:    "run the installer with /norestart and map its 3010 to reboot_required, so fleetrun restarts the host through the SSM agent"}
	}
	s.mu.Lock()
	s.reboots++
	token := fmt.Sprintf("%s-%d", s.c.token, s.reboots)
	s.mu.Unlock()
	res, err := s.run(ctx, "reboot", launcher.SSMRebootScript(token, int(opts.PreRebootDelay/time.Second)), transport.Command{})
	if err != nil {
		return rebootError(ctx, s.hc.name, err)
	}
	if res.ExitCode != 0 {
		return &transport.Error{Class: transport.ClassInternal,
			Message: fmt.Sprintf("%s: the reboot script exited %d: %s", s.hc.name, res.ExitCode, res.Stderr)}
	}
	if opts.TestCommand == "" {
		return nil
	}
	poll := opts.PollInterval
	if poll <= 0 {
		poll = DefaultRebootPoll
	}
	for {
		res, err := s.Run(ctx, transport.Command{Name: "reboot test", Kind: transport.KindPowerShell, Script: opts.TestCommand})
		if err == nil && res.ExitCode == 0 {
			return nil
		}
		if ctx.Err() != nil {
			return rebootError(ctx, s.hc.name, err)
		}
		t := time.NewTimer(poll)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return rebootError(ctx, s.hc.name, ctx.Err())
		}
	}
}

// rebootError explains a reboot cut short.
func rebootError(ctx context.Context, host string, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &transport.Error{Class: transport.ClassRebootTimeout, Err: err,
			Message: fmt.Sprintf("%s did not come back (or its test command did not pass) within the reboot timeout", host)}
	}
	return err
}

// Agent implements transport.AgentReporter: the instance's SSM agent as
// DescribeInstanceInformation listed it when the session was opened.
func (s *Session) Agent() transport.AgentInfo { return s.agent }
