package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/fleetrun/fleetrun/internal/fleettest"
	"github.com/fleetrun/fleetrun/report"
	"github.com/fleetrun/fleetrun/sim"
)

// These tests run fleetrun as a separate process, as an operator does, to
// check what only a real process shows: signals, terminals, exit statuses.

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// fleetrunBinary builds the command once per test binary.
func fleetrunBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fleetrun-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "fleetrun")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// simInventory starts a simulated fleet in this process (so the test can
// read its counters) and writes its inventory.
func simInventory(t *testing.T, hosts int) (string, *sim.Fleet) {
	t.Helper()
	f := fleettest.Start(t, hosts, "", sim.FleetOptions{})
	return f.Inventory, f.Fleet
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const sleepPlaybook = `
name: slow
forks: 5
steps:
  - name: work
    command: ['C:\tools\sleep.exe', '%s', 'done']
`

var startedLine = regexp.MustCompile(`sim-\d+: started|fleetrun: interrupted \(`)

// startApply starts fleetrun apply with stderr piped, and returns a channel
// that receives each "started" line as it appears.
func startApply(t *testing.T, args ...string) (*exec.Cmd, <-chan string, *strings.Builder, <-chan struct{}) {
	t.Helper()
	cmd := exec.Command(fleetrunBinary(t), args...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan string, 100)
	var all strings.Builder
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			all.WriteString(sc.Text() + "\n")
			if startedLine.MatchString(sc.Text()) {
				started <- sc.Text()
			}
		}
	}()
	return cmd, started, &all, done
}

func waitStarted(t *testing.T, started <-chan string, n int) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case <-started:
		case <-deadline:
			t.Fatalf("only %d of %d hosts started within a minute", i, n)
		}
	}
}

