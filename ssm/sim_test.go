package ssm_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetrun/fleetrun/sim"
	"github.com/fleetrun/fleetrun/ssm"
	"github.com/fleetrun/fleetrun/transport"
	"github.com/fleetrun/fleetrun/transport/transporttest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	_, hosts := startFleet(t, 1, "", sim.FleetOptions{})
	d := newDialer(t, options(t))
	transporttest.Run(t, func(t *testing.T) transport.Session {
		s := dial(t, d, hosts[0])
		return s
	})
}

func TestDialReportsHostsSSMCannotReach(t *testing.T) {
	t.Parallel()
	f, hosts := startFleet(t, 2, "host_settings:\n  sim-0002: {faults: {refused: true}}\n", sim.FleetOptions{})
	d := newDialer(t, options(t))
	ctx := context.Background()

	noID := target(t, hosts[0])
	noID.SSM.InstanceID = ""
	unknown := target(t, hosts[0])
	unknown.SSM.InstanceID = "i-0000000000000dead"
	tests := []struct {
		name      string
		target    transport.Target
		wantClass transport.Class
		wantText  string
	}{
		{"a host without an instance id", noID, transport.ClassRefused, "no instance id"},
		{"an instance SSM does not manage", unknown, transport.ClassRefused, "is not managed by SSM"},
		{"an instance whose agent lost its connection", target(t, hosts[1]), transport.ClassConnectTimeout, "ConnectionLost since"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.Dial(ctx, tc.target)
			var te *transport.Error
			if !errors.As(err, &te) || te.Class != tc.wantClass || !strings.Contains(te.Message, tc.wantText) {
				t.Fatalf("Dial: %v, want class %s mentioning %q", err, tc.wantClass, tc.wantText)
			}
			if !te.Class.Unreachable() {
				t.Errorf("class %s would not make the host unreachable", te.Class)
			}
		})
	}
	// One paginated listing for the region, one lookup for the unknown id.
	if got := f.SSMStats().Calls["DescribeInstanceInformation"]; got != 2 {
		t.Errorf("DescribeInstanceInformation called %d times, want 2", got)
	}
}

// runAll runs cmd on every host at once and returns the results in order.
func runAll(t *testing.T, d *ssm.Dialer, targets []transport.Target, cmd func(i int) transport.Command) ([]transport.Result, []error) {
	t.Helper()
	res := make([]transport.Result, len(targets))
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, tg := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := d.Dial(context.Background(), tg)
			if err != nil {
				errs[i] = err
				return
			}
			defer s.Close(context.Background()) //nolint:errcheck // nothing remote to release
			res[i], errs[i] = s.Run(context.Background(), cmd(i))
		}()
	}
	wg.Wait()
	return res, errs
}

func TestHostsRunningTheSameStepShareOneSendCommand(t *testing.T) {
	t.Parallel()
	f, hosts := startFleet(t, 50, "", sim.FleetOptions{})
	opts := options(t)
	opts.BatchWindow = time.Hour // batches leave only when full, or ...
	d := newDialer(t, opts)
	var targets []transport.Target
	for _, h := range hosts {
		targets = append(targets, target(t, h))
	}
	res, errs := runAll(t, d, targets, func(int) transport.Command {
		return transport.Command{Kind: transport.KindArgv, Argv: []string{`C:\tools\exitcode.exe`, "7"}}
	})
	for i := range targets {
		if errs[i] != nil || res[i].ExitCode != 7 {
			t.Fatalf("host %d: exit %d, %v", i, res[i].ExitCode, errs[i])
		}
	}
	st := f.SSMStats()
	if st.Calls["SendCommand"] != 1 || st.Invocations != 50 {
		t.Errorf("50 hosts: %d SendCommand calls for %d invocations, want 1 for 50", st.Calls["SendCommand"], st.Invocations)
	}
	if got := d.Stats(); got.Commands != 1 || got.Invocations != 50 {
		t.Errorf("dialer stats %+v", got)
	}
}

