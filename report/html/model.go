package html

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fleetrun/fleetrun/report"
)

// Bar classes: how a step is coloured in the timeline and tables.
const (
	barOK      = "ok"
	barRetried = "retried"
	barReboot  = "reboot"
	barFailed  = "failed"
	barSkipped = "skipped"
	barPlanned = "planned"
	// barUnchanged: a copy or download that found its files in place.
	barUnchanged = "unchanged"
)

// run is the document with its times parsed and each host and step
// classified, the common ground of every section of the page.
type run struct {
	doc    *report.Document
	t0, t1 time.Time // the run's span; zero when no host has times
	hosts  []*hostRun
	// untimed counts hosts that ran (not skipped) but carry no times.
	untimed int
}

type hostRun struct {
	index      int
	h          *report.Host
	start, end time.Time
	steps      []*stepRun
	rebooted   bool
	failed     bool // failed or unreachable: counts against the budget
}

type stepRun struct {
	s          *report.Step
	start, end time.Time
	bar        string
}

func (h *hostRun) timed() bool { return !h.start.IsZero() && !h.end.IsZero() }

// ignored counts the steps that failed on an ok host (continue_on_error):
// the report's ignored_failures, or for a report written before it
// existed, the failed steps of a host whose status is ok.
func (h *hostRun) ignored() int {
	if h.h.Status != "ok" {
		return 0
	}
	n := 0
	for _, s := range h.steps {
		if s.s.Status == "failed" {
			n++
		}
	}
	return max(n, h.h.IgnoredFailures)
}

// parseTime reads a report time; anything unreadable counts as missing,
// because a page must render whatever an old or damaged report holds.
func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

func stepBar(s *report.Step) string {
	switch {
	case s.Status == "failed":
		return barFailed
	case s.Status == "skipped":
		return barSkipped
	case s.Status == "planned":
		return barPlanned
	case s.Kind == "reboot" || s.Rebooted || s.Outcome == "reboot_required" || s.Outcome == "reboot_initiated":
		return barReboot
	case s.Attempts > 1:
		return barRetried
	case s.Status == "unchanged":
		return barUnchanged
	}
	return barOK
}

func newRun(doc *report.Document) *run {
	r := &run{doc: doc}
	for i := range doc.Hosts {
		h := &doc.Hosts[i]
		hr := &hostRun{index: i, h: h, start: parseTime(h.StartedAt), end: parseTime(h.FinishedAt)}
		hr.failed = h.Status == "failed" || h.Status == "unreachable"
		for j := range h.Steps {
			s := &h.Steps[j]
			sr := &stepRun{s: s, start: parseTime(s.StartedAt), end: parseTime(s.FinishedAt), bar: stepBar(s)}
			if sr.end.IsZero() && !sr.start.IsZero() {
				sr.end = sr.start.Add(time.Duration(s.DurationMS) * time.Millisecond)
			}
			switch {
			case sr.start.IsZero():
				sr.end = time.Time{}
			case sr.end.Before(sr.start):
				sr.end = sr.start // a damaged report; draw nothing rather than a negative bar
			}
			// Rebooted counts restarts that happened, not exit codes that
			// asked for one.
			if s.Rebooted || (s.Kind == "reboot" && s.Status == "ok") {
				hr.rebooted = true
			}
			// A host's span covers its steps, so a report with step times
			// but no host times still draws the host.
			if !sr.start.IsZero() {
				if hr.start.IsZero() || sr.start.Before(hr.start) {
					hr.start = sr.start
				}
				if hr.end.IsZero() || sr.end.After(hr.end) {
					hr.end = sr.end
				}
			}
			hr.steps = append(hr.steps, sr)
		}
		if hr.end.Before(hr.start) {
			hr.end = hr.start
		}
		if !hr.timed() {
			hr.start, hr.end = time.Time{}, time.Time{}
			if h.Status != "skipped" && h.Status != "planned" {
				r.untimed++
			}
		}
		r.hosts = append(r.hosts, hr)
	}
	r.t0, r.t1 = parseTime(doc.StartedAt), parseTime(doc.FinishedAt)
	for _, h := range r.hosts {
		if !h.timed() {
			continue
		}
		if r.t0.IsZero() || h.start.Before(r.t0) {
			r.t0 = h.start
		}
		if r.t1.IsZero() || h.end.After(r.t1) {
			r.t1 = h.end
		}
	}
	if r.t0.IsZero() != r.t1.IsZero() {
		r.t0, r.t1 = time.Time{}, time.Time{}
	}
	if !r.t0.IsZero() && !r.t1.After(r.t0) {
		r.t1 = r.t0.Add(time.Second)
	}
	return r
}

func (r *run) timed() bool { return !r.t0.IsZero() }

// anyHostTimed says whether the timeline has anything to draw.
func (r *run) anyHostTimed() bool {
	for _, h := range r.hosts {
		if h.timed() {
			return true
		}
	}
	return false
}

// pct places t on the run's span, as a percentage with two decimals.
func (r *run) pct(t time.Time) float64 {
	span := r.t1.Sub(r.t0)
	p := float64(t.Sub(r.t0)) / float64(span) * 100
	return min(max(p, 0), 100)
}

