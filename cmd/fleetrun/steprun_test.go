package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/report"
	"github.com/fleetrun/fleetrun/runner"
)

// stepRunCases are combinations of steps run both ways, each step alone
// (--no-step-runs) and in step runs, whose JSON reports must agree field by
// field, timings aside. Each playbook runs on three simulated hosts, one of
// them Japanese (code page 932).
var stepRunCases = []struct{ name, steps string }{
	{"three kinds", `
  - {name: argv, command: ['C:\tools\echoargs.exe', "two words", 'tail\']}
  - {name: cmd, cmd: echo hello from cmd}
  - {name: ps, powershell: "Write-Output 'hello from powershell'"}`},
	{"a failure mid-run stops the host", `
  - {name: one, cmd: echo one}
  - {name: fails, command: ['C:\tools\exitcode.exe', '5']}
  - {name: never, cmd: echo never}`},
	{"a failure in the first step", `
  - {name: fails, command: ['C:\tools\exitcode.exe', '7']}
  - {name: never, cmd: echo never}`},
	{"a failure in the last step", `
  - {name: one, cmd: echo one}
  - {name: fails, powershell: "exit 9"}`},
	{"continue_on_error goes on", `
  - {name: fails, command: ['C:\tools\exitcode.exe', '5'], continue_on_error: true}
  - {name: after, cmd: echo after}`},
	{"continue_on_error on every step", `
  - {name: a, command: ['C:\tools\exitcode.exe', '1'], continue_on_error: true}
  - {name: b, powershell: "throw 'boom'", continue_on_error: true}
  - {name: c, cmd: exit /b 4, continue_on_error: true}`},
	{"expect_exit lists other codes", `
  - {name: three, command: ['C:\tools\exitcode.exe', '3'], expect_exit: [0, 3]}
  - {name: zero fails, cmd: echo hi, expect_exit: [1]}`},
	{"outcomes without reboots", `
  - {name: needs reboot, command: ['C:\tools\exitcode.exe', '3010'], outcomes: {3010: reboot_required}}
  - {name: next, cmd: echo next}`},
	{"retries that never succeed", `
  - {name: busy, command: ['C:\tools\exitcode.exe', '1618'], retry_on_exit: [1618], retries: 2, retry_delay: 10ms}
  - {name: never, cmd: echo never}`},
	{"a retry outcome", `
  - {name: busy, command: ['C:\tools\exitcode.exe', '1618'], outcomes: {1618: retry}, retries: 1, retry_delay: 10ms, continue_on_error: true}
  - {name: after, cmd: echo after}`},
	{"a retry that succeeds", `
  - {name: second time lucky, powershell: "if (Test-Path 'C:\\flag.txt') { 'second'; exit 0 }; Set-Content -Path 'C:\\flag.txt' -Value 1; 'first'; exit 1618", retry_on_exit: [1618], retries: 2, retry_delay: 10ms}
  - {name: after, cmd: echo after}`},
	{"codes not worth a retry", `
  - {name: fails, command: ['C:\tools\exitcode.exe', '2'], retry_on_exit: [1618], retries: 3, retry_delay: 10ms}`},
	{"a timeout mid-run", `
  - {name: one, cmd: echo one}
  - {name: slow, command: ['C:\tools\sleep.exe', '30', 'late'], timeout: 1s}
  - {name: never, cmd: echo never}`},
	{"a timeout let go", `
  - {name: slow, command: ['C:\tools\sleep.exe', '30', 'late'], timeout: 1s, continue_on_error: true}
  - {name: after, cmd: echo after}`},
	{"a step inside its timeout", `
  - {name: quick, command: ['C:\tools\sleep.exe', '0', 'done'], timeout: 30s}
  - {name: after, cmd: echo after}`},
	{"argv with awkward bytes", `
  - {name: awkward, command: ['C:\tools\echoargs.exe', '', ' ', 'a"b', 'trailing\\', '%PATH%', '^&|<>', '日本語', "it's"]}
  - {name: after, command: ['C:\tools\echoargs.exe', '"', '\"', '\\\\"']}`},
	{"a missing program", `
  - {name: missing, command: ['C:\tools\nothere.exe', 'x']}
  - {name: never, cmd: echo never}`},
	{"a missing program let go", `
  - {name: missing, command: ['C:\tools\nothere.exe'], continue_on_error: true}
  - {name: after, powershell: "Write-Output after"}`},
	{"cp932 output", `
  - {name: echo, cmd: echo 日本語}
  - {name: legacy, command: ['C:\tools\legacymsg.exe', '日本語のメッセージ']}
  - {name: ps, powershell: "Write-Output '日本語'"}
  - {name: as utf-8, command: ['C:\tools\legacymsg.exe', '日本語'], output_encoding: utf-8}
  - {name: as cp932, command: ['C:\tools\legacymsg.exe', '日本語'], output_encoding: cp932}`},
	{"stderr and stdout", `
  - {name: both, cmd: echo out & echo err 1>&2}
  - {name: ps error, powershell: "Write-Error 'not fatal'; 'still here'"}`},
	{"env per step", `
  - {name: with env, cmd: echo %FLEETRUN_A%, env: {FLEETRUN_A: first}}
  - {name: without, cmd: "echo [%FLEETRUN_A%]"}
  - {name: ps env, powershell: "Write-Output $env:FLEETRUN_B", env: {FLEETRUN_B: second}}
  - {name: ps without, powershell: "Write-Output \"[$env:FLEETRUN_B]\""}`},
	{"workdir per step", `
  - {name: in windows, cmd: cd, workdir: 'C:\Windows'}
  - {name: default, cmd: cd}
  - {name: ps in temp, powershell: "(Get-Location).Path", workdir: 'C:\Windows\Temp'}`},
	{"powershell exit codes", `
  - {name: exit 3, powershell: "exit 3", expect_exit: [3]}
  - {name: native last, powershell: "& 'C:\\tools\\exitcode.exe' 4", expect_exit: [4]}
  - {name: throw, powershell: "throw 'bad'", expect_exit: [1]}
  - {name: done, powershell: "'done'"}`},
	{"a large NTSTATUS code", `
  - {name: crash, command: ['C:\tools\exitcode.exe', '3221225477'], expect_exit: [3221225477]}
  - {name: after, cmd: echo after}`},
	{"a reboot splits the steps", `
  - {name: before, cmd: echo before}
  - {name: restart, reboot: {timeout: 5m}}
  - {name: after, cmd: echo after}
  - {name: last, cmd: echo last}`},
	{"run_as system splits the steps", `
  - {name: before, cmd: echo before}
  - {name: as system, cmd: echo system, run_as: system}
  - {name: after, cmd: echo after}
  - {name: last, cmd: echo last}`},
	{"a copy splits the steps", `
  - {name: before, cmd: echo before}
  - {name: stage, copy: {src: payload.txt, dest: 'C:\stage\payload.txt'}}
  - {name: after, powershell: "Get-Content 'C:\\stage\\payload.txt'"}
  - {name: last, cmd: echo last}`},
	{"a large script", `
  - {name: big, powershell: "` + strings.Repeat("$x = 1; ", 1500) + `'big done'"}
  - {name: after, cmd: echo after}`},
	{"output beyond the cap", `
  - {name: chatty, powershell: "'x' * 100000"}
  - {name: after, cmd: echo after}`},
	{"many small steps", `
  - {name: s1, cmd: echo 1}
  - {name: s2, cmd: echo 2}
  - {name: s3, cmd: echo 3}
  - {name: s4, cmd: echo 4}
  - {name: s5, powershell: "5"}
  - {name: s6, command: ['C:\tools\echoargs.exe', '6']}
  - {name: s7, cmd: echo 7}
  - {name: s8, powershell: "8"}`},
}

