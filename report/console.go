package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-runewidth"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/transport"
)

// ConsoleOptions say how the console looks.
type ConsoleOptions struct {
	// Terminal selects the live progress display; otherwise (CI, pipes)
	// the console writes plain lines, one per event.
	Terminal bool
	// NoColor turns colour off (cmd sets it from NO_COLOR). Plain lines
	// are never coloured.
	NoColor bool
	// Simulated labels every line as coming from a simulated fleet. Set
	// it whenever the fleet is known to be simulated: without it, labelling
	// starts at the first event of a host whose result says Simulated, so
	// the run's first lines go unlabelled.
	Simulated bool
	// Width is the width of the live display in columns when the writer
	// is not a terminal mpb can measure (a wrapper, a test's buffer); zero
	// means 80. On a real terminal mpb uses the terminal's width, and a
	// non-zero Width only caps the bar; leave it zero there.
	Width int
}

// Console is the runner.Sink people watch.
//
// Outside a terminal it writes plain lines, one per event, prefixed by the
// host name:
//
//	batch 1 of 3: 4 hosts
//	web-01: started (batch 1 of 3)
//	web-01: step "install patch" ok (exit 3010 reboot_required, 812ms)
//	web-02: step "install patch" failed (exit 5, 640ms): unexpected_exit: exit code 5, expected [0]
//	web-02: FAILED at step "install patch": unexpected_exit: exit code 5, expected [0]
//	web-03: unreachable: refused: connection refused
//	stopping: failure budget spent: 3 host(s) failed, max_fail allows 2: 14 hosts will not start, 2 still running
//
// It also writes "run started: N hosts in M batches" first, and when the
// failure budget is what bounds how many hosts run at once, says so on the
// next line ("at most 2 hosts at once: max_fail 1", see ConcurrencyNote;
// on a terminal too, and on the counters line). Step starts are not
// printed (a step's line comes when it ends). Batches are numbered "batch
// N of M" from 1, as everywhere people read them (BatchLabel).
//
// On a terminal it draws a live display with mpb instead, from RunStarted
// until Close: a bar of hosts done out of the total with the current batch
// and an ETA (time since the run started ÷ hosts done × hosts left, from
// the events' times), and below it the ok/failed/unreachable/skipped/
// running counters; lines for batches, retries, failed and unreachable
// hosts and stops scroll above it. mpb redraws every 150ms; the final
// frame is drawn by Close, after every line. Close must be called: it
// stops mpb's goroutines.
//
// With a simulated fleet the first line is SimulatedBanner and every line
// starts with SimulatedPrefix. Console writes nothing at RunFinished: the
// caller closes it and then writes the summary (WriteSummary), which
// therefore never interleaves with the display.
type Console struct {
	w    io.Writer
	opts ConsoleOptions

	// mu guards the state the display's decorators read from mpb's
	// goroutines; Event itself is called from one goroutine at a time.
	mu    sync.Mutex
	state consoleState

	// event-goroutine state
	bannerDone   bool
	sawSimulated bool
	started      map[string]bool // hosts that started
	progress     *mpb.Progress
	bar          *mpb.Bar
	closed       bool
	err          error
	// lines and buf are reused from event to event: the event's lines,
	// and the text of the line being written.
	lines []string
	buf   []byte
	// batchLabel is BatchLabel(labelBatch, labelBatches), kept for the
	// next host of the same batch.
	batchLabel               string
	labelBatch, labelBatches int
}

type consoleState struct {
	total, batches, batch                     int
	ok, failed, unreachable, skipped, running int
	runStart, last                            time.Time
	stopping                                  bool
	// concurrency is ConcurrencyNote's text, empty when the budget does
	// not bound the hosts in flight.
	concurrency string
}

func (s consoleState) done() int { return s.ok + s.failed + s.unreachable + s.skipped }

// NewConsole returns a console writing to w. Nothing is drawn and no
// goroutine starts before the run starts.
func NewConsole(w io.Writer, opts ConsoleOptions) *Console {
	return &Console{w: w, opts: opts, started: make(map[string]bool)}
}

func (c *Console) color() bool { return c.opts.Terminal && !c.opts.NoColor }

