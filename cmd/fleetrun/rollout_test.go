package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/report"
	"github.com/fleetrun/fleetrun/sim"
)

// These tests run a patch rollout the way an operator does — the fleetrun
// binary against a fleet of simulated hosts — and check the result against
// what the simulated hosts themselves counted: installer runs, restarts,
// boot times.

// rolloutTimeout bounds one fleetrun process; the runs take seconds.
const rolloutTimeout = 2 * time.Minute

// rebootTimeout is the reboot_on timeout of testdata/rollout/patch.yaml.
const rebootTimeout = 15 * time.Second

// noStuckHosts raises the rollout playbook's reboot timeout for tests
// whose hosts all come back: no test then waits it out, and a machine
// loaded to the hilt still fits in it.
func noStuckHosts(s string) string {
	return strings.Replace(s, "timeout: 15s ", "timeout: 60s ", 1)
}

// patchedHost reports whether the rollout scenario gives host the update
// already (its "patched" group).
func patchedHost(name string) bool {
	ok, err := filepath.Match("sim-00?[05]", name)
	return err == nil && ok
}

// rolloutFleet starts the rollout scenario's fleet in this process (so the
// test can read its counters) and writes its inventory. The hosts named in
// stuck never come back from a restart.
func rolloutFleet(t *testing.T, hosts int, stuck ...string) (inventory string, fleet *sim.Fleet) {
	t.Helper()
	return rolloutFleetWith(t, hosts, stuck, nil)
}

// rolloutFleetWith is rolloutFleet where, besides, the hosts named in
// refused refuse every connection.
func rolloutFleetWith(t *testing.T, hosts int, stuck, refused []string) (inventory string, fleet *sim.Fleet) {
	t.Helper()
	return startRolloutFleet(t, hosts, func(sc *sim.Scenario) {
		yes := true
		for _, name := range stuck {
			sc.HostOverrides[name] = sim.Settings{Faults: sim.FaultSettings{NeverReturns: &yes}}
		}
		for _, name := range refused {
			sc.HostOverrides[name] = sim.Settings{Faults: sim.FaultSettings{Refused: &yes}}
		}
	})
}

// startRolloutFleet starts the rollout scenario's fleet, changed by edit,
// in this process and writes its inventory; the fleet's log is shown when
// the test fails.
func startRolloutFleet(t *testing.T, hosts int, edit func(*sim.Scenario)) (inventory string, fleet *sim.Fleet) {
	t.Helper()
	sc, err := sim.LoadScenario(filepath.Join("testdata", "rollout", "scenario.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	edit(sc)
	dir := t.TempDir()
	// The fleet's own account of restarts, shown when a test fails.
	simLog := &lockedBuffer{}
	fleet, err = sim.StartFleet(context.Background(), sim.FleetOptions{Hosts: hosts, Scenario: sc, Dir: dir, Log: simLog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := fleet.Close(); err != nil {
			t.Errorf("close the simulated fleet: %v", err)
		}
		if t.Failed() {
			t.Logf("the simulated fleet's log:\n%s", simLog.String())
		}
	})
	inventory = filepath.Join(dir, "fleet.yaml")
	if err := fleet.WriteInventory(inventory); err != nil {
		t.Fatal(err)
	}
	return inventory, fleet
}

// lockedBuffer is a strings.Builder safe for the fleet's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// rolloutPlaybook copies the rollout playbook into dir, with edit applied
// to its text, and returns its path.
func rolloutPlaybook(t *testing.T, dir, name string, edit func(string) string) string {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("testdata", "rollout", "patch.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		text = []byte(edit(string(text)))
	}
	return writeFile(t, dir, name, string(text))
}

// fleetrunIn runs the fleetrun binary in dir to completion and returns its
// exit status and output.
func fleetrunIn(t *testing.T, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), rolloutTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, fleetrunBinary(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("fleetrun %s did not finish within %s\n%s", strings.Join(args, " "), rolloutTimeout, errOut.String())
	}
	return exitCode(err), out.String(), errOut.String()
}

// parseStamp reads a report timestamp; a missing or malformed one fails
// the test (and reads as the zero time).
func parseStamp(t *testing.T, what, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Errorf("%s: %v", what, err)
	}
	return ts
}