// TestStepRunsChangeNoResult runs every example playbook and every case of
// stepRunCases twice on the same kind of simulated fleet, each step alone
// and in step runs, and compares the JSON reports field by field with the
// timings left out.
func TestStepRunsChangeNoResult(t *testing.T) {
	t.Parallel()
	if len(stepRunCases) < 30 {
		t.Fatalf("%d cases, want at least 30", len(stepRunCases))
	}
	type run struct{ name, playbook, inventory string }
	var runs []run
	for _, name := range []string{"monthly-patch.yaml", "monthly-patch-dism.yaml", "batch-exit.yaml", "java-classpath.yaml", "preflight-check.yaml"} {
		runs = append(runs, run{"example " + name, name, ""})
	}
	for _, tc := range stepRunCases {
		runs = append(runs, run{tc.name, "", tc.steps})
	}
	for _, rc := range runs {
		t.Run(rc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			var pb, inv string
			if rc.playbook != "" {
				pb, inv = examplePlaybook(t, dir, rc.playbook, func(s string) string { return s }), exampleFile(t, "sim-inventory.yaml")
			} else {
				writeFile(t, dir, "payload.txt", "staged bytes\r\n")
				writeFile(t, dir, "scenario.yaml", "groups:\n  - {name: japanese, hosts: sim-0003, output_encoding: cp932}\n")
				inv = writeFile(t, dir, "inv.yaml", "simulated:\n  hosts: 3\n  scenario: scenario.yaml\n")
				pb = writeFile(t, dir, "pb.yaml", "name: step runs\nsteps:"+rc.inventory+"\n")
			}
			reports := make([]map[string]any, 2)
			codes := make([]int, 2)
			for i, extra := range [][]string{{"--no-step-runs"}, nil} {
				out := filepath.Join(dir, fmt.Sprintf("report-%d.json", i))
				args := append([]string{"apply", pb, "-i", inv, "--report", out, "--no-progress", "--journal", filepath.Join(dir, fmt.Sprintf("j-%d.journal", i))}, extra...)
				code, _, errOut := fleetrunIn(t, dir, args...)
				if code != 0 && code != 2 && code != 3 {
					t.Fatalf("fleetrun %s: exit status %d\n%s", strings.Join(args, " "), code, errOut)
				}
				codes[i] = code
				reports[i] = timingless(t, out)
			}
			if codes[0] != codes[1] {
				t.Errorf("exit status %d alone, %d in step runs", codes[0], codes[1])
			}
			if diff := cmp.Diff(reports[0], reports[1]); diff != "" {
				t.Errorf("reports differ (-alone +step runs):\n%s", diff)
			}
		})
	}
}

