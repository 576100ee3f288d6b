package runner_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func mustPlaybook(t *testing.T, text string) *playbook.Playbook {
	t.Helper()
	pb, err := playbook.Parse("test.yaml", []byte(text))
	if err != nil {
		t.Fatalf("playbook: %v", err)
	}
	return pb
}

func makeHosts(n int) []*inventory.Host {
	hosts := make([]*inventory.Host, n)
	for i := range hosts {
		hosts[i] = &inventory.Host{Name: fmt.Sprintf("h%03d", i), Address: "127.0.0.1", Transport: "winrm", Tags: map[string]string{"idx": fmt.Sprint(i)}}
	}
	return hosts
}

func target(ctx context.Context, h *inventory.Host) (transport.Target, error) {
	return transport.Target{Name: h.Name, Address: h.Address}, nil
}

// immediate makes retry delays fire at once without touching the clock.
func immediate(time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	c <- time.Time{}
	return c
}

func statuses(res *runner.Result) map[runner.Status]int {
	out := map[runner.Status]int{}
	for _, h := range res.Hosts {
		out[h.Status]++
	}
	return out
}

const twoSteps = `
name: t
forks: %d
%s
steps:
  - name: first
    command: ["C:\\tools\\a.exe", "{{ .host.name }}"]
  - name: second
    powershell: Write-Output 2
`

func TestRunRespectsForksAndRunsEveryHost(t *testing.T) {
	t.Parallel()
	for _, forks := range []int{1, 7, 50} {
		t.Run(fmt.Sprintf("forks=%d", forks), func(t *testing.T) {
			t.Parallel()
			pb := mustPlaybook(t, fmt.Sprintf(twoSteps, forks, ""))
			fleet := newFakeFleet(exitWith(func(string) uint32 { return 0 }))
			log := newEventLog()
			res, err := runner.Run(context.Background(), pb, makeHosts(40), runner.Options{Dialer: fleet, Target: target, After: immediate, Sinks: []runner.Sink{log}})
			if err != nil {
				t.Fatal(err)
			}
			// Hosts in flight are bounded by forks; a finished host's
			// session closes beside the next host's work, and every one
			// is closed when Run returns.
			if log.peak > forks {
				t.Errorf("peak hosts in flight %d > forks %d", log.peak, forks)
			}
			_, runs := fleet.stats()
			if open, closed := fleet.openClosed(); open != 0 || closed != 40 {
				t.Errorf("%d sessions open and %d closed after Run, want 0 and 40", open, closed)
			}
			if diff := cmp.Diff(map[runner.Status]int{runner.StatusOK: 40}, statuses(res)); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
			if len(runs) != 40 || runs["h000"] != 2 {
				t.Errorf("runs: %d hosts, h000 ran %d steps; want 40 hosts, 2 steps", len(runs), runs["h000"])
			}
			if res.Status != runner.StatusOK {
				t.Errorf("run status %s, want ok", res.Status)
			}
		})
	}
}

func TestBatchesNeverOverlap(t *testing.T) {
	t.Parallel()
	pb := mustPlaybook(t, fmt.Sprintf(twoSteps, 50, `serial: [1, "30%"]`))
	fleet := newFakeFleet(exitWith(func(string) uint32 { return 0 }))
	res, err := runner.Run(context.Background(), pb, makeHosts(10), runner.Options{Dialer: fleet, Target: target})
	if err != nil {
		t.Fatal(err)
	}
	var batches []int
	for _, h := range res.Hosts {
		batches = append(batches, h.Batch)
	}
	// 30% of 10 hosts is 3: batches of 1, 3, 3, 3.
	if diff := cmp.Diff([]int{0, 1, 1, 1, 2, 2, 2, 3, 3, 3}, batches); diff != "" {
		t.Errorf("batches (-want +got):\n%s", diff)
	}
	batchOf := map[string]int{}
	for _, h := range res.Hosts {
		batchOf[h.Name] = h.Batch
	}
	// Every "end" of batch b must come before any "start" of batch b+1.
	lastEnd := map[int]int{}
	firstStart := map[int]int{}
	for i, ev := range fleet.order {
		kind, host, _ := strings.Cut(ev, " ")
		b := batchOf[host]
		if kind == "end" {
			lastEnd[b] = i
		} else if _, ok := firstStart[b]; !ok {
			firstStart[b] = i
		}
	}
	for b := 1; b < 4; b++ {
		if firstStart[b] < lastEnd[b-1] {
			t.Errorf("batch %d started (event %d) before batch %d finished (event %d)", b, firstStart[b], b-1, lastEnd[b-1])
		}
	}
}

