package winrm

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/sim"
	"github.com/fleetrun/fleetrun/transport"
)

// rebootScenario is a fleet whose hosts restart in 300 ms and answer the
// test commands of these tests.
const rebootScenario = `
defaults:
  reboot_duration: 300ms
  rules:
    - {match: "Test-Back", stdout: "back\r\n"}
    - {match: "Test-NeverReady", stderr: "service not running\r\n", exit: 3}
`

func parseScenario(t testing.TB, text string) *sim.Scenario {
	t.Helper()
	sc, err := sim.ParseScenario("reboot.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// pollFast keeps the tests' waits short; the sim restarts in 300 ms.
const pollFast = 20 * time.Millisecond

func reboot(t testing.TB, s *Session, timeout time.Duration, opts transport.RebootOptions) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return s.Reboot(ctx, opts)
}

func TestRestartLineRoundsTheDelayUpToWholeSeconds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		delay time.Duration
		want  string
	}{
		{0, `shutdown /r /f /t 0 /c "fleetrun reboot"`},
		{-time.Second, `shutdown /r /f /t 0 /c "fleetrun reboot"`},
		{time.Millisecond, `shutdown /r /f /t 1 /c "fleetrun reboot"`},
		{10 * time.Second, `shutdown /r /f /t 10 /c "fleetrun reboot"`},
		{90*time.Second + time.Nanosecond, `shutdown /r /f /t 91 /c "fleetrun reboot"`},
		{20 * 365 * 24 * time.Hour, `shutdown /r /f /t 315360000 /c "fleetrun reboot"`},
	}
	for _, tt := range tests {
		if got := restartLine(tt.delay); got != tt.want {
			t.Errorf("restartLine(%s) = %s, want %s", tt.delay, got, tt.want)
		}
	}
}

