package views_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetrun/fleetrun/cmd/fleetrun/internal/views"
	"github.com/fleetrun/fleetrun/internal/golden"
	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/preflight"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/transport"
)

func TestHostsTableEscapesWhatATerminalWouldActOn(t *testing.T) {
	t.Parallel()
	hosts := []*inventory.Host{
		{Name: "web-01", Address: "10.0.1.10", Port: 5985, Auth: "ntlm", Groups: []string{"web"}, Tags: map[string]string{"Role": "web", "Note": "\x1b[31mred\tx"}, Source: "inv.yaml"},
		{Name: "db-01", Address: "10.0.2.10", Port: 5986, HTTPS: true, Auth: "basic", Source: "ec2", Unusable: "no address"},
	}
	var b strings.Builder
	if err := views.HostsTable(&b, hosts); err != nil {
		t.Fatal(err)
	}
	want := "NAME    ADDRESS    PORT  SCHEME  AUTH   GROUPS  TAGS                          SOURCE\n" +
		"web-01  10.0.1.10  5985  http    ntlm   web     Note=\\x1b[31mred\\tx,Role=web  inv.yaml\n" +
		"db-01   10.0.2.10  5986  https   basic  -       -                             ec2 (unusable: no address)\n" +
		"2 host(s)\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	if err := views.HostsJSON(&b, nil); err != nil || b.String() != "{\n  \"hosts\": []\n}\n" {
		t.Errorf("no hosts as JSON: %q (%v)", b.String(), err)
	}
}

// fleetOfFailures is seven hosts failing the same check and one passing.
func fleetOfFailures() []*preflight.HostResult {
	var rs []*preflight.HostResult
	for i := 1; i <= 8; i++ {
		r := &preflight.HostResult{Host: &inventory.Host{Name: fmt.Sprintf("web-%02d", i), Address: "10.0.0.1"},
			Checks: []preflight.Check{{Name: preflight.CheckReach, Status: preflight.Pass}, {Name: preflight.CheckAuth, Status: preflight.Pass}}}
		if i <= 7 {
			r.Checks = append(r.Checks, preflight.Check{Name: "disk", Status: preflight.Fail, Class: transport.ClassInternal, Detail: "C: has 1 GB free", Fix: "free space"})
		}
		rs = append(rs, r)
	}
	return rs
}

func TestPreflightTableListsAFindingOnceForAllItsHosts(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	views.PreflightTable(&b, fleetOfFailures())
	out := b.String()
	for _, want := range []string{
		"\n1 of 8 host(s) passed\n",
		"\nFAIL web-01, web-02, web-03, web-04, web-05 and 2 more: disk: C: has 1 GB free\n  fix: free space\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "FAIL web-"); n != 1 {
		t.Errorf("the finding is listed %d times, want once:\n%s", n, out)
	}
}

func TestPreflightReportShowsChecksAsSteps(t *testing.T) {
	t.Parallel()
	rs := fleetOfFailures()
	rs[7].Checks = []preflight.Check{{Name: preflight.CheckReach, Status: preflight.Fail, Class: transport.ClassRefused, Detail: "refused"}}
	rs = append(rs, &preflight.HostResult{Host: &inventory.Host{Name: "late"},
		Checks: []preflight.Check{{Name: preflight.CheckReach, Class: transport.ClassInterrupted, Detail: preflight.NotChecked}}})
	res := views.PreflightReport(rs, time.Unix(0, 0), time.Unix(1, 0))
	got := map[string]runner.Status{}
	for _, h := range res.Hosts {
		got[h.Name] = h.Status
	}
	if res.Status != runner.StatusFailed || got["web-01"] != runner.StatusFailed || got["web-08"] != runner.StatusUnreachable || got["late"] != runner.StatusSkipped {
		t.Errorf("status %s, hosts %v; want failed, web-01 failed, web-08 unreachable, late skipped", res.Status, got)
	}
	if s := res.Hosts[0].Steps[2]; s.Kind != "check" || s.Status != runner.StatusFailed || s.Err.Hint != "free space" {
		t.Errorf("web-01's disk check as a step: %+v", s)
	}
	if late := res.Hosts[8]; late.Reason != views.ReasonNotChecked || len(late.Steps) != 1 || late.Steps[0].Status != runner.StatusSkipped {
		t.Errorf("the unchecked host: %+v", late)
	}
}

func TestPlanTextSaysWhatEachHostReceives(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("A", 200)
	plan := &runner.Result{Playbook: "patch", Forks: 10, Batches: 2, MaxFail: 1, Hosts: []*runner.HostResult{
		{Name: "web-01", Address: "10.0.0.1", Batch: 0, Simulated: true, Steps: []*runner.StepResult{
			{Name: "install", Kind: "command", RunAs: "system", CommandLine: `"wusa.exe" C:\p\kb.msu /quiet`, Note: "runs as a scheduled task", RemoteCommand: []string{"powershell.exe", "-EncodedCommand", long}},
			{Name: "stage", Kind: "copy", Files: []transport.FileResult{{Path: `C:\app\a`, Local: "tree/a", Size: 1, SHA256: "ab"}, {Path: `C:\app\b`, Local: "tree/b", Size: 2048, SHA256: "cd"}}},
		}},
		{Name: "web-02", Address: "10.0.0.2", Batch: 1, Status: runner.StatusSkipped, Reason: "pre-flight \x1b[1mfailed"},
	}}
	var b strings.Builder
	if err := views.PlanText(&b, plan); err != nil {
		t.Fatal(err)
	}
	want := `plan for playbook "patch": 2 host(s) in 2 batch(es), forks 10, failure budget 1
batch 1 of 2:
  web-01 (10.0.0.1) [simulated]
    1. install [command, run_as system]
       command line: "wusa.exe" C:\p\kb.msu /quiet
       runs as a scheduled task
       sends: powershell.exe -EncodedCommand ` + long[:120-len("powershell.exe -EncodedCommand ")-3] + `...
    2. stage [copy]
       tree/a (1 B, sha256 ab) to C:\app\a
       tree/b (2 KiB, sha256 cd) to C:\app\b
batch 2 of 2:
  web-02 (10.0.0.2) skipped: pre-flight \x1b[1mfailed
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// planOf is a plan of one simulated host with the given steps.
func planOf(steps ...*runner.StepResult) *runner.Result {
	return &runner.Result{Playbook: "decoded", Forks: 50, Batches: 1, MaxFail: -1, Hosts: []*runner.HostResult{
		{Name: "web-01", Address: "10.0.0.1", Steps: steps},
	}}
}

// Each kind of step shows what its program receives, decoded, with the
// bytes that break naive quoting and a terminal's escapes; long scripts
// and argument lists are cut with a count of what was left out.
func TestPlanTextDecodesEachKindOfStep(t *testing.T) {
	t.Parallel()
	long := make([]string, 0, 60)
	for i := range 60 {
		long = append(long, fmt.Sprintf("a%d", i))
	}
	script := "$s = 'it''s \"q\" 100% ^ é'\r\nif ($s) {\r\n\tWrite-Output \"\x1b[2J$s\"\r\n}\r\n" + strings.Repeat("x", 230) + "\r\n"
	for i := 6; i <= 25; i++ {
		script += fmt.Sprintf("# line %d\n", i)
	}
	tests := []struct {
		name string
		plan *runner.Result
	}{
		{"argv", planOf(&runner.StepResult{Name: "args", Kind: "command",
			Argv:        []string{`C:\Program Files\Tool\tool.exe`, "two words", "", `say "hi"`, `tail dir\`, "100%", "a^b&c", "日本語", "\x1b[31mred\t\u202e"},
			CommandLine: `"C:\Program Files\Tool\tool.exe" "two words" "" "say \"hi\"" "tail dir\\" 100% a^b&c 日本語 "` + "\x1b[31mred\t\u202e" + `"`,
		})},
		{"argv-many", planOf(&runner.StepResult{Name: "many", Kind: "command", Argv: long, CommandLine: `"a0" ` + strings.Join(long[1:], " ")})},
		{"cmd", planOf(&runner.StepResult{Name: "line", Kind: "cmd",
			CmdLine:     `echo "%PATH%" ^& 50%% & "C:\Program Files\x.exe" ^"it's \^"q\^" 100%^ ^^ é` + "\x1b[1m",
			CommandLine: `"cmd.exe" /d /s /c "echo "%PATH%" ^& 50%% & "C:\Program Files\x.exe" ^"it's \^"q\^" 100%^ ^^ é` + "\x1b[1m\"",
		})},
		{"powershell", planOf(&runner.StepResult{Name: "script", Kind: "powershell", Script: script})},
		{"powershell-one-line", planOf(&runner.StepResult{Name: "one", Kind: "powershell", Script: "Get-Service WinRM"})},
		{"ssm-sends", planOf(&runner.StepResult{Name: "who", Kind: "command", Argv: []string{"whoami"}, CommandLine: `"whoami"`,
			RemoteCommand: []string{"Doc\x1b[2J", "# fleetrun-ssm v1\n$fleetrunPayload = 'e30='\n"}})},
		{"max-fail-bounds-concurrency", &runner.Result{Playbook: "budget", Forks: 50, Batches: 2, MaxFail: 1,
			Concurrency: runner.Concurrency{Hosts: 2, LimitedBy: runner.LimitedByMaxFail},
			Hosts:       []*runner.HostResult{{Name: "a", Address: "10.0.0.1"}, {Name: "b", Address: "10.0.0.2", Batch: 1}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b strings.Builder
			if err := views.PlanText(&b, tt.plan); err != nil {
				t.Fatal(err)
			}
			if strings.ContainsAny(b.String(), "\x1b\t\u202e\r") {
				t.Errorf("the plan holds raw control characters: %q", b.String())
			}
			golden.Check(t, filepath.Join("testdata", "plan", tt.name+".txt"), []byte(b.String()))
		})
	}
}