func TestFailureBudgetIsNeverOvershot(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		forks      int
		serial     string
		maxFail    string
		hosts      int
		failing    []string // name prefixes that fail
		wantFailed int
		wantStatus runner.Status
	}{
		{"all fail, budget 2, forks 1", 1, "", "2", 30, []string{"h"}, 3, runner.StatusAborted},
		{"all fail, budget 2, forks 10", 10, "", "2", 30, []string{"h"}, 3, runner.StatusAborted},
		{"all fail, budget 2, forks 100", 100, "", "2", 300, []string{"h"}, 3, runner.StatusAborted},
		{"budget 0 stops at the first failure", 100, "", "0", 50, []string{"h"}, 1, runner.StatusAborted},
		{"percent budget across batches", 100, `serial: 10`, `"10%"`, 100, []string{"h0"}, 11, runner.StatusAborted},
		{"failures within budget finish the run", 10, `serial: [5, "50%"]`, "5", 40, []string{"h000", "h001", "h002", "h013", "h039"}, 5, runner.StatusFailed},
		{"one past the budget aborts", 10, `serial: [5, "50%"]`, "5", 40, []string{"h00"}, 6, runner.StatusAborted},
		{"no budget runs every host", 10, "", "", 30, []string{"h"}, 30, runner.StatusFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			extra := tc.serial
			if tc.maxFail != "" {
				extra += "\nmax_fail: " + tc.maxFail
			}
			pb := mustPlaybook(t, fmt.Sprintf(twoSteps, tc.forks, extra))
			fleet := newFakeFleet(exitWith(failHosts(tc.failing...)))
			res, err := runner.Run(context.Background(), pb, makeHosts(tc.hosts), runner.Options{Dialer: fleet, Target: target})
			if err != nil {
				t.Fatal(err)
			}
			st := statuses(res)
			if st[runner.StatusFailed] != tc.wantFailed {
				t.Errorf("failed hosts = %d, want %d (statuses %v)", st[runner.StatusFailed], tc.wantFailed, st)
			}
			if res.Status != tc.wantStatus {
				t.Errorf("run status %s, want %s (%s)", res.Status, tc.wantStatus, res.StopReason)
			}
			if st[runner.StatusFailed]+st[runner.StatusOK]+st[runner.StatusSkipped] != tc.hosts {
				t.Errorf("not every host has a result: %v", st)
			}
			if tc.wantStatus == runner.StatusAborted {
				for _, h := range res.Hosts {
					if h.Status == runner.StatusSkipped && !strings.HasPrefix(h.Reason, "not started: failure budget spent") {
						t.Errorf("%s skipped with reason %q", h.Name, h.Reason)
						break
					}
				}
			}
		})
	}
}