// stepView is what the tests compare of a reported step.
type stepView struct {
	Name     string
	Status   string
	ExitCode uint32
	Outcome  string
	Rebooted bool
	Class    string
	Stdout   string
}

func viewSteps(h report.Host) []stepView {
	var out []stepView
	for _, s := range h.Steps {
		v := stepView{Name: s.Name, Status: s.Status, Outcome: s.Outcome, Rebooted: s.Rebooted, Stdout: s.Stdout}
		if s.ExitCode != nil {
			v.ExitCode = *s.ExitCode
		}
		if s.Error != nil {
			v.Class = s.Error.Class
		}
		out = append(out, v)
	}
	return out
}

var (
	installed = stepView{Name: "install patch", Status: "ok", ExitCode: 2359302, Outcome: "ok"}
	rebooted  = stepView{Name: "install patch", Status: "ok", ExitCode: 3010, Outcome: "reboot_required", Rebooted: true}
	verified  = stepView{Name: "verify patch", Status: "ok", Outcome: "ok", Stdout: "KB5034439\r\n"}
)

// checkRebootOrder checks, for a host the rollout restarted, that the
// restart finished (the boot time the simulated host reports) before the
// install step was reported done, and the verification started after it.
func checkRebootOrder(t *testing.T, h report.Host, boot time.Time) {
	t.Helper()
	install, verify := h.Steps[0], h.Steps[1]
	// Report times have millisecond precision.
	boot = boot.Truncate(time.Millisecond)
	installDone := parseStamp(t, h.Name+" install finished_at", install.FinishedAt)
	verifyStart := parseStamp(t, h.Name+" verify started_at", verify.StartedAt)
	if installDone.Before(boot) || verifyStart.Before(installDone) {
		t.Errorf("%s: boot %s, install finished %s, verification started %s; want them in this order",
			h.Name, boot.Format(time.RFC3339Nano), install.FinishedAt, verify.StartedAt)
	}
}

