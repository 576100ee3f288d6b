package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/transport"
)

// runHost runs every step of host i and reports whether the host counts as
// a failure for the budget (failed or unreachable).
func (r *run) runHost(ctx context.Context, i int) bool {
	h := r.res.Hosts[i]
	h.Started = r.opts.Now()
	r.emit(Event{Kind: HostStarted, Host: h, Batch: h.Batch})
	defer func() {
		h.Finished = r.opts.Now()
		r.emit(Event{Kind: HostFinished, Host: h, Batch: h.Batch})
	}()

	hctx := ctx
	if r.opts.HostTimeout > 0 {
		var cancel context.CancelFunc
		hctx, cancel = context.WithTimeout(ctx, r.opts.HostTimeout)
		defer cancel()
	}
	first, _ := r.opts.Resume.firstStep(h.Name, len(r.steps[i]))
	r.doneEarlier(h, i, first)
	sess, err := r.connect(hctx, h, i, first)
	if err != nil {
		te := r.contextError(ctx, hctx, nil, transport.Classify(err))
		h.Status, h.Err = StatusUnreachable, te
		if !te.Class.Unreachable() {
			h.Status = StatusFailed
		}
		h.Reason = te.Error()
		r.skipRest(h, i, first, "the host could not be reached")
		return true
	}
	defer func() {
		// Closing must happen even after cancellation, with its own bound:
		// ask the host to drop the shell, then give up. It happens beside
		// the next host's work (two round trips, Signal and Delete, that
		// would otherwise hold the host's place in the pool); the run waits
		// for every close before a new batch starts and before it returns.
		r.closing.Add(1)
		go func() {
			defer r.closing.Done()
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.CloseTimeout)
			defer cancel()
			_ = sess.Close(cctx) // the host's outcome is already decided; a failed close only leaves a shell for the host's idle timeout
		}()
	}()

	h.Status = StatusOK
	// alone is set once a step run broke in a way worth retrying: the
	// host's remaining steps are then sent one by one.
	alone := false
	for j := first; j < len(r.steps[i]); {
		var srs []*StepResult
		if cmds := r.runLength(sess, i, j, alone); cmds != nil {
			srs, alone = r.stepRun(ctx, hctx, h, sess, r.steps[i][j:j+len(cmds)], cmds)
			if len(srs) == 0 {
				alone = true
			}
		} else {
			e := r.steps[i][j]
			if j == first && r.opts.Resume.rebootPending(h.Name, j) && e.Step.Reboot != nil {
				srs = []*StepResult{r.finishPendingReboot(ctx, hctx, h, sess, e)}
			} else {
				srs = []*StepResult{r.runStep(ctx, hctx, h, i, sess, e)}
			}
		}
		for _, sr := range srs {
			h.Steps = append(h.Steps, sr)
			if sr.Status == StatusFailed && !r.steps[i][j].Step.ContinueOnError {
				h.Status = StatusFailed
				if j == 0 && sr.ExitCode == nil && sr.Err != nil && sr.Err.Class.Unreachable() {
					h.Status, h.Err, h.Reason = StatusUnreachable, sr.Err, sr.Err.Error()
				}
				r.skipRest(h, i, j+1, ReasonEarlierStepFailed)
				return true
			}
			j++
		}
	}
	return false
}

// connect resolves the host's target (its credentials, fetched with the
// host's context) and opens its session.
func (r *run) connect(hctx context.Context, h *HostResult, i, first int) (transport.Session, error) {
	t, err := r.opts.Target(hctx, r.hosts[i])
	if err != nil {
		return nil, credentialError(hctx, r.hosts[i].Name, err)
	}
	return r.dial(hctx, h, t, i, first)
}