func TestRetriesOnlyWhereAllowed(t *testing.T) {
	t.Parallel()
	transient := &transport.Error{Class: transport.ClassRefused, Message: "connection reset", Transient: true}
	permanent := &transport.Error{Class: transport.ClassAuth, Message: "401"}
	cases := []struct {
		name         string
		step         string
		behave       func(attempt int) (transport.Result, error)
		wantAttempts int
		wantStatus   runner.Status
		wantCode     *uint32
		wantClass    transport.Class
	}{
		{"transient error is retried", "retries: 2", func(a int) (transport.Result, error) {
			if a == 1 {
				return transport.Result{}, transient
			}
			return transport.Result{ExitCode: 0}, nil
		}, 2, runner.StatusOK, ptr(0), ""},
		{"transient error gives up after retries", "retries: 2", func(int) (transport.Result, error) {
			return transport.Result{}, transient
		}, 3, runner.StatusFailed, nil, transport.ClassRefused},
		{"auth error is not retried", "retries: 5", func(int) (transport.Result, error) {
			return transport.Result{}, permanent
		}, 1, runner.StatusFailed, nil, transport.ClassAuth},
		{"listed exit code is retried", "retries: 3\n    retry_on_exit: [1618]", func(a int) (transport.Result, error) {
			if a < 3 {
				return transport.Result{ExitCode: 1618}, nil
			}
			return transport.Result{ExitCode: 0}, nil
		}, 3, runner.StatusOK, ptr(0), ""},
		{"unlisted exit code is not retried", "retries: 3\n    retry_on_exit: [1618]", func(int) (transport.Result, error) {
			return transport.Result{ExitCode: 5}, nil
		}, 1, runner.StatusFailed, ptr(5), transport.ClassUnexpectedExit},
		{"exit code without retries is not retried", "retry_on_exit: [1618]", func(int) (transport.Result, error) {
			return transport.Result{ExitCode: 1618}, nil
		}, 1, runner.StatusFailed, ptr(1618), transport.ClassUnexpectedExit},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pb := mustPlaybook(t, "name: t\nsteps:\n  - name: s\n    cmd: x\n    retry_delay: 1h\n    "+tc.step+"\n")
			fleet := newFakeFleet(func(_ string, _ transport.Command, attempt int) (transport.Result, error) { return tc.behave(attempt) })
			var delays []time.Duration
			var mu sync.Mutex
			after := func(d time.Duration) <-chan time.Time {
				mu.Lock()
				delays = append(delays, d)
				mu.Unlock()
				return immediate(d)
			}
			res, err := runner.Run(context.Background(), pb, makeHosts(1), runner.Options{Dialer: fleet, Target: target, After: after})
			if err != nil {
				t.Fatal(err)
			}
			s := res.Hosts[0].Steps[0]
			if s.Attempts != tc.wantAttempts || s.Status != tc.wantStatus {
				t.Errorf("attempts %d status %s, want %d %s", s.Attempts, s.Status, tc.wantAttempts, tc.wantStatus)
			}
			if diff := cmp.Diff(tc.wantCode, s.ExitCode); diff != "" {
				t.Errorf("exit code (-want +got):\n%s", diff)
			}
			gotClass := transport.Class("")
			if s.Err != nil {
				gotClass = s.Err.Class
			}
			if gotClass != tc.wantClass {
				t.Errorf("class %q, want %q", gotClass, tc.wantClass)
			}
			// Backoff doubles from retry_delay: 1h, 2h, 4h, capped at 5m by default.
			for _, d := range delays {
				if d != 5*time.Minute {
					t.Errorf("retry delay %s, want the 5m cap", d)
				}
			}
		})
	}
}

func ptr(v uint32) *uint32 { return &v }