// Event implements runner.Sink.
func (c *Console) Event(e runner.Event) {
	if c.closed {
		return
	}
	if e.Host != nil && e.Host.Simulated {
		c.sawSimulated = true
	}
	sim := c.opts.Simulated || c.sawSimulated
	if sim && !c.bannerDone {
		c.bannerDone = true
		c.print(paint(c.color(), ansiBold, SimulatedBanner), true)
	}
	lines := c.update(e)
	if e.Kind == runner.RunStarted && c.opts.Terminal {
		c.startDisplay()
	}
	for _, l := range lines {
		c.print(l, sim)
	}
	if e.Kind == runner.RunStarted {
		c.mu.Lock()
		note := c.state.concurrency
		c.mu.Unlock()
		if note != "" {
			c.print(note, sim)
		}
	}
	if e.Kind == runner.HostFinished && c.bar != nil {
		c.bar.Increment()
	}
}

// update applies e to the counters and returns the lines it shows in the
// current mode (in c.lines, reused from event to event); lines that are
// not shown are not made.
func (c *Console) update(e runner.Event) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := &c.state
	st.last = e.Time
	plain := !c.opts.Terminal
	col := c.color()
	lines := c.lines[:0]
	switch e.Kind {
	case runner.RunStarted:
		st.total, st.batches, st.runStart = e.Hosts, e.Batches, e.Time
		st.concurrency = ConcurrencyNote(e.Concurrency, e.MaxFail)
		if plain {
			lines = append(lines, "run started: "+plural(e.Hosts, "host")+" in "+plural(e.Batches, "batch"))
		}
	case runner.BatchStarted:
		st.batch = e.Batch
		lines = append(lines, BatchLabel(e.Batch, st.batches)+": "+plural(e.Hosts, "host"))
	case runner.HostStarted:
		st.running++
		c.started[e.Host.Name] = true
		if plain {
			lines = append(lines, name(e.Host)+": started ("+c.label(e.Host.Batch, st.batches)+")")
		}
	case runner.StepRetrying:
		s := e.Step
		lines = append(lines, name(e.Host)+": step "+strconv.Quote(termLine(s.Name))+" attempt "+strconv.Itoa(s.Attempts)+
			" failed ("+stepProblem(s)+"); retrying in "+formatDuration(e.Delay))
	case runner.StepFinished:
		s := e.Step
		switch {
		case !plain: // a terminal shows no step lines
		case s.Status.Succeeded():
			lines = append(lines, name(e.Host)+": step "+strconv.Quote(termLine(s.Name))+" "+stepOK(s))
		default:
			lines = append(lines, name(e.Host)+": step "+strconv.Quote(termLine(s.Name))+" "+paint(col, ansiRed, "failed")+
				" ("+stepFacts(s)+"): "+stepProblem(s))
		}
	case runner.HostFinished:
		h := e.Host
		if c.started[h.Name] {
			st.running--
		}
		switch h.Status {
		case runner.StatusOK:
			st.ok++
		case runner.StatusFailed:
			st.failed++
		case runner.StatusUnreachable:
			st.unreachable++
		default:
			st.skipped++
		}
		if plain || h.Status == runner.StatusFailed || h.Status == runner.StatusUnreachable {
			lines = hostLines(lines, h, col)
		}
	case runner.Stopping:
		st.stopping = true
		notStarted := st.total - st.done() - st.running
		line := "stopping: " + termLine(e.Reason) + ": " + plural(notStarted, "host") + " will not start"
		if st.running > 0 {
			line += ", " + strconv.Itoa(st.running) + " still running"
		}
		lines = append(lines, paint(col, ansiYellow, line))
	}
	c.lines = lines
	return lines
}

// label is BatchLabel(batch, batches), made once for the hosts of a batch.
func (c *Console) label(batch, batches int) string {
	if c.batchLabel == "" || batch != c.labelBatch || batches != c.labelBatches {
		c.batchLabel, c.labelBatch, c.labelBatches = BatchLabel(batch, batches), batch, batches
	}
	return c.batchLabel
}

// name is the host name as printed at the start of its lines.
func name(h *runner.HostResult) string { return termLine(h.Name) }

// stepFacts is "exit 5, 640ms" or "2m3s" for a step that produced no code.
func stepFacts(s *runner.StepResult) string {
	var buf [3]string
	parts := buf[:0]
	if s.ExitCode != nil {
		parts = append(parts, "exit "+formatExit(*s.ExitCode))
	}
	if s.Attempts > 1 {
		parts = append(parts, "attempt "+strconv.Itoa(s.Attempts))
	}
	parts = append(parts, formatDuration(s.Duration()))
	return strings.Join(parts, ", ")
}