// credentialError classifies a failure to resolve a host's target: a
// cancelled or expired context as such (contextError then says which), an
// error that carries a class as it says, anything else as auth.
func credentialError(hctx context.Context, host string, err error) error {
	var te *transport.Error
	if errors.As(err, &te) || (hctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))) {
		return err
	}
	return &transport.Error{Class: transport.ClassAuth, Message: fmt.Sprintf("resolving the credentials of host %s: %v", host, err),
		Hint: "check the password source the inventory names (password_env, password_file, or the ec2 section's password_key_file)", Err: err}
}

// dial opens the host's session to t. A transient failure (connection
// reset, refused while a host restarts) is retried with the first step's
// retry policy, as a failure of that step would be.
func (r *run) dial(hctx context.Context, h *HostResult, t transport.Target, i, first int) (transport.Session, error) {
	var policy *playbook.Step
	if first < len(r.steps[i]) {
		policy = r.steps[i][first].Step
	}
	for attempt := 1; ; attempt++ {
		sess, err := r.opts.Dialer.Dial(hctx, t)
		if err == nil || !transport.IsTransient(err) || policy == nil || attempt > policy.Retries || hctx.Err() != nil {
			return sess, err
		}
		delay := retryDelay(policy.RetryDelay, attempt, r.opts.MaxRetryDelay)
		r.emit(Event{Kind: StepRetrying, Host: h, Step: &StepResult{Index: policy.Index, Name: policy.Name, Kind: policy.Kind, Attempts: attempt, Err: transport.Classify(err)}, Batch: h.Batch, Delay: delay})
		select {
		case <-r.opts.After(delay):
		case <-hctx.Done():
			return nil, err
		}
	}
}

func (r *run) skipRest(h *HostResult, i, from int, reason string) {
	for _, e := range r.steps[i][from:] {
		h.Steps = append(h.Steps, &StepResult{Index: e.Step.Index, Name: e.Step.Name, Kind: e.Step.Kind, Status: StatusSkipped, Expected: e.Step.ExpectExit, Reason: reason})
	}
}

