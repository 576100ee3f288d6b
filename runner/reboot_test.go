package runner_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/transport"
)

const patchPlaybook = `
name: patch
steps:
  - name: install
    command: [wusa.exe, 'C:\p\kb.msu', /quiet, /norestart]
    outcomes: {3010: reboot_required, 1641: reboot_initiated, 2359302: ok}
    reboot_on: {when: [reboot_required, reboot_initiated], timeout: 50ms, test_command: "Get-Service WinRM"}
  - name: verify
    powershell: Get-HotFix KB1
  - name: final restart
    reboot: {timeout: 10m}
`

func TestOutcomesAndReboots(t *testing.T) {
	t.Parallel()
	codes := map[string]uint32{"h000": 0, "h001": 3010, "h002": 1641, "h003": 2359302, "h004": 3010}
	fleet := newFakeFleet(func(host string, c transport.Command, _ int) (transport.Result, error) {
		if c.Kind == transport.KindArgv {
			return transport.Result{ExitCode: codes[host]}, nil
		}
		return transport.Result{}, nil
	})
	fleet.neverBack["h004"] = true
	pb := mustPlaybook(t, patchPlaybook)
	res, err := runner.Run(context.Background(), pb, makeHosts(5), runner.Options{Dialer: fleet, Target: target, Forks: 1})
	if err != nil {
		t.Fatal(err)
	}
	type view struct {
		Host     string
		Status   runner.Status
		Outcome  string
		Rebooted bool
		Class    transport.Class
	}
	var got []view
	for _, h := range res.Hosts {
		s := h.Steps[0]
		v := view{h.Name, h.Status, s.Outcome, s.Rebooted, ""}
		if s.Err != nil {
			v.Class = s.Err.Class
		}
		got = append(got, v)
	}
	want := []view{
		{"h000", runner.StatusOK, "ok", false, ""},
		{"h001", runner.StatusOK, "reboot_required", true, ""},
		{"h002", runner.StatusOK, "reboot_initiated", true, ""},
		{"h003", runner.StatusOK, "ok", false, ""},
		{"h004", runner.StatusFailed, "reboot_required", false, transport.ClassRebootTimeout},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	wantReboots := []string{
		`h000 initiated=false test=""`, // the final reboot step
		`h001 initiated=false test="Get-Service WinRM"`,
		`h001 initiated=false test=""`,
		`h002 initiated=true test="Get-Service WinRM"`,
		`h002 initiated=false test=""`,
		`h003 initiated=false test=""`,
		`h004 initiated=false test="Get-Service WinRM"`,
	}
	if diff := cmp.Diff(wantReboots, fleet.reboots); diff != "" {
		t.Errorf("reboots (-want +got):\n%s", diff)
	}
	if got := res.Hosts[0].Steps[0].Expected; !cmp.Equal(got, []uint32{0, 1641, 3010, 2359302}) {
		t.Errorf("expected codes %v", got)
	}
	if m := res.Hosts[4].Steps[0].Err.Message; m != "the host did not come back within the reboot timeout of 50ms" {
		t.Errorf("message %q", m)
	}
}

func TestJournalResumesOnlyUnfinishedWork(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "run.journal")
	pb := mustPlaybook(t, "name: j\nsteps:\n  - name: a\n    cmd: a\n  - name: b\n    cmd: b\n  - name: c\n    cmd: c\n")
	// First run: h001 fails at step b, h002 fails at step c; the budget
	// stops the run so h003 and h004 never start.
	failAt := map[string]string{"h001": "b", "h002": "c"}
	fleet := newFakeFleet(func(host string, c transport.Command, _ int) (transport.Result, error) {
		if failAt[host] == c.Line {
			return transport.Result{ExitCode: 1}, nil
		}
		return transport.Result{}, nil
	})
	pbBudget := mustPlaybook(t, "name: j\nmax_fail: 1\nforks: 1\nsteps:\n  - name: a\n    cmd: a\n  - name: b\n    cmd: b\n  - name: c\n    cmd: c\n")
	j, err := runner.OpenJournal(path, pbBudget, fixedNow())
	if err != nil {
		t.Fatal(err)
	}
	res, err := runner.Run(context.Background(), pbBudget, makeHosts(5), runner.Options{Dialer: fleet, Target: target, Sinks: []runner.Sink{j}})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if res.Status != runner.StatusAborted {
		t.Fatalf("first run %s", res.Status)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("journal mode: %v %v", fi, err)
	}

	// A different playbook text is refused unless forced.
	prog, err := runner.ReadJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := prog.Check(pb, false); err == nil {
		t.Fatal("changed playbook accepted")
	}
	if err := prog.Check(pbBudget, false); err != nil {
		t.Fatal(err)
	}

	// Second run on the same journal, hosts fixed.
	failAt = map[string]string{}
	fleet2 := newFakeFleet(func(host string, c transport.Command, _ int) (transport.Result, error) {
		return transport.Result{}, nil
	})
	var lines []string
	fleet2.behave = func(host string, c transport.Command, _ int) (transport.Result, error) {
		fleet2.mu.Lock()
		lines = append(lines, host+":"+c.Line)
		fleet2.mu.Unlock()
		return transport.Result{}, nil
	}
	j2, err := runner.OpenJournal(path, pbBudget, fixedNow())
	if err != nil {
		t.Fatal(err)
	}
	res2, err := runner.Run(context.Background(), pbBudget, makeHosts(5), runner.Options{Dialer: fleet2, Target: target, Sinks: []runner.Sink{j2}, Resume: &runner.Resume{Progress: prog}})
	if err != nil {
		t.Fatal(err)
	}
	if err := j2.Close(); err != nil {
		t.Fatal(err)
	}
	wantRuns := []string{"h001:b", "h001:c", "h002:c", "h003:a", "h003:b", "h003:c", "h004:a", "h004:b", "h004:c"}
	if diff := cmp.Diff(wantRuns, lines); diff != "" {
		t.Errorf("steps run on resume (-want +got):\n%s", diff)
	}
	if res2.Status != runner.StatusOK || res2.Hosts[0].Reason != runner.ReasonDoneEarlier {
		t.Errorf("second run %s, h000 reason %q", res2.Status, res2.Hosts[0].Reason)
	}
	// After both runs the journal says every host is done.
	prog2, err := runner.ReadJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range makeHosts(5) {
		if hp := prog2.Hosts[h.Name]; hp == nil || hp.Status != runner.StatusOK || len(hp.Done) != 3 {
			t.Errorf("%s: %+v", h.Name, hp)
		}
	}
}

