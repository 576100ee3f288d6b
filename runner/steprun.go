package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/transport"
)

// runLength returns the commands of host i's steps from j on that go to
// the host in one step run (docs/design.md, "Step runs"), or nil when step
// j goes alone: the session must run steps together, and the steps must be
// ones it takes in a run (argv, cmd and powershell steps in its own logon)
// with no reboot: the run stops being one launch at a reboot step or a
// step that may ask for one. A run has at least two steps.
func (r *run) runLength(sess transport.Session, i, j int, alone bool) []transport.Command {
	sr, ok := sess.(transport.StepRunner)
	if !ok || alone || r.opts.NoStepRuns {
		return nil
	}
	var cmds []transport.Command
	for _, e := range r.steps[i][j:] {
		if !joinsRuns(e) {
			break
		}
		cmd := Command(e)
		if !sr.RunsTogether(cmd) {
			break
		}
		cmds = append(cmds, cmd)
	}
	if len(cmds) < 2 {
		return nil
	}
	return cmds
}

// joinsRuns reports whether a step may be part of a step run whatever the
// transport: a program or script run in the session's own logon, which
// neither is a reboot nor may ask for one.
func joinsRuns(e *playbook.Expanded) bool {
	st := e.Step
	switch st.Kind {
	case playbook.KindCommand, playbook.KindCmd, playbook.KindPowerShell:
	default:
		return false
	}
	return st.Reboot == nil && st.RunAs == ""
}

// stepRun runs consecutive steps of host i in one launch and returns
// their results in order: every step the host finished, and the step that
// broke the run, if one did. alone says the run broke in a way the step
// may retry (a transient failure with attempts left): its result is then
// left out and the host's remaining steps go alone, from that step.
func (r *run) stepRun(ctx, hctx context.Context, h *HostResult, sess transport.Session, es []*playbook.Expanded, cmds []transport.Command) (out []*StepResult, alone bool) {
	o := &runObserver{r: r, h: h, sess: sess, es: es, start: r.opts.Now(), results: make([]*StepResult, len(es)), cmds: cmds, cur: -1}
	steps := make([]transport.RunStep, len(es))
	bound, bounded := time.Duration(0), true
	for k, e := range es {
		st := e.Step
		steps[k] = transport.RunStep{Index: st.Index, Command: o.cmds[k], Timeout: st.Timeout, Accept: st.ExpectExit,
			RetryOn: retryCodes(st), Retries: st.Retries, ContinueOnError: st.ContinueOnError}
		for a := 1; a <= st.Retries; a++ {
			d := retryDelay(st.RetryDelay, a, r.opts.MaxRetryDelay)
			steps[k].RetryDelays = append(steps[k].RetryDelays, d)
			bound += d
		}
		bounded = bounded && st.Timeout > 0
		bound += st.Timeout * time.Duration(st.Retries+1)
	}
	// When every step has a timeout the host ends each of them in time;
	// the run as a whole is bounded too, with room for the host to end a
	// step's processes and for the round trips, in case it cannot.
	rctx := hctx
	if bounded {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(hctx, bound+runSlack*time.Duration(len(es)))
		defer cancel()
	}
	err := sess.(transport.StepRunner).RunSteps(rctx, steps, o)
	for _, sr := range o.results {
		if sr != nil && sr.Status != "" {
			out = append(out, sr)
		}
	}
	if err == nil {
		for k, sr := range o.results {
			if sr != nil && sr.Status == "" {
				// The host ended the run after an attempt the runner
				// judged worth another: the two disagree, and the step
				// fails rather than pass unseen.
				o.cur = k
				err = &transport.Error{Class: transport.ClassInternal,
					Message: fmt.Sprintf("the host ended the step run after attempt %d of step %q without the retry its rules call for", sr.Attempts, sr.Name),
					Hint:    "run the playbook with --no-step-runs to send each step alone, and report this"}
				break
			}
		}
	}
	if err == nil {
		// A run the host ended early without a failure that stops the
		// host (the two disagree on a step's rules) leaves the rest of
		// the steps to be sent alone.
		early := len(out) < len(es) && (len(out) == 0 || out[len(out)-1].Status != StatusFailed || es[len(out)-1].Step.ContinueOnError)
		return out, early
	}
	// The run broke: the step in progress, or the next one, failed with
	// the run's error, explained as a step alone would explain it.
	k := o.cur
	if k < 0 {
		k = len(out)
	}
	if k >= len(es) {
		return out, false
	}
	st := es[k].Step
	te := r.contextError(ctx, hctx, nil, transport.Classify(err))
	if hctx.Err() == nil && errors.Is(rctx.Err(), context.DeadlineExceeded) {
		te = &transport.Error{Class: transport.ClassTimeout, Err: err,
			Message: fmt.Sprintf("the step run did not finish within its steps' timeouts (%s in all); it was terminated on the host", bound),
			Hint:    "raise the steps' timeouts if the work legitimately takes longer"}
	}
	sr := o.results[k]
	if te.Transient && hctx.Err() == nil && (sr == nil || sr.Attempts <= st.Retries) {
		return out, true
	}
	if sr == nil {
		sr = o.begin(k, 1)
	}
	sr.ExitCode, sr.Stdout, sr.Stderr, sr.OutputTruncated, sr.Outcome = nil, "", "", false, ""
	sr.Err, sr.Status = fileHint(te), StatusFailed
	sr.Finished = r.opts.Now()
	r.emit(Event{Kind: StepFinished, Host: h, Step: sr, Batch: h.Batch})
	return append(out, sr), false
}

