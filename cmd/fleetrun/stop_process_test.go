package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/cmd/fleetrun/internal/views"
	"github.com/fleetrun/fleetrun/internal/fleettest"
	"github.com/fleetrun/fleetrun/inventory/ec2/ec2test"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/sim"
)

// waitExit waits for cmd and returns its exit status; a command still
// running after a minute is killed and fails the test.
func waitExit(t *testing.T, cmd *exec.Cmd, done <-chan struct{}, stderr fmt.Stringer) int {
	t.Helper()
	exited := make(chan error, 1)
	go func() {
		<-done
		exited <- cmd.Wait()
	}()
	select {
	case err := <-exited:
		return exitCode(err)
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill() // the test fails anyway; Wait reaps it
		if err := <-exited; err != nil {
			t.Logf("after the kill: %v", err)
		}
		t.Fatalf("%s still ran a minute after its stop signal\n%s", cmd.Args[1], stderr)
		return -1
	}
}

// finishedHosts lists, sorted, the hosts a journal records as finished
// with status.
func finishedHosts(t *testing.T, journal string, status runner.Status) []string {
	t.Helper()
	prog, err := runner.ReadJournal(journal)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for name, hp := range prog.Hosts {
		if hp.Status == status {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// hostStatuses counts a report's hosts by status, and checks every
// skipped host's reason.
func hostStatuses(t *testing.T, path, skipReason string) map[string]int {
	t.Helper()
	got := map[string]int{}
	for _, h := range readReport(t, path).Hosts {
		got[h.Status]++
		if h.Status == "skipped" && h.Reason != skipReason {
			t.Errorf("%s skipped because %q, want %q", h.Name, h.Reason, skipReason)
		}
	}
	return got
}

// SIGTERM and SIGHUP (a dropped SSH session) stop a rollout as the first
// Ctrl-C does: running steps finish, nothing else starts, the report and
// the journal are written and every shell is deleted.
func TestStopSignalsEndARolloutCleanly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
	}{
		{"SIGINT", syscall.SIGINT},
		{"SIGTERM", syscall.SIGTERM},
		{"SIGHUP", syscall.SIGHUP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			inv, fleet, pb, rep := slowRollout(t, 20)
			cmd, started, stderr, done := startApply(t, "apply", pb, "-i", inv, "--report", rep)
			waitStarted(t, started, 5)
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			if code := waitExit(t, cmd, done, stderr); code != 3 {
				t.Fatalf("exit status %d, want 3\n%s", code, stderr)
			}
			if want := "fleetrun: interrupted (" + tc.name + "): no new work starts"; !strings.Contains(stderr.String(), want) {
				t.Errorf("stderr lacks %q:\n%s", want, stderr)
			}
			doc := readReport(t, rep)
			if doc.Status != "aborted" || doc.StopReason != "interrupted" {
				t.Errorf("report status %q %q, want aborted interrupted", doc.Status, doc.StopReason)
			}
			got := hostStatuses(t, rep, runner.ReasonInterrupted)
			if diff := cmp.Diff(map[string]int{"ok": 5, "skipped": 15}, got); diff != "" {
				t.Errorf("hosts by status (-want +got):\n%s\n%s", diff, stderr)
			}
			if n := len(finishedHosts(t, filepath.Join(filepath.Dir(rep), "out.journal"), runner.StatusOK)); n != 5 {
				t.Errorf("the journal records %d hosts finished ok, want 5", n)
			}
			st := fleet.Stats()
			if st.OpenShells != 0 || st.Totals.ShellsOpened != 5 || st.Totals.Deletes != 5 {
				t.Errorf("sim saw %d shells opened, %d deleted, %d still open; want 5, 5, 0", st.Totals.ShellsOpened, st.Totals.Deletes, st.OpenShells)
			}
		})
	}
}

