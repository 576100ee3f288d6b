package bench

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/sim"
)

func TestWorkloadPlaybooksMatchTheirDescriptions(t *testing.T) {
	t.Parallel()
	// The benchmark's fleets: 1,000 and 10,000 hosts named as the sim
	// names them.
	fleet := func(n int) *inventory.Inventory {
		inv := &inventory.Inventory{}
		for i := 1; i <= n; i++ {
			inv.Hosts = append(inv.Hosts, &inventory.Host{Name: fmt.Sprintf("sim-%04d", i), Address: "127.0.0.1"})
		}
		return inv
	}
	small, large := fleet(1000), fleet(10000)
	for _, w := range []Workload{ThreeSteps, Megabyte, TwentySteps, TenThousand} {
		t.Run(fmt.Sprintf("%s on %d hosts", w.Name, w.Hosts), func(t *testing.T) {
			t.Parallel()
			pb, err := playbook.Load(w.Playbook("workloads"))
			if err != nil {
				t.Fatal(err)
			}
			if len(pb.Steps) != w.Steps {
				t.Errorf("%d steps, the workload says %d", len(pb.Steps), w.Steps)
			}
			inv := small
			if w.Hosts > 1000 {
				inv = large
			}
			if got := len(inv.Select(pb.Hosts)); got != w.Hosts {
				t.Errorf("the playbook selects %d of the fleet's hosts, the workload says %d", got, w.Hosts)
			}
			// Every step may go in a step run (argv, cmd or powershell,
			// no reboot, no run_as), so the workload's grouping holds.
			powershell := 0
			for _, s := range pb.Steps {
				if s.Kind != playbook.KindCommand && s.Kind != playbook.KindCmd && s.Kind != playbook.KindPowerShell || s.Reboot != nil || s.RunAs != "" {
					t.Errorf("step %q (%s) cannot go in a step run", s.Name, s.Kind)
				}
				if s.Kind == playbook.KindPowerShell {
					powershell++
				}
			}
			if powershell != w.PowerShell {
				t.Errorf("%d powershell steps, the workload says %d", powershell, w.PowerShell)
			}
		})
	}
}

func TestWorkloadGroupingIsOneRunOfEveryStep(t *testing.T) {
	t.Parallel()
	tests := []struct {
		w    Workload
		want Grouping
	}{
		{ThreeSteps, Grouping{Runs: 1, PowerShellInRuns: 1}},
		{TwentySteps, Grouping{Runs: 1, PowerShellInRuns: 6}},
		{TenThousand, Grouping{Runs: 1, PowerShellInRuns: 1}},
		{Megabyte, Grouping{Alone: 1}},
	}
	for _, tt := range tests {
		if got := tt.w.Grouping(); got != tt.want {
			t.Errorf("%s on %d hosts: %+v, want %+v", tt.w.Name, tt.w.Hosts, got, tt.want)
		}
	}
}

func TestPeerStepsRunWhatThePlaybookRuns(t *testing.T) {
	t.Parallel()
	pb, err := playbook.Load(ThreeSteps.Playbook("workloads"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := PeerSteps(pb, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []PeerStep{
		// WinRS joins Command and Arguments with spaces: arguments carry
		// their C-runtime quoting.
		{Kind: "cmd", Command: `C:\tools\echoargs.exe`, Args: []string{"hello", `"two words"`}, MinStdout: 1},
		{Kind: "cmd", Command: "echo hello from cmd", MinStdout: 1},
		{Kind: "ps", Script: "Write-Output 'hello from powershell'", MinStdout: 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("peer steps (-want +got):\n%s", diff)
	}
}

func TestPeerStepsRefuseTemplatesAndReboots(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{
		"name: t\nsteps:\n  - name: a\n    cmd: echo {{ .host.name }}\n",
		"name: t\nsteps:\n  - name: a\n    reboot: {timeout: 5m}\n",
	} {
		pb, err := playbook.Parse("t.yaml", []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := PeerSteps(pb, 1); err == nil {
			t.Errorf("PeerSteps accepted %q", doc)
		}
	}
}

func TestTheScenarioAnswersWithAMegabyte(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "scenario.yaml")
	if err := WriteScenario(path); err != nil {
		t.Fatal(err)
	}
	sc, err := sim.LoadScenario(path)
	if err != nil {
		t.Fatal(err)
	}
	rules := sc.Defaults.Rules
	if len(rules) != 1 || len(rules[0].Stdout) != MegabyteBytes || !strings.HasSuffix(rules[0].Stdout, "\r\n") {
		t.Fatalf("rules %d, stdout of %d bytes; want one rule with %d bytes of CRLF lines", len(rules), len(rules[0].Stdout), MegabyteBytes)
	}
	pb, err := playbook.Load(Megabyte.Playbook("workloads"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(pb.Steps[0].Script, rules[0].Contains) {
		t.Errorf("the megabyte step %q does not match the rule %q", pb.Steps[0].Script, rules[0].Contains)
	}
}
