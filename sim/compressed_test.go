package sim

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// compressedCommand is the WinRS command line of fleetrun's compressed
// launcher (docs/design.md, "Step runs") carrying text.
func compressedCommand(t testing.TB, text string) string {
	t.Helper()
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(text)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return bootstrapAround(base64.StdEncoding.EncodeToString(b.Bytes()))
}

func bootstrapAround(b64 string) string {
	return `%SystemRoot%\System32\WindowsPowerShell\v1.0\powershell.exe -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass -Command ` +
		`"$fleetrunLauncher=(New-Object IO.StreamReader((New-Object IO.Compression.DeflateStream((New-Object IO.MemoryStream(,[Convert]::FromBase64String('` +
		b64 + `'))),[IO.Compression.CompressionMode]::Decompress)),[Text.Encoding]::UTF8)).ReadToEnd();. ([ScriptBlock]::Create($fleetrunLauncher))"`
}

// The compressed launcher runs exactly as the same launcher sent with
// -EncodedCommand: an argv step, a script and a step run.
func TestACompressedLauncherRunsAsTheEncodedOne(t *testing.T) {
	t.Parallel()
	f, _ := stepRunFleet(t, 1, "", FleetOptions{})
	h := f.Hosts()[0]
	script := scriptPayload("Write-Output 'x'\n[Console]::Error.WriteLine('warn')\nexit 5")
	tests := []struct {
		name    string
		payload map[string]any
		want    [3]any // stdout, stderr, exit code
	}{
		{"argv", argvPayload(`C:\tools\echoargs.exe`, `"C:\tools\echoargs.exe" "two words" 日本語`),
			[3]any{`{"argv":["C:\\tools\\echoargs.exe","two words","日本語"],"command_line":"\"C:\\tools\\echoargs.exe\" \"two words\" 日本語"}` + "\r\n", "", 0}},
		{"script", script, [3]any{"x\r\n", "warn\r\n", 5}},
		{"run", runOf(
			with(argvStep(0, "cmd.exe", `"cmd.exe" /d /s /c "echo one& exit 3"`), "accept", []uint32{3}),
			scriptStep(t, 1, script)),
			[3]any{"B 0 1 0\nO 0 5\none\r\nX 0 1 3 0\nB 1 1 0\nO 1 3\nx\r\nE 1 6\nwarn\r\nX 1 1 5 0\nZ 0\n", "", 0}},
	}
	for _, tc := range tests {
		name, pl := tc.name, tc.payload
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			encoded, _ := launcherCommand(t, asSent(t, pl), false)
			raw, err := json.Marshal(asSent(t, pl))
			if err != nil {
				t.Fatal(err)
			}
			compressed := compressedCommand(t, launcherText(base64.StdEncoding.EncodeToString(raw)))
			c := mzClient(t, f, h, basicHTTP, "PT60S")
			var got [2][3]any
			for i, command := range []string{encoded, compressed} {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				stdout, stderr, code, err := c.RunCmdWithContext(ctx, command)
				cancel()
				if err != nil {
					t.Fatal(err)
				}
				got[i] = [3]any{stdout, stderr, code}
			}
			if diff := cmp.Diff(got[0], got[1]); diff != "" {
				t.Errorf("compressed launcher (-encoded +compressed):\n%s", diff)
			}
			if diff := cmp.Diff(tc.want, got[1]); diff != "" {
				t.Errorf("compressed launcher (-want +got):\n%s", diff)
			}
		})
	}
}

// What the simulated fleet does not model in the bootstrap's place, or a
// bootstrap that cannot work, fails loudly.
func TestACompressedBootstrapItCannotRunFails(t *testing.T) {
	t.Parallel()
	f, _ := stepRunFleet(t, 1, "", FleetOptions{})
	h := f.Hosts()[0]
	tests := []struct {
		name, command, stderr string
	}{
		{"not the launcher", compressedCommand(t, "Write-Output 'hello'\n"),
			"fleetrun sim: the compressed bootstrap carries a script that is not fleetrun's launcher; the simulated fleet models it only for the launcher\r\n"},
		{"not deflate", bootstrapAround(base64.StdEncoding.EncodeToString([]byte("plain text, not deflated"))),
			"fleetrun sim: compressed launcher: inflate: flate: corrupt input before offset 5\r\n"},
		{"a bomb", compressedCommand(t, "# fleetrun-launcher v1\n"+strings.Repeat("#", maxInflated)),
			"fleetrun sim: compressed launcher: inflates to more than 1048576 bytes\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := mzClient(t, f, h, basicHTTP, "PT60S")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			stdout, stderr, code, err := c.RunCmdWithContext(ctx, tc.command)
			if err != nil {
				t.Fatal(err)
			}
			if stdout != "" || stderr != tc.stderr || code != 1 {
				t.Errorf("got stdout %q, stderr %q, exit %d; want stderr %q and exit 1", stdout, stderr, code, tc.stderr)
			}
		})
	}
}