// summary returns the document's counts, recomputed from the hosts when
// the document has none (a hand-made or truncated report).
func (r *run) summary() report.Summary {
	s := r.doc.Summary
	if s.Hosts != 0 || len(r.doc.Hosts) == 0 {
		return s
	}
	s = report.Summary{Hosts: len(r.doc.Hosts)}
	for _, h := range r.doc.Hosts {
		switch h.Status {
		case "ok":
			s.OK++
		case "failed":
			s.Failed++
		case "unreachable":
			s.Unreachable++
		case "skipped":
			s.Skipped++
		}
	}
	return s
}

// batches returns the batches to show, in order: each batch the document
// counts and each batch a host names. A count larger than the number of
// hosts cannot be right (every batch has a host), so only hosts' batches
// are shown then, which keeps a damaged report from growing the page.
func (r *run) batches() []int {
	seen := map[int]bool{}
	if n := r.doc.Batches; n <= len(r.doc.Hosts) {
		for b := range n {
			seen[b] = true
		}
	}
	for _, h := range r.doc.Hosts {
		seen[h.Batch] = true
	}
	return slices.Sorted(maps.Keys(seen))
}

// batchTotal is M in "batch N of M": one more than the last batch shown.
func (r *run) batchTotal() int {
	ids := r.batches()
	if len(ids) == 0 {
		return 0
	}
	return ids[len(ids)-1] + 1
}

// budgetSpent finds the moment the failure budget was spent: the runner
// stops when failures exceed max_fail, so it is when the (max_fail+1)th
// failed host finished. ok is false when there was no budget, it was not
// spent, or the failing hosts carry no times.
func (r *run) budgetSpent() (at time.Time, failures int, ok bool) {
	if r.doc.MaxFail == nil {
		return time.Time{}, 0, false
	}
	var ends []time.Time
	for _, h := range r.hosts {
		if h.failed {
			failures++
			if h.timed() {
				ends = append(ends, h.end)
			}
		}
	}
	limit := *r.doc.MaxFail
	if failures <= limit || len(ends) <= limit || limit < 0 {
		return time.Time{}, failures, false
	}
	slices.SortFunc(ends, func(a, b time.Time) int { return a.Compare(b) })
	return ends[limit], failures, true
}

// formatMS writes a duration in milliseconds the way people read them:
// 812ms, 4.2s, 3m12s, 1h02m.
func formatMS(ms int64) string {
	switch {
	case ms < 0:
		return "–"
	case ms < 1000:
		return strconv.FormatInt(ms, 10) + "ms"
	case ms < 10_000:
		return fmt.Sprintf("%.1fs", float64(ms)/1000)
	case ms < 60_000:
		return fmt.Sprintf("%ds", ms/1000)
	case ms < 3_600_000:
		return fmt.Sprintf("%dm%02ds", ms/60_000, ms/1000%60)
	}
	return fmt.Sprintf("%dh%02dm", ms/3_600_000, ms/60_000%60)
}

func formatDuration(d time.Duration) string { return formatMS(d.Milliseconds()) }

// formatExit shows an exit code in decimal, adding hex for the large
// NTSTATUS and HRESULT values Windows people know by their hex form.
func formatExit(code uint32) string {
	if code > 0xFFFF {
		return fmt.Sprintf("%d (0x%08X)", code, code)
	}
	return strconv.FormatUint(uint64(code), 10)
}

func formatCodes(codes []uint32) string {
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = formatExit(c)
	}
	return strings.Join(parts, ", ")
}

// tail returns the last n bytes of s, starting at a character boundary,
// and how many bytes it left out. n < 0 keeps everything.
func tail(s string, n int) (string, int) {
	if n < 0 || len(s) <= n {
		return s, 0
	}
	start := len(s) - n
	for start < len(s) && !utf8.RuneStart(s[start]) {
		start++
	}
	// Start at a line when one begins soon, rather than mid-line.
	if i := strings.IndexByte(s[start:], '\n'); i >= 0 && i < n/4 {
		start += i + 1
	}
	return s[start:], start
}

// tailLines returns at most the last lines lines of s, and at most n bytes.
func tailLines(s string, lines, n int) (string, bool) {
	s = strings.TrimRight(s, "\r\n")
	out, cut := tail(s, n)
	idx := len(out)
	for k := 0; k < lines; k++ {
		j := strings.LastIndexByte(out[:idx], '\n')
		if j < 0 {
			return out, cut > 0
		}
		idx = j
	}
	return out[idx+1:], true
}

func formatBytes(n int) string {
	switch {
	case n < 1024:
		return fmt.Sprintf("%d B", n)
	case n < 1024*1024:
		return fmt.Sprintf("%.1f KiB", float64(n)/1024)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1024*1024))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// outputTail is how many bytes of each stream the page keeps: the tail
// asked for, or less when the tails of all streams together would go over
// budget. A negative tail or budget means no limit.
func (r *run) outputTail(tailBytes, budget int) int {
	total := func(n int) int {
		sum := 0
		for _, h := range r.hosts {
			for _, s := range h.steps {
				if n < 0 {
					sum += len(s.s.Stdout) + len(s.s.Stderr)
				} else {
					sum += min(len(s.s.Stdout), n) + min(len(s.s.Stderr), n)
				}
			}
		}
		return sum
	}
	if budget < 0 || total(tailBytes) <= budget {
		return tailBytes
	}
	// The largest tail that fits: total grows with n, so search.
	hi := tailBytes
	if hi < 0 {
		hi = 0
		for _, h := range r.hosts {
			for _, s := range h.steps {
				hi = max(hi, len(s.s.Stdout), len(s.s.Stderr))
			}
		}
	}
	lo := 0
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		if total(mid) <= budget {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}