// A step whose restart timed out is journaled as done but awaiting its
// restart: resuming restarts the host instead of running the installer
// again (which would only say "already installed").
func TestResumeFinishesAPendingReboot(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "run.journal")
	pb := mustPlaybook(t, `
name: patch
steps:
  - name: install
    command: [wusa.exe, 'C:\p\kb.msu', /quiet, /norestart]
    outcomes: {3010: reboot_required}
    reboot_on: {when: [reboot_required], timeout: 50ms}
  - name: verify
    powershell: Get-HotFix KB1
`)
	runs := map[string]int{}
	var mu sync.Mutex
	behave := func(host string, c transport.Command, _ int) (transport.Result, error) {
		mu.Lock()
		runs[host+" "+string(c.Kind)]++
		mu.Unlock()
		if c.Kind == transport.KindArgv {
			return transport.Result{ExitCode: 3010}, nil
		}
		return transport.Result{}, nil
	}
	fleet := newFakeFleet(behave)
	fleet.neverBack["h000"] = true
	j, err := runner.OpenJournal(path, pb, fixedNow())
	if err != nil {
		t.Fatal(err)
	}
	res, err := runner.Run(context.Background(), pb, makeHosts(1), runner.Options{Dialer: fleet, Target: target, Sinks: []runner.Sink{j}})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if c := res.Hosts[0].Steps[0].Err; c == nil || c.Class != transport.ClassRebootTimeout {
		t.Fatalf("first run: %+v", res.Hosts[0].Steps[0].Err)
	}
	prog, err := runner.ReadJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	if !prog.Hosts["h000"].RebootPending[0] || prog.Hosts["h000"].Done[0] {
		t.Fatalf("journal progress %+v, want step 0 pending its restart", prog.Hosts["h000"])
	}
	// The host comes back this time.
	fleet2 := newFakeFleet(behave)
	res2, err := runner.Run(context.Background(), pb, makeHosts(1), runner.Options{Dialer: fleet2, Target: target, Resume: &runner.Resume{Progress: prog}})
	if err != nil {
		t.Fatal(err)
	}
	s0 := res2.Hosts[0].Steps[0]
	if s0.Status != runner.StatusOK || !s0.Rebooted || s0.Outcome != "reboot_required" || res2.Hosts[0].Steps[1].Status != runner.StatusOK {
		t.Errorf("resumed: step 0 %s rebooted %v outcome %q; step 1 %s", s0.Status, s0.Rebooted, s0.Outcome, res2.Hosts[0].Steps[1].Status)
	}
	if diff := cmp.Diff(map[string]int{"h000 command": 1, "h000 powershell": 1}, runs); diff != "" {
		t.Errorf("runs over both (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{`h000 initiated=false test=""`}, fleet2.reboots); diff != "" {
		t.Errorf("reboots on resume (-want +got):\n%s", diff)
	}
}