// waitFor polls cond until it holds, failing the test after a minute.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(time.Minute)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("condition not met within a minute")
		}
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func readReport(t *testing.T, path string) *report.Document {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("report mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	var doc report.Document
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	return &doc
}

// slowRollout starts a simulated fleet of n hosts and writes a playbook
// whose one step sleeps a second; it returns the inventory, the fleet, the
// playbook and where the run's report goes.
func slowRollout(t *testing.T, n int) (inv string, fleet *sim.Fleet, pb, rep string) {
	t.Helper()
	inv, fleet = simInventory(t, n)
	dir := t.TempDir()
	return inv, fleet, writeFile(t, dir, "slow.yaml", fmt.Sprintf(sleepPlaybook, "1")), filepath.Join(dir, "out.json")
}

func TestFirstInterruptLetsRunningHostsFinish(t *testing.T) {
	t.Parallel()
	inv, fleet, pb, rep := slowRollout(t, 20)
	cmd, started, stderr, done := startApply(t, "apply", pb, "-i", inv, "--report", rep)
	waitStarted(t, started, 5)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	<-done
	err := cmd.Wait()
	if code := exitCode(err); code != 3 {
		t.Fatalf("exit status %d, want 3\n%s", code, stderr)
	}
	doc := readReport(t, rep)
	if doc.Status != "aborted" || doc.StopReason != "interrupted" {
		t.Errorf("report status %q %q", doc.Status, doc.StopReason)
	}
	ok, skipped := 0, 0
	for _, h := range doc.Hosts {
		switch h.Status {
		case "ok":
			ok++
		case "skipped":
			skipped++
			if h.Reason != "the run was interrupted before this host started" {
				t.Errorf("%s skipped because %q", h.Name, h.Reason)
			}
		default:
			t.Errorf("%s: status %s", h.Name, h.Status)
		}
	}
	// The five running hosts finish their step; nobody else starts.
	if ok != 5 || skipped != 15 {
		t.Errorf("ok %d skipped %d, want 5 and 15\n%s", ok, skipped, stderr)
	}
	if got := fleet.Stats().Totals.Signals; got != 5 {
		t.Errorf("sim saw %d Signals, want 5 (one per closed shell)", got)
	}
}

func TestSecondInterruptCancelsRunningSteps(t *testing.T) {
	t.Parallel()
	inv, fleet := simInventory(t, 20)
	dir := t.TempDir()
	pb := writeFile(t, dir, "slow.yaml", fmt.Sprintf(sleepPlaybook, "300"))
	rep := filepath.Join(dir, "out.json")
	cmd, started, stderr, done := startApply(t, "apply", pb, "-i", inv, "--report", rep)
	waitStarted(t, started, 5)
	// A host's "started" line comes before its shell exists; cancel only
	// once the five steps run on their hosts. The simulator has no event
	// for a process start, so watch its counters, bounded by a deadline.
	waitFor(t, func() bool { return fleet.Stats().Totals.Commands >= 5 })
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	// Unix does not queue a second SIGINT sent before the first was
	// handled: wait until fleetrun says it stopped starting hosts.
	waitStarted(t, started, 1)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	<-done
	err := cmd.Wait()
	if code := exitCode(err); code != 3 {
		t.Fatalf("exit status %d, want 3\n%s", code, stderr)
	}
	doc := readReport(t, rep)
	failed := 0
	for _, h := range doc.Hosts {
		if h.Status != "failed" {
			continue
		}
		failed++
		if e := h.Steps[0].Error; e == nil || e.Class != "interrupted" {
			t.Errorf("%s: step error %+v, want class interrupted", h.Name, e)
		}
	}
	if failed != 5 || doc.Summary.Skipped != 15 {
		t.Errorf("failed %d skipped %d, want 5 and 15\n%s", failed, doc.Summary.Skipped, stderr)
	}
	// Each cancelled step was terminated on its host and its shell deleted.
	// (A step whose Command answer had not arrived when it was cancelled
	// gets no Signal, only its shell's Delete, which ends its process too.)
	st := fleet.Stats()
	if st.Totals.Deletes < 5 || st.OpenShells != 0 {
		t.Errorf("sim saw %d Signals, %d Deletes, %d shells still open; want ≥5 Deletes, none open", st.Totals.Signals, st.Totals.Deletes, st.OpenShells)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := fleet.WaitFor(ctx, func() bool { return fleet.Stats().Totals.Processes == 0 }); err != nil {
		t.Errorf("processes still run on the hosts: %v", err)
	}
}

const quickPlaybook = `
name: quick
forks: 4
steps:
  - name: who
    command: [hostname]
`

// TestProgressOnATerminalAndLinesInAPipe runs the same apply on a
// pseudo-terminal (live progress display) and into a pipe (plain lines).
func TestProgressOnATerminalAndLinesInAPipe(t *testing.T) {
	t.Parallel()
	inv, _ := simInventory(t, 8)
	pb := writeFile(t, t.TempDir(), "quick.yaml", quickPlaybook)

	// A pipe: one plain line per host event, prefixed by the host name.
	work := t.TempDir() // the run's journal goes to the state folder TestMain set
	pipeCmd := exec.Command(fleetrunBinary(t), "apply", pb, "-i", inv)
	pipeCmd.Dir = work
	out, err := pipeCmd.CombinedOutput()
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	for _, want := range []string{"sim-0001: started (batch 1 of 1)", "sim-0008: ok", "8 hosts: 8 ok, 0 failed, 0 unreachable, 0 skipped"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("pipe output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "\x1b[") {
		t.Errorf("pipe output has terminal escapes:\n%q", out)
	}

	// A terminal: the progress display redraws in place.
	cmd := exec.Command(fleetrunBinary(t), "apply", pb, "-i", inv)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "TERM=xterm")
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(&buf, f) // ends with EIO when the child exits
	}()
	err = cmd.Wait()
	<-copied
	_ = f.Close()
	if err != nil {
		t.Fatalf("apply on a terminal: %v\n%s", err, buf.String())
	}
	term := buf.String()
	if !strings.Contains(term, "8/8") || !strings.Contains(term, "\x1b[") {
		t.Errorf("terminal output lacks the progress display (8/8 and cursor control):\n%q", term)
	}
	if strings.Contains(term, "sim-0001: started") {
		t.Errorf("terminal output has plain per-host start lines:\n%q", term)
	}
	if !strings.Contains(term, "8 hosts: 8 ok") {
		t.Errorf("terminal output lacks the summary:\n%q", term)
	}
}

// TestPasswordsNeverLeak runs a failing rollout (a refused login, a failing
// step, an unreachable host) with every output on, and searches all of it
// for the fleet's password.
func TestPasswordsNeverLeak(t *testing.T) {
	t.Parallel()
	f := fleettest.Start(t, 6, `
groups:
  - {name: badpw, count: 1, password: another-password-entirely}
  - {name: down, count: 1, faults: {refused: true}}
`, sim.FleetOptions{})
	dir := t.TempDir()
	pb := writeFile(t, dir, "pb.yaml", `
name: leaky
steps:
  - name: fail
    cmd: C:\tools\exitcode.exe 5
`)
	out := filepath.Join(dir, "out")
	cmd := exec.Command(fleetrunBinary(t), "apply", pb, "-i", f.Inventory, "--report", out+".json",
		"--junit", out+".xml", "--html", out+".html", "--log-dir", filepath.Join(dir, "logs"), "--journal", out+".journal")
	cmd.Dir = dir
	combined, err := cmd.CombinedOutput()
	if code := exitCode(err); code != 2 {
		t.Fatalf("exit %d, want 2\n%s", code, combined)
	}
	plan, err := exec.Command(fleetrunBinary(t), "apply", pb, "-i", f.Inventory, "--dry-run", "--output", "json").CombinedOutput()
	if err != nil {
		t.Fatalf("dry run: %v\n%s", err, plan)
	}
	secrets := []string{f.Password(), "another-password-entirely"}
	check := func(what string, data []byte) {
		for _, s := range secrets {
			if strings.Contains(string(data), s) {
				t.Errorf("%s contains a password", what)
			}
		}
	}
	check("the console output", combined)
	check("the plan", plan)
	files := 0
	walkErr := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, ".yaml") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		check(path, data)
		return nil
	})
	if walkErr != nil {
		t.Fatal(walkErr)
	}
	if files < 10 {
		t.Errorf("only %d output files searched", files)
	}
}