// A closed stdout and stderr (fleetrun apply ... 2>&1 | head -1) never
// kill the run: it goes on to the end, writes its report and journal and
// deletes every shell.
func TestClosedOutputNeverKillsARollout(t *testing.T) {
	t.Parallel()
	inv, fleet, pb, rep := slowRollout(t, 10)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(fleetrunBinary(t), "apply", pb, "-i", inv, "--report", rep)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = w.Close() // the child holds the write end
	// Read the first line, as head -1 does, and go away.
	first, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	_ = r.Close() // the reader is gone: the child's next write fails
	done := make(chan struct{})
	close(done)
	if code := waitExit(t, cmd, done, &strings.Builder{}); code != 0 {
		t.Fatalf("exit status %d, want 0 (first line %q)", code, first)
	}
	got := hostStatuses(t, rep, "")
	if diff := cmp.Diff(map[string]int{"ok": 10}, got); diff != "" {
		t.Errorf("hosts by status (-want +got):\n%s", diff)
	}
	if n := len(finishedHosts(t, filepath.Join(filepath.Dir(rep), "out.journal"), runner.StatusOK)); n != 10 {
		t.Errorf("the journal records %d hosts finished ok, want 10", n)
	}
	st := fleet.Stats()
	if st.OpenShells != 0 || st.Totals.ShellsOpened != 10 || st.Totals.Deletes != 10 {
		t.Errorf("sim saw %d shells opened, %d deleted, %d still open; want 10, 10, 0", st.Totals.ShellsOpened, st.Totals.Deletes, st.OpenShells)
	}
}

// startCommand starts fleetrun with args and env added, its stderr read
// line by line: lines receives those matching match.
func startCommand(t *testing.T, env []string, match string, args ...string) (cmd *exec.Cmd, lines <-chan string, stdout, stderr *strings.Builder, done <-chan struct{}) {
	t.Helper()
	cmd = exec.Command(fleetrunBinary(t), args...)
	cmd.Env = append(append(os.Environ(), "NO_COLOR=1"), env...)
	stdout = &strings.Builder{}
	cmd.Stdout = stdout
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	matched := make(chan string, 100)
	stderr = &strings.Builder{}
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			stderr.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), match) {
				matched <- sc.Text()
			}
		}
	}()
	return cmd, matched, stdout, stderr, finished
}

// receive waits a minute at most for one value of c.
func receive(t *testing.T, c <-chan string, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(time.Minute):
		t.Fatalf("no %s within a minute", what)
	}
}

// slowFleet is a simulated fleet whose hosts take 300 ms per WS-Man
// operation, so checking one host takes seconds.
func slowFleet(t *testing.T, hosts int) (string, *sim.Fleet) {
	t.Helper()
	f := fleettest.Start(t, hosts, "", sim.FleetOptions{Latency: 300 * time.Millisecond})
	return f.Inventory, f.Fleet
}

// waitShells waits until the fleet opened n shells (pre-flight opens one
// per host it checks).
func waitShells(t *testing.T, fleet *sim.Fleet, n int64) {
	t.Helper()
	waitFor(t, func() bool { return fleet.Stats().Totals.ShellsOpened >= n })
}

// One SIGINT stops `apply --preflight` during its checks: the two hosts
// being checked finish their checks, no other host is checked and no host
// starts; the report says so and fleetrun exits 3.
func TestOneInterruptStopsApplyPreflight(t *testing.T) {
	t.Parallel()
	inv, fleet := slowFleet(t, 10)
	dir := t.TempDir()
	pb := writeFile(t, dir, "pb.yaml", "name: checked\nforks: 2\nsteps:\n  - name: who\n    command: [hostname]\n")
	rep := filepath.Join(dir, "out.json")
	cmd, _, _, stderr, done := startCommand(t, nil, "fleetrun: interrupted (", "apply", pb, "-i", inv, "--preflight", "--report", rep)
	waitShells(t, fleet, 1)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, cmd, done, stderr); code != 3 {
		t.Fatalf("exit status %d, want 3\n%s", code, stderr)
	}
	if want := "fleetrun: pre-flight: interrupted; 2 of 10 host(s) checked, 2 passed"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr)
	}
	doc := readReport(t, rep)
	if doc.Status != "aborted" || doc.StopReason != "interrupted" {
		t.Errorf("report status %q %q, want aborted interrupted", doc.Status, doc.StopReason)
	}
	if diff := cmp.Diff(map[string]int{"skipped": 10}, hostStatuses(t, rep, runner.ReasonInterrupted)); diff != "" {
		t.Errorf("hosts by status (-want +got):\n%s", diff)
	}
	st := fleet.Stats()
	if st.Totals.ShellsOpened != 2 || st.OpenShells != 0 || st.Totals.Programs["hostname.exe"] != 0 {
		t.Errorf("sim saw %d shells opened (%d open), hostname run %d times; want 2 (the checks), 0, 0", st.Totals.ShellsOpened, st.OpenShells, st.Totals.Programs["hostname.exe"])
	}
}

