package launcher_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/internal/pscheck"
	"github.com/fleetrun/fleetrun/launcher"
	"github.com/fleetrun/fleetrun/transport"
	"github.com/fleetrun/fleetrun/winquote"
)

// taskName is the name the task goldens use.
const taskName = "fleetrun-0123456789ab-s0-a1"

// decodeTask undoes RenderTask: the launcher command line, the launcher's
// script payload (on the command line or on stdin), the task script in it,
// and the task script's payload. It returns the task script and its raw
// JSON payload.
func decodeTask(t *testing.T, r launcher.Rendered) (script string, raw []byte) {
	t.Helper()
	rc := r.RemoteCommand
	wantPrefix := append([]string{launcher.PowerShellExe}, launcher.PowerShellArgs()...)
	if len(rc) != len(wantPrefix)+1 || !cmp.Equal(wantPrefix, rc[:len(wantPrefix)]) {
		t.Fatalf("remote command %q does not run the launcher", rc)
	}
	text, err := winquote.DecodeCommand(rc[len(rc)-1])
	if err != nil {
		t.Fatal(err)
	}
	if first, _, _ := strings.Cut(text, "\n"); first != launcher.Marker {
		t.Fatalf("launcher starts with %q, want %q", first, launcher.Marker)
	}
	m := payloadRE.FindAllStringSubmatch(text, -1)
	if len(m) != 1 {
		t.Fatalf("launcher has %d payload statements, want 1", len(m))
	}
	b64 := m[0][1]
	if (b64 == "") != r.Stdin {
		t.Fatalf("launcher payload literal empty = %v, but Stdin = %v", b64 == "", r.Stdin)
	}
	if b64 == "" {
		b64 = r.Payload()
	}
	step, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		V       int               `json:"v"`
		Kind    string            `json:"kind"`
		Script  string            `json:"script"`
		Env     map[string]string `json:"env"`
		Workdir string            `json:"workdir"`
	}
	if err := json.Unmarshal(step, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.V != 1 || doc.Kind != "script" || len(doc.Env) != 0 || doc.Workdir != "" {
		t.Fatalf("the task script travels as %+v, want a plain script step", doc)
	}
	script = doc.Script
	if first, _, _ := strings.Cut(script, "\n"); first != launcher.TaskMarker {
		t.Fatalf("task script starts with %q, want %q", first, launcher.TaskMarker)
	}
	tm := payloadRE.FindAllStringSubmatch(script, -1)
	if len(tm) != 1 || tm[0][1] == "" {
		t.Fatalf("task script has %d payload statements (%q), want 1 with a literal", len(tm), tm)
	}
	if script != launcher.TaskText(tm[0][1]) {
		t.Fatalf("task script differs from TaskText of its own payload")
	}
	raw, err = base64.StdEncoding.DecodeString(tm[0][1])
	if err != nil {
		t.Fatal(err)
	}
	return script, raw
}

// taskStep is the step the run goldens carry.
func taskStep(t *testing.T) launcher.Payload {
	t.Helper()
	p, err := launcher.Build(transport.Command{Kind: transport.KindArgv, Argv: []string{"wusa.exe", `C:\p\kb.msu`, "/quiet", "/norestart"}, RunAs: transport.RunAsSystem})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTaskBatchMatchesGolden(t *testing.T) {
	t.Parallel()
	batch := launcher.TaskBatch(taskName)
	checkGolden(t, "task.batch.cmd", []byte(batch))
	// cmd.exe reads at most 8191 characters of a batch file's line, after
	// expanding %SystemRoot% (C:\Windows on a stock host).
	for i, l := range strings.Split(batch, "\r\n") {
		if n := len(strings.ReplaceAll(l, "%SystemRoot%", `C:\Windows`)); n > 8191 {
			t.Errorf("batch line %d is %d characters long, more than cmd.exe reads", i+1, n)
		}
	}
	// The launcher it runs is the stdin variant every step runs.
	if want := strings.Join(launcher.RemoteCommand(launcher.Text("")), " ") + ` <"` + launcher.TaskDir + `\` + taskName + `.in"`; !strings.Contains(batch, want) {
		t.Errorf("the batch file does not run the stdin launcher on the step's .in file")
	}
}

