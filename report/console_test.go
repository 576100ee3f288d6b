package report

import (
	"bytes"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/fleetrun/fleetrun/runner"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestConsolePlainLines(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		sc   *scenario
		opts ConsoleOptions
	}{
		{"rollout", rolloutScenario(), ConsoleOptions{}},
		{"rollout-simulated", rolloutScenario(), ConsoleOptions{Simulated: true}},
		{"hostile-simulated-host", hostileScenario(), ConsoleOptions{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			c := NewConsole(&buf, tt.opts)
			tt.sc.replay(c, nil)
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			golden(t, "console/"+tt.name+".txt", buf.Bytes())
			if strings.Contains(buf.String(), "\x1b") {
				t.Errorf("plain lines hold an escape sequence:\n%q", buf.String())
			}
			// Every line from the banner on is labelled; without
			// Options.Simulated the banner comes with the first simulated
			// host.
			out := buf.String()
			banner := strings.Index(out, SimulatedPrefix+SimulatedBanner+"\n")
			switch {
			case tt.opts.Simulated && banner != 0:
				t.Errorf("output does not start with the simulated banner")
			case AnySimulated(tt.sc.res) && banner < 0:
				t.Errorf("output of a simulated host has no banner")
			}
			for i, l := range strings.SplitAfter(out, "\n") {
				labelled := strings.HasPrefix(l, SimulatedPrefix)
				if want := banner >= 0 && strings.Index(out, l) >= banner; l != "" && labelled != want {
					t.Errorf("line %d %q: simulated label = %v, want %v", i, l, labelled, want)
				}
			}
		})
	}
}

var (
	counterLine = regexp.MustCompile(`skipped [0-9]+  running [0-9]+`)
	sgr         = regexp.MustCompile(`\x1b\[[0-9;]*m`)
	cursorUp    = regexp.MustCompile(`\x1b\[[0-9]+A\x1b\[J`)
	anyEscape   = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)
)

// frameWriter is a buffer that signals each frame mpb draws.
type frameWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	frames chan struct{}
}

func (w *frameWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if counterLine.Match(p) {
		select {
		case w.frames <- struct{}{}:
		default:
		}
	}
	return w.buf.Write(p)
}

func (w *frameWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestConsoleTerminal drives the live display through mpb into a buffer.
// Halfway through the run it waits for mpb to draw a frame, so the output
// holds a redraw; frames are drawn on mpb's clock, so only the final frame
// is asserted: it must follow the last redraw sequence, hold the final
// counts and end the output cleanly.
func TestConsoleTerminal(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	tests := []struct {
		name       string
		sc         *scenario
		opts       ConsoleOptions
		finalLines []string
	}{
		{
			name: "colour", sc: rolloutScenario(), opts: ConsoleOptions{Terminal: true, Width: 100},
			finalLines: []string{
				"hosts 7/7 [===================================================================] batch 2 of 3  ETA 0s",
				"ok \x1b[32m2\x1b[0m  failed \x1b[31m2\x1b[0m  unreachable \x1b[33m1\x1b[0m  skipped 2  running 0",
			},
		},
		{
			name: "no colour, simulated", sc: rolloutScenario(), opts: ConsoleOptions{Terminal: true, NoColor: true, Simulated: true, Width: 80},
			finalLines: []string{
				"[simulated] hosts 7/7 [===================================] batch 2 of 3  ETA 0s",
				"ok 2  failed 2  unreachable 1  skipped 2  running 0",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := &frameWriter{frames: make(chan struct{}, 1)}
			c := NewConsole(buf, tt.opts)
			half := len(tt.sc.actions) / 2
			first, rest := *tt.sc, *tt.sc
			first.actions, rest.actions = tt.sc.actions[:half], tt.sc.actions[half:]
			first.replay(c, nil)
			select {
			case <-buf.frames:
			case <-time.After(10 * time.Second):
				t.Fatal("mpb drew no frame within 10s")
			}
			rest.replay(c, nil)
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if err := c.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			out := buf.String()
			if !cursorUp.MatchString(out) {
				t.Errorf("output holds no redraw: %q", out)
			}
			if !strings.HasSuffix(out, "\n") {
				t.Fatalf("output does not end with a newline: %q", out)
			}
			// The final frame is what follows the last redraw sequence,
			// after any lines printed above it.
			final := out
			if loc := cursorUp.FindAllStringIndex(out, -1); len(loc) > 0 {
				final = out[loc[len(loc)-1][1]:]
			}
			lines := strings.Split(strings.TrimSuffix(final, "\n"), "\n")
			if len(lines) < 2 {
				t.Fatalf("final frame has %d lines: %q", len(lines), final)
			}
			got := lines[len(lines)-2:]
			for i := range got {
				if got[i] != tt.finalLines[i] {
					t.Errorf("final frame line %d =\n%q, want\n%q", i, got[i], tt.finalLines[i])
				}
			}
			if anyEscape.MatchString(stripSGR(final)) {
				t.Errorf("final frame holds cursor movements: %q", final)
			}
			for _, want := range []string{"batch 2 of 3: 3 hosts", "web-02: ", "FAILED", "web-03: ", "unreachable", "stopping: " + budgetReason} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q", want)
				}
			}
			for _, notWant := range []string{"web-01: started", `step "stop service" ok`} {
				if strings.Contains(out, notWant) {
					t.Errorf("terminal output holds the plain-only line %q", notWant)
				}
			}
			if tt.opts.NoColor && sgr.MatchString(out) {
				t.Errorf("NoColor output holds colour: %q", out)
			}
			if !tt.opts.NoColor && !strings.Contains(out, ansiRed+"FAILED"+ansiReset) {
				t.Errorf("colour output does not colour FAILED")
			}
			if tt.opts.Simulated && !strings.HasPrefix(out, SimulatedPrefix+SimulatedBanner+"\n") {
				t.Errorf("simulated output does not start with the banner: %.80q", out)
			}
		})
	}
}