// stepOK is "ok (exit 3010 reboot_required, rebooted, 812ms)", or for a
// file step "ok (2 files, 3.1 KiB sent, 812ms)" or "unchanged (1 file,
// 40ms)".
func stepOK(s *runner.StepResult) string {
	var buf [5]string
	parts := buf[:0]
	if s.ExitCode != nil {
		exit := "exit " + formatExit(*s.ExitCode)
		if s.Outcome != "" && s.Outcome != "ok" {
			exit += " " + s.Outcome
		}
		parts = append(parts, exit)
	}
	if s.Kind.IsFile() {
		parts = append(parts, filesSummary(s))
	}
	if s.Rebooted {
		parts = append(parts, "rebooted")
	}
	if s.Attempts > 1 {
		parts = append(parts, "attempt "+strconv.Itoa(s.Attempts))
	}
	parts = append(parts, formatDuration(s.Duration()))
	status := "ok"
	if s.Status == runner.StatusUnchanged {
		status = "unchanged"
	}
	return status + " (" + strings.Join(parts, ", ") + ")"
}

// stepProblem is "class: message" of a failed attempt.
func stepProblem(s *runner.StepResult) string {
	if s.Err != nil {
		return errorText(s.Err)
	}
	if s.ExitCode != nil {
		return "exit code " + formatExit(*s.ExitCode) + ", expected " + formatCodes(s.Expected)
	}
	return "failed"
}

// hostLines appends the lines of a finished host to lines.
func hostLines(lines []string, h *runner.HostResult, col bool) []string {
	n := name(h)
	var hint *transport.Error
	switch h.Status {
	case runner.StatusOK:
		if h.Reason != "" {
			lines = append(lines, n+": "+paint(col, ansiGreen, "ok")+" ("+termLine(h.Reason)+")")
		} else {
			ignored := ""
			if ig := h.IgnoredFailures(); ig > 0 {
				ignored = ", " + IgnoredNote(ig)
			}
			lines = append(lines, n+": "+paint(col, ansiGreen, "ok")+" ("+plural(len(h.Steps), "step")+", "+formatDuration(hostDuration(h))+ignored+")")
		}
	case runner.StatusUnreachable:
		lines = append(lines, n+": "+paint(col, ansiYellow, "unreachable")+": "+hostProblem(h))
		hint = h.Err
	case runner.StatusFailed:
		if s := h.FailedStep(); s != nil {
			lines = append(lines, n+": "+paint(col, ansiRed, "FAILED")+" at step "+strconv.Quote(termLine(s.Name))+": "+stepProblem(s))
			hint = s.Err
		} else {
			lines = append(lines, n+": "+paint(col, ansiRed, "FAILED")+": "+hostProblem(h))
			hint = h.Err
		}
	default:
		reason := h.Reason
		if reason == "" {
			reason = "not run"
		}
		lines = append(lines, n+": "+string(h.Status)+": "+termLine(reason))
	}
	if hint != nil && hint.Hint != "" {
		lines = append(lines, n+":   hint: "+termLine(hint.Hint))
	}
	return lines
}

func hostProblem(h *runner.HostResult) string {
	switch {
	case h.Err != nil:
		return errorText(h.Err)
	case h.Reason != "":
		return termLine(h.Reason)
	}
	return "no reason given"
}

// print writes one line: above the live display when there is one, else
// straight to the writer.
func (c *Console) print(line string, sim bool) {
	b := c.buf[:0]
	if sim {
		b = append(b, SimulatedPrefix...)
	}
	b = append(b, line...)
	b = append(b, '\n')
	c.buf = b
	var err error
	if c.progress != nil {
		_, err = c.progress.Write(b) // returns once mpb has copied the line
	} else {
		_, err = c.w.Write(b)
	}
	if err != nil && c.err == nil {
		c.err = fmt.Errorf("console: %w", err)
	}
}

