package winrm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/internal/hostile"
	"github.com/fleetrun/fleetrun/launcher"
	"github.com/fleetrun/fleetrun/sim"
	"github.com/fleetrun/fleetrun/transport"
)

// testTimeout bounds every end-to-end operation of these tests; none
// should come near it.
const testTimeout = 60 * time.Second

// startFleet starts a simulated fleet for one test and closes it after.
func startFleet(t testing.TB, opts sim.FleetOptions) *sim.Fleet {
	t.Helper()
	if opts.Hosts == 0 && (opts.Scenario == nil || opts.Scenario.Hosts == 0) {
		opts.Hosts = 1
	}
	f, err := sim.StartFleet(context.Background(), opts)
	if err != nil {
		t.Fatalf("start simulated fleet: %v", err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("close simulated fleet: %v", err)
		}
	})
	return f
}

// mode is a way of reaching a simulated host.
type mode struct {
	name  string
	https bool
	auth  string
}

var (
	basicHTTPS = mode{"basic over https", true, "basic"}
	ntlmHTTP   = mode{"ntlm with encryption over http", false, "ntlm"}
	modes      = []mode{basicHTTPS, ntlmHTTP}
)

// fleetFor starts a one-host fleet served as m needs.
func fleetFor(t testing.TB, m mode, sc *sim.Scenario) (*sim.Fleet, *sim.Host) {
	t.Helper()
	f := startFleet(t, sim.FleetOptions{Hosts: 1, HTTPS: m.https, Scenario: sc})
	return f, f.Hosts()[0]
}

// targetFor is the transport.Target of a simulated host.
func targetFor(f *sim.Fleet, h *sim.Host, m mode) transport.Target {
	t := transport.Target{
		Name: h.Name(), Address: h.Address(), Port: h.Port(), HTTPS: m.https, Auth: m.auth,
		User: f.User(), Password: f.Password(), OutputEncoding: h.Config().OutputEncoding,
	}
	if m.https {
		t.CAFile = h.CAFile()
	}
	return t
}

func open(t testing.TB, target transport.Target, opts Options) *Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	s, err := Open(ctx, target, opts)
	if err != nil {
		t.Fatalf("open %s: %v", target.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("close %s: %v", target.Name, err)
		}
	})
	return s
}

func run(t testing.TB, s *Session, cmd transport.Command) transport.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	res, err := s.Run(ctx, cmd)
	if err != nil {
		t.Fatalf("run a %s step: %v", cmd.Kind, err)
	}
	return res
}

func argv(args ...string) transport.Command {
	return transport.Command{Kind: transport.KindArgv, Argv: args}
}

func TestRunGivesExactExitCodesAndOutputForEveryKind(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			f, h := fleetFor(t, m, nil)
			s := open(t, targetFor(f, h, m), Options{})
			if got := s.Encrypted(); got != (m.auth == "ntlm") {
				t.Errorf("Encrypted() = %v", got)
			}
			for _, code := range []string{"0", "1", "3010", "9999", "3221225477"} {
				want, _ := parseExitCode(code)
				tests := []struct {
					kind string
					cmd  transport.Command
					want transport.Result
				}{
					{"argv", argv(`C:\tools\exitcode.exe`, code), transport.Result{ExitCode: want}},
					{"cmd", transport.Command{Kind: transport.KindCmd, Line: "echo out " + code + "& exit /b " + code},
						transport.Result{ExitCode: want, Stdout: "out " + code + "\r\n"}},
					{"powershell", transport.Command{Kind: transport.KindPowerShell,
						Script: "Write-Output 'out " + code + "'\n[Console]::Error.WriteLine('err " + code + "')\nexit " + code + "\n"},
						transport.Result{ExitCode: want, Stdout: "out " + code + "\r\n", Stderr: "err " + code + "\r\n"}},
				}
				for _, tc := range tests {
					got := run(t, s, tc.cmd)
					if diff := cmp.Diff(tc.want, got); diff != "" {
						t.Errorf("%s step exiting %s (-want +got):\n%s", tc.kind, code, diff)
					}
				}
			}
			// argv steps with output on each stream.
			res := run(t, s, argv(`C:\tools\echoargs.exe`, "out put"))
			var echoed echoArgs
			if err := json.Unmarshal([]byte(res.Stdout), &echoed); err != nil || res.Stderr != "" || res.ExitCode != 0 ||
				!cmp.Equal(echoed.Argv, []string{`C:\tools\echoargs.exe`, "out put"}) || !strings.HasSuffix(res.Stdout, "\r\n") {
				t.Errorf("echoargs result = %+v", res)
			}
			if res := run(t, s, argv(`C:\tools\sleep.exe`)); res.Stdout != "" || res.Stderr != "usage: sleep.exe SECONDS [TEXT]\r\n" || res.ExitCode == 0 {
				t.Errorf("sleep.exe without arguments: %+v, want its usage on stderr and a failure", res)
			}
			if got := run(t, s, argv(`C:\tools\crash.exe`)); got.ExitCode != 3221225477 {
				t.Errorf("crash.exe exit code = %d, want 3221225477", got.ExitCode)
			}
			if st := h.Stats(); st.ShellsOpened != 1 {
				t.Errorf("the host saw %d shells opened for one session, want 1", st.ShellsOpened)
			}
		})
	}
}

