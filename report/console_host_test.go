package report

import (
	"bytes"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/transport"
)

// hostEvents are the events of one host of a fleet-scale run: three small
// steps that succeed.
func hostEvents() []runner.Event {
	t0 := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	code := uint32(0)
	h := &runner.HostResult{Name: "web-01234", Address: "10.0.48.210", Batch: 0, Transport: "winrm", Started: t0}
	evs := []runner.Event{{Kind: runner.HostStarted, Time: t0, Host: h}}
	for i := range 3 {
		st := &runner.StepResult{Index: i, Name: "step " + string(rune('a'+i)), Kind: playbook.KindCmd, Expected: []uint32{0}, Attempts: 1,
			Started: t0.Add(time.Duration(i) * time.Second)}
		evs = append(evs, runner.Event{Kind: runner.StepStarted, Time: st.Started, Host: h, Step: st})
		done := *st
		done.Status, done.ExitCode, done.Outcome, done.Finished = runner.StatusOK, &code, "ok", st.Started.Add(640*time.Millisecond)
		h.Steps = append(h.Steps, &done)
		evs = append(evs, runner.Event{Kind: runner.StepFinished, Time: done.Finished, Host: h, Step: &done})
	}
	fin := *h
	fin.Status, fin.Finished = runner.StatusOK, t0.Add(3*time.Second)
	return append(evs, runner.Event{Kind: runner.HostFinished, Time: fin.Finished, Host: &fin})
}

// BenchmarkConsoleHost is the plain console's work for one host of a
// fleet-scale run (five lines).
func BenchmarkConsoleHost(b *testing.B) {
	evs := hostEvents()
	c := NewConsole(io.Discard, ConsoleOptions{})
	c.Event(runner.Event{Kind: runner.RunStarted, Hosts: 10000, Batches: 1})
	b.ReportAllocs()
	for b.Loop() {
		for _, e := range evs {
			c.Event(e)
		}
	}
}

