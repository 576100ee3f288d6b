package html

import (
	"cmp"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fleetrun/fleetrun/report"
)

var (
	//go:embed page.html.tmpl
	pageSource string
	//go:embed page.css
	pageCSS string
	//go:embed page.js
	pageJS string

	pageTemplate = template.Must(template.New("page").Parse(pageSource))
	// scriptHash lets the page's Content-Security-Policy allow exactly its
	// own script, so nothing else could run even if escaping failed.
	scriptHash = func() string {
		sum := sha256.Sum256([]byte(pageJS))
		return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
	}()
)

// page is what the template renders.
type page struct {
	Title      string
	Playbook   string
	Status     string
	StopReason string
	Started    string
	Finished   string
	Duration   string
	Forks      int
	Batches    int
	Budget     string
	BudgetOver bool
	Summary    report.Summary
	Rebooted   int
	Source     string
	Notes      []string
	Failures   failures
	Groups     []causeGroup
	Timeline   timeline
	Steps      []stepStats
	Data       pageData

	ScriptHash string
	CSS        template.CSS
	JS         template.JS
}

func buildPage(doc *report.Document, opts Options) *page {
	r := newRun(doc)
	s := r.summary()
	p := &page{
		Title:      "fleetrun report: " + cmp.Or(doc.Playbook, "(unnamed playbook)"),
		Playbook:   cmp.Or(doc.Playbook, "(unnamed playbook)"),
		Status:     cmp.Or(doc.Status, "unknown"),
		StopReason: doc.StopReason,
		Forks:      doc.Forks,
		Batches:    doc.Batches,
		Summary:    s,
		Source:     opts.Source,
		ScriptHash: scriptHash,
		CSS:        template.CSS(pageCSS), // our own stylesheet, not data
		JS:         template.JS(pageJS),   // our own script, not data
	}
	if t := parseTime(doc.StartedAt); !t.IsZero() {
		p.Started = formatClock(t, true)
	}
	if t := parseTime(doc.FinishedAt); !t.IsZero() {
		p.Finished = formatClock(t, true)
	}
	switch {
	case doc.DurationMS > 0:
		p.Duration = formatMS(doc.DurationMS)
	case r.timed():
		p.Duration = formatDuration(r.t1.Sub(r.t0))
	}
	for _, h := range r.hosts {
		if h.rebooted {
			p.Rebooted++
		}
	}
	failed := s.Failed + s.Unreachable
	if doc.MaxFail != nil {
		p.Budget = fmt.Sprintf("%s of max_fail %d", plural(failed, "failure", "failures"), *doc.MaxFail)
		p.BudgetOver = failed > *doc.MaxFail
	}
	if p.Batches == 0 {
		p.Batches = len(r.batches())
	}
	tailBytes := r.outputTail(opts.tail(), opts.budget())
	p.Notes = notes(r, opts.tail(), tailBytes)
	p.Failures = buildFailures(r)
	p.Groups = buildGroups(r, doc.FailureGroups)
	p.Timeline = buildTimeline(r)
	p.Steps = buildStepStats(r)
	p.Data = buildData(r, p.Timeline.Rows, tailBytes)
	return p
}

func notes(r *run, asked, tailBytes int) []string {
	var out []string
	if r.doc.Status == "planned" {
		out = append(out, "This is a dry-run plan: no host was contacted and nothing ran.")
	}
	for _, h := range r.doc.Hosts {
		if h.Simulated {
			out = append(out, "Simulated hosts: this run went to fleetrun's simulated fleet, not to real Windows servers.")
			break
		}
	}
	if r.untimed > 0 {
		out = append(out, fmt.Sprintf("%s no start and finish times (fleetrun versions before the timeline did not record them), so the timeline has no bars for them.",
			plural(r.untimed, "host has", "hosts have")))
	}
	switch {
	case tailBytes < asked || (asked < 0 && tailBytes >= 0):
		out = append(out, fmt.Sprintf("Output: to keep this page small, it keeps only the last %s of each step's stdout and stderr; the JSON report and the per-host logs have all of it.", formatBytes(tailBytes)))
	case tailBytes >= 0:
		out = append(out, fmt.Sprintf("Output: this page keeps the last %s of each step's stdout and stderr; the JSON report and the per-host logs have all of it.", formatBytes(tailBytes)))
	}
	return out
}

