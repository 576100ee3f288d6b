package winrm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fleetrun/fleetrun/launcher"
	"github.com/fleetrun/fleetrun/transport"
)

var _ transport.Rebooter = (*Session)(nil)

// Reboot tuning. A Windows restart takes from half a minute to many
// minutes (updates apply while it shuts down and boots), so polling starts
// brisk, to catch a quick return, and settles at a few seconds.
const (
	// firstRebootPoll is the wait after the first probe when
	// RebootOptions.PollInterval is zero; each further wait doubles, up to
	// maxRebootPoll.
	firstRebootPoll = 250 * time.Millisecond
	maxRebootPoll   = 5 * time.Second
	// maxProbeTimeout bounds one probe (connect, authenticate, Get
	// Win32_OperatingSystem, or open a shell) whatever OperationTimeout
	// says, so a host that accepts connections and never answers is probed
	// again rather than waited on until the deadline.
	maxProbeTimeout = 15 * time.Second
	// maxShutdownDelay is the largest delay shutdown /t accepts (ten years).
	maxShutdownDelay = 315360000 * time.Second
	// rebootComment is shown to users logged on to the host.
	rebootComment = "fleetrun reboot"
	// shutdownAlreadyScheduled is ERROR_SHUTDOWN_IS_SCHEDULED (1190):
	// shutdown /r refuses while another restart is pending.
	shutdownAlreadyScheduled = 1190
	// shutdownInProgress is ERROR_SHUTDOWN_IN_PROGRESS (1115): shutdown /a
	// cannot abort a restart that has begun.
	shutdownInProgress = 1115
	// maxShownOutput bounds how much of a failing command's output an
	// error message quotes.
	maxShownOutput = 300
)

// Reboot implements transport.Rebooter: it restarts the host and returns
// once the host is back, with a new shell open for the next step.
//
// It reads the boot time (Win32_OperatingSystem.LastBootUpTime) first;
// unless opts.AlreadyInitiated, it then runs
// shutdown /r /f /t <PreRebootDelay in whole seconds> /c "fleetrun reboot"
// as a cmd step (/f because Windows implies it only for /t above 0: a
// logged-on user's unsaved document would otherwise hold the restart up
// until the deadline). Windows answers that command with exit code 0 and goes
// down a little later, so the answer proves nothing: the session drops its
// shell and connections and probes the host (every opts.PollInterval, or
// when zero from 250 ms doubling to 5 s or a tenth of the time ctx leaves,
// whichever is less; each probe bounded by the session's
// OperationTimeout, at most 15 s) until WinRM answers again with
// a different boot time. A host still answering with the old boot time
// has not restarted yet. When the boot time could not be read before (an
// installer that exited 1641 may have taken the host down already), the
// host counts as back once it has been seen unreachable and answers again.
// Then opts.TestCommand, if set, runs as a PowerShell step until it exits
// 0 (each attempt bounded only by ctx), and the session opens a new shell
// unless the test command's shell can serve.
//
// If shutdown refuses because another restart is pending (exit 1190),
// that restart is aborted (shutdown /a) and this one issued instead, so
// the delay is the one asked for. Any other non-zero exit fails at once
// with class unexpected_exit. A lost answer to the shutdown command is not
// a failure: the host may have gone down first, and the boot time decides.
//
// Everything is bounded by ctx. When its deadline passes the error has
// class reboot_timeout and says what was last seen: the host never came
// back, came back only with the old boot time, or its test command kept
// failing (with the last output). When ctx is cancelled the class is
// interrupted. After a failed Reboot the session has no shell; a later
// Run opens one if the host answers.
func (s *Session) Reboot(ctx context.Context, opts transport.RebootOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.closedError()
	}
	w := &rebootWait{s: s, opts: opts, started: time.Now()}
	if ctx.Err() != nil {
		w.last = "the reboot had not started"
		return w.expired(ctx)
	}
	before, err := s.probeBootTime(ctx)
	switch {
	case err == nil:
		w.before = before
		w.last = "it answered with its old boot time " + before.String() + ": the restart has not happened yet"
	case ctx.Err() != nil:
		w.last = "the boot time could not be read before restarting"
		return w.expired(ctx)
	case opts.AlreadyInitiated:
		// The host is on its way down already.
		w.wentAway = true
		w.last = "it went down and has not answered since: " + probeProblem(err)
	default:
		return wrapError(err, fmt.Sprintf("%s: read the boot time before restarting", s.name))
	}
	if !opts.AlreadyInitiated {
		if err := s.issueRestart(ctx, w, opts.PreRebootDelay); err != nil {
			return err
		}
	}
	s.dropConnection(ctx)
	return w.wait(ctx)
}

