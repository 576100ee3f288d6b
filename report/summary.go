package report

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/transport"
)

// SummaryOptions say how the summary looks.
type SummaryOptions struct {
	// Width wraps the last column of the tables (HINT, MESSAGE) so lines
	// fit in this many columns; zero or less never wraps. The last column
	// keeps at least 30 columns whatever the width.
	Width int
	// Color colours the headings (terminals without NO_COLOR only).
	Color bool
	// Simulated labels every line as coming from a simulated fleet; a
	// result with simulated hosts is labelled either way.
	Simulated bool
	// Compact leaves out the tables with a row per host (FAILED,
	// UNREACHABLE, IGNORED FAILURES) and lists at most MaxCompactGroups
	// failure groups, so the summary's length does not grow with the
	// fleet: what fleetrun run prints after its grouped output.
	Compact bool
	// Unlabelled leaves the labelling of a simulated fleet to the caller,
	// who writes the summary as part of a longer text and labels all of it
	// with LabelSimulated.
	Unlabelled bool
}

// MaxCompactGroups is how many failure groups a compact summary lists.
const MaxCompactGroups = 10

// minLastColumn is the narrowest the wrapped last column gets.
const minLastColumn = 20

// maxSkippedNames is how many host names a group of skipped hosts lists.
const maxSkippedNames = 5

// maxHostRows is how many hosts a per-host table (FAILED, UNREACHABLE,
// IGNORED FAILURES) lists. A fleet of 2,000 failures must read as the few
// causes behind them, not as 2,000 lines: past this many rows the table
// ends with a line counting the hosts it left out, which FAILURES BY
// CAUSE still counts and the JSON report and per-host logs still hold.
const maxHostRows = 20

// WriteSummary writes the end-of-run summary: a counts line ("12 hosts: 9
// ok, 2 failed, 1 unreachable, 0 skipped"; "9 ok (1 failure ignored:
// continue_on_error)" when steps failed under continue_on_error on a host
// that went on, which stays ok), the run's status with its stop
// reason and duration, what file steps moved (when any did), then failures
// first:
//
//   - FAILED: a table of HOST, STEP, EXIT, EXPECTED, CLASS and HINT for
//     every failed host, at the step that failed ("connect" when the host
//     failed before a step could). When an error has no hint, HINT shows
//     its message instead, except for unexpected exit codes, whose message
//     would only repeat EXIT and EXPECTED.
//   - UNREACHABLE: HOST, CLASS, MESSAGE and HINT.
//   - IGNORED FAILURES: steps that failed with continue_on_error on hosts
//     that went on (same columns as FAILED).
//   - SKIPPED: hosts that did not run, grouped by reason, largest group
//     first, with the first few names.
//   - FAILURES BY CAUSE: the failed and unreachable hosts grouped by
//     cause (see FailureGroups), largest group first: the count, class,
//     exit code and step, the cause, up to five host names, the hint and
//     the last few output lines of the group's first host.
//
// The per-host tables list at most maxHostRows hosts each, then say how
// many more there are.
//
// Sections with nothing to show are left out. Long hints wrap within their
// column (see SummaryOptions.Width). Hosts appear in inventory order.
func WriteSummary(w io.Writer, r *runner.Result, opts SummaryOptions) error {
	var b bytes.Buffer
	col := opts.Color
	s := r.Summarize()
	counts := fmt.Sprintf("%s: %d ok%s, %d failed, %d unreachable, %d skipped", plural(s.Hosts, "host"), s.OK, ignoredCounts(r), s.Failed, s.Unreachable, s.Skipped)
	b.WriteString(paint(col, ansiBold, counts) + "\n")
	b.WriteString(runLine(r) + "\n")
	if line := filesLine(r); line != "" {
		b.WriteString(line + "\n")
	}

	var failed, ignored [][]string
	var unreachable [][]string
	for _, h := range r.Hosts {
		switch h.Status {
		case runner.StatusFailed:
			failed = append(failed, failedRow(h, h.FailedStep()))
		case runner.StatusUnreachable:
			unreachable = append(unreachable, unreachableRow(h))
		case runner.StatusOK:
			for _, st := range h.Steps {
				if st.Status == runner.StatusFailed {
					ignored = append(ignored, failedRow(h, st))
				}
			}
		}
	}
	simulated := opts.Simulated || AnySimulated(r)
	width := opts.Width
	if simulated && width > 0 {
		width = max(width-len(SimulatedPrefix), 1)
	}
	failedHeader := []string{"HOST", "STEP", "EXIT", "EXPECTED", "CLASS", "HINT"}
	if opts.Compact {
		failed, unreachable, ignored = nil, nil, nil
	}
	if len(failed) > 0 {
		section(&b, col, ansiRed, fmt.Sprintf("FAILED (%d)", len(failed)))
		boundedTable(&b, failedHeader, failed, width, "failed hosts", true)
	}
	if len(unreachable) > 0 {
		section(&b, col, ansiYellow, fmt.Sprintf("UNREACHABLE (%d)", len(unreachable)))
		boundedTable(&b, []string{"HOST", "CLASS", "MESSAGE", "HINT"}, unreachable, width, "unreachable hosts", true)
	}
	if len(ignored) > 0 {
		section(&b, col, ansiYellow, fmt.Sprintf("IGNORED FAILURES (%d, continue_on_error)", len(ignored)))
		boundedTable(&b, failedHeader, ignored, width, "ignored failures", false)
	}
	if s.Skipped > 0 {
		section(&b, col, ansiDim, fmt.Sprintf("SKIPPED (%d)", s.Skipped))
		skippedGroups(&b, r)
	}
	if groups := FailureGroups(r); len(groups) > 0 {
		section(&b, col, ansiRed, fmt.Sprintf("FAILURES BY CAUSE (%s)", plural(len(groups), "group")))
		shown := groups
		if opts.Compact && len(shown) > MaxCompactGroups {
			shown = shown[:MaxCompactGroups]
		}
		failureGroups(&b, shown)
		if more := groups[len(shown):]; len(more) > 0 {
			n := 0
			for _, g := range more {
				n += g.Count
			}
			fmt.Fprintf(&b, "\n%s on %s not shown; every group is in the JSON report (--report, --output json)\n", plural(len(more), "more group"), plural(n, "host"))
		}
	}

	out := b.Bytes()
	if simulated && !opts.Unlabelled {
		out = LabelSimulated(out)
	}
	if _, err := w.Write(out); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}

