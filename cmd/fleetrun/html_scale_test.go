//go:build scale

package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fleetrun/fleetrun/internal/testneeds"
	"github.com/fleetrun/fleetrun/report"
)

// TestScaleHTMLReportOfATwoThousandHostRollout renders the report of a
// rollout of 2,000 simulated hosts — restarts, hosts that never come back,
// hosts that refuse connections — as `fleetrun apply --html` writes it, and
// opens it in headless Chromium: under 5 MB, no console messages, and the
// page's counts, failure rows and timeline rows are the report's. (The
// report/html tests drive the page itself in depth on a scripted fleet.)
func TestScaleHTMLReportOfATwoThousandHostRollout(t *testing.T) {
	browser := testneeds.Chromium(t)
	const hosts = 2000
	stuck := []string{"sim-0101", "sim-0702", "sim-1303"}
	refused := []string{"sim-0004", "sim-0555", "sim-1999"}
	inv, _ := rolloutFleetWith(t, hosts, stuck, refused)
	dir := t.TempDir()
	pb := rolloutPlaybook(t, dir, "patch.yaml", nil)
	rep, page := filepath.Join(dir, "out.json"), filepath.Join(dir, "out.html")
	code, _, stderr := fleetrunIn(t, dir, "apply", pb, "-i", inv, "--forks", "200", "--report", rep, "--html", page, "--no-progress")
	if code != 2 {
		t.Fatalf("exit status %d, want 2 (hosts failed within the budget)\n%s", code, lastLines(stderr, 30))
	}
	doc := readReport(t, rep)
	want := report.Summary{Hosts: hosts, OK: hosts - 6, Failed: 3, Unreachable: 3}
	if doc.Summary != want {
		t.Errorf("summary %+v, want %+v", doc.Summary, want)
	}
	fi, err := os.Stat(page)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() >= 5<<20 {
		t.Errorf("the 2,000-host page is %d bytes, want under 5 MiB", fi.Size())
	}
	t.Logf("2,000-host page from the simulated rollout: %d bytes", fi.Size())

	dom, console := dumpDOM(t, browser, page)
	for _, line := range console {
		t.Errorf("the page wrote to the console: %s", line)
	}
	// The watch works: a page that logs an error trips it.
	canary := filepath.Join(dir, "canary.html")
	if err := os.WriteFile(canary, []byte(`<!DOCTYPE html><title>canary</title><script>console.error("canary")</script>`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, console := dumpDOM(t, browser, canary); len(console) != 1 || !strings.Contains(console[0], `"canary"`) {
		t.Errorf("the canary page's console error was not seen: %q", console)
	}
	html := dom
	for name, n := range map[string]int{"hosts": hosts, "ok": hosts - 6, "failed": 3, "unreachable": 3, "skipped": 0, "rebooted": rebootedHosts(doc)} {
		if got := domCount(html, name); got != n {
			t.Errorf("the page shows %s = %d, want %d", name, got, n)
		}
	}
	if got := strings.Count(html, `<tr data-host=`); got != 6 {
		t.Errorf("%d failure rows, want 6", got)
	}
	if got := strings.Count(html, `class="tl-batch`); got != doc.Batches {
		t.Errorf("%d timeline rows, want one per batch: %d", got, doc.Batches)
	}
}

// dumpDOM loads file in headless Chromium and returns the DOM once the page
// has run its scripts, and the console messages it wrote.
func dumpDOM(t *testing.T, browser, file string) (dom string, console []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--user-data-dir="+t.TempDir(), "--enable-logging=stderr", "--v=0", "--dump-dom", "file://"+file)
	var out, log strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &log
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", file, err, lastLines(log.String(), 30))
	}
	for _, line := range strings.Split(log.String(), "\n") {
		if strings.Contains(line, ":CONSOLE") {
			console = append(console, line)
		}
	}
	return out.String(), console
}

// domCount reads a summary count from the rendered page.
func domCount(html, name string) int {
	m := regexp.MustCompile(`data-count="` + regexp.QuoteMeta(name) + `"[^>]*>(\d+)<`).FindStringSubmatch(html)
	if m == nil {
		return -1
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return -1
	}
	return n
}

// rebootedHosts counts the hosts the report says were restarted.
func rebootedHosts(doc *report.Document) int {
	n := 0
	for _, h := range doc.Hosts {
		for _, s := range h.Steps {
			if s.Rebooted {
				n++
				break
			}
		}
	}
	return n
}

// lastLines is the end of a long output, for failure messages.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