// bootTime is a host's LastBootUpTime as WS-Man reported it: parsed when
// possible, else the raw text. The zero value means not reported.
type bootTime struct {
	t   time.Time
	raw string
}

func bootTimeOf(info OSInfo) bootTime {
	if !info.LastBootUpTime.IsZero() {
		return bootTime{t: info.LastBootUpTime}
	}
	return bootTime{raw: strings.TrimSpace(info.LastBootUpTimeUnparsed)}
}

func (b bootTime) known() bool { return !b.t.IsZero() || b.raw != "" }

func (b bootTime) equal(o bootTime) bool {
	if !b.t.IsZero() || !o.t.IsZero() {
		return b.t.Equal(o.t)
	}
	return b.raw == o.raw
}

func (b bootTime) String() string {
	switch {
	case !b.t.IsZero():
		return b.t.UTC().Format(time.RFC3339Nano)
	case b.raw != "":
		return fmt.Sprintf("%q", b.raw)
	}
	return "(not reported)"
}

// probeTimeout bounds one probe of a restarting host.
func (s *Session) probeTimeout() time.Duration {
	return min(s.opts.OperationTimeout, maxProbeTimeout)
}

// probeBootTime reads the boot time within one probe's bound; s.mu is held.
func (s *Session) probeBootTime(ctx context.Context) (bootTime, error) {
	pctx, cancel := context.WithTimeout(ctx, s.probeTimeout())
	defer cancel()
	resp, err := s.ep.post(pctx, "Get Win32_OperatingSystem", getMessage(s.ep.url, s.opXS(), resourceOS), s.opts.OperationTimeout)
	if err != nil {
		if ctx.Err() == nil && pctx.Err() != nil {
			return bootTime{}, &transport.Error{Class: transport.ClassTimeout, Transient: true, Err: err,
				Message: fmt.Sprintf("%s did not answer within %s", s.name, s.probeTimeout())}
		}
		return bootTime{}, err
	}
	info, err := osInfoFrom(resp.Elements)
	if err != nil {
		return bootTime{}, err
	}
	return bootTimeOf(info), nil
}

// issueRestart runs shutdown /r; s.mu is held. It returns nil once the
// restart was asked for (or its answer was lost), an error when shutdown
// refused or ctx ended.
func (s *Session) issueRestart(ctx context.Context, w *rebootWait, delay time.Duration) error {
	line := restartLine(delay)
	for attempt := 0; ; attempt++ {
		res, err := s.runLocked(ctx, transport.Command{Kind: transport.KindCmd, Line: line})
		switch {
		case err != nil && ctx.Err() != nil:
			w.last = "the restart command had not finished"
			return w.expired(ctx)
		case err != nil:
			// Windows may drop the connection before the answer arrives;
			// whether the restart happened shows in the boot time.
			w.last = "the restart command's answer was lost (" + probeProblem(err) + ") and the host has not been seen restarting"
			return nil
		case res.ExitCode == 0:
			return nil
		case res.ExitCode == shutdownAlreadyScheduled && attempt == 0:
			// Replace the pending restart, whose delay may be far longer.
			abort, err := s.runLocked(ctx, transport.Command{Kind: transport.KindCmd, Line: "shutdown /a"})
			if err != nil && ctx.Err() != nil {
				w.last = "a pending restart was being aborted"
				return w.expired(ctx)
			}
			if err == nil && abort.ExitCode == shutdownInProgress {
				// The pending restart is under way already (one without
				// delay cannot be aborted): it is the restart to wait for.
				w.last = "a restart was already under way and could not be replaced; the host has not been seen restarting"
				return nil
			}
			// A failed abort shows as a second 1190 below.
			continue
		}
		return &transport.Error{Class: transport.ClassUnexpectedExit,
			Message: fmt.Sprintf("%s: the restart command %q exited with code %d%s", s.name, line, res.ExitCode, quoteOutput(res)),
			Hint:    "the account needs the right to shut the system down (a local administrator has it); exit code 1190 means another restart is pending and could not be aborted"}
	}
}

