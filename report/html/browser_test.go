package html_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/internal/testneeds"
	"github.com/fleetrun/fleetrun/report"
	"github.com/fleetrun/fleetrun/report/html"
)

var screenshotOut = flag.String("screenshot", "", "also write the browser test's screenshot of the page's top to this PNG file (the README's is ../../docs/report-screenshot.png)")

// pageProblems collects what a clean page never produces: console
// messages, uncaught exceptions, browser log warnings and errors (such as
// Content-Security-Policy violations or failed loads) and dialogs.
type pageProblems struct {
	mu   sync.Mutex
	list []string
}

func (p *pageProblems) listen(ev any) {
	var msg string
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		var args []string
		for _, a := range e.Args {
			args = append(args, string(a.Value)+a.Description)
		}
		msg = fmt.Sprintf("console.%s: %s", e.Type, strings.Join(args, " "))
	case *runtime.EventExceptionThrown:
		msg = "exception: " + e.ExceptionDetails.Text
		if e.ExceptionDetails.Exception != nil {
			msg += " " + e.ExceptionDetails.Exception.Description
		}
	case *cdplog.EventEntryAdded:
		if e.Entry.Level == cdplog.EntryLevelWarning || e.Entry.Level == cdplog.EntryLevelError {
			msg = fmt.Sprintf("log %s (%s): %s %s", e.Entry.Level, e.Entry.Source, e.Entry.Text, e.Entry.URL)
		}
	case *page.EventJavascriptDialogOpening:
		msg = fmt.Sprintf("dialog %s: %q", e.Type, e.Message)
	}
	if msg == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.list = append(p.list, msg)
}

func (p *pageProblems) all() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.list...)
}

// pageFacts is what the test reads back from the DOM.
type pageFacts struct {
	Counts       map[string]int `json:"counts"`
	FailureHosts []int          `json:"failureHosts"`
	BatchRows    int            `json:"batchRows"`
	Scripts      []string       `json:"scripts"`
	HostEntries  int            `json:"hostEntries"`
	Listed       string         `json:"listed"`
	Title        string         `json:"title"`
}

const readFacts = `(() => ({
  counts: Object.fromEntries([...document.querySelectorAll("[data-count]")].map(e => [e.dataset.count, Number(e.textContent)])),
  failureHosts: [...document.querySelectorAll("#failure-table tbody tr")].map(r => Number(r.dataset.host)),
  batchRows: document.querySelectorAll("#timeline .tl-batch").length,
  scripts: [...document.querySelectorAll("script")].map(s => s.id),
  hostEntries: document.querySelectorAll("#host-list details.host").length,
  listed: document.getElementById("hf-count").textContent,
  title: document.title,
}))()`