func TestRenderTaskPayloadsMatchGoldens(t *testing.T) {
	t.Parallel()
	step := taskStep(t)
	tests := []struct {
		op        launcher.TaskOp
		req       launcher.TaskRequest
		wantStdin bool
	}{
		{launcher.TaskRun, launcher.TaskRequest{Op: launcher.TaskRun, Name: taskName, Step: step,
			Poll: 500 * time.Millisecond, Window: 30 * time.Second, Limit: 90*time.Minute + time.Millisecond}, true},
		{launcher.TaskFollow, launcher.TaskRequest{Op: launcher.TaskFollow, Name: taskName, Step: step, Out: 1234, Err: 56,
			Poll: 250 * time.Millisecond, Window: 20 * time.Second, Limit: time.Hour}, true},
		{launcher.TaskStop, launcher.TaskRequest{Op: launcher.TaskStop, Name: taskName, Out: 1, Err: 2, Poll: time.Second}, true},
		{launcher.TaskForget, launcher.TaskRequest{Op: launcher.TaskForget, Name: taskName}, true},
	}
	for _, tc := range tests {
		t.Run(string(tc.op), func(t *testing.T) {
			t.Parallel()
			r, err := launcher.RenderTask(tc.req, launcher.RenderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if r.Stdin != tc.wantStdin {
				t.Errorf("Stdin = %v, want %v", r.Stdin, tc.wantStdin)
			}
			if r.CommandLine != "" {
				t.Errorf("CommandLine = %q, want none for a script", r.CommandLine)
			}
			_, raw := decodeTask(t, r)
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, raw, "", "  "); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')
			checkGolden(t, "task."+string(tc.op)+".json", pretty.Bytes())
			var doc map[string]any
			if err := json.Unmarshal(raw, &doc); err != nil {
				t.Fatal(err)
			}
			if tc.op == launcher.TaskRun && (doc["batch"] != launcher.TaskBatch(taskName) || doc["input"] != step.B64) {
				t.Errorf("run carries batch %q and input %q, want TaskBatch and the step's payload", doc["batch"], doc["input"])
			}
		})
	}
}

func TestRenderTaskMovesLargeCallsToStdin(t *testing.T) {
	t.Parallel()
	small := launcher.TaskRequest{Op: launcher.TaskForget, Name: taskName}
	big, err := launcher.Build(transport.Command{Kind: transport.KindPowerShell, Script: strings.Repeat("Write-Output 'x'\n", 2000)})
	if err != nil {
		t.Fatal(err)
	}
	large := launcher.TaskRequest{Op: launcher.TaskRun, Name: taskName, Step: big, Poll: time.Second, Window: time.Minute}
	roomy := launcher.RenderOptions{MaxCommandLine: 1 << 20}
	tests := []struct {
		name      string
		req       launcher.TaskRequest
		opts      launcher.RenderOptions
		wantStdin bool
	}{
		{"a forget on a command line with room for it", small, roomy, false},
		{"a forget on the command line cmd.exe takes", small, launcher.RenderOptions{}, true},
		{"a forget sent on stdin on request", small, launcher.RenderOptions{MaxCommandLine: 1 << 20, ForceStdin: true}, true},
		{"a large step on a command line with room for it", large, roomy, false},
		{"a large step on the command line cmd.exe takes", large, launcher.RenderOptions{}, true},
	}
	var docs = map[string][]byte{}
	for _, tc := range tests {
		r, err := launcher.RenderTask(tc.req, tc.opts)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if r.Stdin != tc.wantStdin {
			t.Errorf("%s: Stdin = %v, want %v", tc.name, r.Stdin, tc.wantStdin)
		}
		if n := launcher.CommandLength(r.RemoteCommand); !r.Stdin && n > tc.opts.MaxCommandLine {
			t.Errorf("%s: command line of %d characters, more than %d", tc.name, n, tc.opts.MaxCommandLine)
		} else if r.Stdin && n > launcher.DefaultMaxCommandLine {
			t.Errorf("%s: stdin variant's command line is %d characters", tc.name, n)
		}
		_, raw := decodeTask(t, r)
		// Wherever it travels, the call is the same.
		if prev, ok := docs[string(tc.req.Op)]; ok && !bytes.Equal(prev, raw) {
			t.Errorf("%s: payload differs from the other rendering of the same call", tc.name)
		}
		docs[string(tc.req.Op)] = raw
	}
}