func TestRunAppliesEnvAndWorkdirForEveryKind(t *testing.T) {
	t.Parallel()
	m := ntlmHTTP
	f, h := fleetFor(t, m, nil)
	s := open(t, targetFor(f, h, m), Options{})
	env := map[string]string{"FLEETRUN_TEST": "a b"}
	tests := []struct {
		name string
		cmd  transport.Command
		want string
	}{
		{"cmd", transport.Command{Kind: transport.KindCmd, Line: "echo %FLEETRUN_TEST%& cd", Env: env, Workdir: `C:\Windows`}, "a b\r\nC:\\Windows\r\n"},
		{"powershell", transport.Command{Kind: transport.KindPowerShell, Script: "Write-Output $env:FLEETRUN_TEST\n(pwd).Path", Env: env, Workdir: `C:\Windows`}, "a b\r\nC:\\Windows\r\n"},
		{"argv", transport.Command{Kind: transport.KindArgv, Argv: []string{"cmd.exe", "/d", "/c", "echo %FLEETRUN_TEST%& cd"}, Env: env, Workdir: `C:\Windows`}, "a b\r\nC:\\Windows\r\n"},
	}
	for _, tc := range tests {
		got := run(t, s, tc.cmd)
		if got.Stdout != tc.want || got.ExitCode != 0 {
			t.Errorf("%s: stdout %q exit %d, want %q exit 0 (stderr %q)", tc.name, got.Stdout, got.ExitCode, tc.want, got.Stderr)
		}
	}
}

// echoArgs is what C:\tools\echoargs.exe prints.
type echoArgs struct {
	Argv        []string `json:"argv"`
	CommandLine string   `json:"command_line"`
}

func TestHostileArgumentsArriveByteExact(t *testing.T) {
	t.Parallel()
	corpus := hostile.Args(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			f, h := fleetFor(t, m, nil)
			s := open(t, targetFor(f, h, m), Options{})
			// Batches of arguments whose command line stays well under
			// Windows' 32766-character limit.
			for i := 0; i < len(corpus); {
				j, size := i, 0
				for j < len(corpus) && (j == i || size+len(corpus[j]) < 12000) {
					size += 2*len(corpus[j]) + 3
					j++
				}
				args := corpus[i:j]
				cmd := argv(append([]string{`C:\tools\echoargs.exe`}, args...)...)
				res := run(t, s, cmd)
				var got echoArgs
				if err := json.Unmarshal([]byte(res.Stdout), &got); err != nil || res.ExitCode != 0 {
					t.Fatalf("corpus[%d:%d]: echoargs printed %.200q (stderr %.200q, exit %d): %v", i, j, res.Stdout, res.Stderr, res.ExitCode, err)
				}
				if diff := cmp.Diff(cmd.Argv[1:], got.Argv[1:]); diff != "" {
					t.Errorf("corpus[%d:%d] arrived changed (-sent +received):\n%s", i, j, diff)
				}
				r, _ := launcher.Render(cmd, launcher.RenderOptions{})
				if got.CommandLine != r.CommandLine {
					t.Errorf("corpus[%d:%d]: the program saw another command line than was built", i, j)
				}
				i = j
			}
		})
	}
}