func TestStepsWithDifferentTextsGetCommandsOfTheirOwn(t *testing.T) {
	t.Parallel()
	f, hosts := startFleet(t, 4, "", sim.FleetOptions{})
	d := newDialer(t, options(t))
	var targets []transport.Target
	for _, h := range hosts {
		targets = append(targets, target(t, h))
	}
	res, errs := runAll(t, d, targets, func(i int) transport.Command {
		return transport.Command{Kind: transport.KindArgv, Argv: []string{`C:\tools\exitcode.exe`, []string{"1", "2", "1", "2"}[i]}}
	})
	for i := range targets {
		if want := uint32(1 + i%2); errs[i] != nil || res[i].ExitCode != want {
			t.Errorf("host %d: exit %d, %v; want %d", i, res[i].ExitCode, errs[i], want)
		}
	}
	if got := f.SSMStats().Calls["SendCommand"]; got != 2 {
		t.Errorf("SendCommand called %d times, want 2 (one per text)", got)
	}
}

func TestOutputIsTruncatedInlineAndCompleteFromS3(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("0123456789", 3000)
	f, hosts := startFleet(t, 1, "defaults:\n  rules:\n    - {match: Get-Big, stdout: \""+big+"\", stderr: \"warn\", exit: 3}\n", sim.FleetOptions{})
	_ = f
	cmd := transport.Command{Kind: transport.KindPowerShell, Script: "Get-Big"}
	ctx := context.Background()

	d := newDialer(t, options(t))
	s, err := d.Dial(ctx, target(t, hosts[0]))
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Run(ctx, cmd)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 3 || !res.StdoutTruncated || len(res.Stdout) != 24000-len("--output truncated--") || res.Stdout != big[:len(res.Stdout)] || res.Stderr != "warn" || res.StderrTruncated {
		t.Errorf("inline: exit %d, stdout %d bytes (truncated %v), stderr %q", res.ExitCode, len(res.Stdout), res.StdoutTruncated, res.Stderr)
	}

	withS3 := target(t, hosts[0])
	withS3.SSM.OutputS3Bucket = "fleet-output"
	withS3.SSM.OutputS3Prefix = "runs"
	s, err = d.Dial(ctx, withS3)
	if err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	cmd.Stdout = &logged
	res, err = s.Run(ctx, cmd)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 3 || res.StdoutTruncated || res.Stdout != big || res.Stderr != "warn" || logged.String() != big {
		t.Errorf("from S3: exit %d, stdout %d bytes (truncated %v), stderr %q, writer %d bytes", res.ExitCode, len(res.Stdout), res.StdoutTruncated, res.Stderr, logged.Len())
	}
	if got := d.Stats().Calls["S3.GetObject"]; got != 2 {
		t.Errorf("S3 GetObject called %d times, want 2", got)
	}
}

func TestShortOutputNeedsNoGetCommandInvocation(t *testing.T) {
	t.Parallel()
	_, hosts := startFleet(t, 1, "", sim.FleetOptions{})
	d := newDialer(t, options(t))
	s := dial(t, d, hosts[0])
	res, err := s.Run(context.Background(), transport.Command{Kind: transport.KindArgv, Argv: []string{`C:\tools\echoargs.exe`, "a b"}})
	if err != nil || res.ExitCode != 0 || !strings.Contains(res.Stdout, `"a b"`) {
		t.Fatalf("exit %d, stdout %q, %v", res.ExitCode, res.Stdout, err)
	}
	if got := d.Stats().Calls["GetCommandInvocation"]; got != 0 {
		t.Errorf("GetCommandInvocation called %d times for short stdout and no stderr", got)
	}
}

func TestThrottledAPIStillFinishesEveryHost(t *testing.T) {
	t.Parallel()
	f, hosts := startFleet(t, 20, "", sim.FleetOptions{SSMRate: 30})
	d := newDialer(t, options(t))
	var targets []transport.Target
	for _, h := range hosts {
		targets = append(targets, target(t, h))
	}
	res, errs := runAll(t, d, targets, func(i int) transport.Command {
		// Different texts: 20 commands polled side by side.
		return transport.Command{Kind: transport.KindCmd, Line: "exit /b " + string(rune('0'+i%10))}
	})
	for i := range targets {
		if errs[i] != nil || res[i].ExitCode != uint32(i%10) {
			t.Errorf("host %d: exit %d, %v", i, res[i].ExitCode, errs[i])
		}
	}
	t.Logf("at 30 requests/s: %d calls throttled at the endpoint, dialer stats %+v", sumCalls(f.SSMStats().Throttled), d.Stats())
}