func TestRenderTaskRefusesBadCalls(t *testing.T) {
	t.Parallel()
	step := taskStep(t)
	tests := []struct {
		name string
		req  launcher.TaskRequest
		want string
	}{
		{"a bad task name", launcher.TaskRequest{Op: launcher.TaskForget, Name: `fleetrun-x\..\y`},
			`task name "fleetrun-x\\..\\y": expected fleetrun- and up to 64 lower-case letters, digits and hyphens`},
		{"a run without a step", launcher.TaskRequest{Op: launcher.TaskRun, Name: taskName}, "task run without a step payload"},
		{"an unknown operation", launcher.TaskRequest{Op: "pause", Name: taskName, Step: step}, `unknown task operation "pause"`},
		{"no operation", launcher.TaskRequest{Name: taskName, Step: step}, `unknown task operation ""`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := launcher.RenderTask(tc.req, launcher.RenderOptions{})
			if err == nil || err.Error() != tc.want {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestCheckTaskName(t *testing.T) {
	t.Parallel()
	const want = `: expected fleetrun- and up to 64 lower-case letters, digits and hyphens`
	tests := []struct {
		name    string
		wantErr bool
	}{
		{taskName, false},
		{"fleetrun-a", false},
		{"fleetrun--", false},
		{"fleetrun-" + strings.Repeat("a", 64), false},
		{"fleetrun-" + strings.Repeat("a", 65), true},
		{"fleetrun-", true},
		{"fleetrun", true},
		{"", true},
		{"Fleetrun-a", true},
		{"fleetrun-ABC", true},
		{"fleetrun-a b", true},
		{"fleetrun-a_b", true},
		{"fleetrun-a.b", true},
		{"fleetrun-a\n", true},
		{"fleetrun-a\\b", true},
		{"fleetrun-a'b", true},
		{"fleetrun-a%b", true},
		{"x-fleetrun-a", true},
		{"fleetrun-日本", true},
	}
	for _, tc := range tests {
		err := launcher.CheckTaskName(tc.name)
		switch {
		case !tc.wantErr && err != nil:
			t.Errorf("CheckTaskName(%q) = %v, want nil", tc.name, err)
		case tc.wantErr && (err == nil || err.Error() != "task name "+strconv.Quote(tc.name)+want):
			t.Errorf("CheckTaskName(%q) = %v, want the name refused", tc.name, err)
		}
	}
	// The task script refuses the same names (it puts them in WQL patterns
	// and file names).
	if !strings.Contains(launcher.TaskSource(), `$frN -cnotmatch '^fleetrun-[0-9a-z-]{1,64}$'`) {
		t.Errorf("task.ps1 no longer checks the name as CheckTaskName does")
	}
}

func TestTaskScriptIsValidPowerShell(t *testing.T) {
	t.Parallel()
	_, raw := decodeTask(t, mustRenderTask(t, launcher.TaskRequest{Op: launcher.TaskRun, Name: taskName, Step: taskStep(t), Poll: time.Second}))
	b64 := base64.StdEncoding.EncodeToString(raw)
	wire := launcher.TaskText(b64)
	if first, _, _ := strings.Cut(wire, "\n"); first != launcher.TaskMarker {
		t.Errorf("wire form starts with %q, want the marker %q", first, launcher.TaskMarker)
	}
	for name, text := range map[string]string{"source": launcher.TaskSource(), "wire form": wire} {
		if m := payloadRE.FindAllStringSubmatch(text, -1); len(m) != 1 {
			t.Errorf("%s has %d payload statements, want 1", name, len(m))
		}
	}
	if m := payloadRE.FindStringSubmatch(wire); m == nil || m[1] != b64 {
		t.Errorf("the wire form's payload statement does not carry the payload")
	}
	for i, l := range strings.Split(wire, "\n")[1:] {
		if strings.HasPrefix(l, "#") || strings.TrimSpace(l) != l {
			t.Errorf("wire line %d keeps a comment or indentation: %q", i+2, l)
		}
	}
	if strings.Contains(wire, "\r") {
		t.Errorf("the wire form contains a carriage return")
	}
	pscheck.Clean(t, "..",
		pscheck.Text{Name: "task.ps1 (source)", Text: launcher.TaskSource()},
		pscheck.Text{Name: "task script (wire, run)", Text: wire},
		pscheck.Text{Name: "task script (wire, empty payload)", Text: launcher.TaskText("")},
	)
}

func mustRenderTask(t *testing.T, req launcher.TaskRequest) launcher.Rendered {
	t.Helper()
	r, err := launcher.RenderTask(req, launcher.RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}