// formatClock shows a time of day in the report's own zone; long adds the
// date and the zone.
func formatClock(t time.Time, long bool) string {
	if !long {
		return t.Format("15:04:05")
	}
	zone := t.Format("-07:00")
	if _, off := t.Zone(); off == 0 {
		zone = "UTC"
	}
	return t.Format("2006-01-02 15:04:05") + " " + zone
}

func pctString(p float64) string { return strconv.FormatFloat(p, 'f', 2, 64) }

// ---- failures

// maxFailureRows bounds the failure table; the host list, filtered to
// failed hosts, has the rest.
const maxFailureRows = 500

type failures struct {
	Total   int
	Rows    []failureRow
	ByClass []count
	ByStep  []count
	ByBatch []count
}

// causeGroup is one of the report's failure groups, with its hosts
// linked to their entries in the host list.
type causeGroup struct {
	Count  int
	Cause  string
	Class  string
	Exit   string
	Step   string
	Hint   string
	Hosts  []groupHost
	Sample string
	Tail   string
}

type groupHost struct {
	Index int
	Name  string
}

// buildGroups takes the groups as the report has them; reports written
// before failure_groups existed have none, and the page leaves the list
// out.
func buildGroups(r *run, groups []report.JSONFailureGroup) []causeGroup {
	index := make(map[string]int, len(r.hosts))
	for _, h := range r.hosts {
		if _, ok := index[h.h.Name]; !ok {
			index[h.h.Name] = h.index
		}
	}
	out := make([]causeGroup, 0, len(groups))
	for _, g := range groups {
		cg := causeGroup{Count: g.Count, Cause: cmp.Or(g.Cause, "-"), Class: g.Class, Step: g.Step, Hint: g.Hint, Sample: g.Sample, Tail: g.Tail}
		if g.ExitCode != nil {
			cg.Exit = formatExit(*g.ExitCode)
		}
		for _, n := range g.Hosts {
			i, ok := index[n]
			if !ok {
				i = -1
			}
			cg.Hosts = append(cg.Hosts, groupHost{Index: i, Name: n})
		}
		out = append(out, cg)
	}
	return out
}

type count struct {
	Label string
	N     int
	key   int // orders equal counts (batches by number)
}

type failureRow struct {
	Host    int
	Name    string
	Address string
	Batch   int
	// BatchLabel is "N of M", the batch numbered from 1.
	BatchLabel string
	// Ignored says, for a step that failed under continue_on_error on a
	// host that went on, that the host is ok regardless.
	Ignored   string
	Step      string
	Kind      string
	Exit      string
	ExitSort  int64
	Expected  string
	Class     string
	Code      string
	Message   string
	Hint      string
	Output    string
	OutputOf  string // "stderr" or "stdout"
	OutputCut bool
	Attempts  int
	At        string
}

