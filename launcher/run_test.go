package launcher_test

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/internal/pscheck"
	"github.com/fleetrun/fleetrun/launcher"
	"github.com/fleetrun/fleetrun/transport"
	"github.com/fleetrun/fleetrun/winquote"
)

// runSteps is a run of each kind of step with every rule set somewhere.
func runSteps() []transport.RunStep {
	return []transport.RunStep{
		{Index: 0, Command: transport.Command{Kind: transport.KindArgv, Argv: []string{`C:\tools\echoargs.exe`, "two words", `a"b`}, Env: map[string]string{"A": "1"}, Workdir: `C:\work`},
			Accept: []uint32{0}},
		{Index: 1, Command: transport.Command{Kind: transport.KindCmd, Line: "echo hi"}, Accept: []uint32{0, 3010}, RetryOn: []uint32{1618},
			Retries: 2, RetryDelays: []time.Duration{1500 * time.Microsecond, 3 * time.Second}, Timeout: 90 * time.Second},
		{Index: 4, Command: transport.Command{Kind: transport.KindPowerShell, Script: "exit 3"}, Accept: []uint32{3}, ContinueOnError: true},
	}
}

// decodeRun undoes RenderRun: the launcher's script payload, the step-run
// script inside it and the run document inside that.
func decodeRun(t *testing.T, r launcher.Rendered) (script string, doc map[string]any) {
	t.Helper()
	if r.Stdin {
		text, err := winquote.DecodeCommand(r.RemoteCommand[len(r.RemoteCommand)-1])
		if err != nil {
			t.Fatal(err)
		}
		if text != launcher.Text("") {
			t.Fatalf("a step run on stdin is not sent as the launcher's stdin variant")
		}
	} else if text := inflateCommand(t, r.RemoteCommand); text != launcher.Text(r.Payload()) {
		t.Fatalf("a step run on the command line is not the compressed launcher with its payload inline")
	}
	var outer map[string]any
	raw, err := base64.StdEncoding.DecodeString(r.Payload())
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &outer); err != nil {
		t.Fatal(err)
	}
	if outer["kind"] != "script" {
		t.Fatalf("outer payload kind %v, want script", outer["kind"])
	}
	script = outer["script"].(string)
	if first, _, _ := strings.Cut(script, "\n"); first != launcher.StepRunMarker {
		t.Fatalf("the script starts with %q, want the marker %q", first, launcher.StepRunMarker)
	}
	m := payloadRE.FindAllStringSubmatch(script, -1)
	if len(m) != 1 {
		t.Fatalf("the step-run script has %d payload statements, want 1", len(m))
	}
	raw, err = base64.StdEncoding.DecodeString(m[0][1])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return script, doc
}

// inflateCommand undoes CompressedCommand: it checks the program and
// arguments and returns the launcher text the bootstrap runs.
func inflateCommand(t *testing.T, rc []string) string {
	t.Helper()
	want := append([]string{launcher.PowerShellExe}, launcher.PowerShellArgs()...)
	want[len(want)-1] = "-Command"
	if len(rc) != len(want)+1 || !cmp.Equal(rc[:len(want)], want) {
		t.Fatalf("remote command %q, want %q and the bootstrap", rc, want)
	}
	m := bootstrapRE.FindStringSubmatch(rc[len(rc)-1])
	if m == nil {
		t.Fatalf("the -Command argument is not the compressed bootstrap: %.200q", rc[len(rc)-1])
	}
	raw, err := base64.StdEncoding.DecodeString(m[1])
	if err != nil {
		t.Fatal(err)
	}
	text, err := io.ReadAll(flate.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatalf("inflate: %v", err)
	}
	return string(text)
}

// bootstrapRE is the compressed bootstrap as docs/design.md fixes it, in
// the double quotes that keep it one word for cmd.exe and powershell.exe.
var bootstrapRE = regexp.MustCompile(`^"` + regexp.QuoteMeta(`$fleetrunLauncher=(New-Object IO.StreamReader((New-Object IO.Compression.DeflateStream((New-Object IO.MemoryStream(,[Convert]::FromBase64String('`) +
	`([A-Za-z0-9+/=]+)` + regexp.QuoteMeta(`'))),[IO.Compression.CompressionMode]::Decompress)),[Text.Encoding]::UTF8)).ReadToEnd();. ([ScriptBlock]::Create($fleetrunLauncher))`) + `"$`)

