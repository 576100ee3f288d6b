package launcher

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
	"github.com/fleetrun/fleetrun/internal/hostile"
	"github.com/fleetrun/fleetrun/internal/pscheck"
	"github.com/fleetrun/fleetrun/transport"
	"github.com/fleetrun/fleetrun/winquote"
)

// payloadRE is how the simulator finds the payload (docs/design.md): one
// statement, at the start of a line, with a base64 literal.
var payloadRE = regexp.MustCompile(`(?m)^[ \t]*\$fleetrunPayload[ \t]*=[ \t]*'([A-Za-z0-9+/=\s]*)'`)

// decodeRemote undoes Render: it checks the fixed part of the command, then
// returns the launcher text and the payload document (read from stdin when
// the literal is empty).
func decodeRemote(t *testing.T, r Rendered) (launcher string, doc map[string]any) {
	t.Helper()
	rc := r.RemoteCommand
	wantPrefix := append([]string{PowerShellExe}, PowerShellArgs()...)
	if len(rc) != len(wantPrefix)+1 {
		t.Fatalf("remote command has %d elements, want %d", len(rc), len(wantPrefix)+1)
	}
	if diff := cmp.Diff(wantPrefix, rc[:len(wantPrefix)]); diff != "" {
		t.Fatalf("remote command prefix (-want +got):\n%s", diff)
	}
	launcher, err := winquote.DecodeCommand(rc[len(rc)-1])
	if err != nil {
		t.Fatalf("decode -EncodedCommand: %v", err)
	}
	if first, _, _ := strings.Cut(launcher, "\n"); first != Marker {
		t.Fatalf("launcher starts with %q, want the marker %q", first, Marker)
	}
	m := payloadRE.FindAllStringSubmatch(launcher, -1)
	if len(m) != 1 {
		t.Fatalf("launcher has %d payload statements, want 1", len(m))
	}
	b64 := m[0][1]
	if (b64 == "") != r.Stdin {
		t.Fatalf("payload literal empty = %v, but Stdin = %v", b64 == "", r.Stdin)
	}
	if b64 == "" {
		b64 = r.Payload()
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatalf("decode payload base64: %v", err)
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("decode payload JSON: %v", err)
	}
	return launcher, doc
}

