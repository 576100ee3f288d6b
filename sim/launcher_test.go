package sim

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/google/go-cmp/cmp"
)

// launcherText is a stand-in for fleetrun's launcher template: the marker
// line, the payload statement, and PowerShell the simulator never reads.
func launcherText(payloadB64 string) string {
	return "# fleetrun-launcher v1\r\n" +
		"$ErrorActionPreference = 'Stop'\r\n" +
		"$fleetrunPayload = '" + payloadB64 + "'\r\n" +
		"if ($fleetrunPayload -eq '') { $fleetrunPayload = [Console]::In.ReadToEnd() }\r\n" +
		"# ... decode, start the process, exit with its code ...\r\n"
}

// encodeCommand is PowerShell's -EncodedCommand encoding.
func encodeCommand(script string) string {
	u := utf16.Encode([]rune(script))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// launcherCommand is the WinRS command line fleetrun sends for a payload;
// with viaStdin the payload is left for stdin.
func launcherCommand(t testing.TB, payload map[string]any, viaStdin bool) (command, stdin string) {
	t.Helper()
	raw, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(raw)
	literal := b64
	if viaStdin {
		literal, stdin = "", b64
	}
	return `%SystemRoot%\System32\WindowsPowerShell\v1.0\powershell.exe -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand ` +
		encodeCommand(launcherText(literal)), stdin
}

func argvPayload(file, commandLine string) map[string]any {
	return map[string]any{"v": 1, "kind": "argv", "file": file, "command_line": commandLine, "env": map[string]string{}, "workdir": ""}
}

func scriptPayload(script string) map[string]any {
	return map[string]any{"v": 1, "kind": "script", "script": script, "env": map[string]string{}, "workdir": ""}
}

func TestLauncherPayloads(t *testing.T) {
	t.Parallel()
	sc := mustScenario(t, `
defaults:
  rules:
    - match: Restart-Service W3SVC
      stdout: "restarted\r\n"
      exit: 0
    - regex: '^Get-Thing \d+$'
      stderr: "no such thing\r\n"
      exit: 4
    - match: Invoke-BigJob
      memory_mb: 4096
    - match: Invoke-Crash
      exit: 3221225477
host_settings:
  sim-0002:
    profile: 2008r2
`)
	sc.HostOverrides["sim-0003"] = Settings{HTTPS: ptr(true)}
	f := startFleet(t, FleetOptions{Hosts: 3, Scenario: sc, Dir: t.TempDir()})
	h2019, h2008, hTLS := f.Hosts()[0], f.Hosts()[1], f.Hosts()[2]
	tricky := `"C:\tools\echoargs.exe" "two words" "" "quote\"d" "trailing\\" ;&|<>^%PATH% @{x=1} 日本語`
	withEnv := argvPayload("cmd.exe", `"cmd.exe" /d /s /c "echo %FOO% & cd"`)
	withEnv["env"] = map[string]string{"FOO": "bar"}
	withEnv["workdir"] = `C:\scripts`
	tests := []struct {
		name     string
		host     *Host
		payload  map[string]any
		viaStdin bool
		stdout   string
		stderr   string
		code     int
	}{
		{
			name: "argv reaches the program exactly", host: h2019, payload: argvPayload(`C:\tools\echoargs.exe`, tricky),
			stdout: `{"argv":["C:\\tools\\echoargs.exe","two words","","quote\"d","trailing\\",";&|<>^%PATH%","@{x=1}","日本語"],"command_line":` + jsonString(tricky) + "}\r\n",
		},
		{
			name: "a payload too long for the command line comes on stdin", host: h2019, viaStdin: true,
			payload: argvPayload(`C:\tools\echoargs.exe`, `"C:\tools\echoargs.exe" x`),
			stdout:  `{"argv":["C:\\tools\\echoargs.exe","x"],"command_line":"\"C:\\tools\\echoargs.exe\" x"}` + "\r\n",
		},
		{
			name: "cmd steps run their line under cmd.exe", host: h2019,
			payload: argvPayload("cmd.exe", `"cmd.exe" /d /s /c "echo hi& exit 5"`), stdout: "hi\r\n", code: 5,
		},
		{name: "env and workdir apply", host: h2019, payload: withEnv, stdout: "bar \r\nC:\\scripts\r\n"},
		{
			name: "a missing program fails as Process.Start does", host: h2019, payload: argvPayload(`C:\nope\missing.exe`, `"C:\nope\missing.exe"`),
			stderr: "Exception calling \"Start\" with \"1\" argument(s): \"The system cannot find the file specified\"\r\n", code: 1,
		},
		{
			name: "bare names are found in System32", host: h2019, payload: argvPayload("hostname", `"hostname"`),
			stdout: "sim-0001\r\n",
		},
		{
			name: "java fits in a 1024 MB shell", host: h2019, payload: argvPayload("java", `"java" -Xmx512m -jar app.jar`),
			stdout: "simulated JVM: app.jar ran with a 512 MB heap\r\n",
		},
		{
			name: "java cannot reserve its heap in a 150 MB shell", host: h2008, payload: argvPayload("java", `"java" -Xmx512m -jar app.jar`),
			stderr: "Error occurred during initialization of VM\r\nCould not reserve enough space for object heap\r\n", code: 1,
		},
		{name: "a script's exit N is N", host: h2019, payload: scriptPayload("Write-Output 'x'\nexit 3"), stdout: "x\r\n", code: 3},
		{name: "a failing last native command gives its code", host: h2019, payload: scriptPayload("cmd /c exit 5"), code: 5},
		{
			name: "a native command by path sets the exit code", host: h2019, payload: scriptPayload(`& 'C:\tools\echoargs.exe' a 'b c'`),
			// PowerShell starts a program as Process.Start does: the
			// resolved path in quotes, then the joined arguments.
			stdout: `{"argv":["C:\\tools\\echoargs.exe","a","b c"],"command_line":"\"C:\\tools\\echoargs.exe\" a \"b c\""}` + "\r\n",
		},
		{
			name: "throw is a terminating error, written with its position", host: h2019, payload: scriptPayload("throw 'bad thing'"),
			stderr: "bad thing\nAt line:1 char:1\r\n+ throw 'bad thing'\r\n+ ~~~~~~~~~~~~~~~~~\r\n", code: 1,
		},
		{name: "console error output goes to stderr", host: h2019, payload: scriptPayload("[Console]::Error.WriteLine('warn')\n\"done\""), stdout: "done\r\n", stderr: "warn\r\n"},
		{name: "scenario rules answer scripts by substring", host: h2019, payload: scriptPayload("Restart-Service W3SVC -Force"), stdout: "restarted\r\n"},
		{name: "scenario rules answer scripts by regex", host: h2019, payload: scriptPayload("Get-Thing 42"), stderr: "no such thing\r\n", code: 4},
		{name: "a rule's exit code may be an NTSTATUS", host: h2019, payload: scriptPayload("Invoke-Crash"), code: 3221225477},
		{
			name: "a script needing more memory than the shell has fails", host: h2008, payload: scriptPayload("Invoke-BigJob"),
			stderr: "Exception of type 'System.OutOfMemoryException' was thrown.\r\n", code: 1,
		},
		{
			name: "scripts no rule answers run in the PowerShell model", host: h2019, payload: scriptPayload("Get-Service | Where-Object Status -eq Running"),
			stdout: "\r\nStatus   Name               DisplayName\r\n------   ----               -----------\r\n" +
				"Running  EventLog           Windows Event Log\r\nRunning  LanmanServer       Server\r\nRunning  Schedule           Task Scheduler\r\n" +
				"Running  Winmgmt            Windows Management Instrumentation\r\nRunning  WinRM              Windows Remote Management (WS-Manag...\r\n" +
				"Running  wuauserv           Windows Update\r\n\r\n\r\n",
		},
	}
	// Not parallel: masterzen's encrypting transport shares
	// http.DefaultTransport between clients, so concurrent NTLM handshakes
	// to one host get each other's connections.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mode, host := ntlmSealed, tt.host
			if tt.viaStdin {
				// masterzen's encrypting transport is not safe for the
				// concurrent Send and Receive its stdin path makes.
				mode, host = basicHTTPS, hTLS
			}
			c := mzClient(t, f, host, mode, "PT60S")
			command, stdin := launcherCommand(t, tt.payload, tt.viaStdin)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var out, errOut string
			var code int
			var err error
			if tt.viaStdin {
				out, errOut, code, err = c.RunWithContextWithString(ctx, command, stdin)
			} else {
				out, errOut, code, err = c.RunCmdWithContext(ctx, command)
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]any{tt.stdout, tt.stderr, tt.code}, []any{out, errOut, code}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func jsonString(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSpace(b.String())
}

func TestPreflightScriptReportsHostState(t *testing.T) {
	t.Parallel()
	sc := mustScenario(t, `
host_settings:
  sim-0002:
    profile: 2008r2
    preflight: {execution_policy_32: Unrestricted, disk_free_bytes: 1024}
  sim-0003:
    account: non_admin
    services: {Schedule: stopped}
`)
	f := startFleet(t, FleetOptions{Hosts: 3, Scenario: sc})
	tests := []struct {
		host *Host
		want string
	}{
		{f.Hosts()[0], `{"ps_version":"5.1.17763.1","is64bit_process":true,"is64bit_os":true,"execution_policy_64":"RemoteSigned","execution_policy_32":"Restricted","system_drive":"C:","disk_free_bytes":42949672960,"disk_total_bytes":107374182400,"is_admin":true,"task_scheduler":"Running"}` + "\r\n"},
		{f.Hosts()[1], `{"ps_version":"2.0","is64bit_process":true,"is64bit_os":true,"execution_policy_64":"RemoteSigned","execution_policy_32":"Unrestricted","system_drive":"C:","disk_free_bytes":1024,"disk_total_bytes":107374182400,"is_admin":true,"task_scheduler":"Running"}` + "\r\n"},
		// A Remote Management Users member gets in but is no administrator.
		{f.Hosts()[2], `{"ps_version":"5.1.17763.1","is64bit_process":true,"is64bit_os":true,"execution_policy_64":"RemoteSigned","execution_policy_32":"Restricted","system_drive":"C:","disk_free_bytes":42949672960,"disk_total_bytes":107374182400,"is_admin":false,"task_scheduler":"Stopped"}` + "\r\n"},
	}
	for _, tt := range tests {
		c := mzClient(t, f, tt.host, ntlmSealed, "PT60S")
		command, _ := launcherCommand(t, scriptPayload("# fleetrun-preflight v1\n$PSVersionTable.PSVersion.ToString()"), false)
		out, _, code := runMZ(t, c, command)
		if out != tt.want || code != 0 {
			t.Errorf("%s: got %q (exit %d), want %q", tt.host.Name(), out, code, tt.want)
		}
	}
}

func TestWinrmSetRaisesTheMemoryCapForNewShells(t *testing.T) {
	t.Parallel()
	f := startFleet(t, FleetOptions{Hosts: 1, Profile: "2008r2"})
	h := f.Hosts()[0]
	c := mzClient(t, f, h, ntlmSealed, "PT60S")
	java, _ := launcherCommand(t, argvPayload("java", `"java" -Xmx512m -jar app.jar`), false)
	if _, _, code := runMZ(t, c, java); code != 1 {
		t.Fatalf("java under 150 MB exited %d, want 1", code)
	}
	out, _, code := runMZ(t, c, "winrm get winrm/config/winrs")
	want := "Winrs\r\n    AllowRemoteShellAccess = true\r\n    IdleTimeout = 180000\r\n    MaxConcurrentUsers = 5\r\n    MaxShellRunTime = 2147483647\r\n    MaxProcessesPerShell = 15\r\n    MaxMemoryPerShellMB = 150\r\n    MaxShellsPerUser = 5\r\n\r\n"
	if out != want || code != 0 {
		t.Errorf("winrm get: exit %d\n%s", code, cmp.Diff(want, out))
	}
	// PowerShell would turn an unquoted @{...} into a hashtable; winrm
	// then sees garbage and says so.
	out, _, code = runMZ(t, c, "winrm set winrm/config/winrs System.Collections.Hashtable")
	if code == 0 || !strings.Contains(out, "Invalid use of command line") {
		t.Errorf("winrm set with a mangled argument: exit %d, %q", code, out)
	}
	if _, _, code := runMZ(t, c, `winrm set winrm/config/winrs @{MaxMemoryPerShellMB="0"}`); code != 0 {
		t.Fatalf("winrm set exited %d", code)
	}
	if got := h.Quotas().MaxMemoryPerShellMB; got != 0 {
		t.Errorf("MaxMemoryPerShellMB = %d after winrm set, want 0", got)
	}
	if _, _, code := runMZ(t, c, "winrm set winrm/config/winrs @{MaxMemoryPerShellMB=2048;MaxShellsPerUser=10}"); code != 0 {
		t.Fatalf("winrm set (unquoted form) exited %d", code)
	}
	if q := h.Quotas(); q.MaxMemoryPerShellMB != 2048 || q.MaxShellsPerUser != 10 {
		t.Errorf("quotas after the unquoted form: %+v", q)
	}
	if out, errOut, code := runMZ(t, c, java); code != 0 {
		t.Errorf("java in a new shell after winrm set: exit %d, %q %q", code, out, errOut)
	}
}