func buildFailures(r *run) failures {
	var f failures
	byClass, byStep, byBatch := map[string]int{}, map[string]int{}, map[int]int{}
	total := r.batchTotal()
	for _, h := range r.hosts {
		base := failureRow{Host: h.index, Name: h.h.Name, Address: h.h.Address, Batch: h.h.Batch,
			BatchLabel: strings.TrimPrefix(report.BatchLabel(h.h.Batch, total), "batch "), ExitSort: -1}
		if n := h.ignored(); n > 0 {
			base.Ignored = "ok (" + report.IgnoredNote(n) + ")"
		}
		rows := 0
		for _, s := range h.steps {
			if s.s.Status != "failed" {
				continue
			}
			row := base
			row.Step, row.Kind, row.Attempts = s.s.Name, s.s.Kind, s.s.Attempts
			if s.s.ExitCode != nil {
				row.Exit, row.ExitSort = formatExit(*s.s.ExitCode), int64(*s.s.ExitCode)
			}
			row.Expected = formatCodes(s.s.Expected)
			setError(&row, s.s.Error)
			if row.Message == "" {
				row.Message = s.s.Reason
			}
			row.OutputOf, row.Output, row.OutputCut = "stderr", "", false
			switch {
			case strings.TrimSpace(s.s.Stderr) != "":
				row.Output, row.OutputCut = tailLines(s.s.Stderr, 8, 800)
			case strings.TrimSpace(s.s.Stdout) != "":
				row.OutputOf = "stdout"
				row.Output, row.OutputCut = tailLines(s.s.Stdout, 8, 800)
			}
			if !s.end.IsZero() {
				row.At = formatClock(s.end, false)
			}
			f.Rows = append(f.Rows, row)
			byStep[row.Step]++
			rows++
		}
		if rows == 0 && h.failed {
			// The host failed without a failed step: it could not be
			// reached, or the connection broke before a step ran.
			row := base
			row.Step = "(connect)"
			setError(&row, h.h.Error)
			if row.Message == "" {
				row.Message = h.h.Reason
			}
			if !h.end.IsZero() {
				row.At = formatClock(h.end, false)
			}
			f.Rows = append(f.Rows, row)
			byStep[row.Step]++
			rows++
		}
		for _, row := range f.Rows[len(f.Rows)-rows:] {
			byClass[cmp.Or(row.Class, "unclassified")]++
		}
		if rows > 0 {
			byBatch[h.h.Batch]++
		}
	}
	f.Total = len(f.Rows)
	f.Rows = f.Rows[:min(len(f.Rows), maxFailureRows)]
	f.ByClass = sortedCounts(byClass)
	f.ByStep = sortedCounts(byStep)
	for b, n := range byBatch {
		f.ByBatch = append(f.ByBatch, count{Label: report.BatchLabel(b, total), N: n, key: b})
	}
	slices.SortFunc(f.ByBatch, func(a, b count) int { return cmp.Or(b.N-a.N, cmp.Compare(a.key, b.key)) })
	return f
}

func setError(row *failureRow, e *report.Error) {
	if e == nil {
		return
	}
	row.Class, row.Message, row.Hint = e.Class, e.Message, e.Hint
	if e.Code != 0 {
		row.Code = strconv.FormatUint(uint64(e.Code), 10)
	}
}

func sortedCounts(m map[string]int) []count {
	out := make([]count, 0, len(m))
	for k, n := range m {
		out = append(out, count{Label: k, N: n})
	}
	slices.SortFunc(out, func(a, b count) int { return cmp.Or(b.N-a.N, cmp.Compare(a.Label, b.Label)) })
	return out
}

// ---- timeline

// timelineBuckets is how many time slices an aggregated batch row has.
const timelineBuckets = 240

type timeline struct {
	Drawn   bool
	Start   string
	End     string
	Buckets int
	Ticks   []tick
	Marks   []mark
	Rows    []batchRow
}

type tick struct{ Pct, Label string }

type mark struct {
	Pct   string
	Edge  string // "start" or "end" keeps a label near an edge inside the axis
	Class string
	Label string
	Title string
}

// maxTimelineRows bounds the timeline's rows: a run with more batches
// (serial: 1 over a large fleet) shows consecutive batches together.
const maxTimelineRows = 40

type batchRow struct {
	Row        int
	From, To   int
	Label      string
	Hosts      int
	Counts     string
	Span       string
	Peak       int
	Rects      []rect
	NotStarted string
	Skipped    int
}

type rect struct {
	X, W  int
	Y, H  string
	Class string
}

// Aggregate classes, in stacking order from the bottom of a row.
var aggClasses = []string{barFailed, barReboot, barRetried, barOK}

func aggIndex(bar string) int {
	switch bar {
	case barFailed:
		return 0
	case barReboot:
		return 1
	case barRetried:
		return 2
	case barOK, barUnchanged:
		return 3
	}
	return -1
}

