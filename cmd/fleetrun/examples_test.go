package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/fleetrun/fleetrun/report"
)

// examplePackageSHA256 is the SHA-256 of examples/patches/KB5034439.msu,
// which the patch examples pin.
const examplePackageSHA256 = "e245c905a1b1ed770ca1ed73cd2e3c6959b83393db94df17be82ed885fcef4b8"

// The example fleet (examples/sim-scenario.yaml): hosts 13 to 18 are the
// "app" group, which has this month's update already.
var examplePatched = regexp.MustCompile(`^sim-001[3-8]$`)

// exampleFile is the absolute path of a file in examples/.
func exampleFile(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// examplePlaybook writes examples/name, edited, into dir, with the files
// the examples copy to hosts (examples/patches).
func examplePlaybook(t *testing.T, dir, name string, edit func(string) string) string {
	t.Helper()
	data, err := os.ReadFile(exampleFile(t, name))
	if err != nil {
		t.Fatal(err)
	}
	copyExamplePatches(t, dir)
	return writeFile(t, dir, name, edit(string(data)))
}

// copyExamplePatches copies examples/patches into dir/patches.
func copyExamplePatches(t *testing.T, dir string) {
	t.Helper()
	src := exampleFile(t, "patches")
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "patches"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "patches", e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// withoutRunAs is the monthly-patch example as it was before run_as: the
// installer runs in the WinRM shell.
func withoutRunAs(s string) string {
	return regexp.MustCompile(`(?m)^\s*run_as: system\n`).ReplaceAllString(s, "")
}

// On the example fleet the monthly patch without run_as fails where wusa
// runs, with wusa's exit 5, as Windows refuses it to a WinRM shell: class
// remote_denied and a hint naming run_as: system. As written the example
// stops at its failure budget; without the budget every host fails so.
func TestMonthlyPatchWithoutRunAsIsRefusedOnEveryHost(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	inv := exampleFile(t, "sim-inventory.yaml")
	checkRefused := func(t *testing.T, doc *report.Document) int {
		t.Helper()
		failed := 0
		for _, h := range doc.Hosts {
			if h.Status == "skipped" {
				continue
			}
			failed++
			if stage := h.Steps[0]; stage.Kind != "copy" || stage.Status != "ok" || len(stage.Files) != 1 || stage.Files[0].Path != `C:\patches\KB5034439.msu` {
				t.Errorf("%s: stage %+v; want the package copied to C:\\patches", h.Name, stage)
			}
			s := h.Steps[1]
			if h.Status != "failed" || s.ExitCode == nil || *s.ExitCode != 5 || s.Error == nil || s.Error.Class != "remote_denied" ||
				!strings.Contains(s.Error.Hint, "run_as: system") || !strings.Contains(s.Error.Message, "KB 2773898") {
				t.Errorf("%s: %s, install %+v; want failed with exit 5, remote_denied, a hint naming run_as: system", h.Name, h.Status, s)
			}
		}
		return failed
	}

	asItWas := examplePlaybook(t, dir, "monthly-patch.yaml", withoutRunAs)
	code, _, errOut := fleetrunIn(t, dir, "apply", asItWas, "-i", inv, "--report", filepath.Join(dir, "budget.json"), "--no-progress")
	if code != 3 {
		t.Fatalf("exit status %d, want 3 (the failure budget stopped the rollout)\n%s", code, errOut)
	}
	if n := checkRefused(t, readReport(t, filepath.Join(dir, "budget.json"))); n != 2 {
		t.Errorf("%d hosts ran; want the canary and one more (max_fail 5%% of 20 is 1)", n)
	}

	everyHost := writeFile(t, dir, "every-host.yaml", regexp.MustCompile(`(?m)^(serial|max_fail|preflight): .*\n`).ReplaceAllString(withoutRunAs(readText(t, exampleFile(t, "monthly-patch.yaml"))), ""))
	code, _, errOut = fleetrunIn(t, dir, "apply", everyHost, "-i", inv, "--report", filepath.Join(dir, "all.json"), "--no-progress")
	if code != 2 {
		t.Fatalf("exit status %d, want 2\n%s", code, errOut)
	}
	if n := checkRefused(t, readReport(t, filepath.Join(dir, "all.json"))); n != 20 {
		t.Errorf("%d hosts ran, want all 20", n)
	}
}

func readText(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// The example patch rollouts succeed on the example fleet: the update is
// installed where it was missing (3010), the host restarted and the update
// verified; hosts that had it say so (2359302 from wusa, 0 from DISM).
func TestPatchExamplesSucceedOnTheExampleFleet(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		playbook     string
		installStep  int
		patchedExit  uint32
		wantStepKind string
	}{
		{"monthly-patch.yaml", 1, 2359302, "command"},
		{"monthly-patch-dism.yaml", 2, 0, "powershell"},
	} {
		t.Run(tc.playbook, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			out := filepath.Join(dir, "report.json")
			code, _, errOut := fleetrunIn(t, dir, "apply", exampleFile(t, tc.playbook), "-i", exampleFile(t, "sim-inventory.yaml"), "--report", out, "--no-progress")
			if code != 0 {
				t.Fatalf("exit status %d, want 0\n%s", code, errOut)
			}
			doc := readReport(t, out)
			if doc.Summary.OK != 20 {
				t.Fatalf("summary %+v, want 20 hosts ok", doc.Summary)
			}
			for _, h := range doc.Hosts {
				// Each host received the package (the example fleet has
				// none) before installing it.
				stage := h.Steps[0]
				if stage.Kind != "copy" || stage.Status != "ok" || len(stage.Files) != 1 || stage.Files[0].Sent != stage.Files[0].Size || stage.Files[0].SHA256 != examplePackageSHA256 {
					t.Errorf("%s: stage %+v; want the package sent whole", h.Name, stage)
				}
				install := h.Steps[tc.installStep]
				wantExit, wantReboot := uint32(3010), true
				if examplePatched.MatchString(h.Name) {
					wantExit, wantReboot = tc.patchedExit, false
				}
				if install.Kind != tc.wantStepKind || install.ExitCode == nil || *install.ExitCode != wantExit || install.Rebooted != wantReboot {
					t.Errorf("%s: install %s exit %v rebooted %v; want %s exit %d rebooted %v", h.Name, install.Kind, install.ExitCode, install.Rebooted, tc.wantStepKind, wantExit, wantReboot)
				}
				verify := h.Steps[tc.installStep+1]
				if verify.Stdout != "KB5034439 installed\r\n" {
					t.Errorf("%s: verify printed %q", h.Name, verify.Stdout)
				}
			}
		})
	}
}

// Every other example playbook runs cleanly on the example fleet: every
// step of every selected host ends ok.
func TestOtherExamplesSucceedOnTheExampleFleet(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		playbook string
		hosts    int
	}{
		{"batch-exit.yaml", 20},
		{"java-classpath.yaml", 8},
		{"preflight-check.yaml", 20},
	} {
		t.Run(tc.playbook, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			out := filepath.Join(dir, "report.json")
			code, _, errOut := fleetrunIn(t, dir, "apply", exampleFile(t, tc.playbook), "-i", exampleFile(t, "sim-inventory.yaml"), "--report", out, "--no-progress")
			if code != 0 {
				t.Fatalf("exit status %d, want 0\n%s", code, errOut)
			}
			doc := readReport(t, out)
			if doc.Summary.OK != tc.hosts || doc.Summary.Hosts != tc.hosts {
				t.Fatalf("summary %+v, want %d hosts ok", doc.Summary, tc.hosts)
			}
			for _, h := range doc.Hosts {
				for _, s := range h.Steps {
					if s.Status != "ok" || s.Error != nil {
						t.Errorf("%s: step %q %s %+v", h.Name, s.Name, s.Status, s.Error)
					}
				}
			}
		})
	}
}
