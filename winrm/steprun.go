package winrm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/fleetrun/fleetrun/launcher"
	"github.com/fleetrun/fleetrun/transport"
)

// RunsTogether implements transport.StepRunner: steps run in the shell
// (not as tasks) whose body the launcher runs — argv, cmd and PowerShell
// steps with a known output encoding.
func (s *Session) RunsTogether(cmd transport.Command) bool {
	switch cmd.Kind {
	case transport.KindArgv, transport.KindCmd, transport.KindPowerShell:
	default:
		return false
	}
	_, err := StepEncoding(cmd.OutputEncoding)
	return err == nil && cmd.RunAs == transport.RunAsSession
}

// RunSteps implements transport.StepRunner: the steps go to the host in
// one launch of the launcher, whose step-run script runs them one after
// another and reports each attempt as frames (docs/design.md, "Step
// runs"). Each attempt's output is captured, capped and decoded exactly as
// Run does for a step alone, and handed to obs when the attempt ends.
//
// When ctx ends first the command is terminated and the shell dropped, as
// in Run, and the error has class timeout or interrupted.
func (s *Session) RunSteps(ctx context.Context, steps []transport.RunStep, obs transport.RunObserver) error {
	for _, st := range steps {
		if !s.RunsTogether(st.Command) {
			return &transport.Error{Class: transport.ClassInternal,
				Message: fmt.Sprintf("%s: step %d (%s) cannot be part of a step run", s.name, st.Index, st.Command.Kind)}
		}
	}
	rendered, err := renderRun(steps, s.opts.MaxCommandLine)
	if err != nil {
		return &transport.Error{Class: transport.ClassInternal, Err: err, Message: fmt.Sprintf("%s: %v", s.name, err)}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(ctx); err != nil {
		return err
	}
	fr := &runFrames{s: s, ctx: ctx, steps: steps, obs: obs, pos: make(map[int]int, len(steps)), last: -1}
	for k, st := range steps {
		fr.pos[st.Index] = k
	}
	parser := launcher.NewFrameParser(fr)
	// The launcher itself writes to stderr only when it fails (a payload
	// it cannot read, a step-run script that broke): kept for the error.
	own := &capture{max: 8 << 10}
	code, err := s.execRun(ctx, rendered, parser, own)
	if err != nil && ctx.Err() != nil {
		s.abandonShell(ctx)
		return contextError(ctx, s.name)
	}
	if err != nil {
		return err
	}
	if code != 0 || !parser.Ended() {
		msg := fmt.Sprintf("the step run on %s ended with exit code %d before the host reported it over", s.name, code)
		if text := own.decode(nil, s.enc); text != "" {
			msg += ": " + text
		}
		return &transport.Error{Class: transport.ClassInternal, Message: msg,
			Hint: "run the playbook with --no-step-runs to send each step alone, and report this"}
	}
	return nil
}

// runFrames turns a step run's frames into the observer's attempts.
type runFrames struct {
	s     *Session
	ctx   context.Context
	steps []transport.RunStep
	obs   transport.RunObserver
	// pos maps a step's index to its position in steps; last is the
	// position of the latest attempt, which never goes back.
	pos  map[int]int
	last int
	// cur is the attempt running: its position and output.
	k   int
	out *output
}

func (f *runFrames) Begin(i, a int, t time.Duration) error {
	k, ok := f.pos[i]
	if !ok || k < f.last {
		return fmt.Errorf("%w: attempt %d of step %d, which is not next in the run", launcher.ErrFrames, a, i)
	}
	f.k, f.last = k, k
	cmd := f.steps[k].Command
	cmd.Stdout, cmd.Stderr = f.obs.AttemptStarted(k, a, t)
	f.out = f.s.newOutput(cmd)
	return nil
}

func (f *runFrames) Output(_ int, stderr bool, data []byte) error {
	// The writers are captures and the caller's log writers; a failing
	// log writer must not fail the step.
	if stderr {
		_, _ = f.out.stderrW.Write(data)
	} else {
		_, _ = f.out.stdoutW.Write(data)
	}
	return nil
}

func (f *runFrames) Exit(_, a int, code uint32, t time.Duration) error {
	f.obs.AttemptFinished(f.k, a, f.s.result(f.ctx, code, f.out), false, t)
	f.out = nil
	return nil
}

func (f *runFrames) Timeout(_, a int, t time.Duration) error {
	f.obs.AttemptFinished(f.k, a, transport.Result{}, true, t)
	f.out = nil
	return nil
}

func (f *runFrames) End(time.Duration) error { return nil }

// execRun starts the step run and feeds its stdout to parser until the
// command is done; s.mu is held. A broken frame ends the wait at once
// with an internal error, and, as any failure once the command started,
// terminates the command and drops the shell (see failed): the launcher
// may still be running steps.
func (s *Session) execRun(ctx context.Context, r launcher.Rendered, parser *launcher.FrameParser, stderr io.Writer) (uint32, error) {
	commandID, err := s.start(ctx, r)
	if err != nil {
		return 0, err
	}
	_, code, err := s.receiveFn(ctx, commandID, func(stream string, data []byte) (bool, error) {
		if stream == "stderr" {
			_, _ = stderr.Write(data) // a capture
			return false, nil
		}
		if _, err := parser.Write(data); err != nil {
			var te *transport.Error
			if !errors.As(err, &te) {
				err = &transport.Error{Class: transport.ClassInternal, Err: err,
					Message: fmt.Sprintf("the step run on %s: %v", s.name, err),
					Hint:    "run the playbook with --no-step-runs to send each step alone, and report this"}
			}
			return false, err
		}
		return false, nil
	})
	if err != nil {
		s.failed(ctx, err)
		return 0, err
	}
	return code, nil
}

// renderRun is launcher.RenderRun through the launcher renderings' cache
// (render.go): a fleet usually sends every host the same steps, and
// rendering a run (JSON, the step-run script, base64 twice and the
// launcher's UTF-16) is otherwise the biggest part of the controller's
// work for a host's run. The key holds everything RenderRun reads.
func renderRun(steps []transport.RunStep, maxCommandLine int) (launcher.Rendered, error) {
	return renders.through(runKey(steps, maxCommandLine), func() (launcher.Rendered, error) {
		return launcher.RenderRun(steps, launcher.RenderOptions{MaxCommandLine: maxCommandLine})
	})
}

// runKey writes every field launcher.RenderRun reads, with lengths, so
// that two different runs never share a key (nor a run a single step's).
func runKey(steps []transport.RunStep, maxCommandLine int) string {
	var b strings.Builder
	num := func(n int64) {
		b.WriteString(strconv.FormatInt(n, 10))
		b.WriteByte(' ')
	}
	b.WriteString("run ")
	num(int64(maxCommandLine))
	num(int64(len(steps)))
	for _, st := range steps {
		num(int64(st.Index))
		writeCommandKey(&b, st.Command)
		b.WriteString(string(st.Command.RunAs))
		b.WriteByte(' ')
		num(int64(st.Timeout))
		for _, codes := range [][]uint32{st.Accept, st.RetryOn} {
			num(int64(len(codes)))
			for _, code := range codes {
				num(int64(code))
			}
		}
		num(int64(st.Retries))
		num(int64(len(st.RetryDelays)))
		for _, d := range st.RetryDelays {
			num(int64(d))
		}
		if st.ContinueOnError {
			num(1)
		} else {
			num(0)
		}
	}
	return b.String()
}
