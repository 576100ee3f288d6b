package views

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fleetrun/fleetrun/report"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/transport"
)

// Bounds of RunText: however large the fleet and however varied its
// answers, the text stays readable; the JSON report and the per-host logs
// hold everything.
const (
	// MaxOutputGroups is how many distinct results RunText shows.
	MaxOutputGroups = 20
	// MaxGroupLines is how many lines of output one result shows.
	MaxGroupLines = 10
	// maxLineRunes clips a single long output line.
	maxLineRunes = 300
	// maxNamesRunes bounds the host list of one result.
	maxNamesRunes = 160
)

// fullOutput says where the rest of what RunText leaves out is.
const fullOutput = "full output: --output json, --report or --log-dir"

// OutputGroup is a set of hosts whose result is identical once each
// host's own name and address are replaced by <host>: the same status,
// exit code, error class, stdout and stderr (and, for hosts that failed
// otherwise than by an unexpected exit code, the same error once it is
// normalised as failure causes are).
type OutputGroup struct {
	// Hosts are the group's host names, in inventory order.
	Hosts    []string
	Status   runner.Status
	ExitCode *uint32
	// Class is the error class; empty when the host did not fail.
	Class string
	// Stdout and Stderr are the first host's output with line ends as
	// "\n" and its name and address as <host>.
	Stdout, Stderr string
	// Error is the first host's error message (name and address as
	// <host>), or the reason a host was skipped; empty when the host
	// succeeded or failed by an unexpected exit code, which the exit code
	// already says.
	Error string

	first int // inventory index of the first host, for ordering
}

// GroupOutputs groups the hosts of r by their result (see OutputGroup):
// hosts that succeeded first, then those that failed or were unreachable,
// then skipped ones; within each, the biggest group first, then the group
// whose first host comes first in the inventory. A host's result is its
// failed step, else its last step that ran.
func GroupOutputs(r *runner.Result) []OutputGroup {
	index := map[string]int{}
	var groups []OutputGroup
	for i, h := range r.Hosts {
		g, key := hostOutput(h)
		g.first = i
		if j, ok := index[key]; ok {
			groups[j].Hosts = append(groups[j].Hosts, h.Name)
			continue
		}
		index[key] = len(groups)
		g.Hosts = []string{h.Name}
		groups = append(groups, g)
	}
	slices.SortStableFunc(groups, func(a, b OutputGroup) int {
		if ra, rb := statusRank(a.Status), statusRank(b.Status); ra != rb {
			return ra - rb
		}
		if len(a.Hosts) != len(b.Hosts) {
			return len(b.Hosts) - len(a.Hosts)
		}
		return a.first - b.first
	})
	return groups
}

func statusRank(s runner.Status) int {
	switch s {
	case runner.StatusOK:
		return 0
	case runner.StatusFailed, runner.StatusUnreachable:
		return 1
	}
	return 2
}

// hostOutput is a one-host group for h and the key hosts with the same
// result share.
func hostOutput(h *runner.HostResult) (OutputGroup, string) {
	g := OutputGroup{Status: h.Status}
	var te *transport.Error
	message := h.Reason
	if st := resultStep(h); st != nil {
		g.ExitCode = st.ExitCode
		g.Stdout = report.ReplaceHost(lineEnds(st.Stdout), h.Name, h.Address)
		g.Stderr = report.ReplaceHost(lineEnds(st.Stderr), h.Name, h.Address)
		te = st.Err
		if st.Status == runner.StatusSkipped && st.Reason != "" {
			message = st.Reason
		}
	}
	if te == nil && h.Status != runner.StatusOK {
		te = h.Err
	}
	if te != nil {
		g.Class = string(te.Class)
		message = te.Message
		if te.Class == transport.ClassUnexpectedExit {
			message = ""
		}
	}
	g.Error = report.ReplaceHost(strings.TrimSpace(lineEnds(message)), h.Name, h.Address)
	exit := "-"
	if g.ExitCode != nil {
		exit = strconv.FormatUint(uint64(*g.ExitCode), 10)
	}
	cause := report.NormalizeCause(message, h.Name, h.Address)
	key := strings.Join([]string{string(g.Status), exit, g.Class, cause, g.Stdout, g.Stderr}, "\x00")
	return g, key
}

// resultStep is the step whose result stands for the host: the failed
// one, else the last one that ran, else nil.
func resultStep(h *runner.HostResult) *runner.StepResult {
	if st := h.FailedStep(); st != nil {
		return st
	}
	for i := len(h.Steps) - 1; i >= 0; i-- {
		if st := h.Steps[i]; st.Status != runner.StatusSkipped && st.Status != runner.StatusPlanned {
			return st
		}
	}
	return nil
}