// restartLine is the cmd.exe line that restarts the host after delay,
// rounded up to whole seconds and kept within what shutdown /t accepts.
func restartLine(delay time.Duration) string {
	secs := int64((min(max(delay, 0), maxShutdownDelay) + time.Second - 1) / time.Second)
	return fmt.Sprintf(`shutdown /r /f /t %d /c "%s"`, secs, rebootComment)
}

// runLocked runs cmd as Run does, with s.mu already held.
func (s *Session) runLocked(ctx context.Context, cmd transport.Command) (transport.Result, error) {
	rendered, err := launcher.Render(cmd, launcher.RenderOptions{MaxCommandLine: s.opts.MaxCommandLine})
	if err != nil {
		return transport.Result{}, &transport.Error{Class: transport.ClassInternal, Err: err, Message: fmt.Sprintf("%s: %v", s.name, err)}
	}
	res, err := s.run(ctx, cmd, rendered)
	if err != nil && ctx.Err() != nil {
		s.abandonShell(ctx)
		return transport.Result{}, contextError(ctx, s.name)
	}
	return res, err
}

// dropConnection forgets the shell and the connections of the host that is
// going down: the shell is deleted if the host still answers (a restart
// with a delay leaves it running until then), the idle connections are
// closed and NTLM will authenticate the next connection afresh. s.mu is
// held.
func (s *Session) dropConnection(ctx context.Context) {
	dctx, cancel := context.WithTimeout(ctx, min(s.opts.CleanupTimeout, s.probeTimeout()))
	// Best effort: a host already down cannot answer, and the restart
	// ends the shell anyway.
	_ = s.deleteShell(dctx)
	cancel()
	s.shellID, s.lastCommand = "", ""
	s.ep.conn.close()
	if a, ok := s.ep.auth.(*ntlmAuth); ok {
		a.authenticated = false
	}
}

// rebootWait is the state of one wait for a host to come back.
type rebootWait struct {
	s       *Session
	opts    transport.RebootOptions
	started time.Time
	before  bootTime // zero when it could not be read
	// wentAway is set once the host has failed to answer a probe.
	wentAway bool
	// back is set once the host answered with a new boot time.
	back bool
	now  bootTime
	// tested is set once a test command attempt has ended.
	tested bool
	// last says what was last seen, for the error when time runs out.
	last string
}

// wait probes until the host is back, its test command passes and a shell
// is open, or ctx ends.
func (w *rebootWait) wait(ctx context.Context) error {
	interval, limit := w.opts.PollInterval, maxRebootPoll
	if interval <= 0 {
		interval = firstRebootPoll
	}
	if dl, ok := ctx.Deadline(); ok {
		// Probe at least about ten times within the time given, so that
		// the last wait does not overshoot a short timeout by seconds.
		limit = min(limit, max(time.Until(dl)/10, firstRebootPoll))
	}
	for {
		if !w.back {
			w.probe(ctx)
		}
		if w.back && w.ready(ctx) {
			return nil
		}
		if ctx.Err() != nil {
			return w.expired(ctx)
		}
		t := time.NewTimer(interval)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return w.expired(ctx)
		}
		if w.opts.PollInterval <= 0 {
			interval = min(2*interval, limit)
		}
	}
}