// timingless reads a JSON report with every timing field removed.
func timingless(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var strip func(v any)
	strip = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			// A task's name is random in every run.
			for _, k := range []string{"started_at", "finished_at", "duration_ms", "task"} {
				delete(v, k)
			}
			for _, x := range v {
				strip(x)
			}
		case []any:
			for _, x := range v {
				strip(x)
			}
		}
	}
	strip(doc)
	return doc
}

// fleetrun apply sends a host's consecutive steps in one launch, and
// --no-step-runs one by one: the simulated hosts count the Commands.
func TestApplySendsStepRunsUnlessTold(t *testing.T) {
	t.Parallel()
	inv, fleet := simInventory(t, 4)
	dir := t.TempDir()
	pb := writeFile(t, dir, "pb.yaml", "name: three\nsteps:"+stepRunCases[0].steps+"\n")
	for _, tc := range []struct {
		args                     []string
		commands, runs, runSteps int64
	}{
		{[]string{"--no-step-runs"}, 12, 0, 0},
		{nil, 4, 4, 12},
	} {
		before := fleet.Stats().Totals
		args := append([]string{"apply", pb, "-i", inv, "--no-progress", "--journal", filepath.Join(dir, "j.journal")}, tc.args...)
		if code, _, errOut := fleetrunIn(t, dir, args...); code != 0 {
			t.Fatalf("fleetrun %s: exit status %d\n%s", strings.Join(args, " "), code, errOut)
		}
		after := fleet.Stats().Totals
		if got := []int64{after.Commands - before.Commands, after.StepRuns - before.StepRuns, after.RunSteps - before.RunSteps}; !cmp.Equal(got, []int64{tc.commands, tc.runs, tc.runSteps}) {
			t.Errorf("%v: Commands, step runs, steps in runs = %v; want %d, %d, %d", tc.args, got, tc.commands, tc.runs, tc.runSteps)
		}
		if err := os.Remove(filepath.Join(dir, "j.journal")); err != nil {
			t.Fatal(err)
		}
	}
}

