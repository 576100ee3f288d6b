// Package transporttest is the conformance suite every transport.Session
// implementation runs: exact exit codes as DWORDs, separate streams, exact
// argv, environment and working directory, timeouts and cancellation that
// end the remote process, and Close that is safe to repeat.
//
// It needs a host with fleetrun's simulated programs (the sim fleet):
// C:\tools\exitcode.exe N, C:\tools\echoargs.exe and C:\tools\sleep.exe.
// How the session reaches that host is the caller's business.
package transporttest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fleetrun/fleetrun/transport"
)

// Dial opens a fresh session to a simulated host for one subtest.
type Dial func(t *testing.T) transport.Session

// Run runs the suite. Subtests run one after another, each on its own
// session.
func Run(t *testing.T, dial Dial) {
	t.Run("exit codes are exact DWORDs for every step kind", func(t *testing.T) {
		s := dial(t)
		defer closeSession(t, s)
		for _, code := range []uint32{0, 1, 3010, 9999, 2359302, 3221225477, 4294967295} {
			cmds := []transport.Command{
				{Kind: transport.KindArgv, Argv: []string{`C:\tools\exitcode.exe`, fmt.Sprint(code)}},
				{Kind: transport.KindCmd, Line: fmt.Sprintf(`C:\tools\exitcode.exe %d`, code)},
			}
			for _, c := range cmds {
				res, err := s.Run(context.Background(), c)
				if err != nil {
					t.Fatalf("%s exit %d: %v", c.Kind, code, err)
				}
				if res.ExitCode != code {
					t.Errorf("%s: exit code %d, want %d", c.Kind, res.ExitCode, code)
				}
			}
		}
		res, err := s.Run(context.Background(), transport.Command{Kind: transport.KindPowerShell, Script: "exit 3010"})
		if err != nil || res.ExitCode != 3010 {
			t.Errorf("powershell exit 3010: %d, %v", res.ExitCode, err)
		}
	})

	t.Run("stdout and stderr stay apart and reach the writers", func(t *testing.T) {
		s := dial(t)
		defer closeSession(t, s)
		var out, errOut bytes.Buffer
		res, err := s.Run(context.Background(), transport.Command{
			Kind:   transport.KindPowerShell,
			Script: "Write-Output 'to stdout'\n[Console]::Error.WriteLine('to stderr')\nexit 7",
			Stdout: &out, Stderr: &errOut,
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.ExitCode != 7 || res.Stdout != "to stdout\r\n" || res.Stderr != "to stderr\r\n" {
			t.Errorf("got exit %d stdout %q stderr %q; want 7, %q, %q", res.ExitCode, res.Stdout, res.Stderr, "to stdout\r\n", "to stderr\r\n")
		}
		if out.String() != res.Stdout || errOut.String() != res.Stderr {
			t.Errorf("writers got %q and %q, results %q and %q", out.String(), errOut.String(), res.Stdout, res.Stderr)
		}
	})

	t.Run("argv arrives exactly", func(t *testing.T) {
		s := dial(t)
		defer closeSession(t, s)
		args := []string{"", "two words", `trailing\`, `a\\"b`, `"quoted"`, `% ^ & | < > ( ) ; ! @{x=1}`, `]]>`, "日本語 🚀", "line1\nline2", strings.Repeat("x", 2000)}
		res, err := s.Run(context.Background(), transport.Command{Kind: transport.KindArgv, Argv: append([]string{`C:\tools\echoargs.exe`}, args...)})
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Argv []string `json:"argv"`
		}
		if err := json.Unmarshal([]byte(strings.TrimSpace(res.Stdout)), &got); err != nil {
			t.Fatalf("echoargs output %q: %v", res.Stdout, err)
		}
		want := append([]string{`C:\tools\echoargs.exe`}, args...)
		if len(got.Argv) != len(want) {
			t.Fatalf("argv has %d elements, want %d: %q", len(got.Argv), len(want), got.Argv)
		}
		for i := range want {
			if got.Argv[i] != want[i] {
				t.Errorf("argv[%d] = %q, want %q", i, got.Argv[i], want[i])
			}
		}
	})

	// cmd.exe expands %VAR% before it parses the line, so the value avoids
	// & and |, which would split it: that is cmd.exe, not the transport.
	t.Run("env and workdir apply", func(t *testing.T) {
		s := dial(t)
		defer closeSession(t, s)
		res, err := s.Run(context.Background(), transport.Command{
			Kind: transport.KindCmd, Line: "echo %FLEETRUN_TEST%& cd",
			Env: map[string]string{"FLEETRUN_TEST": "a b=c"}, Workdir: `C:\Windows`,
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Stdout != "a b=c\r\nC:\\Windows\r\n" {
			t.Errorf("stdout %q, want %q", res.Stdout, "a b=c\r\nC:\\Windows\r\n")
		}
	})

	t.Run("a deadline ends the remote process with class timeout", func(t *testing.T) {
		s := dial(t)
		defer closeSession(t, s)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := s.Run(ctx, transport.Command{Kind: transport.KindArgv, Argv: []string{`C:\tools\sleep.exe`, "600"}})
		if te := transport.Classify(err); te == nil || te.Class != transport.ClassTimeout {
			t.Fatalf("err %v, want class timeout", err)
		}
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("the step took %s to give up", d)
		}
		// The session stays usable.
		res, err := s.Run(context.Background(), transport.Command{Kind: transport.KindArgv, Argv: []string{`C:\tools\exitcode.exe`, "0"}})
		if err != nil || res.ExitCode != 0 {
			t.Errorf("after a timeout: %d, %v", res.ExitCode, err)
		}
	})

	t.Run("cancellation gives class interrupted", func(t *testing.T) {
		s := dial(t)
		defer closeSession(t, s)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := s.Run(ctx, transport.Command{Kind: transport.KindArgv, Argv: []string{`C:\tools\sleep.exe`, "600"}})
			done <- err
		}()
		cancel()
		err := <-done
		if te := transport.Classify(err); te == nil || te.Class != transport.ClassInterrupted {
			t.Fatalf("err %v, want class interrupted", err)
		}
	})

	t.Run("close is safe to repeat and ends the session", func(t *testing.T) {
		s := dial(t)
		ctx := context.Background()
		if err := s.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(ctx); err != nil {
			t.Errorf("second Close: %v", err)
		}
		_, err := s.Run(ctx, transport.Command{Kind: transport.KindArgv, Argv: []string{`C:\tools\exitcode.exe`, "0"}})
		var te *transport.Error
		if err == nil || !errors.As(err, &te) {
			t.Errorf("Run after Close: %v, want a classified error", err)
		}
	})
}

func closeSession(t *testing.T, s transport.Session) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Errorf("close: %v", err)
	}
}