func TestRebootReturnsOnceTheHostIsBackWithANewBootTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		mode mode
		opts transport.RebootOptions
		// wantRule is how often the test command's rule answered.
		wantRule int64
	}{
		{"an immediate restart over ntlm", ntlmHTTP, transport.RebootOptions{PollInterval: pollFast}, 0},
		{"an immediate restart over https", basicHTTPS, transport.RebootOptions{PollInterval: pollFast}, 0},
		{"the test command runs once the host is back", ntlmHTTP, transport.RebootOptions{PollInterval: pollFast, TestCommand: "Test-Back"}, 1},
		{"a delayed restart is waited out while the old boot time answers", ntlmHTTP, transport.RebootOptions{PollInterval: pollFast, PreRebootDelay: time.Second}, 0},
		{"the default polling finds the host back", basicHTTPS, transport.RebootOptions{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, h := fleetFor(t, tt.mode, parseScenario(t, rebootScenario))
			s := open(t, targetFor(f, h, tt.mode), Options{})
			before := h.BootTime()
			if err := reboot(t, s, testTimeout, tt.opts); err != nil {
				t.Fatalf("Reboot: %v", err)
			}
			after := h.BootTime()
			if !after.After(before) {
				t.Errorf("the sim's boot time %v is not after %v", after, before)
			}
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			info, err := s.GetOS(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !info.LastBootUpTime.Equal(after.Truncate(time.Microsecond)) {
				t.Errorf("GetOS reports boot time %v, the sim %v", info.LastBootUpTime, after)
			}
			// The session is usable for the next step, in its new shell.
			if res := run(t, s, argv("hostname")); res.Stdout != h.Name()+"\r\n" || res.ExitCode != 0 {
				t.Errorf("hostname after the reboot: %+v", res)
			}
			st := h.Stats()
			got := map[string]int64{
				"reboots": st.Reboots, "shutdown.exe": st.Programs["shutdown.exe"],
				"shells opened": st.ShellsOpened, "open shells": st.OpenShells,
				"test command": st.Programs["script-rule"],
			}
			want := map[string]int64{
				"reboots": 1, "shutdown.exe": 1,
				"shells opened": 2, "open shells": 1,
				"test command": tt.wantRule,
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("sim counters (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRebootReplacesARestartAlreadyPending(t *testing.T) {
	t.Parallel()
	f, h := fleetFor(t, ntlmHTTP, parseScenario(t, rebootScenario))
	s := open(t, targetFor(f, h, ntlmHTTP), Options{})
	// Someone scheduled a restart an hour from now; shutdown /r refuses
	// another one (1190) until that one is aborted.
	if res := run(t, s, transport.Command{Kind: transport.KindCmd, Line: "shutdown /r /t 3600"}); res.ExitCode != 0 {
		t.Fatalf("scheduling a restart: %+v", res)
	}
	if err := reboot(t, s, testTimeout, transport.RebootOptions{PollInterval: pollFast}); err != nil {
		t.Fatalf("Reboot: %v", err)
	}
	st := h.Stats()
	// The hour-long restart, the refused one, the abort, the restart.
	if st.Reboots != 1 || st.Programs["shutdown.exe"] != 4 {
		t.Errorf("reboots %d, shutdown.exe ran %d times; want 1 and 4", st.Reboots, st.Programs["shutdown.exe"])
	}
}

func TestRebootAfterAnInstallerRestartedTheHostOnlyWaits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		line string
	}{
		{"the host is already down", "shutdown /r /t 0"},
		{"the host goes down a second later", "shutdown /r /t 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, h := fleetFor(t, ntlmHTTP, parseScenario(t, rebootScenario))
			s := open(t, targetFor(f, h, ntlmHTTP), Options{})
			before := h.BootTime()
			// As an installer exiting 1641 does: the restart is under way.
			if res := run(t, s, transport.Command{Kind: transport.KindCmd, Line: tt.line}); res.ExitCode != 0 {
				t.Fatalf("%s: %+v", tt.line, res)
			}
			if err := reboot(t, s, testTimeout, transport.RebootOptions{AlreadyInitiated: true, PollInterval: pollFast, TestCommand: "Test-Back"}); err != nil {
				t.Fatalf("Reboot: %v", err)
			}
			st := h.Stats()
			if st.Reboots != 1 || st.Programs["shutdown.exe"] != 1 || !h.BootTime().After(before) {
				t.Errorf("reboots %d, shutdown.exe ran %d times, boot time %v (before %v); want one restart, not issued again",
					st.Reboots, st.Programs["shutdown.exe"], h.BootTime(), before)
			}
			if res := run(t, s, argv("hostname")); res.ExitCode != 0 {
				t.Errorf("hostname after the reboot: %+v", res)
			}
		})
	}
}

func TestRebootTimesOutSayingWhatItLastSaw(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		scenario string
		timeout  time.Duration
		opts     transport.RebootOptions
		want     []string // the message says one of these
	}{
		{
			name:     "a host that never comes back",
			scenario: rebootScenario + "  faults: {never_returns: true}\n",
			timeout:  time.Second,
			opts:     transport.RebootOptions{PollInterval: pollFast},
			// A host that is down refuses; a connection attempt whose
			// ports match one of the host's connections still in
			// TIME_WAIT is answered with an ACK instead and times out.
			// Either way it went down and stayed down.
			want: []string{
				"it went down and has not answered since: connection to sim-0001 refused",
				"it went down and has not answered since: connecting to sim-0001 timed out",
			},
		},
		{
			name:     "a restart that has not happened by the deadline",
			scenario: rebootScenario,
			timeout:  time.Second,
			opts:     transport.RebootOptions{PollInterval: pollFast, PreRebootDelay: time.Hour},
			want:     []string{"it still answers with its old boot time"},
		},
		{
			name:     "a test command that keeps failing",
			scenario: rebootScenario,
			timeout:  2 * time.Second,
			opts:     transport.RebootOptions{PollInterval: pollFast, TestCommand: "Test-NeverReady"},
			want:     []string{"but the test command kept failing: exit code 3: service not running"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, h := fleetFor(t, ntlmHTTP, parseScenario(t, tt.scenario))
			s := open(t, targetFor(f, h, ntlmHTTP), Options{})
			err := reboot(t, s, tt.timeout, tt.opts)
			var te *transport.Error
			if !errors.As(err, &te) || te.Class != transport.ClassRebootTimeout {
				t.Fatalf("Reboot = %v, want a reboot_timeout error", err)
			}
			says := slices.ContainsFunc(tt.want, func(w string) bool { return strings.Contains(te.Message, w) })
			if !says || !strings.HasPrefix(te.Message, "sim-0001 is not back from its restart after ") {
				t.Errorf("message %q, want it to say one of %q", te.Message, tt.want)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%v does not wrap the deadline", err)
			}
			if got := h.Stats().Programs["shutdown.exe"]; got != 1 {
				t.Errorf("shutdown.exe ran %d times, want 1", got)
			}
		})
	}
}

// lineSignal closes fired when a written line contains want.
type lineSignal struct {
	want  string
	once  sync.Once
	fired chan struct{}
}

func (w *lineSignal) Write(p []byte) (int, error) {
	if strings.Contains(string(p), w.want) {
		w.once.Do(func() { close(w.fired) })
	}
	return len(p), nil
}

func TestRebootIsInterruptedByCancellation(t *testing.T) {
	t.Parallel()
	restarting := &lineSignal{want: "restarting", fired: make(chan struct{})}
	f := startFleet(t, sim.FleetOptions{Hosts: 1, Scenario: parseScenario(t, rebootScenario+"  faults: {never_returns: true}\n"), Log: restarting})
	h := f.Hosts()[0]
	s := open(t, targetFor(f, h, ntlmHTTP), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Cancel once the host has gone down; the test waits for this
	// goroutine before it ends.
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-restarting.fired:
		case <-ctx.Done():
		}
		cancel()
	}()
	err := s.Reboot(ctx, transport.RebootOptions{PollInterval: pollFast})
	cancel()
	<-done
	var te *transport.Error
	if !errors.As(err, &te) || te.Class != transport.ClassInterrupted {
		t.Fatalf("Reboot = %v, want an interrupted error", err)
	}
	if !strings.Contains(te.Message, "was interrupted") {
		t.Errorf("message %q", te.Message)
	}
}