// runSlack is the time a step run may take beyond its steps' timeouts and
// retry delays, per step: ending a process tree, the round trips.
const runSlack = 30 * time.Second

// retryCodes are the exit codes worth another attempt of st: its
// retry_on_exit and the codes its outcomes map to retry.
func retryCodes(st *playbook.Step) []uint32 {
	codes := append([]uint32(nil), st.RetryOnExit...)
	for code, o := range st.Outcomes {
		if o == playbook.OutcomeRetry && !st.Accepts(code) {
			codes = append(codes, code)
		}
	}
	// In a fixed order: the run's rendering (and the hosts sharing it)
	// must not depend on the map's.
	slices.Sort(codes)
	return codes
}

// runObserver turns a step run's attempts into step results and events,
// exactly as runStep does for a step alone.
type runObserver struct {
	r       *run
	h       *HostResult
	sess    transport.Session
	es      []*playbook.Expanded
	cmds    []transport.Command
	start   time.Time
	results []*StepResult
	// cur is the position of the attempt in progress, -1 between attempts.
	cur int
}

// begin starts (or restarts, for a further attempt) the result of the
// step at position k and emits StepStarted.
func (o *runObserver) begin(k, attempt int) *StepResult {
	st := o.es[k].Step
	sr := o.results[k]
	if sr == nil {
		sr = o.r.newStepResult(st)
		o.results[k] = sr
	}
	sr.Attempts = attempt
	sr.ExitCode, sr.Err, sr.Outcome = nil, nil, ""
	o.r.emit(Event{Kind: StepStarted, Host: o.h, Step: sr, Batch: o.h.Batch})
	return sr
}

func (o *runObserver) AttemptStarted(k, attempt int, at time.Duration) (stdout, stderr io.Writer) {
	fresh := o.results[k] == nil
	sr := o.begin(k, attempt)
	if fresh {
		sr.Started = o.start.Add(at)
	}
	o.cur = k
	if o.r.opts.Output != nil {
		return o.r.opts.Output.StepOutput(o.h.Name, sr.Index, attempt)
	}
	return nil, nil
}

func (o *runObserver) AttemptFinished(k, attempt int, res transport.Result, timedOut bool, at time.Duration) {
	st, sr := o.es[k].Step, o.results[k]
	retryable := false
	if timedOut {
		sr.Err = stepTimeoutError(st, nil)
	} else {
		retryable = judgeExit(sr, o.sess, o.cmds[k], st, res)
	}
	o.cur = -1
	switch {
	case sr.Err == nil:
		sr.Status = StatusOK
	case retryable && attempt <= st.Retries:
		// The host waits the delay and starts the next attempt itself.
		o.r.emit(Event{Kind: StepRetrying, Host: o.h, Step: sr, Batch: o.h.Batch, Delay: retryDelay(st.RetryDelay, attempt, o.r.opts.MaxRetryDelay)})
		return
	default:
		sr.Status = StatusFailed
	}
	sr.Finished = o.start.Add(at)
	o.r.emit(Event{Kind: StepFinished, Host: o.h, Step: sr, Batch: o.h.Batch})
}