// runStep runs one step with its retries and timeout.
func (r *run) runStep(ctx, hctx context.Context, h *HostResult, i int, sess transport.Session, e *playbook.Expanded) *StepResult {
	st := e.Step
	sr := r.newStepResult(st)
	if st.Kind == playbook.KindReboot {
		sr.Attempts = 1
		r.emit(Event{Kind: StepStarted, Host: h, Step: sr, Batch: h.Batch})
		if te := r.reboot(ctx, hctx, sess, st.Reboot, false); te != nil {
			sr.Status, sr.Err = StatusFailed, te
		} else {
			sr.Status, sr.Outcome, sr.Rebooted = StatusOK, playbook.OutcomeOK, true
		}
		sr.Finished = r.opts.Now()
		r.emit(Event{Kind: StepFinished, Host: h, Step: sr, Batch: h.Batch})
		return sr
	}
	cmd := Command(e)
	if cmd.Kind == transport.KindCopy {
		cmd.Copy = r.copies[i][st.Index]
	}
	tasks, _ := sess.(transport.TaskRunner)
	if tasks != nil && !tasks.Detaches(cmd) {
		tasks = nil
	}
	// A task a forgotten earlier run left unsettled is followed, never
	// started again: its name comes from the journal.
	reattach := r.opts.Resume.task(h.Name, st.Index)
	// forget removes a settled task from the host once its result is
	// recorded; a failure leaves it and its files for an administrator
	// (the folder is readable by administrators only).
	forget := func() {
		if tasks == nil || sr.Task == "" || !sr.TaskSettled {
			return
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(hctx), r.opts.CloseTimeout)
		defer cancel()
		_ = tasks.Forget(fctx, sr.Task) // see above
	}
	for attempt := 1; ; attempt++ {
		sr.Attempts = attempt
		sr.ExitCode, sr.Err, sr.Outcome, sr.Files, sr.Unchanged = nil, nil, "", nil, false
		r.emit(Event{Kind: StepStarted, Host: h, Step: sr, Batch: h.Batch})
		if tasks != nil {
			cmd.Task, reattach = reattach, ""
			if cmd.Task == "" {
				cmd.Task = newTaskName(st.Index, attempt)
			}
			sr.Task, sr.TaskSettled = cmd.Task, false
			r.emit(Event{Kind: StepTask, Host: h, Step: sr, Batch: h.Batch})
		}
		if e.Fetch != nil {
			// Each attempt stores into a fresh sink: what an earlier
			// attempt committed is overwritten, what it left half-written
			// was removed by its Abort.
			f := *cmd.Fetch
			f.Sink = newFetchSink(e.Fetch.DestDir, h.Name)
			cmd.Fetch = &f
		}
		res, err := r.attempt(hctx, sess, cmd, h.Name, st, attempt)
		sr.TaskSettled = sr.Task != "" && !transport.IsUnsettled(err)
		retryable := false
		if err != nil {
			te := r.contextError(ctx, hctx, res.stepCtxErr, transport.Classify(err))
			if te.Class == transport.ClassTimeout && res.stepCtxErr != nil {
				te = stepTimeoutError(st, err)
			}
			if sr.Task != "" && (te.Class == transport.ClassTimeout || te.Class == transport.ClassInterrupted) {
				te = taskStopped(te, sr.Task, transport.IsUnsettled(err))
			}
			sr.Err = fileHint(te)
			retryable = te.Transient
		} else if st.Kind.IsFile() {
			// A file step has no exit code to judge: the transport returns
			// a result only when every file arrived with its hash checked.
			sr.Files = res.Files
			sr.Unchanged = res.Unchanged
		} else {
			retryable = judgeExit(sr, sess, cmd, st, res.Result)
			if sr.Err == nil {
				if st.RebootsOn(sr.Outcome) {
					if te := r.reboot(ctx, hctx, sess, st.Reboot, sr.Outcome == playbook.OutcomeRebootInitiated); te != nil {
						sr.Err = te
						sr.Status = StatusFailed
						break
					}
					sr.Rebooted = true
				}
			}
		}
		if sr.Err == nil {
			sr.Status = StatusOK
			if sr.Unchanged {
				sr.Status = StatusUnchanged
			}
			break
		}
		if !retryable || attempt > st.Retries || hctx.Err() != nil || (sr.Task != "" && !sr.TaskSettled) {
			sr.Status = StatusFailed
			break
		}
		delay := retryDelay(st.RetryDelay, attempt, r.opts.MaxRetryDelay)
		r.emit(Event{Kind: StepRetrying, Host: h, Step: sr, Batch: h.Batch, Delay: delay})
		// The attempt's result is known and the step goes on: its task is
		// done with, once the journal has closed it (StepRetrying).
		forget()
		select {
		case <-r.opts.After(delay):
		case <-hctx.Done():
			sr.Status = StatusFailed
			sr.Err = r.contextError(ctx, hctx, nil, transport.Classify(hctx.Err()))
			sr.Task = ""
			sr.Finished = r.opts.Now()
			r.emit(Event{Kind: StepFinished, Host: h, Step: sr, Batch: h.Batch})
			return sr
		}
	}
	sr.Finished = r.opts.Now()
	r.emit(Event{Kind: StepFinished, Host: h, Step: sr, Batch: h.Batch})
	// The journal has the result now; only then may the task go.
	forget()
	return sr
}

// newStepResult is the result of a step that starts now.
func (r *run) newStepResult(st *playbook.Step) *StepResult {
	return &StepResult{Index: st.Index, Name: st.Name, Kind: st.Kind, Expected: st.ExpectExit, Started: r.opts.Now(), RunAs: st.RunAs}
}

