package report

import (
	"io"
	"path/filepath"
	"testing"
	"time"

	goldenfile "github.com/fleetrun/fleetrun/internal/golden"
	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/transport"
)

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenfile.Check(t, filepath.Join("testdata", name), got)
}

// A scenario is what a run looks like from the outside: the events the
// runner delivers, interleaved with the raw output it streams, and the
// final result. Scenarios are written by hand so tests control every byte
// and every timestamp.
type scenario struct {
	t0      time.Time
	res     *runner.Result
	actions []action
}

type action struct {
	ev  *runner.Event
	out *outputWrite
}

type outputWrite struct {
	host          string
	step, attempt int
	stderr        bool
	data          string
}

func newScenario(playbookName string, batches int, hosts ...*runner.HostResult) *scenario {
	t0 := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	return &scenario{t0: t0, res: &runner.Result{Playbook: playbookName, Batches: batches, Hosts: hosts, Forks: 50, MaxFail: -1}}
}

func (s *scenario) at(ms int) time.Time { return s.t0.Add(time.Duration(ms) * time.Millisecond) }

// emit records an event with snapshots of host and step, as the runner
// delivers them.
func (s *scenario) emit(e runner.Event) {
	if e.Host != nil {
		c := *e.Host
		c.Steps = nil
		for _, st := range e.Host.Steps {
			sc := *st
			c.Steps = append(c.Steps, &sc)
		}
		e.Host = &c
	}
	if e.Step != nil {
		sc := *e.Step
		e.Step = &sc
	}
	s.actions = append(s.actions, action{ev: &e})
}

func (s *scenario) output(h *runner.HostResult, st *runner.StepResult, stderr bool, data string) {
	s.actions = append(s.actions, action{out: &outputWrite{host: h.Name, step: st.Index, attempt: st.Attempts, stderr: stderr, data: data}})
	if stderr {
		st.Stderr += data
	} else {
		st.Stdout += data
	}
}

func (s *scenario) runStarted(ms int) {
	s.res.Started = s.at(ms)
	s.emit(runner.Event{Kind: runner.RunStarted, Time: s.at(ms), Hosts: len(s.res.Hosts), Batches: s.res.Batches, Concurrency: s.res.Concurrency, MaxFail: s.res.MaxFail})
}

func (s *scenario) batch(ms, b, n int) {
	s.emit(runner.Event{Kind: runner.BatchStarted, Time: s.at(ms), Batch: b, Hosts: n})
}

func (s *scenario) hostStarted(ms int, h *runner.HostResult) {
	h.Started = s.at(ms)
	s.emit(runner.Event{Kind: runner.HostStarted, Time: s.at(ms), Host: h, Batch: h.Batch})
}

// stepStarted begins a step (attempt 1).
func (s *scenario) stepStarted(ms int, h *runner.HostResult, idx int, name string, kind playbook.Kind, expected ...uint32) *runner.StepResult {
	st := &runner.StepResult{Index: idx, Name: name, Kind: kind, Expected: expected, Attempts: 1, Started: s.at(ms)}
	s.emit(runner.Event{Kind: runner.StepStarted, Time: s.at(ms), Host: h, Step: st, Batch: h.Batch})
	return st
}

// retry reports the current attempt failed and starts the next one.
func (s *scenario) retry(ms, nextMS int, h *runner.HostResult, st *runner.StepResult, code uint32, te *transport.Error, delay time.Duration) {
	st.ExitCode, st.Err, st.Outcome = &code, te, playbook.OutcomeRetry
	s.emit(runner.Event{Kind: runner.StepRetrying, Time: s.at(ms), Host: h, Step: st, Batch: h.Batch, Delay: delay})
	st.Attempts++
	st.ExitCode, st.Err, st.Outcome = nil, nil, ""
	st.Stdout, st.Stderr = "", ""
	s.emit(runner.Event{Kind: runner.StepStarted, Time: s.at(nextMS), Host: h, Step: st, Batch: h.Batch})
}

// stepFinished ends a step; code < 0 means no exit code.
func (s *scenario) stepFinished(ms int, h *runner.HostResult, st *runner.StepResult, status runner.Status, code int64, te *transport.Error) {
	if code >= 0 {
		c := uint32(code)
		st.ExitCode = &c
	}
	st.Status, st.Err, st.Finished = status, te, s.at(ms)
	if status == runner.StatusOK && st.Outcome == "" && st.ExitCode != nil {
		st.Outcome = playbook.OutcomeOK
	}
	s.emit(runner.Event{Kind: runner.StepFinished, Time: s.at(ms), Host: h, Step: st, Batch: h.Batch})
	h.Steps = append(h.Steps, st)
}

