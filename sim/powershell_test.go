package sim

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestPowerShellExitSemantics runs plain powershell.exe command lines (not
// fleetrun's launcher) and checks Windows PowerShell's own exit rules.
func TestPowerShellExitSemantics(t *testing.T) {
	t.Parallel()
	sc := mustScenario(t, `
defaults:
  powershell_progress: false
  files:
    'C:\scripts\native.ps1': "cmd /c exit 3\r\n"
    'C:\scripts\exit9.ps1': "exit 9\r\n"
`)
	f := startFleet(t, FleetOptions{Hosts: 1, Scenario: sc})
	c := mzClient(t, f, f.Hosts()[0], ntlmSealed, "PT60S")
	tests := []struct {
		name    string
		command string
		stdout  string
		code    int
	}{
		{"-Command gives 1 when the last native command failed", `powershell -Command "Write-Output hi; cmd /c exit 5"`, "hi\r\n", 1},
		{"exit $LASTEXITCODE passes the native code on", `powershell -NoProfile -Command "cmd /c exit 5; exit $LASTEXITCODE"`, "", 5},
		{"-Command gives 0 after success", `powershell -NonInteractive -Command "Write-Output ok"`, "ok\r\n", 0},
		{"throw gives 1", `powershell -Command "throw 'x'"`, "", 1},
		{"-File gives 0 even after a failed native command", `powershell -ExecutionPolicy Bypass -File C:\scripts\native.ps1`, "", 0},
		{"-File passes exit N on", `powershell -File C:\scripts\exit9.ps1`, "", 9},
		{"-enc abbreviates -EncodedCommand", "powershell -enc " + encodeCommand("Write-Output 'encoded'; exit 4"), "encoded\r\n", 4},
		{"-e abbreviates -EncodedCommand", "powershell.exe -e " + encodeCommand("exit 6"), "", 6},
		{"Write-Host ends lines with LF", `powershell -Command "Write-Host a b"`, "a b\n", 0},
		{"the working directory", `powershell -Command "(pwd).Path"`, "C:\\Users\\fleetrun\r\n", 0},
	}
	for _, tt := range tests {
		out, _, code := runMZ(t, c, tt.command)
		if diff := cmp.Diff([]any{tt.stdout, tt.code}, []any{out, code}); diff != "" {
			t.Errorf("%s: %q (-want +got):\n%s", tt.name, tt.command, diff)
		}
	}
}

func TestLauncherRecognisedWithAnyPowerShellSpelling(t *testing.T) {
	t.Parallel()
	f := startFleet(t, FleetOptions{Hosts: 1})
	c := mzClient(t, f, f.Hosts()[0], ntlmSealed, "PT60S")
	full, _ := launcherCommand(t, scriptPayload("exit 12"), false)
	b64 := full[strings.LastIndexByte(full, ' ')+1:]
	for _, prefix := range []string{
		`POWERSHELL.EXE -enc `,
		`powershell -NoProfile -e `,
		`C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe -EncodedCommand `,
		`C:\Windows\SysWOW64\WindowsPowerShell\v1.0\powershell.exe -ec `,
	} {
		if _, _, code := runMZ(t, c, prefix+b64); code != 12 {
			t.Errorf("%s...: exit %d, want 12", prefix, code)
		}
	}
	if got := f.Hosts()[0].Stats().Programs["fleetrun-launcher"]; got != 4 {
		t.Errorf("launcher recognised %d times, want 4", got)
	}
}

// payloadStatementCases are texts around the edges of a $fleetrunPayload
// statement; FuzzPayloadStatements starts from them too.
var payloadStatementCases = []string{
	"",
	"$fleetrunPayload = 'QUJD'",
	"$fleetrunPayload=''",
	"  \t$fleetrunPayload \t= \t'QU JD\r\n\f\tRA=='  # trailing",
	"x $fleetrunPayload = 'QUJD'",
	"x\n$fleetrunPayload = 'QUJD'\n  $fleetrunPayload = 'RA=='\n",
	"$fleetrunPayload = 'QUJD'$fleetrunPayload = 'RA=='",
	"$fleetrunPayload = 'QUJD",
	"$fleetrunPayload = 'QU-JD'\n$fleetrunPayload = 'RA=='",
	"$fleetrunPayload = 'a\n$fleetrunPayload = 'b'",
	"$fleetrunpayload = 'QUJD'",
	"$fleetrunPayloadX = 'QUJD'",
	"$fleetrunPayload == 'QUJD'",
	"$fleetrunPayload = \"QUJD\"",
	"\r\n$fleetrunPayload = 'QUJD'\r\n",
	"\v$fleetrunPayload = 'QUJD'",
	"$fleetrunPayload\n= 'QUJD'",
	"$fleetrunPayload = '\n'\n$fleetrunPayload = ''",
}

func TestPayloadStatementsMatchTheRegularExpression(t *testing.T) {
	t.Parallel()
	for _, s := range payloadStatementCases {
		checkPayloadStatements(t, s)
	}
	checkPayloadStatements(t, launcherText("eyJ2IjoxfQ=="))
	checkPayloadStatements(t, launcherText(""))
	if got := payloadStatements("x\n$fleetrunPayload = 'QUJD'\n  $fleetrunPayload = 'RA=='\n"); !slices.Equal(got, []string{"QUJD", "RA=="}) {
		t.Errorf("got %q, want [QUJD RA==]", got)
	}
}