func TestRenderedRolloutWorksInChromium(t *testing.T) {
	browser := testneeds.Chromium(t)
	doc := rollout(t, 2000)
	file := filepath.Join(t.TempDir(), "report.html")
	if err := report.WriteFile(file, func(w io.Writer) error { return html.Render(w, doc, html.Options{Source: "rollout.json"}) }); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() >= 5<<20 {
		t.Fatalf("the 2,000-host page is %d bytes, want under 5 MiB", fi.Size())
	}
	t.Logf("2,000-host page: %d bytes", fi.Size())

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(browser),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1750),
	)
	defer cancelAlloc()
	var problems pageProblems
	tab, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithListener(problems.listen))
	defer cancelTab()

	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(tab, actions...); err != nil {
			t.Fatalf("%s: %v (page problems so far: %q)", what, err, problems.all())
		}
	}
	eval := func(what, js string, into any) {
		t.Helper()
		raw, err := chromedp.Run(tab, chromedp.Evaluate[[]byte](js))
		if err != nil {
			t.Fatalf("%s: %v (page problems so far: %q)", what, err, problems.all())
		}
		if err := json.Unmarshal(raw, into); err != nil {
			t.Fatalf("%s: %v in %s", what, err, raw)
		}
	}

	run("load the page", chromedp.Navigate("file://"+file), chromedp.WaitReady(chromedp.CSS("#host-list details.host")))

	shot, err := chromedp.Run(tab, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	checkScreenshot(t, shot)

	// The counts, a failure row per failure and a timeline row per batch.
	var got pageFacts
	eval("read the page", readFacts, &got)
	want := pageFacts{
		Counts: map[string]int{"hosts": doc.Summary.Hosts, "ok": doc.Summary.OK, "failed": doc.Summary.Failed,
			"unreachable": doc.Summary.Unreachable, "skipped": doc.Summary.Skipped, "rebooted": rebootedHosts(doc)},
		FailureHosts: failureRows(doc),
		BatchRows:    doc.Batches,
		Scripts:      []string{"fleetrun-data", "fleetrun-script"},
		HostEntries:  100,
		Listed:       "2000 of 2000 hosts, showing the first 100",
		Title:        "fleetrun report: monthly-patch",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("page (-want +got):\n%s", diff)
	}
	if len(got.FailureHosts) != doc.Summary.Failed+doc.Summary.Unreachable {
		t.Errorf("%d failure rows for %d failed and %d unreachable hosts", len(got.FailureHosts), doc.Summary.Failed, doc.Summary.Unreachable)
	}

	// Drilling into a batch draws one row per host with its step bars.
	var batch struct {
		Rows, Bars, Failed, Reboot, Skipbands int
		Expanded                              string
	}
	run("open batch 1", chromedp.Click(chromedp.CSS(`button.tl-label[data-row="1"]`)), chromedp.WaitVisible(chromedp.CSS("#tl-hosts-1 .hrow[data-host]")))
	eval("read batch 1", `(() => { const b = document.getElementById("tl-hosts-1"); return {
	  Rows: b.querySelectorAll(".hrow[data-host]").length, Bars: b.querySelectorAll(".bar").length,
	  Failed: b.querySelectorAll(".bar.failed").length, Reboot: b.querySelectorAll(".bar.reboot").length,
	  Skipbands: b.querySelectorAll(".bar.skipband").length,
	  Expanded: document.querySelector('button.tl-label[data-row="1"]').getAttribute("aria-expanded") }; })()`, &batch)
	inBatch, stepsRun, failedSteps, rebootSteps, skipbands := batchFacts(doc, 1)
	wantBatch := struct {
		Rows, Bars, Failed, Reboot, Skipbands int
		Expanded                              string
	}{inBatch, stepsRun + skipbands, failedSteps, rebootSteps, skipbands, "true"}
	if batch != wantBatch {
		t.Errorf("batch 1 drill-down = %+v, want %+v", batch, wantBatch)
	}

	// Host output that looks like markup is text: following the failure
	// table's link opens the host, and its output is in a <pre>, verbatim.
	scriptIdx := hostIndex(t, doc, scriptHost)
	run("open the host that prints markup",
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = "#host-%d"`, scriptIdx)),
		chromedp.WaitReady(chromedp.CSS(fmt.Sprintf("#host-%d pre.stdout", scriptIdx))),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelectorAll("#host-%d details.out").forEach(d => d.open = true)`, scriptIdx)),
	)
	var markup struct {
		Stdout  string   `json:"stdout"`
		Scripts []string `json:"scripts"`
		Images  int      `json:"images"`
		Open    bool     `json:"open"`
	}
	eval("read the host that prints markup", fmt.Sprintf(`(() => ({
	  stdout: document.querySelector("#host-%d pre.stdout").textContent,
	  scripts: [...document.querySelectorAll("script")].map(s => s.id),
	  images: document.querySelectorAll("img").length,
	  open: document.getElementById("host-%d").open }))()`, scriptIdx, scriptIdx), &markup)
	if !strings.Contains(markup.Stdout, scriptOutput) || !markup.Open {
		t.Errorf("host %s: open %v, stdout %q, want the text %q", scriptHost, markup.Open, markup.Stdout, scriptOutput)
	}
	if diff := cmp.Diff([]string{"fleetrun-data", "fleetrun-script"}, markup.Scripts); diff != "" || markup.Images != 0 {
		t.Errorf("host output became elements: scripts (-want +got):\n%s images: %d", diff, markup.Images)
	}

	// Japanese output survives as text, in the failure table and the host.
	jpIdx := hostIndex(t, doc, japaneseHost)
	run("open the host with Japanese output",
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = "#host-%d"`, jpIdx)),
		chromedp.WaitReady(chromedp.CSS(fmt.Sprintf("#host-%d pre.stderr", jpIdx))),
	)
	var japanese struct {
		Table string `json:"table"`
		Host  string `json:"host"`
	}
	eval("read Japanese output", fmt.Sprintf(`(() => ({
	  table: document.querySelector('#failure-table tr[data-host="%d"] pre.tail').textContent,
	  host: document.querySelector("#host-%d pre.stderr").textContent }))()`, jpIdx, jpIdx), &japanese)
	if japanese.Table != japaneseText || strings.TrimSpace(japanese.Host) != japaneseText {
		t.Errorf("Japanese output: table %q, host %q, want %q", japanese.Table, japanese.Host, japaneseText)
	}

	// Filtering and sorting.
	var listed string
	run("filter failed hosts", chromedp.Evaluate[chromedp.Void](`(() => { const s = document.getElementById("hf-status"); s.value = "failed"; s.dispatchEvent(new Event("change")); })()`))
	eval("read the filtered count", `document.getElementById("hf-count").textContent`, &listed)
	if want := fmt.Sprintf("%d of 2000 hosts", doc.Summary.Failed); listed != want {
		t.Errorf("filtered to failed hosts: %q, want %q", listed, want)
	}
	var sorted []int
	run("sort failures by exit code", chromedp.Click(chromedp.CSS("#failure-table thead th:nth-child(4)")))
	eval("read sorted failures", `[...document.querySelectorAll("#failure-table tbody td:nth-child(4)")].map(td => Number(td.dataset.v))`, &sorted)
	for i := 1; i < len(sorted); i++ {
		if sorted[i-1] > sorted[i] {
			t.Errorf("exit codes not ascending after sorting: %v", sorted)
			break
		}
	}

	if p := problems.all(); len(p) > 0 {
		t.Errorf("the page reported problems:\n%s", strings.Join(p, "\n"))
	}

	// The watch for problems works: a page that logs an error trips it.
	canary := filepath.Join(t.TempDir(), "canary.html")
	if err := os.WriteFile(canary, []byte(`<!DOCTYPE html><title>canary</title><script>console.error("canary")</script>`), 0o600); err != nil {
		t.Fatal(err)
	}
	run("load the canary page", chromedp.Navigate("file://"+canary), chromedp.WaitReady(chromedp.CSS("title")))
	if got := problems.all(); !slices.Contains(got, `console.error: "canary"`) {
		t.Errorf("the canary's console error was not seen; problems: %q", got)
	}
	if *screenshotOut != "" {
		if err := os.WriteFile(*screenshotOut, shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func checkScreenshot(t *testing.T, shot []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1400 || b.Dy() < 1000 {
		t.Fatalf("screenshot is %dx%d, want 1400 wide and at least 1000 high", b.Dx(), b.Dy())
	}
	// A blank page is one colour; a drawn one has the status colours.
	colours := map[[3]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 7 {
		for x := b.Min.X; x < b.Max.X; x += 7 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[[3]uint32{r >> 12, g >> 12, bl >> 12}] = true
		}
	}
	if len(colours) < 20 {
		t.Errorf("screenshot has %d colours; the page looks blank", len(colours))
	}
}

func hostIndex(t *testing.T, doc *report.Document, name string) int {
	t.Helper()
	for i, h := range doc.Hosts {
		if h.Name == name {
			return i
		}
	}
	t.Fatalf("no host %s in the report", name)
	return -1
}

// failureRows lists, for each row the failure table should have, the
// index of its host: one row per failed step, or one for a host that
// failed without a failed step.
func failureRows(doc *report.Document) []int {
	var rows []int
	for i, h := range doc.Hosts {
		n := 0
		for _, s := range h.Steps {
			if s.Status == "failed" {
				rows = append(rows, i)
				n++
			}
		}
		if n == 0 && (h.Status == "failed" || h.Status == "unreachable") {
			rows = append(rows, i)
		}
	}
	return rows
}

func rebootedHosts(doc *report.Document) int {
	n := 0
	for _, h := range doc.Hosts {
		for _, s := range h.Steps {
			if s.Rebooted || (s.Kind == "reboot" && s.Status == "ok") {
				n++
				break
			}
		}
	}
	return n
}

// batchFacts counts what batch b's drill-down should draw: hosts, bars
// of steps that ran, failed and reboot bars, and hatched bands for hosts
// that never started or skipped steps after a failure.
func batchFacts(doc *report.Document, b int) (hosts, ran, failed, reboot, bands int) {
	for _, h := range doc.Hosts {
		if h.Batch != b {
			continue
		}
		hosts++
		if h.StartedAt == "" {
			bands++
			continue
		}
		skipped := false
		for _, s := range h.Steps {
			switch {
			case s.Status == "skipped":
				skipped = true
			case s.StartedAt == "":
			case s.Status == "failed":
				ran++
				failed++
			case s.Kind == "reboot" || s.Rebooted || s.Outcome == "reboot_required" || s.Outcome == "reboot_initiated":
				ran++
				reboot++
			default:
				ran++
			}
		}
		if skipped && h.FinishedAt < lastFinish(doc, b) {
			bands++
		}
	}
	return hosts, ran, failed, reboot, bands
}

func lastFinish(doc *report.Document, b int) string {
	last := ""
	for _, h := range doc.Hosts {
		if h.Batch == b && h.FinishedAt > last {
			last = h.FinishedAt
		}
	}
	return last
}