// ignoredCounts is what the counts line adds to its ok hosts when steps
// failed on some of them under continue_on_error: " (1 failure ignored:
// continue_on_error)", or " (3 failures ignored on 2 hosts:
// continue_on_error)"; empty when none did.
func ignoredCounts(r *runner.Result) string {
	failures, hosts := 0, 0
	for _, h := range r.Hosts {
		if n := h.IgnoredFailures(); n > 0 {
			failures += n
			hosts++
		}
	}
	switch hosts {
	case 0:
		return ""
	case 1:
		return " (" + IgnoredNote(failures) + ")"
	}
	return fmt.Sprintf(" (%s ignored on %d hosts: continue_on_error)", plural(failures, "failure"), hosts)
}

// runLine is "run failed in 4m12s" or "run aborted after 1m3s: REASON".
func runLine(r *runner.Result) string {
	status := string(r.Status)
	if status == "" {
		status = "unfinished"
	}
	line := "run " + status
	if d := runDuration(r); d > 0 {
		if r.Status == runner.StatusAborted {
			line += " after " + formatDuration(d)
		} else {
			line += " in " + formatDuration(d)
		}
	}
	if r.StopReason != "" {
		line += ": " + termLine(r.StopReason)
	}
	return line
}

func section(b *bytes.Buffer, col bool, color, title string) {
	b.WriteString("\n" + paint(col, color, title) + "\n")
}

// failedRow is HOST, STEP, EXIT, EXPECTED, CLASS, HINT for a failed step,
// or for a host that failed before any step did (s == nil).
func failedRow(h *runner.HostResult, s *runner.StepResult) []string {
	if s == nil {
		class, hint := "-", "-"
		if h.Err != nil {
			class, hint = string(h.Err.Class), hintOrMessage(h.Err)
		} else if h.Reason != "" {
			hint = termLine(h.Reason)
		}
		return []string{termLine(h.Name), junitConnectCase, "-", "-", class, hint}
	}
	exit := "-"
	if s.ExitCode != nil {
		exit = formatExit(*s.ExitCode)
	}
	class, hint := "-", "-"
	if s.Err != nil {
		class, hint = string(s.Err.Class), hintOrMessage(s.Err)
	}
	expected := formatCodes(s.Expected)
	if s.Kind.IsFile() {
		expected = "-" // file steps have no exit codes
	}
	return []string{termLine(h.Name), termLine(s.Name), exit, expected, class, hint}
}

