package sim

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/masterzen/winrm"
)

// masterzenFleet starts one host of the given profile that every client
// mode can reach: plain HTTP allows unsealed Basic, HTTPS is on for the
// https mode.
func masterzenFleet(t *testing.T, mode clientMode, profile string, clock *testClock) (*Fleet, *Host) {
	t.Helper()
	opts := FleetOptions{Hosts: 1, Profile: profile, HTTPS: mode == basicHTTPS, Dir: t.TempDir()}
	scenario := "defaults:\n  files: {'C:\\patches\\windows6.1-kb2842230-x64.msu': msu, 'C:\\patches\\windows10.0-kb5005030-x64.msu': msu}\n"
	if mode == basicHTTP {
		scenario += "  allow_unencrypted: true\n"
	}
	opts.Scenario = mustScenario(t, scenario)
	if clock != nil {
		opts.Clock, opts.onPark = clock, parkDriver(t, clock)
	}
	f := startFleet(t, opts)
	return f, f.Hosts()[0]
}

var allModes = []clientMode{basicHTTP, ntlmSealed, basicHTTPS}

func TestMasterzenRunsCommands(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		command    string
		wantStdout string
		wantStderr string
		wantCode   int
	}{
		{"cmd writes stdout and stderr and exits 1", "echo out && echo err>&2 && exit 1", "out \r\n", "err \r\n", 1},
		{"hostname prints the machine name and exits 0", "hostname", "sim-0001\r\n", "", 0},
		{"whoami prints machine and user in lower case", "whoami", "sim-0001\\fleetrun\r\n", "", 0},
		{"wusa refuses to install from a WinRS shell, silently (KB 2773898)", `wusa.exe C:\patches\windows6.1-kb2842230-x64.msu /quiet /norestart`, "", "", 5},
		{"wusa cannot find a package that is not there", `wusa.exe C:\patches\windows6.1-kb1-x64.msu /quiet /norestart`, "", "", 2147942402},
		{"a batch file ending in exit 9999 exits 9999", `C:\scripts\exit9999.bat`, "finishing\r\n", "", 9999},
		{"an access violation arrives as an unsigned DWORD", `C:\tools\crash.exe`, "", "", 3221225477},
		{"an unknown program is cmd's 9009", "nosuchprogram", "", "'nosuchprogram' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n", 9009},
	}
	for _, mode := range allModes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			f, h := masterzenFleet(t, mode, "", nil)
			c := mzClient(t, f, h, mode, "PT60S")
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					out, errOut, code := runMZ(t, c, tt.command)
					got := []any{out, errOut, code}
					want := []any{tt.wantStdout, tt.wantStderr, tt.wantCode}
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("%q: (-want +got):\n%s", tt.command, diff)
					}
				})
			}
		})
	}
}

func TestMasterzenPatchInstallFromAShellNeverInstalls(t *testing.T) {
	t.Parallel()
	f, h := masterzenFleet(t, ntlmSealed, "", nil)
	c := mzClient(t, f, h, ntlmSealed, "PT60S")
	var codes []int
	for range 2 {
		_, _, code := runMZ(t, c, `wusa.exe C:\patches\windows10.0-kb5005030-x64.msu /quiet /norestart`)
		codes = append(codes, code)
	}
	if diff := cmp.Diff([]int{5, 5}, codes); diff != "" {
		t.Errorf("exit codes (-want +got):\n%s", diff)
	}
	if _, ok := h.machine.Hotfix("KB5005030"); ok || h.machine.RebootPending() {
		t.Errorf("a refused install left the update installed or a restart pending")
	}
}

func TestMasterzenLongPollTimesOutWhileTheCommandRuns(t *testing.T) {
	t.Parallel()
	for _, mode := range allModes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			clock := newTestClock()
			f, h := masterzenFleet(t, mode, "", clock)
			c := mzClient(t, f, h, mode, "PT60S")
			// 150 s of work under a 60 s OperationTimeout: two Receives
			// time out, the third gets the output.
			out, errOut, code := runMZ(t, c, `C:\tools\sleep.exe 150 done`)
			if out != "done\r\n" || errOut != "" || code != 0 {
				t.Errorf("got stdout %q stderr %q code %d", out, errOut, code)
			}
			st := h.Stats()
			if st.ReceiveTimeouts != 2 || st.Faults["2150858793"] != 2 {
				t.Errorf("receive timeouts = %d (faults %v), want 2", st.ReceiveTimeouts, st.Faults)
			}
		})
	}
}