func (s *scenario) skipSteps(h *runner.HostResult, from int, reason string, names ...string) {
	for i, n := range names {
		h.Steps = append(h.Steps, &runner.StepResult{Index: from + i, Name: n, Kind: playbook.KindPowerShell, Status: runner.StatusSkipped, Expected: []uint32{0}, Reason: reason})
	}
}

func (s *scenario) hostFinished(ms int, h *runner.HostResult, status runner.Status) {
	h.Status = status
	if !h.Started.IsZero() {
		h.Finished = s.at(ms)
	}
	s.emit(runner.Event{Kind: runner.HostFinished, Time: s.at(ms), Host: h, Batch: h.Batch})
}

func (s *scenario) stopping(ms int, reason string) {
	s.res.StopReason = reason
	s.emit(runner.Event{Kind: runner.Stopping, Time: s.at(ms), Reason: reason})
}

func (s *scenario) runFinished(ms int, status runner.Status) {
	s.res.Finished, s.res.Status = s.at(ms), status
	s.emit(runner.Event{Kind: runner.RunFinished, Time: s.at(ms), Result: s.res})
}

// replay delivers the scenario to a sink and, when out is not nil, the raw
// output to an output sink, asking for writers once per attempt as the
// runner does.
func (s *scenario) replay(sink runner.Sink, out runner.OutputSink) {
	type key struct {
		host          string
		step, attempt int
	}
	writers := map[key][2]io.Writer{}
	for _, a := range s.actions {
		if a.ev != nil {
			if sink != nil {
				sink.Event(*a.ev)
			}
			continue
		}
		if out == nil {
			continue
		}
		k := key{a.out.host, a.out.step, a.out.attempt}
		w, ok := writers[k]
		if !ok {
			o, e := out.StepOutput(k.host, k.step, k.attempt)
			w = [2]io.Writer{o, e}
			writers[k] = w
		}
		i := 0
		if a.out.stderr {
			i = 1
		}
		if w[i] != nil {
			if _, err := w[i].Write([]byte(a.out.data)); err != nil {
				panic(err)
			}
		}
	}
}

func host(name, addr string, batch int) *runner.HostResult {
	return &runner.HostResult{Name: name, Address: addr, Batch: batch, Transport: "winrm"}
}

const (
	budgetReason  = "failure budget spent: 3 host(s) failed, max_fail allows 2"
	notStartedWhy = "not started: " + budgetReason
)