// filesLine is "files: 3 sent (9.3 KiB), 6 unchanged, 3 fetched (33 B)"
// over every host's file steps, or "" when no file step moved or found a
// file.
func filesLine(r *runner.Result) string {
	var sent, downloaded, unchanged, fetched int
	var sentBytes, fetchedBytes int64
	for _, h := range r.Hosts {
		for _, st := range h.Steps {
			if st.Status == runner.StatusPlanned {
				continue
			}
			for _, f := range st.Files {
				switch {
				case f.Unchanged:
					unchanged++
				case st.Kind == "fetch":
					fetched++
					fetchedBytes += f.Size
				case st.Kind == "download":
					downloaded++
				default:
					sent++
					sentBytes += f.Sent
				}
			}
		}
	}
	var parts []string
	if sent > 0 {
		parts = append(parts, fmt.Sprintf("%d sent (%s)", sent, FormatBytes(sentBytes)))
	}
	if downloaded > 0 {
		parts = append(parts, fmt.Sprintf("%d downloaded by the hosts", downloaded))
	}
	if unchanged > 0 {
		parts = append(parts, fmt.Sprintf("%d unchanged", unchanged))
	}
	if fetched > 0 {
		parts = append(parts, fmt.Sprintf("%d fetched (%s)", fetched, FormatBytes(fetchedBytes)))
	}
	if len(parts) == 0 {
		return ""
	}
	return "files: " + strings.Join(parts, ", ")
}

// hintOrMessage is what the HINT column shows (see WriteSummary).
func hintOrMessage(te *transport.Error) string {
	switch {
	case te.Hint != "":
		return termLine(te.Hint)
	case te.Class == transport.ClassUnexpectedExit || te.Message == "":
		return "-"
	}
	return termLine(te.Message)
}

func unreachableRow(h *runner.HostResult) []string {
	if h.Err == nil {
		return []string{termLine(h.Name), "-", termLine(h.Reason), "-"}
	}
	class := string(h.Err.Class)
	if h.Err.Code != 0 {
		class += fmt.Sprintf(" (%d)", h.Err.Code)
	}
	hint := "-"
	if h.Err.Hint != "" {
		hint = termLine(h.Err.Hint)
	}
	msg := termLine(h.Err.Message)
	if msg == "" {
		msg = "-"
	}
	return []string{termLine(h.Name), class, msg, hint}
}

// table writes header and rows aligned with tabwriter, wrapping the cells
// of the last column and, when both are long, the one before it.
// boundedTable is table with at most maxHostRows rows, then a line saying
// how many rows (what) were left out and where to find them; grouped says
// FAILURES BY CAUSE counts them.
func boundedTable(b *bytes.Buffer, header []string, rows [][]string, width int, what string, grouped bool) {
	if len(rows) <= maxHostRows {
		table(b, header, rows, width)
		return
	}
	table(b, header, rows[:maxHostRows], width)
	where := "every one is in the JSON report and the per-host logs"
	if grouped {
		where = "FAILURES BY CAUSE below counts them; " + where
	}
	fmt.Fprintf(b, "... and %d more %s (%s)\n", len(rows)-maxHostRows, what, where)
}

