package html_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/report"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/transport"
)

// Hosts of the scripted fleet whose output tests look for.
const (
	scriptHost   = "web-0043" // prints <script>alert(1)</script>
	japaneseHost = "web-0108" // fails with a Japanese message on stderr
	scriptOutput = "<script>alert(1)</script> and <img src=x onerror=alert(2)>"
	japaneseText = "C: ドライブの空き容量が不足しています（残り 3.1 GB）"
)

// rollout runs testdata/rollout.yaml with the real runner against n
// scripted hosts and returns the JSON report document. The fleet is
// deterministic: the same n gives the same document.
//
// The fake hosts take no real time; they advance a virtual clock instead.
// The runner is run one host at a time (forks 1), which keeps every
// outcome, retry and the budget stop deterministic, and afterwards the
// hosts of each batch are laid out on the playbook's forks, as a real run
// would have run them side by side. Step durations are kept exactly.
func rollout(t testing.TB, n int) *report.Document {
	t.Helper()
	data, err := os.ReadFile("testdata/rollout.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pb, err := playbook.Parse("rollout.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	hosts, fleet := scriptedHosts(n)
	start := time.Date(2026, 11, 28, 22, 0, 0, 0, time.UTC)
	fleet.clock.now = start
	res, err := runner.Run(context.Background(), pb, hosts, runner.Options{
		Forks:  1,
		Dialer: fleet,
		Target: func(ctx context.Context, h *inventory.Host) (transport.Target, error) {
			return transport.Target{Name: h.Name, Address: h.Address}, nil
		},
		Now:          fleet.clock.Now,
		After:        fleet.clock.After,
		CloseTimeout: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	layOut(res, pb.Forks, start)
	return report.NewDocument(res)
}

// scriptedHosts names n hosts, 60% web servers then app servers, and
// returns the fleet that plays them.
func scriptedHosts(n int) ([]*inventory.Host, *scriptedFleet) {
	f := &scriptedFleet{clock: &vclock{}, index: map[string]int{}}
	webs := n * 6 / 10
	apps := n - webs
	hosts := make([]*inventory.Host, n)
	for i := range hosts {
		name := fmt.Sprintf("web-%04d", i+1)
		if i >= webs {
			app := i - webs
			name = fmt.Sprintf("app-%04d", app+1)
			// A rack whose update cache is broken: its hosts fail together.
			if app >= apps*5/16 && app < apps/2 {
				f.cluster = append(f.cluster, i)
			}
		}
		hosts[i] = &inventory.Host{Name: name, Address: strings.ToLower(name) + ".corp.example", Transport: "winrm", Simulated: true}
		f.index[name] = i
	}
	return hosts, f
}

// vclock is a virtual clock: it moves only when the fake hosts spend time.
type vclock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *vclock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *vclock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// After lets a retry delay pass at once, in virtual time.
func (c *vclock) After(d time.Duration) <-chan time.Time {
	c.advance(d)
	ch := make(chan time.Time, 1)
	ch <- c.Now()
	return ch
}

// spread returns a deterministic value in [lo, hi) for host i and a salt.
func spread(i, salt int, lo, hi time.Duration) time.Duration {
	x := uint64(i)*0x9E3779B97F4A7C15 + uint64(salt)*0xBF58476D1CE4E5B9
	x ^= x >> 31
	x *= 0x94D049BB133111EB
	x ^= x >> 29
	return lo + time.Duration(x%uint64(hi-lo))
}

// scriptedFleet is a transport.Dialer whose hosts behave by their index.
type scriptedFleet struct {
	clock   *vclock
	index   map[string]int
	cluster []int
}

func (f *scriptedFleet) inCluster(i int) bool {
	return len(f.cluster) > 0 && i >= f.cluster[0] && i <= f.cluster[len(f.cluster)-1]
}

func (f *scriptedFleet) Dial(ctx context.Context, t transport.Target) (transport.Session, error) {
	i := f.index[t.Name]
	f.clock.advance(spread(i, 1, 150*time.Millisecond, 450*time.Millisecond))
	switch {
	case i%397 == 5:
		return nil, &transport.Error{Class: transport.ClassAuth, Message: "the host rejected the credentials (HTTP 401 after NTLM negotiation)",
			Hint: "check the user and the password the inventory names; the account may be locked"}
	case i%613 == 11:
		f.clock.advance(10 * time.Second)
		return nil, &transport.Error{Class: transport.ClassConnectTimeout, Message: fmt.Sprintf("no answer from %s:5985 within 10s", t.Address),
			Hint: "check that the host is up and that WinRM listens on port 5985", Transient: true}
	}
	return &scriptedSession{fleet: f, i: i, name: t.Name}, nil
}

type scriptedSession struct {
	fleet    *scriptedFleet
	i        int
	name     string
	installs int
}

func (s *scriptedSession) Run(ctx context.Context, cmd transport.Command) (transport.Result, error) {
	i, clock := s.i, s.fleet.clock
	switch cmd.Kind {
	case transport.KindPowerShell: // free disk space
		clock.advance(spread(i, 2, 1500*time.Millisecond, 4*time.Second))
		switch {
		case s.name == japaneseHost:
			return transport.Result{ExitCode: 2, Stderr: japaneseText + "\r\n"}, nil
		case i%211 == 7:
			return transport.Result{ExitCode: 2, Stderr: fmt.Sprintf("only %.1f GB free on C:\r\n", 1+float64(i%40)/10)}, nil
		case s.name == scriptHost:
			return transport.Result{Stdout: scriptOutput + "\r\nC: has 52.0 GB free\r\n"}, nil
		}
		return transport.Result{Stdout: fmt.Sprintf("C: has %.1f GB free\r\n", 12+float64(i%700)/10)}, nil
	case transport.KindArgv: // install patch
		s.installs++
		d := spread(i, 3, 45*time.Second, 4*time.Minute)
		switch {
		case s.fleet.inCluster(i):
			d = spread(i, 4, 10*time.Second, 40*time.Second) // not applicable: wusa gives up early
		case i%101 == 50:
			d = spread(i, 4, 18*time.Minute, 25*time.Minute) // slow disks
		}
		clock.advance(d)
		switch {
		case s.fleet.inCluster(i):
			return transport.Result{ExitCode: 0x80240017}, nil // WU_E_NOT_APPLICABLE
		case i%97 == 13:
			return transport.Result{ExitCode: 1603, Stderr: "Windows Update Standalone Installer: installation failed (1603)\r\n"}, nil
		case i%151 == 3 && s.installs == 1:
			return transport.Result{ExitCode: 1618}, nil // another installation in progress
		case i == 77:
			return transport.Result{ExitCode: 3010, Stdout: verboseLog(s.name)}, nil
		case i%9 == 0:
			return transport.Result{ExitCode: 3010}, nil
		case i%41 == 2:
			return transport.Result{ExitCode: 1641}, nil
		case i%23 == 4:
			return transport.Result{ExitCode: 2359302}, nil
		}
		return transport.Result{}, nil
	case transport.KindCmd: // record patch level
		clock.advance(spread(i, 5, 300*time.Millisecond, time.Second))
		return transport.Result{}, nil
	}
	return transport.Result{}, fmt.Errorf("scripted host %s: unexpected step kind %q", s.name, cmd.Kind)
}

// Reboot takes a few virtual minutes; one host in 300 never comes back.
func (s *scriptedSession) Reboot(ctx context.Context, opts transport.RebootOptions) error {
	if s.i%300 == 99 {
		s.fleet.clock.advance(15 * time.Minute)
		return &transport.Error{Class: transport.ClassRebootTimeout, Message: "the host did not come back within the reboot timeout of 15m0s",
			Hint: "check the host's console; raise the reboot timeout if updates take long to apply"}
	}
	s.fleet.clock.advance(spread(s.i, 6, 2*time.Minute, 5*time.Minute))
	return nil
}

func (s *scriptedSession) Close(ctx context.Context) error { return nil }

// verboseLog is long installer output, longer than the page keeps.
func verboseLog(host string) string {
	var b strings.Builder
	for k := range 200 {
		fmt.Fprintf(&b, "%s: CBS: applying package KB5034439 component %03d of 200\r\n", host, k+1)
	}
	b.WriteString("the update was installed; a restart is required\r\n")
	return b.String()
}

// layOut places each batch's hosts on forks lanes, every host starting as
// soon as a lane is free and each batch starting when the previous one has
// finished, as the runner schedules a real run.
func layOut(res *runner.Result, forks int, start time.Time) {
	cursor := start
	for b := range res.Batches {
		lanes := make([]time.Time, forks)
		for k := range lanes {
			lanes[k] = cursor.Add(time.Duration(k) * 40 * time.Millisecond)
		}
		end := cursor
		for _, h := range res.Hosts {
			if h.Batch != b || h.Started.IsZero() {
				continue
			}
			k := 0
			for j := range lanes {
				if lanes[j].Before(lanes[k]) {
					k = j
				}
			}
			shift := lanes[k].Sub(h.Started)
			h.Started, h.Finished = h.Started.Add(shift), h.Finished.Add(shift)
			for _, s := range h.Steps {
				if !s.Started.IsZero() {
					s.Started, s.Finished = s.Started.Add(shift), s.Finished.Add(shift)
				}
			}
			lanes[k] = h.Finished
			if h.Finished.After(end) {
				end = h.Finished
			}
		}
		cursor = end
	}
	res.Started, res.Finished = start, cursor.Add(500*time.Millisecond)
	res.Forks = forks
}