func buildTimeline(r *run) timeline {
	tl := timeline{Buckets: timelineBuckets, Drawn: r.timed() && r.anyHostTimed()}
	if tl.Drawn {
		tl.Start, tl.End = formatClock(r.t0, false), formatClock(r.t1, false)
		tl.Ticks = ticks(r)
	}
	byBatch := map[int][]*hostRun{}
	for _, h := range r.hosts {
		byBatch[h.h.Batch] = append(byBatch[h.h.Batch], h)
	}
	ids := r.batches()
	total := r.batchTotal()
	per := (len(ids) + maxTimelineRows - 1) / maxTimelineRows
	for i := 0; i < len(ids); i += per {
		group := ids[i:min(i+per, len(ids))]
		// Batches are numbered from 1 for people, as everywhere but the
		// JSON report's zero-based batch field.
		row := batchRow{Row: len(tl.Rows), From: group[0], To: group[len(group)-1], Label: report.BatchLabel(group[0], total)}
		if len(group) > 1 {
			row.Label = fmt.Sprintf("batches %d–%d of %d", row.From+1, row.To+1, total)
		}
		var hosts []*hostRun
		for _, b := range group {
			hosts = append(hosts, byBatch[b]...)
		}
		row.Hosts = len(hosts)
		byStatus := map[string]int{}
		var start, end time.Time
		for _, h := range hosts {
			byStatus[h.h.Status]++
			if h.timed() {
				if start.IsZero() || h.start.Before(start) {
					start = h.start
				}
				if end.IsZero() || h.end.After(end) {
					end = h.end
				}
			}
			if h.h.Status == "skipped" && row.NotStarted == "" {
				row.NotStarted = h.h.Reason
			}
		}
		row.Skipped = byStatus["skipped"]
		var parts []string
		for _, st := range []string{"ok", "failed", "unreachable", "skipped", "planned"} {
			if n := byStatus[st]; n > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", n, st))
			}
		}
		row.Counts = strings.Join(parts, " · ")
		if !start.IsZero() {
			row.Span = fmt.Sprintf("%s–%s, %s", formatClock(start, false), formatClock(end, false), formatDuration(end.Sub(start)))
			if len(tl.Rows) > 0 && tl.Drawn {
				tl.Marks = append(tl.Marks, mark{Pct: pctString(r.pct(start)), Edge: edge(r.pct(start)), Class: "batch", Label: "B" + strconv.Itoa(row.From+1),
					Title: fmt.Sprintf("%s started at %s", report.BatchLabel(row.From, total), formatClock(start, false))})
			}
		}
		if tl.Drawn {
			row.Rects, row.Peak = aggregate(r, hosts)
		}
		tl.Rows = append(tl.Rows, row)
	}
	if at, n, ok := r.budgetSpent(); ok && tl.Drawn {
		tl.Marks = append(tl.Marks, mark{Pct: pctString(r.pct(at)), Edge: edge(r.pct(at)), Class: "budget", Label: "budget spent",
			Title: fmt.Sprintf("failure budget spent at %s: failure %d of %d went past max_fail %d; no new host started after this", formatClock(at, false), *r.doc.MaxFail+1, n, *r.doc.MaxFail)})
	}
	return tl
}

func edge(pct float64) string {
	switch {
	case pct < 4:
		return "start"
	case pct > 92:
		return "end"
	}
	return ""
}

// aggregate draws a batch as stacked columns: for each time slice, how
// many hosts were running a step, by the most notable kind of step each
// ran in that slice (failed over reboot over retried over ok). Heights
// are relative to the batch's busiest slice.
func aggregate(r *run, hosts []*hostRun) ([]rect, int) {
	const n = timelineBuckets
	var counts [n][4]int
	span := float64(r.t1.Sub(r.t0))
	bucket := func(t time.Time) int {
		return min(max(int(float64(t.Sub(r.t0))/span*n), 0), n-1)
	}
	var mine [n]int
	for _, h := range hosts {
		if !h.timed() {
			continue
		}
		for i := range mine {
			mine[i] = -1
		}
		for _, s := range h.steps {
			k := aggIndex(s.bar)
			if k < 0 || s.start.IsZero() {
				continue
			}
			for b := bucket(s.start); b <= bucket(s.end); b++ {
				if mine[b] < 0 || k < mine[b] {
					mine[b] = k
				}
			}
		}
		for b, k := range mine {
			if k >= 0 {
				counts[b][k]++
			}
		}
	}
	peak := 0
	for _, c := range counts {
		peak = max(peak, c[0]+c[1]+c[2]+c[3])
	}
	if peak == 0 {
		return nil, 0
	}
	const height = 24.0
	var rects []rect
	for b := 0; b < n; {
		e := b + 1
		for e < n && counts[e] == counts[b] {
			e++
		}
		y := height
		for k, c := range counts[b] {
			if c == 0 {
				continue
			}
			h := float64(c) / float64(peak) * height
			y -= h
			rects = append(rects, rect{X: b, W: e - b, Y: strconv.FormatFloat(y, 'f', 2, 64), H: strconv.FormatFloat(h, 'f', 2, 64), Class: aggClasses[k]})
		}
		b = e
	}
	return rects, peak
}

