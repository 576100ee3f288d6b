package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// checkAdHocFleet runs `fleetrun run -- hostname` as a separate process,
// its stdout a pipe, on a simulated fleet of n hosts where three fail in
// two ways (testdata/adhoc/scenario.yaml), and checks that the text stays
// short however big the fleet and that the JSON report of the same run
// holds the two failure groups.
func checkAdHocFleet(t *testing.T, n int) {
	t.Helper()
	dir := t.TempDir()
	scenario, err := filepath.Abs(filepath.Join("testdata", "adhoc", "scenario.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	inv := writeFile(t, dir, "fleet.yaml", fmt.Sprintf("simulated:\n  hosts: %d\n  scenario: %s\n", n, scenario))
	rep := filepath.Join(dir, "run.json")
	code, stdout, stderr := fleetrunIn(t, dir, "run", "-i", inv, "--forks", "200", "--report", rep, "--", "hostname")
	if code != 2 {
		t.Fatalf("exit status %d, want 2 (three hosts failed)\n%s", code, stderrTail(stderr))
	}
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	t.Logf("%d hosts: stdout has %d lines", n, len(lines))
	if len(lines) > 60 {
		t.Errorf("stdout has %d lines, want at most 60:\n%s", len(lines), stdout)
	}
	okNames := "sim-[0001-0006,0008-0030,0032-0041,0043-0050]"
	if n > 50 {
		okNames = fmt.Sprintf("sim-[0001-0006,0008-0030,0032-0041,0043-%04d]", n)
	}
	for _, want := range []string{
		fmt.Sprintf("[simulated] %d hosts, ok, exit 0: %s\n[simulated]   <host>\n", n-3, okNames),
		"[simulated] 2 hosts, unreachable, auth: sim-[0007,0031]\n",
		"[simulated] 1 host, unreachable, refused: sim-0042\n",
		fmt.Sprintf("[simulated] %d hosts: %d ok, 0 failed, 3 unreachable, 0 skipped\n", n, n-3),
		"[simulated] FAILURES BY CAUSE (2 groups)\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	doc := readReport(t, rep)
	type group struct {
		Class string
		Count int
		Hosts []string
	}
	var got []group
	for _, g := range doc.FailureGroups {
		got = append(got, group{g.Class, g.Count, g.Hosts})
	}
	want := []group{{"auth", 2, []string{"sim-0007", "sim-0031"}}, {"refused", 1, []string{"sim-0042"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("failure_groups (-want +got):\n%s", diff)
	}
}

// TestRunGroupsFiftyHostsWithThreeFailures is the scale test's case on 50
// hosts, so every test run covers it.
func TestRunGroupsFiftyHostsWithThreeFailures(t *testing.T) {
	t.Parallel()
	checkAdHocFleet(t, 50)
}

// stderrTail is the end of a run's stderr, for failure messages.
func stderrTail(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-30):], "\n")
}

// The first SIGINT stops fleetrun run as it stops apply: running hosts
// finish their command, no other host starts, the report says so and the
// exit status is 3. No journal is written anywhere.
func TestRunFirstInterruptLetsRunningHostsFinish(t *testing.T) {
	t.Parallel()
	inv, _ := simInventory(t, 20)
	rep := filepath.Join(t.TempDir(), "out.json")
	cmd, started, stderr, done := startApply(t, "run", "-i", inv, "--forks", "5", "--report", rep, "--", `C:\tools\sleep.exe`, "5", "done")
	waitStarted(t, started, 5)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, cmd, done, stderr); code != 3 {
		t.Fatalf("exit status %d, want 3\n%s", code, stderr)
	}
	doc := readReport(t, rep)
	if doc.Playbook != "fleetrun run" || doc.Status != "aborted" || doc.StopReason != "interrupted" {
		t.Errorf("report of %q: status %q %q, want fleetrun run, aborted, interrupted", doc.Playbook, doc.Status, doc.StopReason)
	}
	if diff := cmp.Diff(map[string]int{"ok": 5, "skipped": 15}, hostStatuses(t, rep, "the run was interrupted before this host started")); diff != "" {
		t.Errorf("hosts by status (-want +got):\n%s\n%s", diff, stderr)
	}
	for _, pattern := range []string{filepath.Join(filepath.Dir(rep), "*.journal"), "*.journal"} {
		if m, err := filepath.Glob(pattern); err != nil || len(m) > 0 {
			t.Errorf("journals %v (%v), want none", m, err)
		}
	}
}