// probe reads the boot time once and records what it shows.
func (w *rebootWait) probe(ctx context.Context) {
	now, err := w.s.probeBootTime(ctx)
	switch {
	case err != nil && ctx.Err() != nil:
		// The deadline, not the host: keep what was seen before.
	case err != nil:
		w.wentAway = true
		w.last = "it went down and has not answered since: " + probeProblem(err)
	case w.before.known() && now.known() && !now.equal(w.before):
		w.back, w.now = true, now
	case !w.before.known() && w.wentAway:
		w.back, w.now = true, now
	case w.before.known() && !now.known():
		w.last = "it answers but no longer reports its boot time (it was " + w.before.String() + ")"
	case w.before.known():
		w.last = "it still answers with its old boot time " + w.before.String() + ": the restart has not happened"
		if w.wentAway {
			w.last = "it answered again, but with its old boot time " + w.before.String()
		}
	default:
		w.last = "it answers but reports no boot time, and has not been seen going down"
	}
}

// ready runs the test command, if any, and opens the shell for the next
// step; false means not yet (w.last says why).
func (w *rebootWait) ready(ctx context.Context) bool {
	s := w.s
	if t := w.opts.TestCommand; t != "" {
		res, err := s.runLocked(ctx, transport.Command{Kind: transport.KindPowerShell, Script: t})
		if err != nil && ctx.Err() != nil {
			if !w.tested {
				w.last = fmt.Sprintf("it came back (boot time %s) but the test command had not finished", w.now)
			} // else keep what the last complete attempt showed
			return false
		}
		w.tested = true
		switch {
		case err != nil:
			w.last = fmt.Sprintf("it came back (boot time %s) but the test command could not run: %s", w.now, probeProblem(err))
			return false
		case res.ExitCode != 0:
			w.last = fmt.Sprintf("it came back (boot time %s) but the test command kept failing: exit code %d%s", w.now, res.ExitCode, quoteOutput(res))
			return false
		}
		if s.shellID != "" {
			return true // the test command's shell is new since the restart
		}
	}
	pctx, cancel := context.WithTimeout(ctx, s.probeTimeout())
	defer cancel()
	if err := s.openShell(pctx); err != nil {
		w.last = fmt.Sprintf("it came back (boot time %s) but no shell could be opened: %s", w.now, probeProblem(err))
		return false
	}
	return true
}

// expired is the error for a wait that ctx ended: reboot_timeout at the
// deadline, interrupted on cancellation, saying what was seen last.
func (w *rebootWait) expired(ctx context.Context) error {
	waited := time.Since(w.started).Round(100 * time.Millisecond)
	if errors.Is(ctx.Err(), context.Canceled) {
		return &transport.Error{Class: transport.ClassInterrupted, Err: ctx.Err(),
			Message: fmt.Sprintf("%s: waiting for the host to come back from its restart was interrupted after %s; %s", w.s.name, waited, w.last)}
	}
	return &transport.Error{Class: transport.ClassRebootTimeout, Err: ctx.Err(),
		Message: fmt.Sprintf("%s is not back from its restart after %s: %s", w.s.name, waited, w.last),
		Hint:    "check the host's console: a restart that applies updates can take long (raise the reboot timeout), and a host that does not boot needs hands"}
}

// probeProblem says in words why a probe failed.
func probeProblem(err error) string {
	var te *transport.Error
	if errors.As(err, &te) {
		if te.Message != "" {
			return te.Message
		}
		if te.Err != nil {
			return te.Err.Error()
		}
	}
	return err.Error()
}

// wrapError adds context to a classified error, keeping its class.
func wrapError(err error, what string) error {
	te := transport.Classify(err)
	out := *te
	out.Message = what + ": " + probeProblem(te)
	out.Err = err
	return &out
}

// quoteOutput quotes the start of a result's stderr (else stdout) for an
// error message, or returns "" when there is none.
func quoteOutput(res transport.Result) string {
	out := strings.TrimSpace(res.Stderr)
	if out == "" {
		out = strings.TrimSpace(res.Stdout)
	}
	if out == "" {
		return ""
	}
	if len(out) > maxShownOutput {
		out = out[:maxShownOutput] + "..."
	}
	return ": " + collapseSpace(out)
}