func TestCP932HostOutputIsDecoded(t *testing.T) {
	t.Parallel()
	enc := "cp932"
	sc := &sim.Scenario{Defaults: sim.Settings{OutputEncoding: &enc, Rules: []sim.ScriptRule{{Contains: "Get-Greeting", Stdout: "こんにちは、世界\r\n"}}}}
	m := ntlmHTTP
	f, h := fleetFor(t, m, sc)
	target := targetFor(f, h, m)
	target.OutputEncoding = "cp932"
	s := open(t, target, Options{})
	var raw bytes.Buffer
	res := run(t, s, transport.Command{Kind: transport.KindPowerShell, Script: "Get-Greeting", Stdout: &raw})
	if res.Stdout != "こんにちは、世界\r\n" {
		t.Errorf("decoded stdout = %q, want %q", res.Stdout, "こんにちは、世界\r\n")
	}
	// The launcher's PowerShell writes the console's code page, 65001 in
	// fleetrun's shells: UTF-8 even on a Japanese host.
	if raw.String() != "こんにちは、世界\r\n" {
		t.Errorf("raw stdout = % x, want UTF-8", raw.Bytes())
	}
	// A legacy program writes CP932: こ is 0x82 0xB1.
	raw.Reset()
	res = run(t, s, transport.Command{Kind: transport.KindArgv, Argv: []string{`C:\tools\legacymsg.exe`, "こんにちは"}, Stdout: &raw})
	if res.Stdout != "こんにちは\r\n" || !bytes.HasPrefix(raw.Bytes(), []byte{0x82, 0xb1}) {
		t.Errorf("legacy program: stdout %q from % x, want こんにちは from Shift JIS bytes", res.Stdout, raw.Bytes())
	}
}

