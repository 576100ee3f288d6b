package runner_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetrun/fleetrun/internal/fleettest"
	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/sim"
	"github.com/fleetrun/fleetrun/transport"
	"github.com/fleetrun/fleetrun/winrm"
)

// simFleet starts a simulated fleet and returns its hosts as fleetrun's
// inventory reads them.
func simFleet(t *testing.T, n int, scenario string) ([]*inventory.Host, *sim.Fleet) {
	t.Helper()
	f := fleettest.Start(t, n, scenario, sim.FleetOptions{})
	return f.Hosts, f.Fleet
}

// simTarget is a simulated host's target, with a short connect timeout.
func simTarget(ctx context.Context, h *inventory.Host) (transport.Target, error) {
	tg, err := fleettest.Target(ctx, h)
	tg.ConnectTimeout = 5 * time.Second
	return tg, err
}

// eventLog records, per batch, the order of host starts and finishes.
type eventLog struct {
	mu       sync.Mutex
	seq      int
	start    map[int][]int // batch → sequence numbers of HostStarted
	finish   map[int][]int
	retrying map[string]int
	// inFlight counts hosts between HostStarted and HostFinished (a
	// finished host's session closes after its HostFinished, beside the
	// next host's work); peak is its maximum.
	inFlight, peak int
}

func newEventLog() *eventLog {
	return &eventLog{start: map[int][]int{}, finish: map[int][]int{}, retrying: map[string]int{}}
}

func (l *eventLog) Event(e runner.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	switch e.Kind {
	case runner.HostStarted:
		l.start[e.Batch] = append(l.start[e.Batch], l.seq)
		l.inFlight++
		l.peak = max(l.peak, l.inFlight)
	case runner.HostFinished:
		if e.Host.Started.IsZero() {
			return // skipped without starting
		}
		l.finish[e.Batch] = append(l.finish[e.Batch], l.seq)
		l.inFlight--
	case runner.StepRetrying:
		l.retrying[e.Host.Name]++
	}
}

// checkNoOverlap asserts every host of batch b finished before any host of
// batch b+1 started.
func (l *eventLog) checkNoOverlap(t *testing.T) {
	t.Helper()
	var batches []int
	for b := range l.start {
		batches = append(batches, b)
	}
	sort.Ints(batches)
	for i := 1; i < len(batches); i++ {
		prev, cur := batches[i-1], batches[i]
		lastEnd := 0
		for _, s := range l.finish[prev] {
			lastEnd = max(lastEnd, s)
		}
		firstStart := l.start[cur][0]
		for _, s := range l.start[cur] {
			firstStart = min(firstStart, s)
		}
		if firstStart < lastEnd {
			t.Errorf("batch %d started (event %d) before batch %d finished (event %d)", cur, firstStart, prev, lastEnd)
		}
	}
}

const faultScenario = `
groups:
  - {name: refused, hosts: "sim-00[0-1][0-2]", faults: {refused: true}}
  - {name: hung, hosts: "sim-002[0-1]", faults: {hang: true}}
  - {name: flaky, hosts: "sim-003[0-2]", faults: {flaky: 1}}
  - {name: slow, hosts: "sim-004[0-1]", faults: {slow_start: 60s}}
  - {name: bad, hosts: "sim-005[0-4]"}
  - {name: busy, hosts: "sim-006[0-1]"}
`

const faultPlaybook = `
name: fleet
forks: 100
serial: [50, "25%"]
defaults:
  retries: 2
  retry_delay: 1ms
steps:
  - name: who
    command: [hostname]
  - name: code
    command: ['C:\tools\exitcode.exe', '{{ if eq (index .host.tags "group") "bad" }}5{{ else if eq (index .host.tags "group") "busy" }}1618{{ else }}0{{ end }}']
    retry_on_exit: [1618]
  - name: work
    command: ['C:\tools\sleep.exe', '0', 'done']
    timeout: 30s
`