func TestRolloutRebootsExactlyTheHostsThatAskedAndVerifiesAfter(t *testing.T) {
	t.Parallel()
	const stuck = "sim-0042"
	inv, fleet := rolloutFleet(t, 100, stuck)
	started := time.Now()
	bootBefore := map[string]time.Time{}
	for _, h := range fleet.Hosts() {
		bootBefore[h.Name()] = h.BootTime()
	}
	dir := t.TempDir()
	pb := rolloutPlaybook(t, dir, "patch.yaml", nil)
	rep := filepath.Join(dir, "out.json")

	code, _, stderr := fleetrunIn(t, dir, "apply", pb, "-i", inv, "--report", rep, "--no-progress")
	// One host failed, within the budget: the run finished, status 2.
	if code != 2 {
		t.Fatalf("exit status %d, want 2\n%s", code, stderr)
	}
	doc := readReport(t, rep)
	wantSummary := report.Summary{Hosts: 100, OK: 99, Failed: 1}
	if doc.Status != "failed" || doc.StopReason != "" || doc.Summary != wantSummary || doc.MaxFail == nil || *doc.MaxFail != 10 {
		t.Errorf("report: status %q, stop reason %q, max_fail %v, summary %+v; want failed, none, 10, %+v",
			doc.Status, doc.StopReason, doc.MaxFail, doc.Summary, wantSummary)
	}
	if len(doc.Hosts) != 100 {
		t.Fatalf("%d hosts in the report, want 100", len(doc.Hosts))
	}
	stats := map[string]sim.HostStats{}
	for _, hs := range fleet.Stats().Hosts {
		stats[hs.Name] = hs
	}
	rebootedHosts := 0
	for i, h := range doc.Hosts {
		// serial [10, "30%"] of 100 hosts: batches of 10, 30, 30, 30.
		wantBatch := 0
		if i >= 10 {
			wantBatch = 1 + (i-10)/30
		}
		if h.Batch != wantBatch {
			t.Errorf("%s in batch %d", h.Name, h.Batch)
		}
		st, simHost := stats[h.Name], fleet.Host(h.Name)
		var want []stepView
		wantReboots := int64(0)
		switch {
		case h.Name == stuck:
			fail := rebooted
			fail.Status, fail.Rebooted, fail.Class = "failed", false, "reboot_timeout"
			want = []stepView{fail, {Name: "verify patch", Status: "skipped"}}
			wantReboots = 1
			if h.Status != "failed" {
				t.Errorf("%s: status %q, want failed", h.Name, h.Status)
			}
			if simHost.Online() || !simHost.BootTime().Equal(bootBefore[h.Name]) {
				t.Errorf("%s is back (online %v, boot time %v), but it never returns", h.Name, simHost.Online(), simHost.BootTime())
			}
			// It failed only once its reboot timeout was spent.
			install := h.Steps[0]
			spent := parseStamp(t, "finished_at", install.FinishedAt).Sub(parseStamp(t, "started_at", install.StartedAt))
			if spent < rebootTimeout {
				t.Errorf("%s failed after %s, before its reboot timeout of %s", h.Name, spent, rebootTimeout)
			}
		case patchedHost(h.Name):
			want = []stepView{installed, verified}
			if !simHost.BootTime().Equal(bootBefore[h.Name]) {
				t.Errorf("%s restarted (boot time %v), but it needed no restart", h.Name, simHost.BootTime())
			}
		default:
			want = []stepView{rebooted, verified}
			wantReboots = 1
			rebootedHosts++
			boot := simHost.BootTime()
			if !boot.After(started) {
				t.Errorf("%s: boot time %v, not after the rollout started", h.Name, boot)
			}
			if len(h.Steps) == 2 && h.Steps[1].Status == "ok" {
				checkRebootOrder(t, h, boot)
			}
		}
		if diff := cmp.Diff(want, viewSteps(h)); diff != "" {
			t.Errorf("%s steps (-want +got):\n%s", h.Name, diff)
		}
		// One installer run everywhere; fleetrun's shutdown /r only where
		// the installer asked for a restart; one verification (the
		// scenario's Get-HotFix rule) wherever the host came back.
		wantVerify := int64(1)
		if h.Name == stuck {
			wantVerify = 0
		}
		got := fmt.Sprintf("installer %d, restarts %d, shutdown.exe %d, verification %d", st.Programs["wusa.exe"], st.Reboots, st.Programs["shutdown.exe"], st.Programs["script-rule"])
		if want := fmt.Sprintf("installer 1, restarts %d, shutdown.exe %d, verification %d", wantReboots, wantReboots, wantVerify); got != want {
			t.Errorf("%s: the sim counted %s; want %s", h.Name, got, want)
		}
	}
	if rebootedHosts != 80 {
		t.Errorf("%d hosts restarted and came back, want 80 (100 minus 19 patched minus the stuck one)", rebootedHosts)
	}
	if t.Failed() {
		t.Logf("fleetrun's stderr:\n%s", stderr)
	}
}