// A step run goes compressed on the command line when that fits, saving
// the Send, and on stdin when it does not or when told.
func TestRenderRunGoesOnTheCommandLineWhenItFits(t *testing.T) {
	t.Parallel()
	// Text no compressor can shorten much: a script of random words.
	rng := rand.New(rand.NewPCG(1, 2))
	var big strings.Builder
	for big.Len() < 6000 {
		fmt.Fprintf(&big, "# %x\n", rng.Uint64())
	}
	bigRun := append(runSteps(), transport.RunStep{Index: 5, Command: transport.Command{Kind: transport.KindPowerShell, Script: big.String()}})
	tests := []struct {
		name      string
		steps     []transport.RunStep
		opts      launcher.RenderOptions
		wantStdin bool
	}{
		{"small run", runSteps(), launcher.RenderOptions{}, false},
		{"told to use stdin", runSteps(), launcher.RenderOptions{ForceStdin: true}, true},
		{"a shorter limit", runSteps(), launcher.RenderOptions{MaxCommandLine: 4000}, true},
		{"a run too large even compressed", bigRun, launcher.RenderOptions{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := launcher.RenderRun(tc.steps, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if r.Stdin != tc.wantStdin {
				t.Fatalf("Stdin = %v, want %v", r.Stdin, tc.wantStdin)
			}
			limit := tc.opts.MaxCommandLine
			if limit == 0 {
				limit = launcher.DefaultMaxCommandLine
			}
			if n := launcher.CommandLength(r.RemoteCommand); n > limit && !r.Stdin {
				t.Errorf("command line of %d characters, over the limit of %d", n, limit)
			}
			_, doc := decodeRun(t, r)
			if got := len(doc["steps"].([]any)); got != len(tc.steps) {
				t.Errorf("the run carries %d steps, want %d", got, len(tc.steps))
			}
		})
	}
}

func TestRenderRunCarriesEachStepAsAloneWithItsRules(t *testing.T) {
	t.Parallel()
	steps := runSteps()
	r, err := launcher.RenderRun(steps, launcher.RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, doc := decodeRun(t, r)
	alone := func(cmd transport.Command) launcher.Payload {
		p, err := launcher.Build(cmd)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	want := map[string]any{"v": 1.0, "kind": "run", "steps": []any{
		map[string]any{"index": 0.0, "kind": "argv", "file": `C:\tools\echoargs.exe`, "command_line": alone(steps[0].Command).CommandLine,
			"env": map[string]any{"A": "1"}, "workdir": `C:\work`,
			"timeout_ms": 0.0, "accept": []any{0.0}, "retry_on": []any{}, "retries": 0.0, "retry_delays_ms": []any{}, "continue_on_error": false},
		map[string]any{"index": 1.0, "kind": "argv", "file": "cmd.exe", "command_line": `"cmd.exe" /d /s /c "echo hi"`,
			"env": map[string]any{}, "workdir": "",
			"timeout_ms": 90000.0, "accept": []any{0.0, 3010.0}, "retry_on": []any{1618.0}, "retries": 2.0, "retry_delays_ms": []any{2.0, 3000.0}, "continue_on_error": false},
		map[string]any{"index": 4.0, "kind": "script", "payload": alone(steps[2].Command).B64,
			"timeout_ms": 0.0, "accept": []any{3.0}, "retry_on": []any{}, "retries": 0.0, "retry_delays_ms": []any{}, "continue_on_error": true},
	}}
	if diff := cmp.Diff(want, doc); diff != "" {
		t.Errorf("run document (-want +got):\n%s", diff)
	}
}

func TestBuildRunRefusesWhatARunCannotCarry(t *testing.T) {
	t.Parallel()
	ok := transport.Command{Kind: transport.KindCmd, Line: "echo hi"}
	tests := []struct {
		name  string
		steps []transport.RunStep
		want  string
	}{
		{"no steps", nil, "a step run needs 1 to 10000 steps, not 0"},
		{"a task step", []transport.RunStep{{Index: 2, Command: transport.Command{Kind: transport.KindCmd, Line: "x", RunAs: transport.RunAsSystem}}},
			`step 2: a cmd step run as "system" cannot be part of a step run`},
		{"a copy step", []transport.RunStep{{Index: 3, Command: transport.Command{Kind: transport.KindCopy}}},
			`step 3: a copy step run as "" cannot be part of a step run`},
		{"delays and retries disagree", []transport.RunStep{{Index: 1, Command: ok, Retries: 2, RetryDelays: []time.Duration{time.Second}}},
			"step 1: 2 retries but 1 retry delays"},
		{"a body alone refuses", []transport.RunStep{{Index: 5, Command: transport.Command{Kind: transport.KindArgv, Argv: []string{`C:\x\setup.bat`}}}},
			"step 5: command step:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := launcher.BuildRun(tc.steps)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("BuildRun: %v, want an error starting %q", err, tc.want)
			}
		})
	}
}

func TestStepRunScriptIsValidPowerShell(t *testing.T) {
	t.Parallel()
	r, err := launcher.RenderRun(runSteps(), launcher.RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	script, _ := decodeRun(t, r)
	if n := strings.Count(launcher.StepRunText(""), "$fleetrunPayload = ''"); n != 1 {
		t.Errorf("the step-run script has %d empty payload statements, want 1", n)
	}
	if r.Stdin {
		t.Fatal("the run went on stdin; this test checks the compressed bootstrap too")
	}
	boot := r.RemoteCommand[len(r.RemoteCommand)-1]
	pscheck.Clean(t, "..",
		pscheck.Text{Name: "steprun.ps1 (source)", Text: launcher.StepRunSource()},
		pscheck.Text{Name: "step-run script (wire)", Text: script},
		pscheck.Text{Name: "compressed bootstrap", Text: boot[1 : len(boot)-1]})
}

// TestStepRunScriptEmptiesTheLaunchersLiteral checks the pattern the
// step-run script uses to turn the launcher it was started with into the
// stdin variant its PowerShell steps run: applied (as .NET would) to an
// inline launcher, it must give exactly Text("").
func TestStepRunScriptEmptiesTheLaunchersLiteral(t *testing.T) {
	t.Parallel()
	src := launcher.StepRunSource()
	if !strings.Contains(src, `$t = $t -replace "(?m)^\`+"`"+`$fleetrunPayload = '[A-Za-z0-9+/=]*'", ('$$fleetrun' + 'Payload = ''''')`) {
		t.Fatal("the step-run script no longer empties the launcher's literal as this test models it")
	}
	p, err := launcher.Build(transport.Command{Kind: transport.KindCmd, Line: "echo hi"})
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^\$fleetrunPayload = '[A-Za-z0-9+/=]*'`)
	got := re.ReplaceAllLiteralString(launcher.Text(p.B64), "$fleetrunPayload = ''")
	if got != launcher.Text("") {
		t.Errorf("emptying the inline launcher's literal does not give the stdin variant")
	}
}

// recorder is a FrameHandler writing what it is handed as text.
type recorder struct {
	b   strings.Builder
	err error // returned by every call once set
}

func (r *recorder) Begin(i, a int, t time.Duration) error {
	fmt.Fprintf(&r.b, "begin %d/%d at %s\n", i, a, t)
	return r.err
}

func (r *recorder) Output(i int, stderr bool, data []byte) error {
	fmt.Fprintf(&r.b, "out %d stderr=%t %q\n", i, stderr, data)
	return r.err
}

func (r *recorder) Exit(i, a int, code uint32, t time.Duration) error {
	fmt.Fprintf(&r.b, "exit %d/%d code %d at %s\n", i, a, code, t)
	return r.err
}

func (r *recorder) Timeout(i, a int, t time.Duration) error {
	fmt.Fprintf(&r.b, "timeout %d/%d at %s\n", i, a, t)
	return r.err
}

func (r *recorder) End(t time.Duration) error {
	fmt.Fprintf(&r.b, "end at %s\n", t)
	return r.err
}

const goodFrames = "B 0 1 5\nO 0 6\nhello\nE 0 3\n\x00\xff\nX 0 1 4294967295 12\n" +
	"B 3 1 12\nX 3 1 1618 20\nB 3 2 1020\nO 3 2\nokT 3 2 2000\nZ 2001\n"

const goodRecord = "begin 0/1 at 5ms\nout 0 stderr=false \"hello\\n\"\nout 0 stderr=true \"\\x00\\xff\\n\"\nexit 0/1 code 4294967295 at 12ms\n" +
	"begin 3/1 at 12ms\nexit 3/1 code 1618 at 20ms\nbegin 3/2 at 1.02s\nout 3 stderr=false \"ok\"\ntimeout 3/2 at 2s\nend at 2.001s\n"

func TestFrameParserReadsFramesSplitAnywhere(t *testing.T) {
	t.Parallel()
	for size := 1; size <= len(goodFrames); size++ {
		rec := &recorder{}
		p := launcher.NewFrameParser(rec)
		// Data is handed on as it arrives, so a data frame split in two
		// reaches the handler in two pieces: join them for comparison.
		for b := []byte(goodFrames); len(b) > 0; {
			n := min(size, len(b))
			if k, err := p.Write(b[:n]); err != nil || k != n {
				t.Fatalf("size %d: Write = %d, %v", size, k, err)
			}
			b = b[n:]
		}
		if !p.Ended() {
			t.Errorf("size %d: the parser did not see the end", size)
		}
		if got := joinOutputs(rec.b.String()); got != goodRecord {
			t.Errorf("size %d: frames read as\n%s\nwant\n%s", size, got, goodRecord)
		}
	}
}

// joinOutputs merges consecutive "out" lines of one step and stream.
func joinOutputs(s string) string {
	var out []string
	re := regexp.MustCompile(`^out (\d+) stderr=(\w+) "(.*)"$`)
	for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if m := re.FindStringSubmatch(l); m != nil && len(out) > 0 {
			if p := re.FindStringSubmatch(out[len(out)-1]); p != nil && p[1] == m[1] && p[2] == m[2] {
				out[len(out)-1] = fmt.Sprintf("out %s stderr=%s \"%s%s\"", m[1], m[2], p[3], m[3])
				continue
			}
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n") + "\n"
}

func TestFrameParserRefusesBrokenFrames(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"stray output", "hello\n", `"hello" is not a frame`},
		{"output outside an attempt", "O 0 2\nhi", `"O 0 2" outside an attempt of that step`},
		{"output of another step", "B 1 1 0\nO 2 1\nx", `"O 2 1" outside an attempt of that step`},
		{"two attempts at once", "B 1 1 0\nB 2 1 0\n", `"B 2 1 0" while attempt 1 of step 1 runs`},
		{"an end for another attempt", "B 1 1 0\nX 1 2 0 5\n", `"X 1 2 0 5" ends no running attempt`},
		{"the end inside an attempt", "B 1 1 0\nZ 5\n", "the run ended while attempt 1 of step 1 ran"},
		{"bytes after the end", "Z 5\nX", "1 bytes after the closing frame"},
		{"too few fields", "X 1 1 0\n", `"X 1 1 0" is not a frame`},
		{"a negative number", "B -1 1 0\n", `"B -1 1 0" is not a frame`},
		{"two spaces", "B 1  1 0\n", `"B 1  1 0" is not a frame`},
		{"an exit code past a DWORD", "B 1 1 0\nX 1 1 4294967296 3\n", "exit code out of range"},
		{"attempt zero", "B 1 0 0\n", `"B 1 0 0" names no step attempt`},
		{"an endless header", strings.Repeat("B", 200), "a header line longer than 96 bytes"},
		{"an unknown kind", "Q 1\n", `"Q 1" is not a frame`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := launcher.NewFrameParser(&recorder{})
			_, err := p.Write([]byte(tc.in))
			if !errors.Is(err, launcher.ErrFrames) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Write(%q) = %v, want ErrFrames with %q", tc.in, err, tc.want)
			}
			if p.Ended() {
				t.Errorf("a broken run counts as ended")
			}
			if _, again := p.Write([]byte("Z 1\n")); again == nil {
				t.Errorf("the parser accepts more after an error")
			}
		})
	}
}

func TestFrameParserStopsAtTheHandlersError(t *testing.T) {
	t.Parallel()
	stop := errors.New("stop")
	p := launcher.NewFrameParser(&recorder{err: stop})
	n, err := p.Write([]byte("B 0 1 0\nO 0 2\nhi"))
	if !errors.Is(err, stop) || n != len("B 0 1 0\n") {
		t.Errorf("Write = %d, %v; want %d, the handler's error", n, err, len("B 0 1 0\n"))
	}
}

func FuzzFrameParser(f *testing.F) {
	f.Add([]byte(goodFrames), 3)
	f.Add([]byte("B 0 1 0\nO 0 99999999999\n"), 1)
	f.Fuzz(func(t *testing.T, data []byte, size int) {
		size = max(1, size%64+1)
		p := launcher.NewFrameParser(&recorder{})
		for len(data) > 0 {
			n := min(size, len(data))
			k, err := p.Write(data[:n])
			if k < 0 || k > n {
				t.Fatalf("Write returned %d for %d bytes", k, n)
			}
			if err != nil {
				return
			}
			data = data[n:]
		}
	})
}