// One SIGINT stops `preflight`: hosts being checked finish, the others are
// reported skipped (not checked), and fleetrun exits 3.
func TestOneInterruptStopsPreflight(t *testing.T) {
	t.Parallel()
	inv, fleet := slowFleet(t, 10)
	rep := filepath.Join(t.TempDir(), "pre.json")
	cmd, _, _, stderr, done := startCommand(t, nil, "fleetrun: interrupted (", "preflight", "-i", inv, "--forks", "2", "--report", rep)
	waitShells(t, fleet, 1)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, cmd, done, stderr); code != 3 {
		t.Fatalf("exit status %d, want 3\n%s", code, stderr)
	}
	doc := readReport(t, rep)
	if doc.Status != "aborted" || doc.StopReason != "interrupted" {
		t.Errorf("report status %q %q, want aborted interrupted", doc.Status, doc.StopReason)
	}
	if diff := cmp.Diff(map[string]int{"ok": 2, "skipped": 8}, hostStatuses(t, rep, views.ReasonNotChecked)); diff != "" {
		t.Errorf("hosts by status (-want +got):\n%s", diff)
	}
	if st := fleet.Stats(); st.Totals.ShellsOpened != 2 || st.OpenShells != 0 {
		t.Errorf("sim saw %d shells opened, %d open; want 2 (the hosts checked), 0", st.Totals.ShellsOpened, st.OpenShells)
	}
}

// One SIGINT stops `inventory` while EC2 discovery waits for its
// DescribeInstances answer: exit 3, no hosts listed.
func TestOneInterruptStopsEC2Discovery(t *testing.T) {
	t.Parallel()
	f, err := os.Open("../../inventory/ec2/testdata/fleet.json")
	if err != nil {
		t.Fatal(err)
	}
	instances, err := ec2test.ReadInstances(f)
	_ = f.Close() // read-only
	if err != nil {
		t.Fatal(err)
	}
	srv := ec2test.NewServer(instances)
	defer srv.Close()
	held, release := srv.HoldDescribeInstances()
	defer release()
	dir := t.TempDir()
	env := []string{
		"AWS_ENDPOINT_URL_EC2=" + srv.URL, "AWS_ACCESS_KEY_ID=AKIDFLEETRUNTEST", "AWS_SECRET_ACCESS_KEY=not-a-secret",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=" + filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "none"),
	}
	cmd, _, stdout, stderr, done := startCommand(t, env, "fleetrun: interrupted (", "inventory", "-i", "../../examples/ec2-inventory.yaml")
	select {
	case <-held:
	case <-time.After(time.Minute):
		t.Fatalf("no DescribeInstances within a minute\n%s", stderr)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, cmd, done, stderr); code != 3 {
		t.Fatalf("exit status %d, want 3\n%s", code, stderr)
	}
	if want := "fleetrun: interrupted (SIGINT) during EC2 discovery\n"; !strings.HasSuffix(stderr.String(), want) {
		t.Errorf("stderr does not end with %q:\n%s", want, stderr)
	}
	if stdout.Len() != 0 {
		t.Errorf("hosts listed after an interrupted discovery:\n%s", stdout)
	}
}

// One SIGINT stops `validate -i` while it starts the simulated fleet its
// inventory declares (held here by a scenario file that is a FIFO): exit 3
// rather than "ok".
func TestOneInterruptStopsValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "scenario.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	inv := writeFile(t, dir, "inv.yaml", "simulated: {hosts: 3, scenario: scenario.yaml}\n")
	pb := writeFile(t, dir, "pb.yaml", quickPlaybook)
	cmd, interrupted, stdout, stderr, done := startCommand(t, nil, "fleetrun: interrupted (", "validate", pb, "-i", inv)
	// Opening the FIFO for writing returns once fleetrun opened it to read
	// the scenario: it is starting the fleet.
	opened := make(chan *os.File, 1)
	go func() {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			w = nil
		}
		opened <- w
	}()
	var w *os.File
	select {
	case w = <-opened:
	case <-time.After(time.Minute):
		t.Fatalf("fleetrun did not read the scenario within a minute\n%s", stderr)
	}
	if w == nil {
		t.Fatal("opening the FIFO failed")
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	receive(t, interrupted, "interrupted line")
	if _, err := w.WriteString("defaults:\n  profile: \"2019\"\n"); err != nil {
		t.Fatal(err)
	}
	_ = w.Close() // end of the scenario
	if code := waitExit(t, cmd, done, stderr); code != 3 {
		t.Fatalf("exit status %d, want 3\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if want := "fleetrun: interrupted (SIGINT) during the start of the simulated fleet\n"; !strings.HasSuffix(stderr.String(), want) {
		t.Errorf("stderr does not end with %q:\n%s", want, stderr)
	}
	if stdout.Len() != 0 {
		t.Errorf("validate printed a verdict after the interrupt:\n%s", stdout)
	}
}