const resumablePlaybook = `
name: resumable
forks: 3
steps:
  - {name: one, cmd: echo one}
  - {name: two, command: ['C:\tools\echoargs.exe', 'two']}
  - {name: wait, command: ['C:\tools\sleep.exe', '{{ index .vars "secs" }}', 'done']}
  - {name: four, powershell: "'four'"}
`

// A step run stopped by a second interrupt mid-way is recorded step by
// step: --resume starts each host at the step after the last one that
// finished, and the steps before it do not run again.
func TestAnInterruptedStepRunResumesAfterItsLastFinishedStep(t *testing.T) {
	t.Parallel()
	inv, fleet := simInventory(t, 3)
	dir := t.TempDir()
	pb := writeFile(t, dir, "pb.yaml", resumablePlaybook)
	journal := filepath.Join(dir, "run.journal")
	first := filepath.Join(dir, "first.json")
	cmd, started, stderr, done := startApply(t, "apply", pb, "-i", inv, "--journal", journal, "--report", first, "-e", "secs=600", "--no-progress")
	waitStarted(t, started, 3)
	// The hosts running sleep.exe is not enough: a host's frames for steps
	// one and two may still be on their way, and a step the controller has
	// not seen finish is rightly run again on resume. Wait for the journal
	// to hold step two (index 1) of every host, then for the sleeps.
	waitFor(t, func() bool {
		prog, err := runner.ReadJournal(journal)
		if err != nil {
			return false // not written yet
		}
		for _, h := range []string{"sim-0001", "sim-0002", "sim-0003"} {
			if hp := prog.Hosts[h]; hp == nil || !hp.Done[1] {
				return false
			}
		}
		return true
	})
	waitFor(t, func() bool { return fleet.Stats().Totals.Programs["sleep.exe"] >= 3 })
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	waitStarted(t, started, 1) // "interrupted": a second SIGINT is not lost
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	<-done
	if code := exitCode(cmd.Wait()); code != 3 {
		t.Fatalf("exit status %d, want 3\n%s", code, stderr)
	}
	statusesOf := func(doc *report.Document) []string {
		var out []string
		for _, h := range doc.Hosts {
			s := h.Name + ":"
			for _, st := range h.Steps {
				s += " " + st.Status
				if st.Reason == runner.ReasonDoneEarlier {
					s += "(earlier)"
				}
			}
			out = append(out, s)
		}
		return out
	}
	want := []string{"sim-0001: ok ok failed skipped", "sim-0002: ok ok failed skipped", "sim-0003: ok ok failed skipped"}
	if got := statusesOf(readReport(t, first)); !cmp.Equal(got, want) {
		t.Errorf("interrupted run: %q, want %q", got, want)
	}
	echoes := fleet.Stats().Totals.Programs["echoargs.exe"]
	second := filepath.Join(dir, "second.json")
	if code, _, errOut := fleetrunIn(t, dir, "apply", pb, "-i", inv, "--resume", journal, "--report", second, "-e", "secs=0", "--no-progress"); code != 0 {
		t.Fatalf("resume: exit status %d\n%s", code, errOut)
	}
	want = []string{"sim-0001: ok(earlier) ok(earlier) ok ok", "sim-0002: ok(earlier) ok(earlier) ok ok", "sim-0003: ok(earlier) ok(earlier) ok ok"}
	if got := statusesOf(readReport(t, second)); !cmp.Equal(got, want) {
		t.Errorf("resumed run: %q, want %q", got, want)
	}
	if again := fleet.Stats().Totals.Programs["echoargs.exe"] - echoes; again != 0 {
		t.Errorf("step two ran %d more times on resume, want none", again)
	}
}