func TestConsoleTerminalClosesARunCutShort(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	sc := rolloutScenario()
	// Deliver only up to the first host finishing, as if the caller gave
	// up on the run.
	for i, a := range sc.actions {
		if a.ev != nil && a.ev.Kind == runner.HostFinished {
			sc.actions = sc.actions[:i+1]
			break
		}
	}
	var buf bytes.Buffer
	c := NewConsole(&buf, ConsoleOptions{Terminal: true, NoColor: true, Width: 80})
	sc.replay(c, nil)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if want := "ok 0  failed 0  unreachable 1  skipped 0  running 2\n"; !strings.HasSuffix(buf.String(), want) {
		t.Errorf("output does not end with the counters at the cut:\n%q", buf.String())
	}
	c.Event(runner.Event{Kind: runner.HostStarted, Host: &runner.HostResult{Name: "late"}})
	if strings.Contains(buf.String(), "late") {
		t.Error("an event after Close was printed")
	}
}

func TestConsoleCloseWithoutARun(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	for _, opts := range []ConsoleOptions{{}, {Terminal: true}} {
		var buf bytes.Buffer
		c := NewConsole(&buf, opts)
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if buf.Len() != 0 {
			t.Errorf("console %+v wrote %q without a run", opts, buf.String())
		}
	}
}

func TestConsoleRunWithoutHosts(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	var buf bytes.Buffer
	c := NewConsole(&buf, ConsoleOptions{Terminal: true, NoColor: true, Width: 60})
	c.Event(runner.Event{Kind: runner.RunStarted})
	c.Event(runner.Event{Kind: runner.RunFinished, Result: &runner.Result{Status: runner.StatusOK}})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(buf.String(), "ok 0  failed 0  unreachable 0  skipped 0  running 0\n") {
		t.Errorf("output = %q", buf.String())
	}
}

func stripSGR(s string) string { return sgr.ReplaceAllString(s, "") }

func BenchmarkConsolePlain(b *testing.B) {
	sc := rolloutScenario()
	b.ReportAllocs()
	for b.Loop() {
		var buf bytes.Buffer
		c := NewConsole(&buf, ConsoleOptions{})
		sc.replay(c, nil)
		if err := c.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// With max_fail 1 at most two hosts run at once whatever forks says; the
// console says so when the budget, not forks or the batch, is the bound.
func TestConsoleSaysWhenTheBudgetBoundsConcurrency(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	start := func(c runner.Concurrency, maxFail int) []runner.Event {
		return []runner.Event{
			{Kind: runner.RunStarted, Hosts: 60, Batches: 1, Concurrency: c, MaxFail: maxFail},
			{Kind: runner.BatchStarted, Batch: 0, Hosts: 60},
		}
	}
	tests := []struct {
		name   string
		events []runner.Event
		want   string
	}{
		{"max_fail 1 under forks 50", start(runner.Concurrency{Hosts: 2, LimitedBy: runner.LimitedByMaxFail}, 1),
			"run started: 60 hosts in 1 batch\nat most 2 hosts at once: max_fail 1\nbatch 1 of 1: 60 hosts\n"},
		{"forks as the bound", start(runner.Concurrency{Hosts: 50, LimitedBy: runner.LimitedByForks}, 60),
			"run started: 60 hosts in 1 batch\nbatch 1 of 1: 60 hosts\n"},
		{"no budget", start(runner.Concurrency{Hosts: 50, LimitedBy: runner.LimitedByForks}, -1),
			"run started: 60 hosts in 1 batch\nbatch 1 of 1: 60 hosts\n"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		c := NewConsole(&buf, ConsoleOptions{})
		for _, e := range tt.events {
			c.Event(e)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if buf.String() != tt.want {
			t.Errorf("%s: console wrote\n%q, want\n%q", tt.name, buf.String(), tt.want)
		}
	}

	// On a terminal the line scrolls above the display and the counters
	// under the bar repeat it.
	var buf bytes.Buffer
	c := NewConsole(&buf, ConsoleOptions{Terminal: true, NoColor: true, Width: 120})
	c.Event(runner.Event{Kind: runner.RunStarted, Concurrency: runner.Concurrency{Hosts: 2, LimitedBy: runner.LimitedByMaxFail}, MaxFail: 1})
	c.Event(runner.Event{Kind: runner.RunFinished, Result: &runner.Result{Status: runner.StatusOK}})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "at most 2 hosts at once: max_fail 1\n") ||
		!strings.HasSuffix(out, "ok 0  failed 0  unreachable 0  skipped 0  running 0 (at most 2 hosts at once: max_fail 1)\n") {
		t.Errorf("terminal output = %q", out)
	}
}