// judgeExit records an attempt's exit code and output in sr and judges
// them by the step's rules: an accepted code gives the step its outcome,
// any other code an error, and retryable says the code is worth another
// attempt. Steps sent alone and steps of a step run are judged here alike.
func judgeExit(sr *StepResult, sess transport.Session, cmd transport.Command, st *playbook.Step, res transport.Result) (retryable bool) {
	code := res.ExitCode
	sr.ExitCode = &code
	sr.Stdout, sr.Stderr = res.Stdout, res.Stderr
	sr.OutputTruncated = res.StdoutTruncated || res.StderrTruncated
	if st.Accepts(code) {
		sr.Outcome = st.Outcome(code)
		return false
	}
	sr.Err = unexpectedExit(sess, cmd, res, st)
	retryable = st.RetriesOn(code)
	if retryable {
		sr.Outcome = playbook.OutcomeRetry
	}
	return retryable
}

// stepTimeoutError is a step's failure to finish within its own timeout.
func stepTimeoutError(st *playbook.Step, err error) *transport.Error {
	return &transport.Error{Class: transport.ClassTimeout, Message: fmt.Sprintf("step did not finish within its timeout of %s; it was terminated on the host", st.Timeout), Hint: "raise the step's timeout if the work legitimately takes longer", Err: err}
}

// taskStopped says what became of a step's task when the step's time ran
// out or the run was cancelled: ended with its processes, or (unsettled)
// out of reach and maybe still running.
func taskStopped(te *transport.Error, task string, unsettled bool) *transport.Error {
	out := *te
	if unsettled {
		out.Message += "; its task " + task + " could not be ended and may still be running on the host"
		out.Hint = "fleetrun --resume follows the task to its end without starting the step again"
		out.Unsettled = true
		return &out
	}
	out.Message += "; its task " + task + " was ended with its processes"
	return &out
}

// newTaskName names the task of a step's attempt: random, so that no two
// runs share one, with the step and attempt for a person reading the
// host's Task Scheduler.
func newTaskName(step, attempt int) string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return fmt.Sprintf("fleetrun-%s-s%d-a%d", hex.EncodeToString(b[:]), step, attempt)
}

type attemptResult struct {
	transport.Result
	stepCtxErr error // set when the step's own timeout fired
}

func (r *run) attempt(hctx context.Context, sess transport.Session, cmd transport.Command, host string, st *playbook.Step, attempt int) (attemptResult, error) {
	sctx := hctx
	if st.Timeout > 0 {
		var cancel context.CancelFunc
		sctx, cancel = context.WithTimeout(hctx, st.Timeout)
		defer cancel()
	}
	if r.opts.Output != nil {
		cmd.Stdout, cmd.Stderr = r.opts.Output.StepOutput(host, st.Index, attempt)
	}
	res, err := sess.Run(sctx, cmd)
	out := attemptResult{Result: res}
	if err != nil && hctx.Err() == nil && errors.Is(sctx.Err(), context.DeadlineExceeded) {
		out.stepCtxErr = sctx.Err()
	}
	return out, err
}

// contextError explains a failure caused by the run's own contexts: the
// second interrupt, the run or host timeout.
func (r *run) contextError(ctx, hctx context.Context, stepErr error, te *transport.Error) *transport.Error {
	switch {
	case stepErr != nil:
		return te
	case errors.Is(ctx.Err(), context.Canceled) || errors.Is(context.Cause(ctx), context.Canceled):
		return &transport.Error{Class: transport.ClassInterrupted, Message: "cancelled by a second interrupt; the remote command was terminated", Err: te}
	case ctx.Err() != nil:
		return &transport.Error{Class: transport.ClassTimeout, Message: fmt.Sprintf("the run's --timeout of %s passed", r.opts.RunTimeout), Err: te}
	case hctx.Err() != nil:
		return &transport.Error{Class: transport.ClassTimeout, Message: fmt.Sprintf("the host's timeout of %s passed", r.opts.HostTimeout), Err: te}
	}
	return te
}

func unexpectedExit(sess transport.Session, cmd transport.Command, res transport.Result, st *playbook.Step) *transport.Error {
	if c, ok := sess.(transport.ExitClassifier); ok {
		if te := c.ClassifyExit(cmd, res); te != nil {
			return te
		}
	}
	return &transport.Error{
		Class:   transport.ClassUnexpectedExit,
		Message: fmt.Sprintf("exit code %d, expected %s", res.ExitCode, formatCodes(st.ExpectExit)),
		Hint:    exitHint(res.ExitCode),
	}
}