// The second Ctrl-C ends the tasks of steps run as SYSTEM with their
// processes, as it terminates plain steps, and records them interrupted.
func TestSecondInterruptEndsRunningTasks(t *testing.T) {
	t.Parallel()
	inv, fleet := simInventory(t, 20)
	dir := t.TempDir()
	pb := writeFile(t, dir, "slow.yaml", fmt.Sprintf(sleepPlaybook, "300")+"    run_as: system\n")
	rep := filepath.Join(dir, "out.json")
	cmd, started, stderr, done := startApply(t, "apply", pb, "-i", inv, "--report", rep)
	waitStarted(t, started, 5)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Interrupt once the five steps' programs run in their tasks.
	if err := fleet.WaitFor(ctx, func() bool { return fleet.Stats().Totals.Programs["sleep.exe"] == 5 }); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	waitStarted(t, started, 1)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	<-done
	if code := exitCode(cmd.Wait()); code != 3 {
		t.Fatalf("exit status %d, want 3\n%s", code, stderr)
	}
	doc := readReport(t, rep)
	for _, h := range doc.Hosts {
		if h.Status != "failed" {
			continue
		}
		if e := h.Steps[0].Error; e == nil || e.Class != "interrupted" || !strings.HasSuffix(e.Message, "; its task "+h.Steps[0].Task+" was ended with its processes") {
			t.Errorf("%s: step error %+v, want class interrupted and the task ended", h.Name, e)
		}
	}
	if doc.Summary.Failed != 5 || doc.Summary.Skipped != 15 {
		t.Errorf("summary %+v, want 5 failed and 15 skipped\n%s", doc.Summary, stderr)
	}
	if err := fleet.WaitFor(ctx, func() bool { return fleet.Stats().Totals.Processes == 0 }); err != nil {
		t.Fatalf("processes still run on the hosts: %v", err)
	}
	st := fleet.Stats().Totals
	// A task whose tree taskkill ended before the stop reached it ends
	// without counting as stopped (see the winrm task tests).
	if st.Tasks.Ended > 5 || st.Tasks.Running != 0 || st.Tasks.Deleted != 5 {
		t.Errorf("tasks %+v; want 5 stopped and deleted, none running", st.Tasks)
	}
}