// TestFleetOfThreeHundredWithFaults runs a playbook on 300 simulated hosts,
// some refusing connections, hanging, resetting, slow or failing, and
// checks the pool bound, batch order, retries and every host's status.
func TestFleetOfThreeHundredWithFaults(t *testing.T) {
	t.Parallel()
	hosts, fleet := simFleet(t, 300, faultScenario)
	pb := mustPlaybook(t, faultPlaybook)
	log := newEventLog()
	// The hung hosts never answer and the slow ones take 60 s to start a
	// process, so the limits that classify them can be generous: healthy
	// hosts on a loaded machine (100 NTLM handshakes at once on 2 shared
	// cores) must stay well inside them.
	target := func(ctx context.Context, h *inventory.Host) (transport.Target, error) {
		tg, err := simTarget(ctx, h)
		tg.ConnectTimeout = 10 * time.Second // three tries (retries: 2) well inside HostTimeout
		return tg, err
	}
	res, err := runner.Run(context.Background(), pb, hosts, runner.Options{
		Dialer: winrm.NewDialer(winrm.Options{}), Target: target,
		Sinks: []runner.Sink{log}, HostTimeout: 45 * time.Second, CloseTimeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The pool bound, as the runner's events show it: a host holds its
	// fork from HostStarted until its session is closed, before its
	// HostFinished.
	if log.peak > 100 {
		t.Errorf("%d hosts ran at once, more than forks 100", log.peak)
	}
	// The fleet's count of open shells stays within the bound too: every
	// shell is deleted before its host's fork is given to another (Close
	// sends the Delete with its own deadline).
	st := fleet.Stats()
	if st.PeakShells > 100 {
		t.Errorf("peak concurrent shells %d > forks 100", st.PeakShells)
	}
	if st.PeakShells < 20 {
		t.Errorf("peak concurrent shells %d: the pool hardly ran in parallel", st.PeakShells)
	}
	log.checkNoOverlap(t)

	want := map[string]runner.Status{}
	wantClass := map[string]transport.Class{}
	for _, h := range hosts {
		want[h.Name] = runner.StatusOK
	}
	for _, n := range []string{"sim-0001", "sim-0002", "sim-0010", "sim-0011", "sim-0012"} {
		want[n], wantClass[n] = runner.StatusUnreachable, transport.ClassRefused
	}
	// A host that accepts connections and never answers is unreachable
	// after its connect timeout.
	for _, n := range []string{"sim-0020", "sim-0021"} {
		want[n], wantClass[n] = runner.StatusUnreachable, transport.ClassConnectTimeout
	}
	for _, n := range []string{"sim-0040", "sim-0041"} {
		want[n], wantClass[n] = runner.StatusFailed, transport.ClassTimeout
	}
	for _, n := range []string{"sim-0050", "sim-0051", "sim-0052", "sim-0053", "sim-0054", "sim-0060", "sim-0061"} {
		want[n], wantClass[n] = runner.StatusFailed, transport.ClassUnexpectedExit
	}
	if len(res.Hosts) != 300 {
		t.Fatalf("%d hosts in the result, want 300", len(res.Hosts))
	}
	for _, h := range res.Hosts {
		if h.Status != want[h.Name] {
			detail := h.Reason
			if f := h.FailedStep(); f != nil && f.Err != nil {
				detail = fmt.Sprintf("step %q: %v; stdout %q stderr %q", f.Name, f.Err, f.Stdout, f.Stderr)
			}
			t.Errorf("%s: status %s (%s), want %s", h.Name, h.Status, detail, want[h.Name])
			continue
		}
		var class transport.Class
		if h.Err != nil {
			class = h.Err.Class
		} else if f := h.FailedStep(); f != nil && f.Err != nil {
			class = f.Err.Class
		}
		if class != wantClass[h.Name] {
			t.Errorf("%s: class %q, want %q", h.Name, class, wantClass[h.Name])
		}
	}
	// Retries only where allowed: the exit code 1618 is listed and retried
	// (1 + 2 retries), exit code 5 is not; flaky hosts reconnect once.
	for _, hs := range st.Hosts {
		got := hs.Programs["exitcode.exe"]
		switch {
		case strings.HasPrefix(hs.Name, "sim-006") && hs.Name <= "sim-0061":
			if got != 3 {
				t.Errorf("%s ran exitcode.exe %d times, want 3 (1618 is retried twice)", hs.Name, got)
			}
		case hs.Name >= "sim-0050" && hs.Name <= "sim-0054":
			if got != 1 {
				t.Errorf("%s ran exitcode.exe %d times, want 1 (exit 5 is not retried)", hs.Name, got)
			}
		}
	}
	for _, n := range []string{"sim-0030", "sim-0031", "sim-0032"} {
		if log.retrying[n] != 1 {
			t.Errorf("%s: %d retries, want 1 (its first connection was reset)", n, log.retrying[n])
		}
	}
	if res.Status != runner.StatusFailed {
		t.Errorf("run status %s", res.Status)
	}
}

// TestBudgetIsNeverOvershotOnSimulatedHosts spreads failing hosts over a
// 300-host fleet in batches and checks the run stops at exactly max_fail+1
// failures at every pool size.
func TestBudgetIsNeverOvershotOnSimulatedHosts(t *testing.T) {
	t.Parallel()
	hosts, _ := simFleet(t, 300, `
groups:
  - {name: bad, hosts: "sim-0[0-2][0-9]7"}
`)
	for _, forks := range []int{1, 10, 100} {
		t.Run(fmt.Sprintf("forks=%d", forks), func(t *testing.T) {
			pb := mustPlaybook(t, fmt.Sprintf(`
name: budget
forks: %d
serial: [25]
max_fail: 3
steps:
  - name: code
    command: ['C:\tools\exitcode.exe', '{{ if eq (index .host.tags "group") "bad" }}7{{ else }}0{{ end }}']
`, forks))
			log := newEventLog()
			res, err := runner.Run(context.Background(), pb, hosts, runner.Options{
				Dialer: winrm.NewDialer(winrm.Options{}), Target: simTarget, Sinks: []runner.Sink{log},
			})
			if err != nil {
				t.Fatal(err)
			}
			st := statuses(res)
			if st[runner.StatusFailed] != 4 {
				t.Errorf("failed hosts %d, want exactly 4 (max_fail 3 + the one that spends it); %v", st[runner.StatusFailed], st)
			}
			if res.Status != runner.StatusAborted || !strings.HasPrefix(res.StopReason, "failure budget spent: 4 host(s) failed, max_fail allows 3") {
				t.Errorf("run %s %q", res.Status, res.StopReason)
			}
			if st[runner.StatusOK]+st[runner.StatusFailed]+st[runner.StatusSkipped] != 300 {
				t.Errorf("hosts without a result: %v", st)
			}
			log.checkNoOverlap(t)
		})
	}
}