// On a Japanese host (code page 932), cmd.exe's built-ins and the
// launcher's PowerShell write UTF-8 (the shell's console is 65001) and a
// legacy program writes CP932; auto, the default, gives each step's text
// exactly, and a step's own output_encoding is honoured even when wrong.
func TestOutputEncodingPerStepOnAJapaneseHost(t *testing.T) {
	t.Parallel()
	enc := "cp932"
	f, h := fleetFor(t, ntlmHTTP, &sim.Scenario{Defaults: sim.Settings{OutputEncoding: &enc}})
	s := open(t, targetFor(f, h, ntlmHTTP), Options{})
	legacy := func(encoding string, args ...string) transport.Command {
		return transport.Command{Kind: transport.KindArgv, Argv: append([]string{`C:\tools\legacymsg.exe`}, args...), OutputEncoding: encoding}
	}
	tests := []struct {
		name       string
		cmd        transport.Command
		wantOut    string
		wantErr    string
		wantRawOut []byte
	}{
		{"a cmd built-in writes UTF-8", transport.Command{Kind: transport.KindCmd, Line: "echo 日本語"}, "日本語\r\n", "", []byte("日本語\r\n")},
		{"a cmd built-in's stderr too", transport.Command{Kind: transport.KindCmd, Line: "echo 日本語エラー 1>&2"}, "", "日本語エラー \r\n", nil},
		{"a legacy program writes CP932", legacy("", "日本語のメッセージ"), "日本語のメッセージ\r\n", "", []byte{0x93, 0xfa, 0x96, 0x7b, 0x8c, 0xea}},
		{"a legacy program's own message", legacy("auto"), "この操作を正しく終了しました。\r\n", "", nil},
		{"PowerShell through the launcher writes UTF-8", transport.Command{Kind: transport.KindPowerShell, Script: "Write-Output '日本語'"}, "日本語\r\n", "", []byte("日本語\r\n")},
		{"a legacy program at the end of a PowerShell step keeps its bytes", transport.Command{Kind: transport.KindPowerShell, Script: "& 'C:\\tools\\legacymsg.exe' '日本語'"}, "日本語\r\n", "", []byte{0x93, 0xfa, 0x96, 0x7b, 0x8c, 0xea}},
		// PowerShell reads captured program output with the console's
		// UTF-8, so CP932 bytes are lost before they leave the host.
		{"a legacy program's output captured by PowerShell is damaged as on Windows", transport.Command{Kind: transport.KindPowerShell, Script: "$m = & 'C:\\tools\\legacymsg.exe' '日本語'; Write-Output $m"}, "\uFFFD\uFFFD\uFFFD{\uFFFD\uFFFD\r\n", "", nil},
		{"utf-8 on a legacy step shows replacement characters", legacy("utf-8", "日本語"), "\uFFFD{\uFFFD\r\n", "", nil},
		{"cp932 on a legacy step", legacy("cp932", "日本語"), "日本語\r\n", "", nil},
		{"shift_jis on a legacy step", legacy("Shift_JIS", "日本語"), "日本語\r\n", "", nil},
		{"cp932 on a UTF-8 step reads it as CP932", transport.Command{Kind: transport.KindCmd, Line: "echo 日本", OutputEncoding: "cp932"}, "譌･譛ｬ\r\n", "", nil},
	}
	for _, tt := range tests {
		var raw bytes.Buffer
		tt.cmd.Stdout = &raw
		res := run(t, s, tt.cmd)
		if res.Stdout != tt.wantOut || res.Stderr != tt.wantErr || res.ExitCode != 0 {
			t.Errorf("%s: stdout %q stderr %q exit %d, want %q, %q, 0", tt.name, res.Stdout, res.Stderr, res.ExitCode, tt.wantOut, tt.wantErr)
		}
		if tt.wantRawOut != nil && !bytes.HasPrefix(raw.Bytes(), tt.wantRawOut) {
			t.Errorf("%s: the host wrote % x, want it to start with % x", tt.name, raw.Bytes(), tt.wantRawOut)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if _, err := s.Run(ctx, transport.Command{Kind: transport.KindCmd, Line: "echo x", OutputEncoding: "klingon"}); err == nil || !strings.Contains(err.Error(), `unknown output encoding "klingon"`) {
		t.Errorf("an unknown step encoding: err = %v, want unknown output encoding", err)
	}
}

// Where the inventory names no code page (UTF-8, the default), auto
// cannot read a legacy program's CP932 and shows replacement characters
// rather than guessing.
func TestAutoWithoutTheHostsCodePageShowsReplacementCharacters(t *testing.T) {
	t.Parallel()
	enc := "cp932"
	f, h := fleetFor(t, ntlmHTTP, &sim.Scenario{Defaults: sim.Settings{OutputEncoding: &enc}})
	target := targetFor(f, h, ntlmHTTP)
	target.OutputEncoding = ""
	s := open(t, target, Options{})
	if res := run(t, s, argv(`C:\tools\legacymsg.exe`, "日本語")); res.Stdout != "\uFFFD{\uFFFD\r\n" {
		t.Errorf("stdout = %q, want replacement characters", res.Stdout)
	}
	if res := run(t, s, transport.Command{Kind: transport.KindCmd, Line: "echo 日本語"}); res.Stdout != "日本語\r\n" {
		t.Errorf("stdout = %q, want 日本語", res.Stdout)
	}
}

// A host that answers at most 32 KB per Receive sends a legacy program's
// 24 KB of CP932 in two answers, the first ending inside a character; the
// step's text comes back whole.
func TestCharacterSplitAcrossReceiveAnswersDecodesWhole(t *testing.T) {
	t.Parallel()
	enc, envelope := "cp932", 32
	f, h := fleetFor(t, ntlmHTTP, &sim.Scenario{Defaults: sim.Settings{OutputEncoding: &enc, Quotas: sim.QuotaOverrides{MaxEnvelopeSizeKB: &envelope}}})
	s := open(t, targetFor(f, h, ntlmHTTP), Options{})
	// One ASCII byte, then two-byte characters: an answer of an even
	// number of bytes ends inside one.
	text := "x" + strings.Repeat("日本語のメッセージ", 12000/9)
	before := h.Stats().Requests["Receive"]
	res := run(t, s, argv(`C:\tools\legacymsg.exe`, text))
	if res.Stdout != text+"\r\n" {
		t.Errorf("stdout has %d bytes, want the %d bytes of the text; first difference at %d", len(res.Stdout), len(text)+2, firstDiff(res.Stdout, text+"\r\n"))
	}
	if n := h.Stats().Requests["Receive"] - before; n < 2 {
		t.Errorf("%d Receive requests, want at least 2 (the output must be split)", n)
	}
}

func firstDiff(a, b string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestMegabyteScriptRunsOnWinRM2Host(t *testing.T) {
	t.Parallel()
	profile := "2008r2"
	sc := &sim.Scenario{Defaults: sim.Settings{Profile: &profile, Rules: []sim.ScriptRule{{Contains: "# big script marker", Stdout: "big script ran\r\n", ExitCode: 7}}}}
	m := ntlmHTTP
	f, h := fleetFor(t, m, sc)
	s := open(t, targetFor(f, h, m), Options{})
	var b strings.Builder
	b.WriteString("# big script marker\n")
	for b.Len() < 1<<20 {
		b.WriteString("# padding: the quick brown fox jumps over the lazy dog, 0123456789 \u65e5\u672c\n")
	}
	res := run(t, s, transport.Command{Kind: transport.KindPowerShell, Script: b.String()})
	if res.Stdout != "big script ran\r\n" || res.ExitCode != 7 {
		t.Errorf("result = %+v, want the rule's output and exit 7", res)
	}
	st := h.Stats()
	if st.Requests["Send"] < 2 {
		t.Errorf("the script went in %d Send requests, want several under WinRM 2.0's 150 KB envelopes", st.Requests["Send"])
	}
}

func TestStepTimeoutTerminatesTheCommandRemotely(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			f, h := fleetFor(t, m, nil)
			s := open(t, targetFor(f, h, m), Options{})
			started := make(chan struct{})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			deadline, stop := context.WithTimeout(ctx, testTimeout)
			defer stop()
			// The step's deadline passes once the command has started.
			stepCtx, expire := context.WithCancelCause(deadline)
			go func() {
				select {
				case <-started:
				case <-ctx.Done():
				}
				expire(context.DeadlineExceeded)
			}()
			_, err := s.Run(timeoutCtx{stepCtx}, transport.Command{Kind: transport.KindCmd, Line: `echo started& C:\tools\sleep.exe 600`,
				Stdout: signalWriter(started)})
			var te *transport.Error
			if !errors.As(err, &te) || te.Class != transport.ClassTimeout {
				t.Fatalf("Run error = %v, want class timeout", err)
			}
			st := h.Stats()
			if st.Signals < 1 || st.Deletes < 1 {
				t.Errorf("host saw %d Signals and %d Deletes, want at least one each", st.Signals, st.Deletes)
			}
			// The session goes on with a new shell.
			if res := run(t, s, argv(`C:\tools\exitcode.exe`, "5")); res.ExitCode != 5 {
				t.Errorf("next step exit code = %d, want 5", res.ExitCode)
			}
			if st := h.Stats(); st.ShellsOpened != 2 {
				t.Errorf("shells opened = %d, want 2", st.ShellsOpened)
			}
		})
	}
}