func TestMasterzenSignalStopsTheCommandAndDeleteTheShell(t *testing.T) {
	t.Parallel()
	for _, mode := range allModes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			f, h := masterzenFleet(t, mode, "", nil)
			c := mzClient(t, f, h, mode, "PT60S")
			shell, err := c.CreateShell()
			if err != nil {
				t.Fatal(err)
			}
			// A canceled context makes masterzen send Signal terminate and
			// one last Receive from the command's own goroutine (its
			// encrypting transport cannot take concurrent requests).
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			cmd, err := shell.ExecuteWithContext(ctx, `C:\tools\sleep.exe 3600`)
			if err != nil {
				t.Fatal(err)
			}
			drain(cmd)
			if err := shell.Close(); err != nil { // Delete
				t.Fatalf("Delete: %v", err)
			}
			st := h.Stats()
			if st.Signals < 1 || st.Deletes != 1 || st.OpenShells != 0 || st.ShellsOpened != 1 {
				t.Errorf("stats after Signal and Delete: %+v", st)
			}
			// The shell is gone: a new command on it is refused.
			_, err = shell.ExecuteWithContext(context.Background(), "hostname")
			if !faultIn(err, "2150858843") {
				t.Errorf("command on a deleted shell: %v, want fault 2150858843", err)
			}
			if got := h.Stats().Faults["2150858843"]; got < 1 {
				t.Errorf("unknown-shell faults = %d, want at least 1", got)
			}
		})
	}
}

func TestMasterzenShellQuotas(t *testing.T) {
	t.Parallel()
	for _, mode := range allModes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			t.Run("MaxShellsPerUser refuses a sixth shell on 2008 R2", func(t *testing.T) {
				t.Parallel()
				f, h := masterzenFleet(t, mode, "2008r2", nil)
				c := mzClient(t, f, h, mode, "PT60S")
				for i := range 5 {
					if _, err := c.CreateShell(); err != nil {
						t.Fatalf("shell %d: %v", i+1, err)
					}
				}
				// masterzen reads a fault's body like any answer (it never
				// looks at the HTTP status), so the sixth Create "succeeds"
				// with an empty ShellId; the host counts the fault.
				if _, err := c.CreateShell(); err != nil {
					t.Errorf("sixth shell: %v", err)
				}
				if got := h.Stats().Faults["2150859173"]; got != 1 {
					t.Errorf("MaxShellsPerUser faults = %d, want 1", got)
				}
			})
			t.Run("MaxConcurrentOperationsPerUser refuses the sixteenth command of a reused shell", func(t *testing.T) {
				t.Parallel()
				f, h := masterzenFleet(t, mode, "2008r2", nil)
				c := mzClient(t, f, h, mode, "PT60S")
				shell, err := c.CreateShell()
				if err != nil {
					t.Fatal(err)
				}
				ctx := context.Background()
				for i := range 15 {
					cmd, err := shell.ExecuteWithContext(ctx, "hostname")
					if err != nil {
						t.Fatalf("command %d: %v", i+1, err)
					}
					drain(cmd)
					if err := cmd.Close(); err != nil {
						t.Fatalf("command %d: Signal: %v", i+1, err)
					}
				}
				_, err = shell.ExecuteWithContext(ctx, "hostname")
				if !faultIn(err, "2150859174") {
					t.Errorf("sixteenth command: %v, want fault 2150859174", err)
				}
				if got := h.Stats().Faults["2150859174"]; got != 1 {
					t.Errorf("MaxConcurrentOperationsPerUser faults = %d, want 1", got)
				}
			})
		})
	}
}

// faultIn reports whether masterzen's error carries a WS-Man fault with
// the given code: it reports a fault answer to Command as an "unsupported
// action" whose body is the fault.
func faultIn(err error, code string) bool {
	var ece *winrm.ExecuteCommandError
	return errors.As(err, &ece) && strings.Contains(ece.Body, `Code="`+code+`"`)
}

// drain reads a command's output until it ends, as masterzen's pipes
// need, and waits for it.
func drain(cmd *winrm.Command) {
	var wg sync.WaitGroup
	for _, r := range []io.Reader{cmd.Stdout, cmd.Stderr} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = io.Copy(io.Discard, r) // a canceled command ends its pipes with an error
		}()
	}
	wg.Wait()
	cmd.Wait()
}

// TestMasterzenPowerShellHelpers drives masterzen's PowerShell helper,
// which sends -EncodedCommand without fleetrun's launcher.
func TestMasterzenPowerShellHelpers(t *testing.T) {
	t.Parallel()
	f, h := masterzenFleet(t, ntlmSealed, "", nil)
	c := mzClient(t, f, h, ntlmSealed, "PT60S")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, _, code, err := c.RunPSWithContext(ctx, "Write-Output 'from powershell'; exit 7")
	if err != nil {
		t.Fatal(err)
	}
	if out != "from powershell\r\n" || code != 7 {
		t.Errorf("got %q code %d", out, code)
	}
}