// startDisplay starts mpb with one bar of hosts done out of the total and
// a line of counters below it.
func (c *Console) startDisplay() {
	if c.progress != nil {
		return
	}
	c.mu.Lock()
	total := c.state.total
	c.mu.Unlock()
	// The caller says w is a terminal: redraw in place even when mpb cannot
	// see a terminal behind w (a wrapper, a test's buffer). mpb redraws on
	// its own clock (every 150ms) and once more when the bar completes.
	c.progress = mpb.New(
		mpb.WithOutput(c.w),
		mpb.ForceTTY(),
		mpb.WithAutoRefresh(),
		mpb.ContainerOptional(mpb.WithWidth(c.opts.Width), c.opts.Width > 0),
	)
	label := "hosts"
	if c.opts.Simulated || c.sawSimulated {
		label = strings.TrimSpace(SimulatedPrefix) + " hosts"
	}
	// The bar starts without a total so that it never completes on its
	// own: it ends, and mpb draws its final frame, only in Close, after
	// every line printed above it.
	c.bar = c.progress.New(0, mpb.BarStyle(),
		mpb.PrependDecorators(
			decor.Name(label+" "),
			decor.Any(func(decor.Statistics) string {
				c.mu.Lock()
				defer c.mu.Unlock()
				return fmt.Sprintf("%d/%d", c.state.done(), c.state.total)
			}),
		),
		mpb.AppendDecorators(
			decor.Any(func(decor.Statistics) string {
				c.mu.Lock()
				defer c.mu.Unlock()
				return fmt.Sprintf("%s  %s", BatchLabel(c.state.batch, max(c.state.batches, 1)), c.state.eta())
			}),
		),
		mpb.BarBtmExtender(mpb.BarFillerFunc(func(w io.Writer, st decor.Statistics) error {
			c.mu.Lock()
			line := c.state.counters(c.color())
			c.mu.Unlock()
			if st.AvailableWidth > 0 && runewidth.StringWidth(stripColor(line)) > st.AvailableWidth {
				line = runewidth.Truncate(stripColor(line), st.AvailableWidth, "…")
			}
			_, err := io.WriteString(w, line+"\n")
			return err
		})),
	)
	c.bar.SetTotal(int64(total), false)
}

// counters is the line under the bar.
func (s consoleState) counters(col bool) string {
	line := fmt.Sprintf("ok %s  failed %s  unreachable %s  skipped %d  running %d",
		paint(col && s.ok > 0, ansiGreen, fmt.Sprint(s.ok)),
		paint(col && s.failed > 0, ansiRed, fmt.Sprint(s.failed)),
		paint(col && s.unreachable > 0, ansiYellow, fmt.Sprint(s.unreachable)),
		s.skipped, s.running)
	if s.concurrency != "" {
		line += " (" + s.concurrency + ")"
	}
	return line
}

// eta estimates the time left from the hosts done so far and the times
// the runner stamped on its events, so it is exact under a test clock.
func (s consoleState) eta() string {
	done := s.done()
	switch {
	case s.stopping:
		if s.running == 0 {
			return "ETA 0s"
		}
		return "stopping"
	case done >= s.total:
		return "ETA 0s"
	case done == 0 || s.runStart.IsZero() || !s.last.After(s.runStart):
		return "ETA --"
	}
	elapsed := s.last.Sub(s.runStart)
	left := time.Duration(float64(elapsed) / float64(done) * float64(s.total-done))
	return "ETA " + formatDuration(left.Round(time.Second))
}

// stripColor removes the colour codes paint adds.
func stripColor(s string) string {
	if !strings.Contains(s, "\x1b[") {
		return s
	}
	for _, code := range []string{ansiReset, ansiBold, ansiRed, ansiGreen, ansiYellow, ansiDim} {
		s = strings.ReplaceAll(s, code, "")
	}
	return s
}

// Close ends the live display (drawing its final state, then stopping
// mpb's goroutines) and returns the first error met writing. It is safe
// to call more than once; events after Close are ignored.
func (c *Console) Close() error {
	if c.closed {
		return c.err
	}
	c.closed = true
	if c.progress != nil {
		c.mu.Lock()
		finished := c.state.done() >= c.state.total
		c.mu.Unlock()
		if finished {
			c.bar.SetTotal(-1, true)
		} else {
			// A run cut short (or a caller closing early): keep the bar
			// where it stopped.
			c.bar.Abort(false)
		}
		c.progress.Wait()
		if c.progress.Error != nil && c.err == nil {
			c.err = fmt.Errorf("console: %w", c.progress.Error)
		}
		c.progress = nil
	}
	return c.err
}

var _ runner.Sink = (*Console)(nil)