func TestRebootProbesAHungHostAgainEachProbeBounded(t *testing.T) {
	t.Parallel()
	// A host that accepts connections and never answers them (hung in
	// its restart): each probe gives up after OperationTimeout and the
	// next one connects afresh, until the deadline.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int64
	var held []net.Conn
	var mu sync.Mutex
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close() // ends the accept loop
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			_ = c.Close() // test cleanup
		}
	})
	addr := ln.Addr().(*net.TCPAddr)
	s, err := newSession(transport.Target{Name: "hung", Address: addr.IP.String(), Port: addr.Port, Auth: "basic", AllowUnencrypted: true, User: "u", Password: "p"},
		Options{OperationTimeout: 100 * time.Millisecond, CleanupTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		_ = s.Close(ctx) // nothing to delete; closes the transport's connections
	})
	err = reboot(t, s, time.Second, transport.RebootOptions{AlreadyInitiated: true, PollInterval: pollFast})
	var te *transport.Error
	if !errors.As(err, &te) || te.Class != transport.ClassRebootTimeout {
		t.Fatalf("Reboot = %v, want a reboot_timeout error", err)
	}
	// The last probe timed out waiting for the answer, or, on a machine
	// busy enough to hold a goroutine past the probe's 100 ms, while it
	// was still connecting: bounded either way.
	answered := "it went down and has not answered since: hung did not answer within 100ms"
	connecting := "it went down and has not answered since: connecting to hung timed out"
	if !strings.Contains(te.Message, answered) && !strings.Contains(te.Message, connecting) {
		t.Errorf("message %q, want it to say %q (or, under load, %q)", te.Message, answered, connecting)
	}
	if n := accepted.Load(); n < 3 {
		t.Errorf("the host was probed over %d connection(s) in a second, want a fresh one per bounded probe", n)
	}
}

func TestRebootOfAClosedSessionFails(t *testing.T) {
	t.Parallel()
	f, h := fleetFor(t, ntlmHTTP, nil)
	s := open(t, targetFor(f, h, ntlmHTTP), Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Reboot(ctx, transport.RebootOptions{}); !errors.Is(err, errClosed) {
		t.Errorf("Reboot after Close = %v, want %v", err, errClosed)
	}
	if st := h.Stats(); st.Reboots != 0 || st.Programs["shutdown.exe"] != 0 {
		t.Errorf("a closed session restarted the host: %+v", st)
	}
}