func TestCancellationCancelsTheCommandsInOneCall(t *testing.T) {
	t.Parallel()
	f, hosts := startFleet(t, 5, "", sim.FleetOptions{})
	d := newDialer(t, options(t))
	ctx, cancel := context.WithCancel(context.Background())
	var sessions []transport.Session
	for _, h := range hosts {
		s := dial(t, d, h)
		sessions = append(sessions, s)
	}
	errs := make(chan error, len(sessions))
	for _, s := range sessions {
		go func() {
			_, err := s.Run(ctx, transport.Command{Kind: transport.KindArgv, Argv: []string{`C:\tools\sleep.exe`, "600"}})
			errs <- err
		}()
	}
	// Cancel once every host's invocation runs.
	deadline := time.Now().Add(20 * time.Second)
	for f.SSMStats().Invocations < 5 || runningPrograms(f) < 5 {
		if time.Now().After(deadline) {
			t.Fatal("the hosts never started sleeping")
		}
		<-time.After(5 * time.Millisecond)
	}
	cancel()
	for range sessions {
		if err := <-errs; transport.Classify(err).Class != transport.ClassInterrupted {
			t.Errorf("err %v, want class interrupted", err)
		}
	}
	// One CancelCommand per command, whatever the number of its hosts. The
	// five steps usually share one SendCommand; on a loaded machine a step
	// may miss the batch and go in a command of its own.
	st := f.SSMStats()
	if sent, got := st.Calls["SendCommand"], st.Calls["CancelCommand"]; got != sent || sent < 1 || sent > 5 {
		t.Errorf("CancelCommand called %d times for %d commands (5 hosts), want one per command", got, sent)
	}
}

// A step abandoned while its SendCommand is still on the way has started
// something the moment the call lands: Run must not return before that is
// cancelled too.
func TestAStepAbandonedWhileItsCommandIsSentIsCancelledBeforeRunReturns(t *testing.T) {
	t.Parallel()
	sending, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	f, hosts := startFleet(t, 1, "", sim.FleetOptions{SSMBeforeReply: func(ctx context.Context, action string) {
		if action != "SendCommand" {
			return
		}
		once.Do(func() { close(sending) })
		select {
		case <-release:
		case <-ctx.Done():
		}
	}})
	opts := options(t)
	opts.CleanupTimeout = time.Minute // long: Run must end by the cancellation, not by this
	d := newDialer(t, opts)
	s := dial(t, d, hosts[0])
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := s.Run(ctx, transport.Command{Kind: transport.KindArgv, Argv: []string{`C:\tools\sleep.exe`, "600"}})
		done <- err
	}()
	wait := time.NewTimer(20 * time.Second)
	defer wait.Stop()
	select {
	case <-sending:
	case <-wait.C:
		t.Fatal("the step's SendCommand was never sent")
	}
	// The command runs on the host; its answer has not reached fleetrun.
	cancel()
	for d.Stats().Abandoned < 1 {
		select {
		case <-wait.C:
			t.Fatal("the session never withdrew its step")
		case <-time.After(5 * time.Millisecond):
		}
	}
	close(release)
	select {
	case err := <-done:
		if transport.Classify(err).Class != transport.ClassInterrupted {
			t.Errorf("err %v, want class interrupted", err)
		}
	case <-wait.C:
		t.Fatal("Run did not return")
	}
	st := f.SSMStats()
	if st.Calls["SendCommand"] != 1 || st.Calls["CancelCommand"] != 1 {
		t.Errorf("when Run returned: %d SendCommand and %d CancelCommand calls, want 1 and 1", st.Calls["SendCommand"], st.Calls["CancelCommand"])
	}
}

// runningPrograms counts sleep.exe starts across the fleet.
func runningPrograms(f *sim.Fleet) int64 {
	return f.Stats().Totals.Programs["sleep.exe"]
}

func TestUndeliverableCommandsMakeTheHostUnreachable(t *testing.T) {
	t.Parallel()
	_, hosts := startFleet(t, 1, "host_settings:\n  sim-0001: {faults: {hang: true}}\n", sim.FleetOptions{})
	d := newDialer(t, options(t))
	s := dial(t, d, hosts[0])
	_, err := s.Run(context.Background(), transport.Command{Kind: transport.KindArgv, Argv: []string{"hostname"}})
	if te := transport.Classify(err); te.Class != transport.ClassConnectTimeout || !strings.Contains(te.Message, "Undeliverable") {
		t.Fatalf("err %v, want connect_timeout (Undeliverable)", err)
	}
}