// timeoutCtx reports the cancellation cause of its context as its error,
// so a test can make a context "time out" at a moment it chooses rather
// than after a wall-clock delay.
type timeoutCtx struct{ context.Context }

func (c timeoutCtx) Err() error {
	if c.Context.Err() == nil {
		return nil
	}
	return context.Cause(c.Context)
}

// signalWriter closes ch at the first write.
type signalWriterT struct {
	ch   chan struct{}
	done bool
}

func signalWriter(ch chan struct{}) *signalWriterT { return &signalWriterT{ch: ch} }

func (w *signalWriterT) Write(p []byte) (int, error) {
	if !w.done {
		w.done = true
		close(w.ch)
	}
	return len(p), nil
}

func TestShellDeletedMidCommandEndsTheStepWithAFault(t *testing.T) {
	t.Parallel()
	m := ntlmHTTP
	f, h := fleetFor(t, m, nil)
	target := targetFor(f, h, m)
	s := open(t, target, Options{})
	other := open(t, target, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	var deleteErr error
	deleted := false
	onStart := writerFunc(func(p []byte) (int, error) {
		if !deleted {
			// Called on the session's goroutine between two Receives, while
			// Run holds its lock: reading the shell ID is safe, and the next
			// Receive finds the shell gone, as it would after an idle
			// timeout or a restart.
			deleted = true
			_, deleteErr = other.ep.post(ctx, "Delete shell", deleteShellMessage(other.ep.url, other.opXS(), s.shellID), time.Minute)
		}
		return len(p), nil
	})
	start := time.Now()
	_, err := s.Run(ctx, transport.Command{Kind: transport.KindCmd, Line: `echo started& C:\tools\sleep.exe 600`, Stdout: onStart})
	if deleteErr != nil {
		t.Fatalf("delete the shell from a second session: %v", deleteErr)
	}
	var te *transport.Error
	if !errors.As(err, &te) || te.Class != transport.ClassWSManFault || te.Code != CodeShellNotFound || !errors.Is(err, ErrShellGone) {
		t.Fatalf("Run error = %v, want wsman_fault %d (shell gone)", err, CodeShellNotFound)
	}
	if !te.Transient || te.Hint == "" {
		t.Errorf("shell-gone error: transient %v, hint %q", te.Transient, te.Hint)
	}
	if ctx.Err() != nil {
		t.Errorf("Run returned only after its context ended (%s)", time.Since(start))
	}
	// The next step opens a new shell.
	if res := run(t, s, argv(`C:\tools\exitcode.exe`, "3")); res.ExitCode != 3 {
		t.Errorf("next step exit code = %d, want 3", res.ExitCode)
	}
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestOperationQuotaRecreatesTheShellTransparently(t *testing.T) {
	t.Parallel()
	ops := 3
	sc := &sim.Scenario{Defaults: sim.Settings{Quotas: sim.QuotaOverrides{MaxConcurrentOperationsPerUser: &ops}}}
	m := ntlmHTTP
	f, h := fleetFor(t, m, sc)
	s := open(t, targetFor(f, h, m), Options{})
	for i := range 8 {
		if res := run(t, s, argv(`C:\tools\exitcode.exe`, "0")); res.ExitCode != 0 {
			t.Fatalf("step %d exit code %d", i, res.ExitCode)
		}
	}
	if st := h.Stats(); st.ShellsOpened < 3 {
		t.Errorf("shells opened = %d, want a new shell every %d commands", st.ShellsOpened, ops)
	}
}

func TestMaxShellsPerUserIsReportedWithTheFix(t *testing.T) {
	t.Parallel()
	shells := 1
	sc := &sim.Scenario{Defaults: sim.Settings{Quotas: sim.QuotaOverrides{MaxShellsPerUser: &shells}}}
	m := basicHTTPS
	f, h := fleetFor(t, m, sc)
	open(t, targetFor(f, h, m), Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, err := Open(ctx, targetFor(f, h, m), Options{})
	var te *transport.Error
	if !errors.As(err, &te) || te.Class != transport.ClassWSManFault || te.Code != CodeMaxShellsPerUser {
		t.Fatalf("second Open error = %v, want wsman_fault %d", err, CodeMaxShellsPerUser)
	}
	for _, want := range []string{"MaxShellsPerUser", `winrm set winrm/config/winrs @{MaxShellsPerUser="30"}`, `'@{MaxShellsPerUser="30"}'`} {
		if !strings.Contains(te.Hint, want) {
			t.Errorf("hint %q lacks %q", te.Hint, want)
		}
	}
}

// on2008R2 opens a session over NTLM to a simulated 2008 R2 host, whose
// shells are capped at 150 MB (MaxMemoryPerShellMB).
func on2008R2(t *testing.T, opts Options) *Session {
	t.Helper()
	profile := "2008r2"
	f, h := fleetFor(t, ntlmHTTP, &sim.Scenario{Defaults: sim.Settings{Profile: &profile}})
	return open(t, targetFor(f, h, ntlmHTTP), opts)
}

func TestMemoryCapFailureIsClassifiedWithTheHostsCap(t *testing.T) {
	t.Parallel()
	s := on2008R2(t, Options{})
	java := argv("java", "-Xmx512m", "-jar", `C:\app\tool.jar`)
	res := run(t, s, java)
	if res.ExitCode == 0 {
		t.Fatalf("java under a 150 MB cap exited 0: %+v", res)
	}
	te := s.ClassifyExit(java, res)
	if te == nil || te.Class != transport.ClassMemoryCap {
		t.Fatalf("ClassifyExit = %v, want memory_cap (result %+v)", te, res)
	}
	for _, want := range []string{"150 MB", `winrm set winrm/config/winrs @{MaxMemoryPerShellMB="0"}`, `winrm set winrm/config/winrs '@{MaxMemoryPerShellMB="0"}'`} {
		if !strings.Contains(te.Message+" "+te.Hint, want) {
			t.Errorf("memory_cap error %q / %q lacks %q", te.Message, te.Hint, want)
		}
	}
	// An ordinary failure is not a memory problem.
	if te := s.ClassifyExit(java, transport.Result{ExitCode: 1, Stderr: "file not found"}); te != nil {
		t.Errorf("ClassifyExit of an ordinary failure = %v, want nil", te)
	}
}

func TestConfigAndOSAreReadWithoutAProcess(t *testing.T) {
	t.Parallel()
	profile := "2008r2"
	sc := &sim.Scenario{Defaults: sim.Settings{Profile: &profile}}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			f, h := fleetFor(t, m, sc)
			s := open(t, targetFor(f, h, m), Options{})
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			cfg, err := s.GetWinRMConfig(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := Config{MaxEnvelopeSizeKB: 150, MaxTimeoutMS: 60000, MaxConcurrentOperationsPerUser: 15, Winrs: WinrsConfig{
				AllowRemoteShellAccess: true, IdleTimeoutMS: 180000, MaxConcurrentUsers: 5, MaxShellRunTimeMS: 2147483647,
				MaxProcessesPerShell: 15, MaxMemoryPerShellMB: 150, MaxShellsPerUser: 5}}
			if diff := cmp.Diff(want, cfg); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
			osInfo, err := s.GetOS(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if osInfo.Caption != "Microsoft Windows Server 2008 R2 Datacenter" || osInfo.Version != "6.1.7601" || osInfo.OSArchitecture != "64-bit" {
				t.Errorf("OS = %+v", osInfo)
			}
			if !osInfo.LastBootUpTime.Equal(h.BootTime().Truncate(time.Microsecond)) {
				t.Errorf("LastBootUpTime = %v, want %v", osInfo.LastBootUpTime, h.BootTime())
			}
			offered, err := s.AuthOffered(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(offered) == 0 || offered[0] != "Negotiate" {
				t.Errorf("AuthOffered = %q, want Negotiate first", offered)
			}
			if st := h.Stats(); st.Commands != 0 {
				t.Errorf("reading config and OS started %d commands, want none", st.Commands)
			}
		})
	}
}