func TestStepTimeoutAndUnreachableHosts(t *testing.T) {
	t.Parallel()
	pb := mustPlaybook(t, "name: t\nsteps:\n  - name: slow\n    cmd: x\n    timeout: 20ms\n  - name: after\n    cmd: y\n")
	fleet := newFakeFleet(func(host string, _ transport.Command, _ int) (transport.Result, error) {
		return transport.Result{}, fmt.Errorf("remote: %w", context.DeadlineExceeded)
	})
	fleet.dialErr["h001"] = &transport.Error{Class: transport.ClassRefused, Message: "connection refused", Hint: "is WinRM listening?"}
	res, err := runner.Run(context.Background(), pb, makeHosts(2), runner.Options{Dialer: blockingDialer{fleet}, Target: target})
	if err != nil {
		t.Fatal(err)
	}
	h0, h1 := res.Hosts[0], res.Hosts[1]
	if h0.Status != runner.StatusFailed || h0.Steps[0].Err == nil || h0.Steps[0].Err.Class != transport.ClassTimeout {
		t.Fatalf("h000: status %s, step err %+v; want failed with a timeout", h0.Status, h0.Steps[0].Err)
	}
	if want := "step did not finish within its timeout of 20ms; it was terminated on the host"; h0.Steps[0].Err.Message != want {
		t.Errorf("timeout message %q, want %q", h0.Steps[0].Err.Message, want)
	}
	if h0.Steps[1].Status != runner.StatusSkipped || h0.Steps[1].Reason != runner.ReasonEarlierStepFailed {
		t.Errorf("second step: %s %q", h0.Steps[1].Status, h0.Steps[1].Reason)
	}
	if h1.Status != runner.StatusUnreachable || h1.Err.Class != transport.ClassRefused || len(h1.Steps) != 2 || h1.Steps[0].Status != runner.StatusSkipped {
		t.Errorf("h001: %s %+v %d steps", h1.Status, h1.Err, len(h1.Steps))
	}
}

// blockingDialer wraps sessions so that Run blocks until its context ends,
// then returns what the fleet's behaviour says.
type blockingDialer struct{ f *fakeFleet }

func (b blockingDialer) Dial(ctx context.Context, t transport.Target) (transport.Session, error) {
	s, err := b.f.Dial(ctx, t)
	if err != nil {
		return nil, err
	}
	return blockingSession{s}, nil
}

type blockingSession struct{ transport.Session }

func (b blockingSession) Run(ctx context.Context, cmd transport.Command) (transport.Result, error) {
	<-ctx.Done()
	return b.Session.Run(ctx, cmd)
}

func TestGracefulStopAndCancel(t *testing.T) {
	t.Parallel()
	pb := mustPlaybook(t, "name: t\nforks: 2\nsteps:\n  - name: s\n    cmd: x\n")
	t.Run("first interrupt lets running hosts finish and skips the rest", func(t *testing.T) {
		t.Parallel()
		stop := make(chan struct{})
		started := make(chan struct{}, 10)
		release := make(chan struct{})
		fleet := newFakeFleet(func(host string, _ transport.Command, _ int) (transport.Result, error) {
			started <- struct{}{}
			<-release
			return transport.Result{ExitCode: 0}, nil
		})
		done := make(chan *runner.Result)
		go func() {
			res, _ := runner.Run(context.Background(), pb, makeHosts(10), runner.Options{Dialer: fleet, Target: target, Stop: stop})
			done <- res
		}()
		<-started
		<-started
		close(stop)
		close(release)
		res := <-done
		st := statuses(res)
		if diff := cmp.Diff(map[runner.Status]int{runner.StatusOK: 2, runner.StatusSkipped: 8}, st); diff != "" {
			t.Errorf("statuses (-want +got):\n%s", diff)
		}
		if res.Status != runner.StatusAborted || res.StopReason != "interrupted" {
			t.Errorf("run %s %q", res.Status, res.StopReason)
		}
		if res.Hosts[9].Reason != runner.ReasonInterrupted {
			t.Errorf("reason %q", res.Hosts[9].Reason)
		}
	})
	t.Run("second interrupt cancels running steps", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		stop := make(chan struct{})
		started := make(chan struct{}, 10)
		fleet := newFakeFleet(func(string, transport.Command, int) (transport.Result, error) {
			return transport.Result{}, context.Canceled
		})
		done := make(chan *runner.Result)
		go func() {
			res, _ := runner.Run(ctx, pb, makeHosts(10), runner.Options{Dialer: signalDialer{blockingDialer{fleet}, started}, Target: target, Stop: stop})
			done <- res
		}()
		<-started
		<-started
		close(stop)
		cancel()
		res := <-done
		st := statuses(res)
		if diff := cmp.Diff(map[runner.Status]int{runner.StatusFailed: 2, runner.StatusSkipped: 8}, st); diff != "" {
			t.Errorf("statuses (-want +got):\n%s", diff)
		}
		if c := res.Hosts[0].Steps[0].Err.Class; c != transport.ClassInterrupted {
			t.Errorf("class %s, want interrupted", c)
		}
		fleet.mu.Lock()
		defer fleet.mu.Unlock()
		if fleet.closed["h000"] != 1 || fleet.closed["h001"] != 1 {
			t.Errorf("sessions closed: %v; want h000 and h001 closed once", fleet.closed)
		}
	})
}