// renderCases are representative steps; their renderings are goldens and
// their launchers are syntax-checked.
var renderCases = []struct {
	name string
	cmd  transport.Command
	opts RenderOptions
}{
	{"argv without arguments", transport.Command{Kind: transport.KindArgv, Argv: []string{`C:\tools\echoargs.exe`}}, RenderOptions{}},
	{"argv with hostile arguments", transport.Command{Kind: transport.KindArgv, Argv: []string{
		`C:\Program Files\Tool\prog.exe`, "two words", `trailing\`, `"quoted"`, "", `%PATH%`, `a&b|c<d>e^f`,
		`-cp=lib\a.jar;lib\b.jar`, `@{MaxMemoryPerShellMB="0"}`, "日本語", `$env:X`, "'single'",
	}}, RenderOptions{}},
	{"argv with env and workdir", transport.Command{Kind: transport.KindArgv, Argv: []string{`C:\tools\echoargs.exe`, "x"},
		Env: map[string]string{"B": "2", "A": "1 & 2"}, Workdir: `C:\work dir`}, RenderOptions{}},
	{"cmd line", transport.Command{Kind: transport.KindCmd, Line: `echo "hi there" & exit /b 3010`}, RenderOptions{}},
	{"cmd line with trailing newline", transport.Command{Kind: transport.KindCmd, Line: "dir C:\\\n"}, RenderOptions{}},
	{"powershell script", transport.Command{Kind: transport.KindPowerShell, Script: "Write-Output 'it''s'\nexit 3010\n"}, RenderOptions{}},
	{"powershell script with here-string and unicode", transport.Command{Kind: transport.KindPowerShell, Script: "$s = @'\nこんにちは \"quoted\" 'single'\n'@\nWrite-Output $s\n& robocopy C:\\a C:\\b /E\n"}, RenderOptions{}},
	{"powershell script forced to stdin", transport.Command{Kind: transport.KindPowerShell, Script: "Get-Date", Env: map[string]string{"X": "y"}, Workdir: `C:\`}, RenderOptions{ForceStdin: true}},
	{"powershell script too long for the command line", transport.Command{Kind: transport.KindPowerShell, Script: strings.Repeat("Write-Output 'padding padding padding'\n", 60)}, RenderOptions{}},
}

// renderView is the reviewable form of a rendering kept in goldens: the
// fixed command prefix, the decoded payload and the derived fields, rather
// than opaque base64.
type renderView struct {
	Command     string         `json:"command"`
	Arguments   []string       `json:"arguments_before_encoded_launcher"`
	Stdin       bool           `json:"stdin"`
	CommandLine string         `json:"command_line,omitempty"`
	Length      int            `json:"command_length"`
	Payload     map[string]any `json:"payload"`
}

func TestRenderMatchesGoldens(t *testing.T) {
	t.Parallel()
	views := map[string]renderView{}
	for _, tc := range renderCases {
		r, err := Render(tc.cmd, tc.opts)
		if err != nil {
			t.Fatalf("%s: Render: %v", tc.name, err)
		}
		_, doc := decodeRemote(t, r)
		views[tc.name] = renderView{
			Command:     r.RemoteCommand[0],
			Arguments:   r.RemoteCommand[1 : len(r.RemoteCommand)-1],
			Stdin:       r.Stdin,
			CommandLine: r.CommandLine,
			Length:      CommandLength(r.RemoteCommand),
			Payload:     doc,
		}
	}
	got, err := json.MarshalIndent(views, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "render.golden.json", append(got, '\n'))
	checkGolden(t, "launcher.wire.ps1", []byte(Text("")))
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	golden.Check(t, filepath.Join("testdata", name), got)
}

func TestRenderRefusesWhatTheLauncherCannotCarry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		cmd       transport.Command
		wantBatch bool
		wantText  string
	}{
		{"a batch file in an argv step", transport.Command{Kind: transport.KindArgv, Argv: []string{`C:\deploy\run.bat`, "x"}}, true, "cmd: step"},
		{"a .CMD file in any letter case", transport.Command{Kind: transport.KindArgv, Argv: []string{`setup.CMD`}}, true, "cmd: step"},
		{"an empty argv", transport.Command{Kind: transport.KindArgv}, false, "empty argv"},
		{"an argument with NUL", transport.Command{Kind: transport.KindArgv, Argv: []string{"prog.exe", "a\x00b"}}, false, "NUL"},
		{"a program name with a quote", transport.Command{Kind: transport.KindArgv, Argv: []string{`pro"g.exe`}}, false, "double quote"},
		{"a multi-line cmd step", transport.Command{Kind: transport.KindCmd, Line: "echo a\necho b"}, false, "several lines"},
		{"an empty cmd step", transport.Command{Kind: transport.KindCmd, Line: " \n"}, false, "empty"},
		{"a cmd line over 8191 characters", transport.Command{Kind: transport.KindCmd, Line: "echo " + strings.Repeat("x", 8200)}, false, "at most 8191"},
		{"a script with invalid UTF-8", transport.Command{Kind: transport.KindPowerShell, Script: "Write-Output \xff"}, false, "UTF-8"},
		{"an env name with =", transport.Command{Kind: transport.KindPowerShell, Script: "1", Env: map[string]string{"A=B": "x"}}, false, "contains ="},
		{"a reboot step", transport.Command{Kind: transport.KindReboot}, false, "cannot run"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Render(tc.cmd, RenderOptions{})
			if err == nil {
				t.Fatal("Render succeeded, want an error")
			}
			if got := errors.Is(err, winquote.ErrBatchFile); got != tc.wantBatch {
				t.Errorf("errors.Is(err, ErrBatchFile) = %v, want %v (err: %v)", got, tc.wantBatch, err)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not mention %q", err, tc.wantText)
			}
		})
	}
}

// TestRenderCarriesEveryHostileArgumentExactly decodes each rendering as the
// simulator does and splits the command line with the C runtime's rules.
func TestRenderCarriesEveryHostileArgumentExactly(t *testing.T) {
	t.Parallel()
	for i, a := range hostile.Args(t) {
		argv := []string{`C:\tools\echoargs.exe`, "before", a, "after"}
		r, err := Render(transport.Command{Kind: transport.KindArgv, Argv: argv}, RenderOptions{})
		if err != nil {
			t.Errorf("corpus[%d] %q: Render: %v", i, a, err)
			continue
		}
		_, doc := decodeRemote(t, r)
		if doc["command_line"] != r.CommandLine || doc["file"] != argv[0] {
			t.Errorf("corpus[%d]: payload file/command_line = %q/%q, want %q/%q", i, doc["file"], doc["command_line"], argv[0], r.CommandLine)
		}
		if diff := cmp.Diff(argv, winquote.SplitCommandLine(r.CommandLine)); diff != "" {
			t.Errorf("corpus[%d] %q: argv does not survive (-want +got):\n%s", i, a, diff)
		}
	}
}

func TestLauncherWireFormKeepsTheContract(t *testing.T) {
	t.Parallel()
	wire := Text("")
	if !strings.HasPrefix(wire, Marker+"\n") {
		t.Errorf("wire launcher does not start with the marker line")
	}
	if n := len(payloadRE.FindAllString(wire, -1)); n != 1 {
		t.Errorf("wire launcher has %d payload statements, want 1", n)
	}
	if n := len(payloadRE.FindAllString(Source(), -1)); n != 1 {
		t.Errorf("launcher source has %d payload statements, want 1", n)
	}
	// The empty launcher must leave room on the command line for a payload
	// of typical steps.
	if n := CommandLength(RemoteCommand(wire)); n > 7100 {
		t.Errorf("empty launcher takes %d characters of the command line, want at most 7100", n)
	}
	if strings.Contains(wire, "\r") {
		t.Errorf("wire launcher contains a carriage return")
	}
}

func TestLauncherIsValidPowerShell(t *testing.T) {
	t.Parallel()
	texts := []pscheck.Text{{Name: "launcher.ps1 (source)", Text: Source()}, {Name: "launcher (stdin variant)", Text: Text("")}}
	for _, tc := range renderCases {
		r, err := Render(tc.cmd, tc.opts)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		launcher, _ := decodeRemote(t, r)
		texts = append(texts, pscheck.Text{Name: tc.name, Text: launcher})
		if tc.cmd.Kind == transport.KindPowerShell {
			// The user's script is not fleetrun's text, but the examples
			// must be valid PowerShell for the test to mean anything.
			texts = append(texts, pscheck.Text{Name: tc.name + " (script)", Text: tc.cmd.Script})
		}
	}
	pscheck.Clean(t, "..", texts...)
}

// FuzzRenderArgv checks that every argv Render accepts comes back exactly
// from the command line and the payload it produces.
func FuzzRenderArgv(f *testing.F) {
	for _, a := range []string{"", " ", `a\"b`, `\\`, "日本", `"`, "a\tb"} {
		f.Add(`C:\x.exe`, a, "tail")
	}
	f.Fuzz(func(t *testing.T, prog, a, b string) {
		argv := []string{prog, a, b}
		r, err := Render(transport.Command{Kind: transport.KindArgv, Argv: argv}, RenderOptions{})
		if err != nil {
			return
		}
		_, doc := decodeRemote(t, r)
		if doc["command_line"] != r.CommandLine {
			t.Fatalf("payload command_line %q != %q", doc["command_line"], r.CommandLine)
		}
		if got := winquote.SplitCommandLine(r.CommandLine); !cmp.Equal(argv, got) {
			t.Fatalf("argv %q came back as %q", argv, got)
		}
	})
}