func TestDialerCloseEndsQueuedSteps(t *testing.T) {
	t.Parallel()
	_, hosts := startFleet(t, 1, "", sim.FleetOptions{})
	opts := options(t)
	opts.BatchWindow = time.Hour
	d := ssm.NewDialer(opts)
	s := dial(t, d, hosts[0])
	done := make(chan error, 1)
	go func() {
		_, err := s.Run(context.Background(), transport.Command{Kind: transport.KindArgv, Argv: []string{"hostname"}})
		done <- err
	}()
	// The step waits in its batch (an hour's window) until Close, or
	// finds the dialer closed.
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; transport.Classify(err).Class != transport.ClassInterrupted {
		t.Errorf("err %v, want class interrupted", err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func sumCalls(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func TestRebootRestartsTheInstanceThroughTheAgent(t *testing.T) {
	t.Parallel()
	f, hosts := startFleet(t, 2, "defaults:\n  reboot_duration: 50ms\n", sim.FleetOptions{})
	// Each command is sent when both hosts have joined it (MaxBatch), not
	// when a short window ends: on a loaded machine the two hosts'
	// goroutines may be far more than a window apart.
	opts := options(t)
	opts.MaxBatch, opts.BatchWindow = len(hosts), time.Minute
	d := newDialer(t, opts)
	var targets []transport.Target
	for _, h := range hosts {
		targets = append(targets, target(t, h))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(hosts))
	for i, tg := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := d.Dial(ctx, tg)
			if err != nil {
				errs[i] = err
				return
			}
			r := s.(transport.Rebooter)
			errs[i] = r.Reboot(ctx, transport.RebootOptions{TestCommand: "exit 0", PollInterval: 10 * time.Millisecond})
			if errs[i] == nil {
				_, errs[i] = s.Run(ctx, transport.Command{Kind: transport.KindArgv, Argv: []string{"hostname"}})
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("host %d: %v", i, err)
		}
	}
	for _, h := range f.Hosts() {
		if n := h.Stats().Reboots; n != 1 {
			t.Errorf("%s rebooted %d times, want 1", h.Name(), n)
		}
	}
	if got := d.Stats().Calls["SendCommand"]; got != 3 {
		t.Errorf("SendCommand called %d times, want 3 (the reboot, the test command and hostname, each shared)", got)
	}
}

func TestRebootOfAHostThatRestartedItselfIsRefused(t *testing.T) {
	t.Parallel()
	_, hosts := startFleet(t, 1, "", sim.FleetOptions{})
	d := newDialer(t, options(t))
	s := dial(t, d, hosts[0])
	err := s.(transport.Rebooter).Reboot(context.Background(), transport.RebootOptions{AlreadyInitiated: true})
	if te := transport.Classify(err); te.Class != transport.ClassInternal || te.Hint == "" {
		t.Errorf("err %v, want an internal error with a hint", err)
	}
}

func TestPollingBacksOffWhileNothingChanges(t *testing.T) {
	t.Parallel()
	f, hosts := startFleet(t, 1, "", sim.FleetOptions{})
	opts := options(t)
	opts.PollInterval = 10 * time.Millisecond
	opts.MaxPollInterval = 200 * time.Millisecond
	d := newDialer(t, opts)
	s := dial(t, d, hosts[0])
	start := time.Now()
	res, err := s.Run(context.Background(), transport.Command{Kind: transport.KindArgv, Argv: []string{`C:\tools\sleep.exe`, "1.5"}})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("exit %d, %v", res.ExitCode, err)
	}
	polls := f.SSMStats().Calls["ListCommandInvocations"]
	fixed := int64(time.Since(start) / opts.PollInterval)
	t.Logf("%d polls in %v; a fixed %v interval would have made %d", polls, time.Since(start).Round(time.Millisecond), opts.PollInterval, fixed)
	if polls > fixed/4 {
		t.Errorf("%d polls, want at most a quarter of the %d a fixed interval makes", polls, fixed)
	}
}

func TestACommandCarriesAtMostFiftyHosts(t *testing.T) {
	t.Parallel()
	f, hosts := startFleet(t, 60, "", sim.FleetOptions{})
	d := newDialer(t, options(t))
	var targets []transport.Target
	for _, h := range hosts {
		targets = append(targets, target(t, h))
	}
	res, errs := runAll(t, d, targets, func(int) transport.Command {
		return transport.Command{Kind: transport.KindArgv, Argv: []string{`C:\tools\exitcode.exe`, "0"}}
	})
	for i := range targets {
		if errs[i] != nil || res[i].ExitCode != 0 {
			t.Fatalf("host %d: %d, %v", i, res[i].ExitCode, errs[i])
		}
	}
	// The endpoint refuses more than 50 instances per call, so every host
	// succeeding proves the limit; two calls at least carry 60 hosts.
	if n := f.SSMStats().Calls["SendCommand"]; n < 2 {
		t.Errorf("%d SendCommand calls for 60 hosts", n)
	}
}

func TestOutputInAWindowsCodePageIsDecodedOnlyFromS3(t *testing.T) {
	t.Parallel()
	_, hosts := startFleet(t, 1, "defaults:\n  output_encoding: cp932\n  rules:\n    - {match: Get-Name, stdout: \"日本語\\r\\n\"}\n", sim.FleetOptions{})
	d := newDialer(t, options(t))
	cmd := transport.Command{Kind: transport.KindPowerShell, Script: "Get-Name"}
	tg := target(t, hosts[0])
	if tg.OutputEncoding != "cp932" {
		t.Fatalf("inventory output_encoding %q", tg.OutputEncoding)
	}
	s, err := d.Dial(context.Background(), tg)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Run(context.Background(), cmd)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Stdout, "\uFFFD") {
		t.Errorf("inline stdout %q: SSM's JSON cannot carry CP932 bytes, expected U+FFFD", res.Stdout)
	}
	tg.SSM.OutputS3Bucket = "fleet-output"
	s, err = d.Dial(context.Background(), tg)
	if err != nil {
		t.Fatal(err)
	}
	res, err = s.Run(context.Background(), cmd)
	if err != nil || res.Stdout != "日本語\r\n" {
		t.Errorf("from S3: stdout %q, %v; want 日本語", res.Stdout, err)
	}
}

// Output read from S3 is decoded per step: auto reads UTF-8 as UTF-8 and
// a legacy program's CP932 with the host's code page; a step's own
// encoding is applied whatever the bytes are.
func TestS3OutputIsDecodedWithEachStepsEncoding(t *testing.T) {
	t.Parallel()
	_, hosts := startFleet(t, 1, "defaults:\n  output_encoding: cp932\n  rules:\n    - {match: Get-Utf8, stdout: \"日本語\\r\\n\"}\n", sim.FleetOptions{})
	d := newDialer(t, options(t))
	tg := target(t, hosts[0])
	tg.SSM.OutputS3Bucket = "fleet-output"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := d.Dial(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	legacy := func(enc string) transport.Command {
		return transport.Command{Kind: transport.KindArgv, Argv: []string{`C:\tools\legacymsg.exe`, "日本語"}, OutputEncoding: enc}
	}
	tests := []struct {
		name string
		cmd  transport.Command
		want string
	}{
		{"auto reads a legacy program's CP932", legacy(""), "日本語\r\n"},
		{"cp932 named", legacy("cp932"), "日本語\r\n"},
		{"utf-8 named shows replacement characters", legacy("utf-8"), "\uFFFD{\uFFFD\r\n"},
		{"auto keeps UTF-8", transport.Command{Kind: transport.KindArgv, Argv: []string{`C:\tools\echoargs.exe`, "日本語"}}, `{"argv":["C:\\tools\\echoargs.exe","日本語"],"command_line":"\"C:\\tools\\echoargs.exe\" 日本語"}` + "\r\n"},
	}
	for _, tt := range tests {
		res, err := s.Run(ctx, tt.cmd)
		if err != nil || res.Stdout != tt.want {
			t.Errorf("%s: stdout %q, %v; want %q", tt.name, res.Stdout, err, tt.want)
		}
	}
	if _, err := s.Run(ctx, transport.Command{Kind: transport.KindCmd, Line: "echo x", OutputEncoding: "klingon"}); err == nil || !strings.Contains(err.Error(), `unknown output encoding "klingon"`) {
		t.Errorf("an unknown step encoding: err = %v", err)
	}
}