// branchEvents reach every kind of plain line, with names that need
// quoting and escaping.
func branchEvents() []runner.Event {
	t0 := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	code, nt, reboot := uint32(5), uint32(0xC0000005), uint32(3010)
	odd := &runner.HostResult{Name: "db-\"01\"\x1b[31m", Batch: 1}
	st := func(idx int, name string, status runner.Status, exit *uint32, attempts int, te *transport.Error) *runner.StepResult {
		return &runner.StepResult{Index: idx, Name: name, Kind: playbook.KindCmd, Status: status, ExitCode: exit, Expected: []uint32{0, 3010},
			Attempts: attempts, Err: te, Started: at(0), Finished: at(1500 + idx)}
	}
	rebooted := st(0, "patch\tnow", runner.StatusOK, &reboot, 2, nil)
	rebooted.Outcome, rebooted.Rebooted = "reboot_required", true
	exitFail := st(1, `say "hi"`, runner.StatusFailed, &code, 3, nil)
	ntFail := st(2, "crash", runner.StatusFailed, &nt, 1, &transport.Error{Class: "unexpected_exit", Message: "access violation", Hint: "look at the\nevent log"})
	bare := st(3, "bare", runner.StatusFailed, nil, 1, nil)
	// Finished hosts are named apart, and were not started, so that two
	// hosts (odd and web-02) are still running when the run stops.
	finished := 0
	withSteps := func(h runner.HostResult, status runner.Status, reason string, te *transport.Error, steps ...*runner.StepResult) *runner.HostResult {
		finished++
		h.Name += "-" + strconv.Itoa(finished)
		h.Status, h.Reason, h.Err, h.Steps, h.Started, h.Finished = status, reason, te, steps, at(0), at(61000)
		return &h
	}
	return []runner.Event{
		{Kind: runner.RunStarted, Time: at(0), Hosts: 20, Batches: 2},
		{Kind: runner.BatchStarted, Time: at(0), Batch: 1, Hosts: 1},
		{Kind: runner.HostStarted, Time: at(0), Host: odd},
		{Kind: runner.StepRetrying, Time: at(1), Host: odd, Step: bare, Delay: 1500 * time.Millisecond},
		{Kind: runner.StepRetrying, Time: at(1), Host: odd, Step: ntFail, Delay: 2 * time.Minute},
		{Kind: runner.StepFinished, Time: at(2), Host: odd, Step: rebooted},
		{Kind: runner.StepFinished, Time: at(2), Host: odd, Step: exitFail},
		{Kind: runner.StepFinished, Time: at(2), Host: odd, Step: ntFail},
		{Kind: runner.StepFinished, Time: at(2), Host: odd, Step: bare},
		{Kind: runner.HostFinished, Time: at(3), Host: withSteps(*odd, runner.StatusOK, "", nil, rebooted)},
		{Kind: runner.HostFinished, Time: at(3), Host: withSteps(*odd, runner.StatusOK, "done in an earlier run", nil)},
		{Kind: runner.HostFinished, Time: at(3), Host: withSteps(*odd, runner.StatusOK, "", nil, rebooted, exitFail)},
		{Kind: runner.HostFinished, Time: at(3), Host: withSteps(*odd, runner.StatusFailed, "", nil, rebooted, ntFail)},
		{Kind: runner.HostFinished, Time: at(3), Host: withSteps(*odd, runner.StatusFailed, "", nil, exitFail)},
		{Kind: runner.HostFinished, Time: at(3), Host: withSteps(*odd, runner.StatusFailed, "cancelled\r\n", nil)},
		{Kind: runner.HostFinished, Time: at(3), Host: withSteps(*odd, runner.StatusFailed, "", nil)},
		{Kind: runner.HostFinished, Time: at(3), Host: withSteps(*odd, runner.StatusUnreachable, "", &transport.Error{Class: "refused", Message: "connection refused", Hint: "is WinRM on?"})},
		{Kind: runner.HostFinished, Time: at(3), Host: withSteps(*odd, runner.StatusSkipped, "", nil)},
		{Kind: runner.HostFinished, Time: at(3), Host: withSteps(*odd, runner.StatusSkipped, "not started: budget", nil)},
		{Kind: runner.HostStarted, Time: at(4), Host: &runner.HostResult{Name: "web-02", Batch: 1}},
		{Kind: runner.Stopping, Time: at(5), Reason: "failure budget spent\x1b]0;x"},
	}
}

// Every kind of plain line keeps its bytes (the golden file was written by
// the console before it stopped using fmt), plain and simulated.
func TestConsolePlainLinesOfEveryKind(t *testing.T) {
	t.Parallel()
	var all bytes.Buffer
	for _, opts := range []ConsoleOptions{{}, {Simulated: true}} {
		var buf bytes.Buffer
		c := NewConsole(&buf, opts)
		for _, e := range branchEvents() {
			c.Event(e)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		all.Write(buf.Bytes())
	}
	golden(t, "console/every-kind.txt", all.Bytes())
}

// The lines of a host of a fleet-scale run, and what they cost.
func TestConsoleHostLines(t *testing.T) {
	var buf bytes.Buffer
	c := NewConsole(&buf, ConsoleOptions{})
	for _, e := range hostEvents() {
		c.Event(e)
	}
	want := `web-01234: started (batch 1 of 1)
web-01234: step "step a" ok (exit 0, 640ms)
web-01234: step "step b" ok (exit 0, 640ms)
web-01234: step "step c" ok (exit 0, 640ms)
web-01234: ok (3 steps, 3s)
`
	if buf.String() != want {
		t.Errorf("console wrote\n%s\nwant\n%s", buf.String(), want)
	}
	if raceOn {
		return // allocations are counted without the race detector
	}
	evs := hostEvents()
	if n := testing.AllocsPerRun(100, func() {
		for _, e := range evs {
			c.Event(e)
		}
	}); n > 25 {
		t.Errorf("a host's events cost %v allocations, want at most 25", n)
	}
}