type signalDialer struct {
	d       transport.Dialer
	started chan struct{}
}

func (s signalDialer) Dial(ctx context.Context, t transport.Target) (transport.Session, error) {
	sess, err := s.d.Dial(ctx, t)
	s.started <- struct{}{}
	return sess, err
}

func TestATargetFailureFailsThatHostOnly(t *testing.T) {
	t.Parallel()
	pb := mustPlaybook(t, "name: t\nsteps:\n  - name: s\n    cmd: x\n")
	fleet := newFakeFleet(exitWith(func(string) uint32 { return 0 }))
	res, err := runner.Run(context.Background(), pb, makeHosts(3), runner.Options{Dialer: fleet, Target: func(ctx context.Context, h *inventory.Host) (transport.Target, error) {
		if h.Name == "h001" {
			return transport.Target{}, errors.New("host h001: password_env PW is not set in the environment")
		}
		return target(ctx, h)
	}})
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		Status runner.Status
		Class  transport.Class
		Reason string
		Steps  string
	}
	want := []got{
		{Status: runner.StatusOK, Steps: "ok"},
		{Status: runner.StatusUnreachable, Class: transport.ClassAuth,
			Reason: "auth: resolving the credentials of host h001: host h001: password_env PW is not set in the environment",
			Steps:  "skipped: the host could not be reached"},
		{Status: runner.StatusOK, Steps: "ok"},
	}
	for i, h := range res.Hosts {
		g := got{Status: h.Status, Reason: h.Reason}
		if h.Err != nil {
			g.Class = h.Err.Class
		}
		if len(h.Steps) == 1 {
			g.Steps = string(h.Steps[0].Status)
			if h.Steps[0].Reason != "" {
				g.Steps += ": " + h.Steps[0].Reason
			}
		}
		if g != want[i] {
			t.Errorf("host %s: got %+v, want %+v", h.Name, g, want[i])
		}
	}
	if res.Status != runner.StatusFailed {
		t.Errorf("run status %s, want failed", res.Status)
	}
}

func TestUnusableHostsAreSkippedWithTheirReason(t *testing.T) {
	t.Parallel()
	pb := mustPlaybook(t, "name: t\nmax_fail: 0\nsteps:\n  - name: s\n    cmd: x\n")
	hosts := makeHosts(3)
	hosts[1].Unusable = "instance has no public IP address"
	fleet := newFakeFleet(exitWith(func(string) uint32 { return 0 }))
	res, err := runner.Run(context.Background(), pb, hosts, runner.Options{Dialer: fleet, Target: target})
	if err != nil {
		t.Fatal(err)
	}
	if h := res.Hosts[1]; h.Status != runner.StatusSkipped || h.Reason != "instance has no public IP address" {
		t.Errorf("host 1: %s %q", h.Status, h.Reason)
	}
	if res.Status != runner.StatusOK {
		t.Errorf("run %s", res.Status)
	}
}

