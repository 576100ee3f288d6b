package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/winquote"
)

// Workload is one kind of work the benchmark runs: a playbook in
// bench/workloads and how many hosts it selects.
type Workload struct {
	// Name is the playbook's file name without ".yaml".
	Name string
	// Detail says what the steps do, for the report's titles.
	Detail string
	// Hosts is how many of the fleet's hosts the playbook selects.
	Hosts int
	// Steps is the number of steps in the playbook.
	Steps int
	// PowerShell is how many of the steps are powershell steps (each
	// starts a powershell.exe of its own inside a step run).
	PowerShell int
	// StdoutPerStep is roughly how many bytes each step prints.
	StdoutPerStep int
}

// The workloads of the issue: small steps of every kind on 1,000 hosts, a
// megabyte of output per host, and many steps per shell; and the main
// playbook again on a fleet of 10,000 hosts (it selects every host).
var (
	ThreeSteps  = Workload{Name: "three-steps", Detail: "argv, cmd, powershell; small output", Hosts: 1000, Steps: 3, PowerShell: 1, StdoutPerStep: 60}
	Megabyte    = Workload{Name: "megabyte", Detail: "1 MB of output", Hosts: 1000, Steps: 1, PowerShell: 1, StdoutPerStep: MegabyteBytes}
	TwentySteps = Workload{Name: "twenty-steps", Detail: "small output, one shell per host", Hosts: 200, Steps: 20, PowerShell: 6, StdoutPerStep: 60}
	TenThousand = Workload{Name: "three-steps", Detail: "argv, cmd, powershell; small output", Hosts: 10000, Steps: 3, PowerShell: 1, StdoutPerStep: 60}
)

// Grouping is how the workload's steps go to a host when steps may run
// together: every bench workload's steps are argv, cmd and powershell
// steps with no reboot and no run_as, so two or more of them are one step
// run and a single step goes alone (design.md, "Step runs").
func (w Workload) Grouping() Grouping {
	if w.Steps < 2 {
		return Grouping{Alone: w.Steps}
	}
	return Grouping{Runs: 1, PowerShellInRuns: w.PowerShell}
}

// SmallOutput says the workload's steps print little, so its costs are
// per request rather than per byte.
func (w Workload) SmallOutput() bool { return w.StdoutPerStep < 100<<10 }

// Title says what the work is: "1,000 hosts × 3 steps (...)".
func (w Workload) Title() string {
	steps := "steps"
	if w.Steps == 1 {
		steps = "step"
	}
	return fmt.Sprintf("%s hosts × %d %s (%s)", thousands(w.Hosts), w.Steps, steps, w.Detail)
}

// thousands writes n with commas between groups of three digits.
func thousands(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// Playbook is the workload's playbook file in dir.
func (w Workload) Playbook(dir string) string { return filepath.Join(dir, w.Name+".yaml") }

// PeerStep is one step as the pywinrm peer runs it (see peer_pywinrm.py).
type PeerStep struct {
	Kind      string   `json:"kind"` // "cmd" (Session.run_cmd) or "ps" (run_ps)
	Command   string   `json:"command,omitempty"`
	Args      []string `json:"args,omitempty"`
	Script    string   `json:"script,omitempty"`
	MinStdout int      `json:"min_stdout"` // the step fails with less output
}

// PeerSteps translates a workload's playbook into the peer's steps: an
// argv step becomes run_cmd(program, arguments quoted with the C runtime's
// rules, since WinRS joins them with spaces), a cmd step run_cmd(line), a
// powershell step run_ps(script). Templates are not supported.
func PeerSteps(pb *playbook.Playbook, minStdout int) ([]PeerStep, error) {
	var out []PeerStep
	for _, s := range pb.Steps {
		if strings.Contains(s.Script+s.Line+strings.Join(s.Argv, ""), "{{") {
			return nil, fmt.Errorf("%s: step %q: the peer cannot expand templates", pb.File, s.Name)
		}
		switch s.Kind {
		case playbook.KindCommand:
			args := make([]string, len(s.Argv)-1)
			for i, a := range s.Argv[1:] {
				args[i] = winquote.QuoteArg(a)
			}
			out = append(out, PeerStep{Kind: "cmd", Command: s.Argv[0], Args: args, MinStdout: minStdout})
		case playbook.KindCmd:
			out = append(out, PeerStep{Kind: "cmd", Command: s.Line, MinStdout: minStdout})
		case playbook.KindPowerShell:
			out = append(out, PeerStep{Kind: "ps", Script: s.Script, MinStdout: minStdout})
		default:
			return nil, fmt.Errorf("%s: step %q: the peer cannot run %s steps", pb.File, s.Name, s.Kind)
		}
	}
	return out, nil
}

// MegabyteBytes is the size of the megabyte workload's output: 13,108
// lines of 78 characters and CRLF.
const MegabyteBytes = megabyteLines * 80

const megabyteLines = 13108

// megabyteMatch is the script the scenario answers with a megabyte.
const megabyteMatch = "Write-BenchMegabyte"

// WriteScenario writes the benchmark's scenario file: the fleet's
// defaults plus a PowerShell rule answering Write-BenchMegabyte with
// MegabyteBytes of stdout.
func WriteScenario(path string) error {
	var b strings.Builder
	b.Grow(MegabyteBytes*2 + 512)
	b.WriteString("# Written by the fleetrun benchmark (bench/workload.go).\n")
	b.WriteString("defaults:\n  rules:\n    - match: " + megabyteMatch + "\n      stdout: \"")
	const text = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 fleetrun bench"
	for i := range megabyteLines {
		line := fmt.Sprintf("%06d %s", i, text)
		b.WriteString(line[:78])
		b.WriteString(`\r\n`)
	}
	b.WriteString("\"\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write scenario: %w", err)
	}
	return nil
}