// rolloutScenario is a patch rollout over two batches with every kind of
// outcome: a reboot-required success, a failed exit code, an unreachable
// host, a retried step, an ignored failure, a step timeout that spends the
// failure budget, and hosts the stop leaves unstarted.
func rolloutScenario() *scenario {
	web1, web2, web3 := host("web-01", "10.0.1.11", 0), host("web-02", "10.0.1.12", 0), host("web-03", "10.0.1.13", 0)
	web4, web5, web6 := host("web-04", "10.0.1.14", 1), host("web-05", "10.0.1.15", 1), host("web-06", "10.0.1.16", 1)
	db1 := host("db-01", "10.0.2.11", 2)
	s := newScenario("monthly-patch", 3, web1, web2, web3, web4, web5, web6, db1)
	s.res.MaxFail = 2
	steps := []string{"stop service", "install patch", "start service"}

	s.runStarted(0)
	s.batch(0, 0, 3)
	s.hostStarted(5, web1)
	s.hostStarted(6, web2)
	s.hostStarted(7, web3)

	st := s.stepStarted(100, web1, 0, steps[0], playbook.KindCmd, 0)
	s.output(web1, st, false, "The World Wide Web Publishing Service service is stopping.\r\n")
	s.output(web1, st, false, "The World Wide Web Publishing Service service was stopped successfully.\r\n")
	s.stepFinished(1350, web1, st, runner.StatusOK, 0, nil)

	st2 := s.stepStarted(120, web2, 0, steps[0], playbook.KindCmd, 0)
	s.stepFinished(900, web2, st2, runner.StatusOK, 0, nil)

	// web-03 refuses connections: no step runs.
	web3.Err = &transport.Error{Class: transport.ClassRefused, Message: "dial tcp 10.0.1.13:5985: connect: connection refused", Hint: "check that the WinRM service runs and listens on 5985 (winrm quickconfig)"}
	web3.Reason = web3.Err.Error()
	s.skipSteps(web3, 0, "the host could not be reached", steps...)
	s.hostFinished(1010, web3, runner.StatusUnreachable)

	st = s.stepStarted(1400, web1, 1, steps[1], playbook.KindPowerShell, 0, 3010)
	s.output(web1, st, false, "Installing KB5034441 ")
	s.output(web1, st, true, "WARNING: a restart is required\n")
	s.output(web1, st, false, "... done\n")
	st.Outcome, st.Rebooted = playbook.OutcomeRebootRequired, true
	s.stepFinished(95400, web1, st, runner.StatusOK, 3010, nil)

	st2 = s.stepStarted(950, web2, 1, steps[1], playbook.KindPowerShell, 0, 3010)
	s.output(web2, st2, false, "Installing KB5034441\n")
	s.output(web2, st2, true, "Install-WindowsUpdate : 0x80240017 Not applicable\nAt line:1 char:1\n")
	s.stepFinished(1762, web2, st2, runner.StatusFailed, 5, &transport.Error{Class: transport.ClassUnexpectedExit, Message: "exit code 5, expected [0, 3010]"})
	s.skipSteps(web2, 2, runner.ReasonEarlierStepFailed, steps[2])
	s.hostFinished(1763, web2, runner.StatusFailed)

	st = s.stepStarted(95500, web1, 2, steps[2], playbook.KindCommand, 0)
	s.stepFinished(96000, web1, st, runner.StatusOK, 0, nil)
	s.hostFinished(96001, web1, runner.StatusOK)

	s.batch(96002, 1, 3)
	s.hostStarted(96010, web4)
	s.hostStarted(96011, web5)
	st = s.stepStarted(96100, web4, 0, steps[0], playbook.KindCmd, 0)
	s.stepFinished(96500, web4, st, runner.StatusOK, 0, nil)
	st = s.stepStarted(96600, web4, 1, steps[1], playbook.KindPowerShell, 0, 3010)
	s.output(web4, st, false, "another installation is in progress\n")
	s.retry(97600, 107600, web4, st, 1618, &transport.Error{Class: transport.ClassUnexpectedExit, Message: "exit code 1618, expected [0, 3010]", Hint: "1618 means another installation is in progress: list it in retry_on_exit with retries"}, 10*time.Second)
	s.output(web4, st, false, "installed\n")
	s.stepFinished(110000, web4, st, runner.StatusOK, 0, nil)
	st = s.stepStarted(110100, web4, 2, steps[2], playbook.KindCommand, 0)
	s.output(web4, st, true, "sc.exe: service did not respond")
	s.stepFinished(110900, web4, st, runner.StatusFailed, 1053, &transport.Error{Class: transport.ClassUnexpectedExit, Message: "exit code 1053, expected [0]"})
	s.hostFinished(110901, web4, runner.StatusOK)

	st = s.stepStarted(96200, web5, 0, steps[0], playbook.KindCmd, 0)
	s.stepFinished(396200, web5, st, runner.StatusFailed, -1, &transport.Error{Class: transport.ClassTimeout, Message: "step did not finish within its timeout of 5m0s; it was terminated on the host", Hint: "raise the step's timeout if the work legitimately takes longer"})
	s.skipSteps(web5, 1, runner.ReasonEarlierStepFailed, steps[1:]...)
	s.hostFinished(396201, web5, runner.StatusFailed)

	s.stopping(396202, budgetReason)
	s.skipSteps(web6, 0, notStartedWhy, steps...)
	web6.Reason = notStartedWhy
	s.hostFinished(396203, web6, runner.StatusSkipped)
	s.skipSteps(db1, 0, notStartedWhy, steps...)
	db1.Reason = notStartedWhy
	s.hostFinished(396204, db1, runner.StatusSkipped)
	s.runFinished(396300, runner.StatusAborted)
	return s
}

// hostileScenario is a simulated host whose output holds everything that
// breaks naive XML and terminals: control characters, escape sequences,
// "]]>", invalid UTF-8, CRLF and a long stderr.
func hostileScenario() *scenario {
	h := host("sim-0001", "127.0.0.2:5985", 0)
	h.Simulated = true
	s := newScenario("hostile <output> & \"quotes\"", 1, h)
	s.runStarted(0)
	s.batch(0, 0, 1)
	s.hostStarted(1, h)
	st := s.stepStarted(10, h, 0, "echo <weird> & \"things\"", playbook.KindPowerShell, 0)
	s.output(h, st, false, "nul\x00 bell\x07 esc\x1b[31mred\x1b[0m ]]> <![CDATA[ x ]]> \xff\xfe bad utf8\r\n")
	s.output(h, st, false, "日本語 ok\r\n\x0b\x0c\x1f\x7f\u0085 end\n")
	for i := range 60 {
		s.output(h, st, true, "stderr line "+string(rune('A'+i%26))+" ]]> \x00\n")
	}
	s.stepFinished(510, h, st, runner.StatusFailed, 3221225477, &transport.Error{Class: transport.ClassUnexpectedExit, Message: "exit code 3221225477, expected [0]\x1b[2J", Hint: "0xC0000005 is an access violation: the program crashed"})
	s.hostFinished(511, h, runner.StatusFailed)
	s.runFinished(600, runner.StatusFailed)
	return s
}