// TestSkippedHostsAreAnOptionNotAnInventoryChange: hosts pre-flight left
// out reach the runner as Options.Skip: reported skipped with the reason,
// never dialled, their targets never resolved, and the hosts themselves
// left as the inventory made them.
func TestSkippedHostsAreAnOptionNotAnInventoryChange(t *testing.T) {
	t.Parallel()
	pb := mustPlaybook(t, "name: t\nmax_fail: 0\nsteps:\n  - name: s\n    cmd: x\n")
	hosts := makeHosts(3)
	fleet := newFakeFleet(exitWith(func(string) uint32 { return 0 }))
	why := `pre-flight check "powershell" failed: PowerShell 2.0 is older than the 5.1 the playbook needs`
	resolved := map[string]bool{}
	var mu sync.Mutex
	res, err := runner.Run(context.Background(), pb, hosts, runner.Options{Dialer: fleet, Skip: map[string]string{hosts[1].Name: why},
		Target: func(ctx context.Context, h *inventory.Host) (transport.Target, error) {
			mu.Lock()
			resolved[h.Name] = true
			mu.Unlock()
			return target(ctx, h)
		}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range res.Hosts {
		got = append(got, fmt.Sprintf("%s %s %q", h.Name, h.Status, h.Reason))
	}
	want := []string{
		fmt.Sprintf("%s ok \"\"", hosts[0].Name),
		fmt.Sprintf("%s skipped %q", hosts[1].Name, why),
		fmt.Sprintf("%s ok \"\"", hosts[2].Name),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("hosts (-want +got):\n%s", diff)
	}
	if resolved[hosts[1].Name] || !resolved[hosts[0].Name] {
		t.Errorf("targets resolved: %v; want every host's but the skipped one's", resolved)
	}
	if hosts[1].Unusable != "" {
		t.Errorf("the skipped host was changed: Unusable = %q", hosts[1].Unusable)
	}
	if res.Status != runner.StatusOK {
		t.Errorf("run %s", res.Status)
	}
}

func TestContinueOnErrorKeepsGoing(t *testing.T) {
	t.Parallel()
	pb := mustPlaybook(t, "name: t\nsteps:\n  - name: a\n    cmd: x\n    continue_on_error: true\n  - name: b\n    cmd: y\n")
	fleet := newFakeFleet(func(_ string, c transport.Command, _ int) (transport.Result, error) {
		if c.Line == "x" {
			return transport.Result{ExitCode: 3}, nil
		}
		return transport.Result{ExitCode: 0}, nil
	})
	res, err := runner.Run(context.Background(), pb, makeHosts(1), runner.Options{Dialer: fleet, Target: target})
	if err != nil {
		t.Fatal(err)
	}
	h := res.Hosts[0]
	if h.Status != runner.StatusOK || h.Steps[0].Status != runner.StatusFailed || h.Steps[1].Status != runner.StatusOK {
		t.Errorf("host %s, steps %s %s", h.Status, h.Steps[0].Status, h.Steps[1].Status)
	}
	if want := "exit code 3, expected [0]"; h.Steps[0].Err.Message != want {
		t.Errorf("message %q, want %q", h.Steps[0].Err.Message, want)
	}
}

func TestBatchesAndBudget(t *testing.T) {
	t.Parallel()
	pct := func(p float64) playbook.Size { return playbook.Size{Percent: p} }
	cnt := func(c int) playbook.Size { return playbook.Size{Count: c} }
	cases := []struct {
		n      int
		serial []playbook.Size
		want   []int
	}{
		{5, nil, []int{0, 0, 0, 0, 0}},
		{5, []playbook.Size{cnt(2)}, []int{0, 0, 1, 1, 2}},
		{7, []playbook.Size{cnt(1), pct(50)}, []int{0, 1, 1, 1, 1, 2, 2}},
		{3, []playbook.Size{pct(1)}, []int{0, 1, 2}},
		{0, []playbook.Size{cnt(3)}, []int{}},
	}
	for _, tc := range cases {
		got := runner.Batches(tc.n, tc.serial)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Batches(%d, %v) (-want +got):\n%s", tc.n, tc.serial, diff)
		}
	}
	if got := runner.Budget(&playbook.Size{Percent: 10}, 95); got != 10 {
		t.Errorf("10%% of 95 = %d, want 10 (rounded up)", got)
	}
	if got := runner.Budget(nil, 95); got != -1 {
		t.Errorf("no budget = %d, want -1", got)
	}
}

func fixedNow() time.Time { return time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC) }