func table(b *bytes.Buffer, header []string, rows [][]string, width int) {
	n := len(header)
	widths := make([]int, n)
	for _, row := range append([][]string{header}, rows...) {
		for i, cell := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	const pad = 2
	// Columns that wrap: the last one, and for the unreachable table the
	// message before it, sharing what the fixed columns leave.
	wrapCols := 1
	if header[n-2] == "MESSAGE" {
		wrapCols = 2
	}
	limits := make([]int, n)
	if width > 0 {
		fixed := 0
		for i := range n - wrapCols {
			fixed += widths[i] + pad
		}
		room := width - fixed - pad*(wrapCols-1)
		each := max(room/wrapCols, minLastColumn)
		for i := n - wrapCols; i < n; i++ {
			limits[i] = each
		}
	}
	tw := tabwriter.NewWriter(b, 0, 8, pad, ' ', 0)
	writeRow := func(cells []string) {
		wrapped := make([][]string, n)
		height := 1
		for i, cell := range cells {
			if limits[i] > 0 {
				wrapped[i] = wrap(cell, limits[i])
			} else {
				wrapped[i] = []string{cell}
			}
			height = max(height, len(wrapped[i]))
		}
		for line := range height {
			parts := make([]string, n)
			for i := range n {
				if line < len(wrapped[i]) {
					parts[i] = wrapped[i][line]
				}
			}
			// Keep every cell, even empty ones: a line with fewer cells
			// would end tabwriter's column block and misalign the rows.
			fmt.Fprintln(tw, strings.Join(parts, "\t"))
		}
	}
	writeRow(header)
	for _, row := range rows {
		writeRow(row)
	}
	_ = tw.Flush() // tw writes to a bytes.Buffer, which does not fail
	trimTrailingSpaces(b)
}

// wrap breaks s into lines of at most limit runes, at spaces when it can.
func wrap(s string, limit int) []string {
	var lines []string
	for utf8.RuneCountInString(s) > limit {
		cut := byteIndexOfRune(s, limit)
		if sp := strings.LastIndexByte(s[:cut+1], ' '); sp > 0 {
			lines = append(lines, strings.TrimRight(s[:sp], " "))
			s = strings.TrimLeft(s[sp+1:], " ")
			continue
		}
		lines = append(lines, s[:cut])
		s = s[cut:]
	}
	return append(lines, s)
}

// byteIndexOfRune is the byte offset of the n-th rune of s.
func byteIndexOfRune(s string, n int) int {
	i := 0
	for j := range s {
		if i == n {
			return j
		}
		i++
	}
	return len(s)
}

// trimTrailingSpaces removes the padding tabwriter leaves before line ends
// (empty trailing cells of wrapped rows).
func trimTrailingSpaces(b *bytes.Buffer) {
	lines := bytes.Split(b.Bytes(), []byte("\n"))
	for i, l := range lines {
		lines[i] = bytes.TrimRight(l, " ")
	}
	joined := bytes.Join(lines, []byte("\n"))
	b.Reset()
	b.Write(joined)
}

// skippedGroups lists skipped hosts by reason, largest group first.
func skippedGroups(b *bytes.Buffer, r *runner.Result) {
	type group struct {
		reason string
		hosts  []string
	}
	var groups []*group
	byReason := map[string]*group{}
	for _, h := range r.Hosts {
		if h.Status != runner.StatusSkipped {
			continue
		}
		reason := termLine(h.Reason)
		if reason == "" {
			reason = "no reason given"
		}
		g, ok := byReason[reason]
		if !ok {
			g = &group{reason: reason}
			byReason[reason] = g
			groups = append(groups, g)
		}
		g.hosts = append(g.hosts, termLine(h.Name))
	}
	sort.SliceStable(groups, func(i, j int) bool { return len(groups[i].hosts) > len(groups[j].hosts) })
	for _, g := range groups {
		names := g.hosts
		more := ""
		if len(names) > maxSkippedNames {
			more = fmt.Sprintf(" and %d more", len(names)-maxSkippedNames)
			names = names[:maxSkippedNames]
		}
		fmt.Fprintf(b, "  %s: %s\n    %s%s\n", plural(len(g.hosts), "host"), g.reason, strings.Join(names, ", "), more)
	}
}

// LabelSimulated labels text written about a simulated fleet: the banner
// first, then SimulatedPrefix before every line.
func LabelSimulated(text []byte) []byte {
	return prefixLines(append([]byte(SimulatedBanner+"\n"), text...), SimulatedPrefix)
}

// prefixLines puts prefix before every line of text.
func prefixLines(text []byte, prefix string) []byte {
	var out bytes.Buffer
	for line := range bytes.Lines(text) {
		if len(bytes.TrimSpace(line)) == 0 {
			out.WriteString(strings.TrimRight(prefix, " "))
		} else {
			out.WriteString(prefix)
		}
		out.Write(line)
	}
	return out.Bytes()
}

// groupTailLines is how many lines of a group's output tail the summary
// shows.
const groupTailLines = 5

// failureGroups writes one block per group:
//
//	3 hosts: unexpected_exit, exit 3, step "install"
//	  cause: <host>: disk C: has <n> MB free
//	  hosts: web-01, web-04, web-07
//	  hint:  see the output
//	  output of web-01:
//	    disk C: has 512 MB free
func failureGroups(b *bytes.Buffer, groups []FailureGroup) {
	for i, g := range groups {
		if i > 0 {
			b.WriteString("\n")
		}
		head := plural(g.Count, "host") + ": " + termLine(g.Class)
		if g.ExitCode != nil {
			head += ", exit " + formatExit(*g.ExitCode)
		}
		head += fmt.Sprintf(", step %q", termLine(g.Step))
		b.WriteString(head + "\n")
		cause := termLine(g.Cause)
		if cause == "" {
			cause = "-"
		}
		b.WriteString("  cause: " + cause + "\n")
		names := make([]string, 0, maxSkippedNames)
		for _, n := range g.Hosts[:min(len(g.Hosts), maxSkippedNames)] {
			names = append(names, termLine(n))
		}
		hosts := strings.Join(names, ", ")
		if more := len(g.Hosts) - len(names); more > 0 {
			hosts += fmt.Sprintf(" and %d more", more)
		}
		b.WriteString("  hosts: " + hosts + "\n")
		if g.Hint != "" {
			b.WriteString("  hint:  " + termLine(g.Hint) + "\n")
		}
		if g.Tail != "" {
			lines := strings.Split(g.Tail, "\n")
			lines = lines[max(len(lines)-groupTailLines, 0):]
			b.WriteString("  output of " + termLine(g.Sample) + ":\n")
			for _, l := range lines {
				b.WriteString("    " + termLine(l) + "\n")
			}
		}
	}
}