func TestRolloutStopsWhenHostsThatNeverReturnSpendTheBudget(t *testing.T) {
	t.Parallel()
	// With max_fail 1 at most two hosts run at once (failures + hosts in
	// flight ≤ 1 before each start); the two stuck hosts are the second
	// and third to start, so the second failure stops the run.
	inv, fleet := rolloutFleet(t, 20, "sim-0002", "sim-0003")
	dir := t.TempDir()
	pb := rolloutPlaybook(t, dir, "patch.yaml", func(s string) string {
		return strings.Replace(s, `max_fail: "10%"`, "max_fail: 1", 1)
	})
	rep := filepath.Join(dir, "out.json")
	code, _, stderr := fleetrunIn(t, dir, "apply", pb, "-i", inv, "--report", rep, "--no-progress")
	if code != 3 {
		t.Fatalf("exit status %d, want 3 (budget spent)\n%s", code, stderr)
	}
	doc := readReport(t, rep)
	if doc.Status != "aborted" || !strings.Contains(doc.StopReason, "max_fail") {
		t.Errorf("report status %q, stop reason %q; want aborted by the failure budget", doc.Status, doc.StopReason)
	}
	got := map[string]string{}
	for _, h := range doc.Hosts {
		switch h.Status {
		case "failed":
			class := ""
			if e := h.Steps[0].Error; e != nil {
				class = e.Class
			}
			got[h.Name] = "failed: " + class
		case "skipped":
			if n := fleet.Host(h.Name).Stats().Programs["wusa.exe"]; n != 0 {
				t.Errorf("%s was skipped but the installer ran %d times on it", h.Name, n)
			}
		default:
			got[h.Name] = h.Status
		}
	}
	want := map[string]string{"sim-0001": "ok", "sim-0002": "failed: reboot_timeout", "sim-0003": "failed: reboot_timeout"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("hosts that ran (-want +got):\n%s\n%s", diff, stderr)
	}
	if doc.Summary.Failed != 2 || doc.Summary.Skipped != 17 {
		t.Errorf("summary %+v, want 2 failed (max_fail + 1) and 17 skipped", doc.Summary)
	}
}

// okLine is the console line of a host that finished well.
var okLine = regexp.MustCompile(`\bsim-\d{4}: ok\b`)