// Concurrency names what bounds the hosts in flight: forks, the largest
// batch, or the failure budget when budget+1 is below both.
func TestConcurrencyNamesTheBound(t *testing.T) {
	t.Parallel()
	one := func(n int) []int { return make([]int, n) }
	cases := []struct {
		name    string
		forks   int
		batches []int
		budget  int
		want    runner.Concurrency
	}{
		{"max_fail 1 under forks 50", 50, one(60), 1, runner.Concurrency{Hosts: 2, LimitedBy: runner.LimitedByMaxFail}},
		{"max_fail 0 runs one host at a time", 50, one(60), 0, runner.Concurrency{Hosts: 1, LimitedBy: runner.LimitedByMaxFail}},
		{"no budget", 50, one(60), -1, runner.Concurrency{Hosts: 50, LimitedBy: runner.LimitedByForks}},
		{"a budget as large as forks", 50, one(60), 49, runner.Concurrency{Hosts: 50, LimitedBy: runner.LimitedByForks}},
		{"batches smaller than forks", 50, runner.Batches(20, []playbook.Size{{Count: 5}}), 10, runner.Concurrency{Hosts: 5, LimitedBy: runner.LimitedByBatch}},
		{"the largest batch counts", 50, []int{0, 1, 1, 1, 2}, -1, runner.Concurrency{Hosts: 3, LimitedBy: runner.LimitedByBatch}},
		{"a budget below the batch", 50, runner.Batches(20, []playbook.Size{{Count: 5}}), 2, runner.Concurrency{Hosts: 3, LimitedBy: runner.LimitedByMaxFail}},
		{"budget+1 equal to forks", 3, one(10), 2, runner.Concurrency{Hosts: 3, LimitedBy: runner.LimitedByForks}},
		{"no hosts", 50, nil, 1, runner.Concurrency{}},
	}
	for _, tc := range cases {
		if got := runner.ConcurrencyOf(tc.forks, tc.batches, tc.budget); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// With max_fail 1 and forks 50 a run has at most two hosts in flight, and
// its result says the budget is the bound.
func TestRunWithASmallBudgetSaysItBoundsConcurrency(t *testing.T) {
	t.Parallel()
	pb := mustPlaybook(t, fmt.Sprintf(twoSteps, 50, "max_fail: 1"))
	fleet := newFakeFleet(exitWith(func(string) uint32 { return 0 }))
	var started runner.Event
	sink := runner.SinkFunc(func(e runner.Event) {
		if e.Kind == runner.RunStarted {
			started = e
		}
	})
	log := newEventLog()
	res, err := runner.Run(context.Background(), pb, makeHosts(40), runner.Options{Dialer: fleet, Target: target, After: immediate, Sinks: []runner.Sink{sink, log}})
	if err != nil {
		t.Fatal(err)
	}
	want := runner.Concurrency{Hosts: 2, LimitedBy: runner.LimitedByMaxFail}
	if res.Concurrency != want || started.Concurrency != want || started.MaxFail != 1 {
		t.Errorf("result %+v, RunStarted %+v with max_fail %d; want %+v with max_fail 1", res.Concurrency, started.Concurrency, started.MaxFail, want)
	}
	if log.peak > 2 {
		t.Errorf("peak hosts in flight %d, want at most 2", log.peak)
	}
}

// goroutineDialer records which goroutine dialed each host.
type goroutineDialer struct {
	*fakeFleet
	mu  sync.Mutex
	ids map[string]bool
}

func (d *goroutineDialer) Dial(ctx context.Context, t transport.Target) (transport.Session, error) {
	id := goroutineID()
	d.mu.Lock()
	d.ids[id] = true
	d.mu.Unlock()
	return d.fakeFleet.Dial(ctx, t)
}

// Once every host has been handed out, a worker whose host finished exits
// (its grown stack freed) instead of waiting for the run's last host: with
// every host in flight at once, the workers of the early finishers held
// their stacks to the end (peak RSS +9 MB at 1,000 hosts over HTTPS). Not
// parallel: it sets the package's worker-exit hook.
func TestWorkersExitOnceNoHostIsLeft(t *testing.T) {
	exited := make(chan string, 3) // the goroutines of the workers that exit
	runner.SetWorkerExited(func() { exited <- goroutineID() })
	defer runner.SetWorkerExited(nil)
	release, h002Runs := make(chan struct{}), make(chan struct{})
	h002Started := sync.OnceFunc(func() { close(h002Runs) }) // each step calls behave
	var mu sync.Mutex
	ranOn := map[string]string{} // host → its worker's goroutine
	behave := func(host string, _ transport.Command, _ int) (transport.Result, error) {
		mu.Lock()
		ranOn[host] = goroutineID()
		mu.Unlock()
		if host == "h002" {
			h002Started()
			<-release
		}
		return transport.Result{}, nil
	}
	done := make(chan error, 1)
	go func() {
		res, err := runner.Run(context.Background(), mustPlaybook(t, fmt.Sprintf(twoSteps, 3, "")), makeHosts(3), runner.Options{Dialer: newFakeFleet(behave), Target: target, After: immediate})
		if err == nil && res.Status != runner.StatusOK {
			err = fmt.Errorf("run status %s", res.Status)
		}
		done <- err
	}()
	// While h002 runs, every worker but its own exits: h000's and h001's,
	// one worker when it took both, none when h002 went to the worker
	// that ran the others.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	gone := map[string]bool{}
	started := h002Runs
	for {
		mu.Lock()
		want, allRan := map[string]bool{}, len(ranOn) == 3
		if allRan {
			for _, h := range []string{"h000", "h001"} {
				if ranOn[h] != ranOn["h002"] {
					want[ranOn[h]] = true
				}
			}
		}
		mu.Unlock()
		if allRan && maps.Equal(want, gone) {
			break
		}
		select {
		case id := <-exited:
			gone[id] = true
		case <-started:
			started = nil // h000 and h001 ran before h002 was handed out
		case <-ctx.Done():
			close(release)
			if err := <-done; err != nil { // the run ends once h002 is released
				t.Error(err)
			}
			t.Fatalf("while h002 was still running, the workers that exited were %v; hosts ran on %v", gone, ranOn)
		}
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if id := <-exited; id != ranOn["h002"] {
		t.Errorf("the last worker to exit was goroutine %s, want h002's (%s)", id, ranOn["h002"])
	}
}

// goroutineID is the calling goroutine's number.
func goroutineID() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)] // "goroutine 123 [running]:..."
	id, _, _ := strings.Cut(strings.TrimPrefix(string(buf), "goroutine "), " ")
	return id
}

// Hosts run on at most forks workers, each taking host after host, so a
// worker's grown stack serves the next host instead of a new goroutine
// growing its own.
func TestHostsRunOnAtMostForksWorkers(t *testing.T) {
	t.Parallel()
	for _, forks := range []int{1, 7} {
		t.Run(fmt.Sprintf("forks=%d", forks), func(t *testing.T) {
			t.Parallel()
			pb := mustPlaybook(t, fmt.Sprintf(twoSteps, forks, ""))
			d := &goroutineDialer{fakeFleet: newFakeFleet(exitWith(func(string) uint32 { return 0 })), ids: map[string]bool{}}
			res, err := runner.Run(context.Background(), pb, makeHosts(40), runner.Options{Dialer: d, Target: target, After: immediate})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(map[runner.Status]int{runner.StatusOK: 40}, statuses(res)); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
			if n := len(d.ids); n < 1 || n > forks {
				t.Errorf("40 hosts were dialed from %d goroutines, want 1 to %d (one per worker)", n, forks)
			}
		})
	}
}