func formatCodes(codes []uint32) string {
	s := "["
	for i, c := range codes {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprint(c)
	}
	return s + "]"
}

// exitHint explains exit codes operators meet often.
func exitHint(code uint32) string {
	switch code {
	case 3010:
		return "3010 means success, reboot required: add 3010 to expect_exit (and reboot the host)"
	case 1641:
		return "1641 means the installer started a reboot"
	case 1618:
		return "1618 means another installation is in progress: list it in retry_on_exit with retries"
	case 2359302:
		return "2359302 (0x00240006) means the update is already installed: add it to expect_exit"
	case 9009:
		return "9009 is cmd.exe's 'is not recognized as an internal or external command': check the program name and PATH"
	case 3221225477:
		return "0xC0000005 is an access violation: the program crashed"
	case 3221225794:
		return "0xC0000142 means the process failed to initialise (often a desktop-heap or memory limit)"
	}
	return ""
}

// retryDelay doubles the step's retry_delay for each further attempt, up to
// limit.
func retryDelay(base time.Duration, attempt int, limit time.Duration) time.Duration {
	d := base
	for k := 1; k < attempt && d < limit; k++ {
		d *= 2
	}
	return min(d, limit)
}

// finishPendingReboot completes, in a resumed run, the restart a step asked
// for in an earlier run: the step's work is not repeated (an installer that
// already ran would only say "already installed" and skip the restart).
func (r *run) finishPendingReboot(ctx, hctx context.Context, h *HostResult, sess transport.Session, e *playbook.Expanded) *StepResult {
	st := e.Step
	sr := &StepResult{Index: st.Index, Name: st.Name, Kind: st.Kind, Expected: st.ExpectExit, Started: r.opts.Now(), Attempts: 1,
		Outcome: playbook.OutcomeRebootRequired, Reason: "done in an earlier run; restarting the host it asked for"}
	r.emit(Event{Kind: StepStarted, Host: h, Step: sr, Batch: h.Batch})
	if te := r.reboot(ctx, hctx, sess, st.Reboot, false); te != nil {
		sr.Status, sr.Err = StatusFailed, te
	} else {
		sr.Status, sr.Rebooted, sr.Reason = StatusOK, true, ""
	}
	sr.Finished = r.opts.Now()
	r.emit(Event{Kind: StepFinished, Host: h, Step: sr, Batch: h.Batch})
	return sr
}

// reboot restarts the host through the session, bounded by the reboot's
// timeout, and explains failures.
func (r *run) reboot(ctx, hctx context.Context, sess transport.Session, rb *playbook.Reboot, initiated bool) *transport.Error {
	rs, ok := sess.(transport.Rebooter)
	if !ok {
		return &transport.Error{Class: transport.ClassInternal, Message: "this transport cannot reboot hosts"}
	}
	rctx, cancel := context.WithTimeout(hctx, rb.Timeout)
	defer cancel()
	err := rs.Reboot(rctx, transport.RebootOptions{AlreadyInitiated: initiated, PreRebootDelay: rb.PreRebootDelay, TestCommand: rb.TestCommand})
	if err == nil {
		return nil
	}
	te := transport.Classify(err)
	if hctx.Err() == nil && errors.Is(rctx.Err(), context.DeadlineExceeded) {
		msg := fmt.Sprintf("the host did not come back within the reboot timeout of %s", rb.Timeout)
		if te.Class == transport.ClassRebootTimeout && te.Message != "" {
			msg += ": " + te.Message // what the transport last saw
		}
		return &transport.Error{Class: transport.ClassRebootTimeout, Message: msg, Hint: "check the host's console; raise the reboot timeout if updates take long to apply", Err: err}
	}
	if te.Class == transport.ClassRebootTimeout {
		return te
	}
	return r.contextError(ctx, hctx, nil, te)
}