func lineEnds(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

// RunOptions say how RunText renders.
type RunOptions struct {
	// Simulated labels every line, as for every output about a
	// simulated fleet.
	Simulated bool
	// Color colours the summary's headings.
	Color bool
}

// RunText writes what fleetrun run prints: every distinct result once,
// with its hosts' count and compressed names (GroupOutputs), at most
// MaxOutputGroups of them and MaxGroupLines lines of output each, saying
// what it left out; then the run's compact summary (counts, status and,
// when hosts failed, the failure groups by cause). Text from hosts goes
// through report.Printable.
func RunText(w io.Writer, r *runner.Result, opts RunOptions) error {
	var b bytes.Buffer
	groups := GroupOutputs(r)
	shown, hidden := pickGroups(groups)
	for _, g := range shown {
		writeGroup(&b, g)
		b.WriteString("\n")
	}
	if len(hidden) > 0 {
		hosts := 0
		for _, g := range hidden {
			hosts += len(g.Hosts)
		}
		fmt.Fprintf(&b, "%s on %s not shown; %s\n\n", count(len(hidden), "more distinct result"), count(hosts, "host"), fullOutput)
	}
	if err := report.WriteSummary(&b, r, report.SummaryOptions{Compact: true, Unlabelled: true, Color: opts.Color}); err != nil {
		return err
	}
	out := b.Bytes()
	if opts.Simulated || report.AnySimulated(r) {
		out = report.LabelSimulated(out)
	}
	_, err := w.Write(out)
	return err
}

// pickGroups keeps the MaxOutputGroups biggest groups (failures before
// successes of the same size), in GroupOutputs' order.
func pickGroups(groups []OutputGroup) (shown, hidden []OutputGroup) {
	if len(groups) <= MaxOutputGroups {
		return groups, nil
	}
	order := make([]int, len(groups))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		ga, gb := groups[a], groups[b]
		if len(ga.Hosts) != len(gb.Hosts) {
			return len(gb.Hosts) - len(ga.Hosts)
		}
		return statusRank(gb.Status) - statusRank(ga.Status)
	})
	keep := map[int]bool{}
	for _, i := range order[:MaxOutputGroups] {
		keep[i] = true
	}
	for i, g := range groups {
		if keep[i] {
			shown = append(shown, g)
		} else {
			hidden = append(hidden, g)
		}
	}
	return shown, hidden
}

// writeGroup writes one result:
//
//	3 hosts, failed, exit 5: web-[01-03]
//	  <host>: disk full
//	  stderr: Remove-Item : Access is denied
func writeGroup(b *bytes.Buffer, g OutputGroup) {
	head := count(len(g.Hosts), "host") + ", " + string(g.Status)
	if g.ExitCode != nil {
		head += ", exit " + strconv.FormatUint(uint64(*g.ExitCode), 10)
	}
	if g.Class != "" && g.Class != string(transport.ClassUnexpectedExit) {
		head += ", " + report.Printable(g.Class)
	}
	b.WriteString(head + ": " + hostList(g.Hosts) + "\n")
	lines := outputLines(g.Stdout)
	for _, l := range outputLines(g.Stderr) {
		lines = append(lines, "stderr: "+l)
	}
	if g.Error != "" {
		label := "error: "
		if g.Status == runner.StatusSkipped {
			label = "reason: "
		}
		for _, l := range outputLines(g.Error) {
			lines = append(lines, label+l)
		}
	}
	if len(lines) == 0 {
		lines = []string{"(no output)"}
	}
	shown := lines[:min(len(lines), MaxGroupLines)]
	for _, l := range shown {
		b.WriteString("  " + l + "\n")
	}
	if more := len(lines) - len(shown); more > 0 {
		fmt.Fprintf(b, "  ... %s not shown; %s\n", count(more, "more line"), fullOutput)
	}
}

// outputLines splits text into lines for the terminal: trailing blank
// lines dropped, each line Printable and clipped.
func outputLines(text string) []string {
	text = strings.TrimRight(text, "\n")
	if strings.TrimSpace(text) == "" {
		return nil
	}
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		l = strings.TrimRight(l, " \t\r")
		if n := utf8.RuneCountInString(l); n > maxLineRunes {
			r := []rune(l)
			l = string(r[:maxLineRunes]) + fmt.Sprintf(" [%d more characters]", n-maxLineRunes)
		}
		lines[i] = report.Printable(l)
	}
	return lines
}

// hostList is the compressed names of hosts, cut to about maxNamesRunes
// with the count of the hosts left out.
func hostList(hosts []string) string {
	terms := CompressNameTerms(hosts)
	var parts []string
	width, listed := 0, 0
	for i, t := range terms {
		text := report.Printable(t.Text)
		if i > 0 && width+utf8.RuneCountInString(text) > maxNamesRunes {
			break
		}
		parts = append(parts, text)
		width += utf8.RuneCountInString(text) + 1
		listed += t.Hosts
	}
	list := strings.Join(parts, ",")
	if more := len(hosts) - listed; more > 0 {
		list += " and " + count(more, "more host")
	}
	return list
}

// count is "1 host", "3 hosts".
func count(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
