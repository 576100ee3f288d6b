package launcher_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/internal/golden"
	"github.com/fleetrun/fleetrun/internal/pscheck"
	"github.com/fleetrun/fleetrun/launcher"
	"github.com/fleetrun/fleetrun/transport"
	"github.com/fleetrun/fleetrun/winquote"
)

// payloadRE is how the simulator finds the payload (docs/design.md).
var payloadRE = regexp.MustCompile(`(?m)^[ \t]*\$fleetrunPayload[ \t]*=[ \t]*'([A-Za-z0-9+/=\s]*)'`)

// encodedRE finds the encoded launcher in the SSM shim.
var encodedRE = regexp.MustCompile(`-EncodedCommand ([A-Za-z0-9+/=]+)'`)

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	golden.Check(t, filepath.Join("testdata", name), got)
}

// decodeSSM undoes SSMScript: it returns the launcher the shim starts and
// the payload document it writes to the launcher's stdin.
func decodeSSM(t testing.TB, script string) (string, map[string]any) {
	t.Helper()
	if first, _, _ := strings.Cut(script, "\n"); first != launcher.SSMMarker {
		t.Fatalf("shim starts with %q, want the marker %q", first, launcher.SSMMarker)
	}
	m := payloadRE.FindAllStringSubmatch(script, -1)
	if len(m) != 1 {
		t.Fatalf("shim has %d payload statements, want 1", len(m))
	}
	enc := encodedRE.FindAllStringSubmatch(script, -1)
	if len(enc) != 1 {
		t.Fatalf("shim has %d encoded launchers, want 1", len(enc))
	}
	text, err := winquote.DecodeCommand(enc[0][1])
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(m[0][1])
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return text, doc
}

func TestSSMScriptStartsTheWinRMLauncherWithThePayloadOnStdin(t *testing.T) {
	t.Parallel()
	cmd := transport.Command{Kind: transport.KindArgv, Argv: []string{`C:\tools\echoargs.exe`, "two words", `trailing\`},
		Env: map[string]string{"A": "1"}, Workdir: `C:\work`}
	p, err := launcher.Build(cmd)
	if err != nil {
		t.Fatal(err)
	}
	text, doc := decodeSSM(t, launcher.SSMScript(p.B64))
	if text != launcher.Text("") {
		t.Errorf("the shim starts a launcher other than the stdin variant WinRM sends")
	}
	r, err := launcher.Render(cmd, launcher.RenderOptions{ForceStdin: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.Payload() != p.B64 || r.CommandLine != p.CommandLine {
		t.Errorf("SSM payload %q / %q differs from WinRM's %q / %q", p.B64, p.CommandLine, r.Payload(), r.CommandLine)
	}
	want := map[string]any{"v": 1.0, "kind": "argv", "file": `C:\tools\echoargs.exe`, "command_line": `"C:\tools\echoargs.exe" "two words" trailing\`,
		"env": map[string]any{"A": "1"}, "workdir": `C:\work`}
	if diff := cmp.Diff(want, doc); diff != "" {
		t.Errorf("payload (-want +got):\n%s", diff)
	}
}

func TestSSMScriptMatchesGolden(t *testing.T) {
	t.Parallel()
	checkGolden(t, "ssm.wire.ps1", []byte(launcher.SSMScript("")))
}

func TestSSMExitCodeUndoesTheRebootStandIn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want uint32 }{
		{0, 0}, {1, 1}, {3010, 3010}, {launcher.RebootStandIn, 3010}, {3221225477, 3221225477}, {4294967295, 4294967295},
	} {
		if got := launcher.SSMExitCode(tc.in); got != tc.want {
			t.Errorf("SSMExitCode(%d) = %d, want %d", tc.in, got, tc.want)
		}
	}
	if !strings.Contains(launcher.SSMSource(), "$frC = 790498242") || launcher.RebootStandIn != 790498242 {
		t.Errorf("ssm.ps1 and RebootStandIn disagree")
	}
}

func TestBuildRefusesWhatTheLauncherCannotCarry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		cmd       transport.Command
		wantBatch bool
	}{
		{"a batch file in an argv step", transport.Command{Kind: transport.KindArgv, Argv: []string{`C:\deploy\run.bat`}}, true},
		{"an empty argv", transport.Command{Kind: transport.KindArgv}, false},
		{"a multi-line cmd step", transport.Command{Kind: transport.KindCmd, Line: "echo a\necho b"}, false},
		{"a reboot step", transport.Command{Kind: transport.KindReboot}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := launcher.Build(tc.cmd)
			if err == nil {
				t.Fatal("Build succeeded, want an error")
			}
			if got := errors.Is(err, winquote.ErrBatchFile); got != tc.wantBatch {
				t.Errorf("errors.Is(err, ErrBatchFile) = %v, want %v (%v)", got, tc.wantBatch, err)
			}
		})
	}
}

func TestSSMShimIsValidPowerShell(t *testing.T) {
	t.Parallel()
	p, err := launcher.Build(transport.Command{Kind: transport.KindPowerShell, Script: "exit 3010"})
	if err != nil {
		t.Fatal(err)
	}
	texts := []pscheck.Text{
		{Name: "ssm.ps1 (source)", Text: launcher.SSMSource()},
		{Name: "ssm shim (wire)", Text: launcher.SSMScript(p.B64)},
	}
	pscheck.Clean(t, "..", texts...)
}

// FuzzSSMScript checks that every step Build accepts comes back exactly
// from the SSM shim.
func FuzzSSMScript(f *testing.F) {
	f.Add("Write-Output 'x'\nexit 3010", `C:\x`)
	f.Add("", "")
	f.Fuzz(func(t *testing.T, script, workdir string) {
		cmd := transport.Command{Kind: transport.KindPowerShell, Script: script, Workdir: workdir}
		p, err := launcher.Build(cmd)
		if err != nil {
			return
		}
		_, doc := decodeSSM(t, launcher.SSMScript(p.B64))
		if doc["script"] != script || doc["workdir"] != workdir {
			t.Fatalf("script %q / workdir %q came back as %q / %q", script, workdir, doc["script"], doc["workdir"])
		}
	})
}

func TestSSMRebootScriptCarriesItsTokenAndDelay(t *testing.T) {
	t.Parallel()
	s := launcher.SSMRebootScript("run-1-reboot-2", 30)
	if first, _, _ := strings.Cut(s, "\n"); first != launcher.SSMRebootMarker {
		t.Errorf("first line %q", first)
	}
	if !strings.Contains(s, "$frT = 'run-1-reboot-2'\n") || !strings.Contains(s, "Start-Sleep -Seconds 30\n") || strings.Contains(s, "fleetrun"+"Token") {
		t.Errorf("script:\n%s", s)
	}
	pscheck.Clean(t, "..", pscheck.Text{Name: "ssmreboot.ps1", Text: launcher.SSMRebootSource()}, pscheck.Text{Name: "reboot wire", Text: s})
}