var tickSteps = []time.Duration{
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// ticks labels the time axis every round interval, at most ten times.
func ticks(r *run) []tick {
	span := r.t1.Sub(r.t0)
	const most = 8
	step := time.Duration(0)
	for _, s := range tickSteps {
		if span/s <= most {
			step = s
			break
		}
	}
	if step == 0 { // longer than eight days: whole days
		day := 24 * time.Hour
		step = (span/most + day - 1) / day * day
	}
	var out []tick
	// Round in the report's zone so labels fall on round clock times.
	_, off := r.t0.Zone()
	shift := time.Duration(off) * time.Second
	first := r.t0.Add(shift).Truncate(step).Add(-shift)
	if first.Before(r.t0) {
		first = first.Add(step)
	}
	// The bound matters only for spans too long for time.Duration.
	for t := first; !t.After(r.t1) && len(out) <= most; t = t.Add(step) {
		label := t.Format("15:04")
		if step < time.Minute {
			label = t.Format("15:04:05")
		}
		out = append(out, tick{Pct: pctString(r.pct(t)), Label: label})
	}
	return out
}

// ---- per-step statistics

const histBins = 24

type stepStats struct {
	Index int
	Name  string
	Kind  string
	Ran   int
	OK    int
	// Unchanged counts file steps that found their files in place.
	Unchanged int
	Failed    int
	Skipped   int
	Rebooted  int
	Retried   int
	HasDur    bool
	Min       string
	P50       string
	P90       string
	P99       string
	Max       string
	Bins      []bin
	AxisMid   string
	AxisMax   string
	Slowest   []slowHost
}

type bin struct {
	X          string
	OKY, OKH   string
	BadY, BadH string
	Title      string
}

type slowHost struct {
	Host   int
	Name   string
	Dur    string
	Status string
	Bar    string
}

type stepSample struct {
	host int
	name string
	ms   int64
	s    *stepRun
}

func buildStepStats(r *run) []stepStats {
	var out []stepStats
	var samples [][]stepSample
	for _, h := range r.hosts {
		for j, s := range h.steps {
			for len(out) <= j {
				out = append(out, stepStats{Index: len(out), Name: s.s.Name, Kind: s.s.Kind})
				samples = append(samples, nil)
			}
			st := &out[j]
			switch s.s.Status {
			case "ok":
				st.OK++
			case "unchanged":
				st.Unchanged++
			case "failed":
				st.Failed++
			case "skipped":
				st.Skipped++
			}
			if s.s.Rebooted || (s.s.Kind == "reboot" && s.s.Status == "ok") {
				st.Rebooted++
			}
			if s.s.Attempts > 1 {
				st.Retried++
			}
			if s.s.Status != "ok" && s.s.Status != "unchanged" && s.s.Status != "failed" {
				continue
			}
			ms := max(s.s.DurationMS, 0)
			if ms == 0 && !s.start.IsZero() {
				ms = s.end.Sub(s.start).Milliseconds()
			}
			if ms == 0 && s.start.IsZero() {
				continue // done by an earlier run, or an old report without durations
			}
			st.Ran++
			samples[j] = append(samples[j], stepSample{host: h.index, name: h.h.Name, ms: ms, s: s})
		}
	}
	for j := range out {
		fillDurations(&out[j], samples[j])
	}
	return out
}

func fillDurations(st *stepStats, ss []stepSample) {
	if len(ss) == 0 {
		return
	}
	st.HasDur = true
	ms := make([]int64, len(ss))
	for i, s := range ss {
		ms[i] = s.ms
	}
	slices.Sort(ms)
	rank := func(p float64) string {
		i := int(math.Ceil(p*float64(len(ms)))) - 1
		return formatMS(ms[min(max(i, 0), len(ms)-1)])
	}
	st.Min, st.P50, st.P90, st.P99, st.Max = formatMS(ms[0]), rank(0.50), rank(0.90), rank(0.99), formatMS(ms[len(ms)-1])
	top := ms[len(ms)-1]
	width := max((top+histBins-1)/histBins, 1)
	st.AxisMid, st.AxisMax = formatMS(width*histBins/2), formatMS(width*histBins)
	var ok, bad [histBins]int
	for _, s := range ss {
		b := min(int(s.ms/width), histBins-1)
		if s.s.s.Status == "failed" {
			bad[b]++
		} else {
			ok[b]++
		}
	}
	tallest := 0
	for b := range histBins {
		tallest = max(tallest, ok[b]+bad[b])
	}
	const height = 40.0
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
	for b := range histBins {
		if ok[b]+bad[b] == 0 {
			continue
		}
		bh := float64(bad[b]) / float64(tallest) * height
		oh := float64(ok[b]) / float64(tallest) * height
		title := fmt.Sprintf("%s: %s–%s", plural(ok[b]+bad[b], "host", "hosts"), formatMS(int64(b)*width), formatMS(int64(b+1)*width))
		if bad[b] > 0 {
			title += fmt.Sprintf(" (%d failed)", bad[b])
		}
		st.Bins = append(st.Bins, bin{X: f(float64(b) + 0.08), BadY: f(height - bh), BadH: f(bh), OKY: f(height - bh - oh), OKH: f(oh), Title: title})
	}
	slowest := slices.Clone(ss)
	slices.SortStableFunc(slowest, func(a, b stepSample) int { return cmp.Compare(b.ms, a.ms) })
	for _, s := range slowest[:min(5, len(slowest))] {
		st.Slowest = append(st.Slowest, slowHost{Host: s.host, Name: s.name, Dur: formatMS(s.ms), Status: s.s.s.Status, Bar: s.s.bar})
	}
}

// ---- data for the script

// pageData is embedded as JSON for the script that draws host rows on
// demand. Text goes through a string table (index 0 is ""), so the many
// hosts that share a step name, reason or message share one copy; times
// are milliseconds after T0.
type pageData struct {
	T0    int64      `json:"t0"`
	TZ    int        `json:"tz"` // the report's zone, seconds east of UTC
	Strs  []string   `json:"strs"`
	Rows  []dataRow  `json:"rows"`
	Hosts []dataHost `json:"hosts"`
	Tail  int        `json:"tail"`
	// Budget is when the failure budget was spent, if it was and is known.
	Budget *int64 `json:"budget,omitempty"`
	// AllSim says every host is simulated, so rows need not each say so.
	AllSim bool `json:"allSim,omitempty"`
	// NB is the number of batches, M in "batch N of M".
	NB     int `json:"nb"`
	strIdx map[string]int
}

// dataRow is a timeline row: batches F to T, and when their hosts ran.
type dataRow struct {
	F int    `json:"f"`
	T int    `json:"t"`
	S *int64 `json:"s,omitempty"`
	E *int64 `json:"e,omitempty"`
}

type dataHost struct {
	N   int      `json:"n"`
	A   int      `json:"a,omitempty"`
	B   int      `json:"b"`
	S   string   `json:"s"`
	R   int      `json:"r,omitempty"`
	X   int      `json:"x,omitempty"`
	Sim bool     `json:"sim,omitempty"`
	Rb  bool     `json:"rb,omitempty"`
	T   *int64   `json:"t,omitempty"`
	D   *int64   `json:"d,omitempty"`
	Er  *dataErr `json:"er,omitempty"`
	// Ig counts the host's failures ignored under continue_on_error.
	Ig int        `json:"ig,omitempty"`
	St []dataStep `json:"st"`
}

type dataStep struct {
	N   int      `json:"n"`
	K   int      `json:"k,omitempty"`
	S   string   `json:"s"`
	C   string   `json:"c"`
	O   int      `json:"o,omitempty"`
	X   *uint32  `json:"x,omitempty"`
	XE  int      `json:"xe,omitempty"`
	A   int      `json:"a,omitempty"`
	T   *int64   `json:"t,omitempty"`
	D   *int64   `json:"d,omitempty"`
	Out int      `json:"out,omitempty"`
	OC  int      `json:"oc,omitempty"`
	Err int      `json:"err,omitempty"`
	EC  int      `json:"ec,omitempty"`
	Tr  bool     `json:"tr,omitempty"`
	R   int      `json:"r,omitempty"`
	CL  int      `json:"cl,omitempty"`
	E   *dataErr `json:"e,omitempty"`
	// Fl is a file step's files, one line each.
	Fl int `json:"fl,omitempty"`
}

// filesText is a file step's files as the page lists them: path, size,
// SHA-256 and what became of the file, one line each.
func filesText(files []report.File) string {
	var b strings.Builder
	for _, f := range files {
		fmt.Fprintf(&b, "%s  %s  sha256 %s", f.Path, report.FormatBytes(f.Size), f.SHA256)
		switch {
		case f.Local != "":
			b.WriteString("  fetched to " + f.Local)
		case f.Unchanged:
			b.WriteString("  unchanged")
		case f.Sent > 0:
			b.WriteString("  sent")
		}
		b.WriteString("\n")
	}
	return b.String()
}

type dataErr struct {
	C int    `json:"c"`
	K uint32 `json:"k,omitempty"`
	M int    `json:"m,omitempty"`
	H int    `json:"h,omitempty"`
}

func (d *pageData) str(s string) int {
	if i, ok := d.strIdx[s]; ok {
		return i
	}
	d.strIdx[s] = len(d.Strs)
	d.Strs = append(d.Strs, s)
	return len(d.Strs) - 1
}

func (d *pageData) err(e *report.Error) *dataErr {
	if e == nil {
		return nil
	}
	return &dataErr{C: d.str(e.Class), K: e.Code, M: d.str(e.Message), H: d.str(e.Hint)}
}

func buildData(r *run, rows []batchRow, tailBytes int) pageData {
	d := pageData{Strs: []string{""}, strIdx: map[string]int{"": 0}, Tail: tailBytes, Hosts: make([]dataHost, 0, len(r.hosts))}
	offset := func(t time.Time) *int64 {
		if t.IsZero() || !r.timed() {
			return nil
		}
		ms := t.Sub(r.t0).Milliseconds()
		return &ms
	}
	if r.timed() {
		d.T0 = r.t0.UnixMilli()
		_, d.TZ = r.t0.Zone()
	}
	rowOf := map[int]int{}
	ids := r.batches()
	for i, row := range rows {
		d.Rows = append(d.Rows, dataRow{F: row.From, T: row.To})
		for _, b := range ids {
			if b >= row.From && b <= row.To {
				rowOf[b] = i
			}
		}
	}
	if at, _, ok := r.budgetSpent(); ok {
		d.Budget = offset(at)
	}
	d.NB = r.batchTotal()
	d.AllSim = len(r.hosts) > 0
	for _, h := range r.hosts {
		d.AllSim = d.AllSim && h.h.Simulated
	}
	for _, h := range r.hosts {
		dh := dataHost{N: d.str(h.h.Name), A: d.str(h.h.Address), B: h.h.Batch, S: h.h.Status, R: d.str(h.h.Reason),
			X: d.str(h.h.Transport), Sim: h.h.Simulated, Rb: h.rebooted, Er: d.err(h.h.Error), Ig: h.ignored(), St: make([]dataStep, 0, len(h.steps))}
		if h.timed() && r.timed() {
			dh.T = offset(h.start)
			dur := h.end.Sub(h.start).Milliseconds()
			dh.D = &dur
			span := &d.Rows[rowOf[h.h.Batch]]
			if span.S == nil || *dh.T < *span.S {
				span.S = dh.T
			}
			if end := *dh.T + dur; span.E == nil || end > *span.E {
				span.E = &end
			}
		}
		for _, s := range h.steps {
			ds := dataStep{N: d.str(s.s.Name), K: d.str(s.s.Kind), S: s.s.Status, C: s.bar, O: d.str(s.s.Outcome),
				X: s.s.ExitCode, XE: d.str(formatCodes(s.s.Expected)), A: s.s.Attempts, Tr: s.s.OutputTruncated,
				R: d.str(s.s.Reason), CL: d.str(s.s.CommandLine), E: d.err(s.s.Error)}
			ds.T = offset(s.start)
			if ms := s.s.DurationMS; ms > 0 { // negative durations only come from damaged reports
				ds.D = &ms
			} else if !s.start.IsZero() {
				ms := s.end.Sub(s.start).Milliseconds()
				ds.D = &ms
			}
			var out, errOut string
			out, ds.OC = tail(s.s.Stdout, tailBytes)
			errOut, ds.EC = tail(s.s.Stderr, tailBytes)
			ds.Out, ds.Err = d.str(out), d.str(errOut)
			ds.Fl = d.str(filesText(s.s.Files))
			dh.St = append(dh.St, ds)
		}
		d.Hosts = append(d.Hosts, dh)
	}
	return d
}
