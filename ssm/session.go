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
	c   *coordinator
	hc  hostConfig
	enc encoding.Encoding

	mu     sync.Mutex
	closed bool
}

var _ transport.Session = (*Session)(nil)

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
func (s *Session) Run(ctx context.Context, cmd transport.Command) (transport.Result, error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return transport.Result{}, &transport.Error{Class: transport.ClassInternal, Message: s.hc.name + ": session is closed"}
	}
	p, err := launcher.Build(cmd)
	if err != nil {
		return transport.Result{}, &transport.Error{Class: transport.ClassInternal, Err: err, Message: fmt.Sprintf("%s: %v", s.hc.name, err)}
	}
	if ctx.Err() != nil {
		return transport.Result{}, contextError(ctx, s.hc.name)
	}
	// The command is sent, watched and cancelled by the coordinator, under
	// its own context: it is shared with other hosts' steps.
	w := s.c.submit(s.hc, s.enc, launcher.SSMScript(p.B64), executionTimeout(ctx, time.Now())) //nolint:contextcheck // see above
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