func TestInterruptedRolloutResumesFromItsJournal(t *testing.T) {
	t.Parallel()
	inv, fleet := rolloutFleet(t, 100)
	dir := t.TempDir()
	pb := rolloutPlaybook(t, dir, "patch.yaml", noStuckHosts)
	journal := filepath.Join(dir, "rollout.journal")
	first := filepath.Join(dir, "first.json")

	// Run until half the hosts are done, then press Ctrl-C once: no new
	// host starts, the running ones finish (restarts included).
	ctx, cancel := context.WithTimeout(context.Background(), rolloutTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, fleetrunBinary(t), "apply", pb, "-i", inv, "--report", first, "--journal", journal, "--no-progress")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	half := make(chan struct{})
	var stderr strings.Builder
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(pipe)
		n := 0
		for sc.Scan() {
			stderr.WriteString(sc.Text() + "\n")
			if okLine.MatchString(sc.Text()) {
				if n++; n == 50 {
					close(half)
				}
			}
		}
	}()
	select {
	case <-half:
	case <-ctx.Done():
		t.Fatal("50 hosts did not finish in time")
	}
	restarting := 0
	for _, h := range fleet.Hosts() {
		if !h.Online() {
			restarting++
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if code := exitCode(cmd.Wait()); code != 3 {
		t.Fatalf("interrupted run: exit status %d, want 3\n%s", code, stderr.String())
	}
	doc := readReport(t, first)
	if doc.Status != "aborted" || doc.StopReason != "interrupted" {
		t.Errorf("interrupted run: report status %q, stop reason %q", doc.Status, doc.StopReason)
	}
	doneFirst := map[string]bool{}
	for _, h := range doc.Hosts {
		switch h.Status {
		case "ok":
			doneFirst[h.Name] = true
		case "skipped":
		default:
			t.Errorf("interrupted run: %s %s (%s)", h.Name, h.Status, h.Reason)
		}
	}
	if len(doneFirst) < 50 || doc.Summary.Skipped == 0 || len(doneFirst)+doc.Summary.Skipped != 100 {
		t.Fatalf("interrupted run: %d hosts ok, %d skipped; want at least 50 ok, some skipped, 100 in all\n%s", len(doneFirst), doc.Summary.Skipped, stderr.String())
	}
	t.Logf("interrupted after 50 hosts finished, %d of them restarting: %d ok, %d skipped", restarting, len(doneFirst), doc.Summary.Skipped)
	installs := func() map[string]int64 {
		out := map[string]int64{}
		for _, h := range fleet.Stats().Hosts {
			out[h.Name] = h.Programs["wusa.exe"]
		}
		return out
	}
	afterFirst := installs()
	for name, n := range afterFirst {
		if want := map[bool]int64{true: 1, false: 0}[doneFirst[name]]; n != want {
			t.Errorf("after the interrupted run the installer ran %d times on %s, want %d", n, name, want)
		}
	}

	// A changed playbook does not resume the journal without --force.
	changed := rolloutPlaybook(t, dir, "patch-changed.yaml", func(s string) string { return noStuckHosts(s) + "# edited after the run\n" })
	code, _, errOut := fleetrunIn(t, dir, "apply", changed, "-i", inv, "--resume", journal)
	if code != 1 || !strings.Contains(errOut, "the playbook changed since the journal was written") || !strings.Contains(errOut, "--force") {
		t.Errorf("resume with a changed playbook: exit status %d, want 1 and a refusal naming --force\n%s", code, errOut)
	}
	if diff := cmp.Diff(afterFirst, installs()); diff != "" {
		t.Errorf("the refused resume ran installers (-before +after):\n%s", diff)
	}

	// Resuming finishes the rollout: the hosts that ran are not touched.
	second := filepath.Join(dir, "second.json")
	code, _, errOut = fleetrunIn(t, dir, "apply", pb, "-i", inv, "--resume", journal, "--report", second, "--no-progress")
	if code != 0 {
		t.Fatalf("resumed run: exit status %d, want 0\n%s", code, errOut)
	}
	doc = readReport(t, second)
	if doc.Status != "ok" || doc.Summary.OK != 100 {
		t.Errorf("resumed run: status %q, summary %+v; want every host ok", doc.Status, doc.Summary)
	}
	for _, h := range doc.Hosts {
		earlier := h.Reason == "done in an earlier run (journal)"
		if earlier != doneFirst[h.Name] {
			t.Errorf("resumed run: %s reason %q, but it finished in the first run: %v", h.Name, h.Reason, doneFirst[h.Name])
		}
		if earlier {
			continue
		}
		want := []stepView{rebooted, verified}
		if patchedHost(h.Name) {
			want = []stepView{installed, verified}
		}
		if diff := cmp.Diff(want, viewSteps(h)); diff != "" {
			t.Errorf("resumed run: %s steps (-want +got):\n%s", h.Name, diff)
		}
		if len(h.Steps) == 2 && h.Steps[1].Status == "ok" && !patchedHost(h.Name) {
			checkRebootOrder(t, h, fleet.Host(h.Name).BootTime())
		}
	}

	// Even forced, resuming a finished rollout runs nothing again.
	code, _, errOut = fleetrunIn(t, dir, "apply", changed, "-i", inv, "--resume", journal, "--force", "--report", filepath.Join(dir, "third.json"))
	if code != 0 {
		t.Errorf("forced resume of a finished rollout: exit status %d, want 0\n%s", code, errOut)
	}
	// The journal goes on with the playbook the forced run accepted: it
	// resumes again without --force, and the old playbook now needs it.
	if code, _, errOut = fleetrunIn(t, dir, "apply", changed, "-i", inv, "--resume", journal); code != 0 {
		t.Errorf("resume after a forced resume: exit status %d, want 0\n%s", code, errOut)
	}
	if code, _, errOut = fleetrunIn(t, dir, "apply", pb, "-i", inv, "--resume", journal); code != 1 || !strings.Contains(errOut, "--force") {
		t.Errorf("resume with the playbook the forced run replaced: exit status %d, want 1 and a refusal naming --force\n%s", code, errOut)
	}

	// Over all runs: one installer run, one verification, and a restart
	// exactly where the installer asked for one, on every host.
	for _, hs := range fleet.Stats().Hosts {
		wantReboots := int64(1)
		if patchedHost(hs.Name) {
			wantReboots = 0
		}
		got := fmt.Sprintf("installer %d, verification %d, restarts %d", hs.Programs["wusa.exe"], hs.Programs["script-rule"], hs.Reboots)
		if want := fmt.Sprintf("installer 1, verification 1, restarts %d", wantReboots); got != want {
			t.Errorf("%s: %s; want %s", hs.Name, got, want)
		}
	}
}
