package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fleetrun/fleetrun/sim"
)

// openTasks reads a journal and returns, per host, the task a step's
// task_started line opened and no later line of that step closed.
func openTasks(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }() // read-only
	open := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l struct {
			Host, Status, Task string
			Step               *int
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			continue // a line cut short by the kill
		}
		switch {
		case l.Step == nil || l.Task == "":
		case l.Status == "task_started":
			open[l.Host] = l.Task
		case open[l.Host] == l.Task:
			delete(open, l.Host)
		}
	}
	return open
}

// A rollout whose installer runs as a scheduled task survives fleetrun
// being killed: the tasks it started go on, --resume follows those that
// were running instead of starting them again, and over both runs the
// installer ran exactly once on every host, with the exit codes the tasks
// ended with in the report.
func TestKilledTaskRolloutResumesWithoutRunningTheInstallerTwice(t *testing.T) {
	t.Parallel()
	const hosts = 300
	inv, fleet := startRolloutFleet(t, hosts, func(sc *sim.Scenario) {
		// Every process start costs a little, so that a task (cmd.exe,
		// chcp, PowerShell, wusa) runs long enough to be caught in flight.
		start := 40 * time.Millisecond
		sc.Defaults.ProcessStart = &start
	})
	dir := t.TempDir()
	pb := rolloutPlaybook(t, dir, "patch.yaml", func(s string) string {
		// A host the killed run was restarting may still be down when the
		// resumed run reaches it: connections are tried again.
		return noStuckHosts(strings.Replace(s, "forks: 20", "forks: 60\ndefaults:\n  retries: 5\n  retry_delay: 1s", 1))
	})
	journal := filepath.Join(dir, "rollout.journal")

	ctx, cancel := context.WithTimeout(context.Background(), rolloutTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, fleetrunBinary(t), "apply", pb, "-i", inv, "--journal", journal, "--report", filepath.Join(dir, "killed.json"), "--no-progress")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waited sync.Once
	var waitErr error
	wait := func() error { waited.Do(func() { waitErr = cmd.Wait() }); return waitErr }
	defer func() { _ = wait() }() // reaped whatever happens
	total := func() (runs, running, installs int64) {
		st := fleet.Stats()
		return st.Totals.Tasks.Runs, st.Totals.Tasks.Running, st.Totals.Programs["wusa.exe"]
	}
	// Kill fleetrun while tasks run, with a good part of the fleet done.
	if err := fleet.WaitFor(ctx, func() bool {
		runs, running, _ := total()
		return runs >= hosts/3 && running >= 5
	}); err != nil {
		t.Fatalf("tasks never ran in numbers: %v\n%s", err, stderr.String())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := wait(); exitCode(err) != -1 {
		t.Fatalf("fleetrun was not killed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "killed.json")); !os.IsNotExist(err) {
		t.Fatalf("a killed run wrote a report (%v); the test does not test what it says", err)
	}
	open := openTasks(t, journal)
	runs, running, installs := total()
	t.Logf("killed with %d tasks run, %d running, %d installer runs; the journal has %d open tasks", runs, running, installs, len(open))
	if len(open) == 0 {
		t.Fatalf("the journal has no task open at the kill")
	}
	// The tasks go on without fleetrun.
	if err := fleet.WaitFor(ctx, func() bool { _, running, _ := total(); return running == 0 }); err != nil {
		t.Fatal(err)
	}

	second := filepath.Join(dir, "resumed.json")
	code, _, errOut := fleetrunIn(t, dir, "apply", pb, "-i", inv, "--resume", journal, "--report", second, "--no-progress")
	if code != 0 {
		t.Fatalf("resumed run: exit status %d, want 0\n%s", code, errOut)
	}
	doc := readReport(t, second)
	if doc.Status != "ok" || doc.Summary.OK != hosts {
		t.Fatalf("resumed run: status %q, summary %+v; want every host ok", doc.Status, doc.Summary)
	}
	for _, h := range doc.Hosts {
		install := h.Steps[0]
		want := uint32(3010)
		if patchedHost(h.Name) {
			want = 2359302
		}
		if install.ExitCode == nil || *install.ExitCode != want {
			t.Errorf("%s: the report's install exit code %v, want %d (the task's)", h.Name, install.ExitCode, want)
		}
		if task, ok := open[h.Name]; ok && install.Task != task {
			t.Errorf("%s: resumed with task %q, but the killed run left %q running", h.Name, install.Task, task)
		}
	}
	for _, hs := range fleet.Stats().Hosts {
		if hs.Programs["wusa.exe"] != 1 || hs.Tasks.Runs != 1 {
			t.Errorf("%s: the installer ran %d times in %d task runs; want exactly once", hs.Name, hs.Programs["wusa.exe"], hs.Tasks.Runs)
		}
		// A task is deleted right after its result is journaled; a kill
		// between the two leaves it registered (ended, with its files),
		// never running.
		if hs.Tasks.Running != 0 || hs.Tasks.Created-hs.Tasks.Deleted > 1 {
			t.Errorf("%s: tasks %+v; want none running, at most one left registered", hs.Name, hs.Tasks)
		}
	}
}
