package ssm_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/report"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/sim"
	"github.com/fleetrun/fleetrun/transport"
	"github.com/fleetrun/fleetrun/winrm"
)

// equivalenceScenario gives the fleet hosts that fail, refuse connections
// and answer scripts from rules, so the two transports have more than
// success to agree on.
const equivalenceScenario = `
groups:
  - {name: bad, hosts: "sim-000[3-4]", tags: {role: bad}}
  - {name: down, hosts: "sim-0005", faults: {refused: true}}
defaults:
  rules:
    - {match: Get-Report, stdout: "report line 1\r\nreport line 2\r\n", stderr: "a warning\r\n", exit: 0}
    - {match: Invoke-Crash, stderr: "boom\r\n", exit: 3221225477}
`

// equivalencePlaybook uses every step kind, exact argv, NTSTATUS and
// 3010 exit codes, expected failures, outcomes and a failure that stops a
// host.
const equivalencePlaybook = `
name: equivalence
forks: 4
defaults:
  timeout: 1m
steps:
  - name: argv exactly
    command: ['C:\tools\echoargs.exe', 'two words', 'trailing\', '"quoted"', '', '%PATH% & | < > ^', '日本語']
  - name: cmd line
    cmd: echo %COMPUTERNAME%& exit /b 0
  - name: script with rules
    powershell: |
      Get-Report
  - name: reboot required
    command: ['C:\tools\exitcode.exe', '3010']
    outcomes: {3010: reboot_required}
  - name: crash is expected
    powershell: Invoke-Crash
    expect_exit: [3221225477]
  - name: bad hosts fail
    command: ['C:\tools\exitcode.exe', '{{ if eq (index .host.tags "role") "bad" }}5{{ else }}0{{ end }}']
  - name: after the failure
    powershell: Write-Output 'still here'
`

// hostView is what must be the same over both transports.
type hostView struct {
	Status string
	Steps  []stepView
}

type stepView struct {
	Name, Status, Outcome string
	ExitCode              *uint32
	ErrClass              string
	Stdout, Stderr        string
}

func views(res *runner.Result) map[string]hostView {
	out := map[string]hostView{}
	for _, h := range res.Hosts {
		v := hostView{Status: string(h.Status)}
		for _, s := range h.Steps {
			sv := stepView{Name: s.Name, Status: string(s.Status), Outcome: s.Outcome, ExitCode: s.ExitCode, Stdout: s.Stdout, Stderr: s.Stderr}
			if s.Err != nil {
				sv.ErrClass = string(s.Err.Class)
			}
			v.Steps = append(v.Steps, sv)
		}
		out[h.Name] = v
	}
	return out
}

// TestSamePlaybookSameOutcomesOverWinRMAndSSM applies one playbook to one
// simulated fleet twice, over WinRM and over SSM, and compares every
// host's status and every step's status, outcome, exit code, error class,
// stdout and stderr. Unreachable hosts are compared by status and step
// statuses (their error classes differ by nature: refused over WinRM,
// connect_timeout for an SSM agent that lost its connection).
func TestSamePlaybookSameOutcomesOverWinRMAndSSM(t *testing.T) {
	t.Parallel()
	_, hosts := startFleet(t, 6, equivalenceScenario, sim.FleetOptions{})
	pb, err := playbook.Parse("equivalence.yaml", []byte(equivalencePlaybook))
	if err != nil {
		t.Fatal(err)
	}
	noEnv := func(string) (string, bool) { return "", false }
	run := func(transportName string, d transport.Dialer) *runner.Result {
		var hs []*inventory.Host
		for _, h := range hosts {
			c := *h
			c.Transport = transportName
			hs = append(hs, &c)
		}
		res, err := runner.Run(context.Background(), pb, hs, runner.Options{
			Dialer: d,
			Target: func(ctx context.Context, h *inventory.Host) (transport.Target, error) {
				tg, err := runner.TargetOf(ctx, h, noEnv)
				tg.ConnectTimeout = 2 * time.Second
				return tg, err
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	overWinRM := run("winrm", winrm.NewDialer(winrm.Options{}))
	ssmDialer := newDialer(t, options(t))
	overSSM := run("ssm", ssmDialer)

	w, s := views(overWinRM), views(overSSM)
	for name, hv := range w {
		if hv.Status == string(runner.StatusUnreachable) {
			for i := range hv.Steps {
				hv.Steps[i].ErrClass = ""
				s[name].Steps[i].ErrClass = ""
			}
		}
	}
	if diff := cmp.Diff(w, s); diff != "" {
		t.Errorf("per-host outcomes differ (-winrm +ssm):\n%s", diff)
	}
	sum := overSSM.Summarize()
	if sum.OK != 3 || sum.Failed != 2 || sum.Unreachable != 1 {
		t.Errorf("summary over SSM %+v, want 3 ok, 2 failed, 1 unreachable", sum)
	}
	doc := report.NewDocument(overSSM)
	for _, h := range doc.Hosts {
		if h.Transport != "ssm" {
			t.Errorf("report host %s: transport %q, want ssm", h.Name, h.Transport)
		}
	}
	st := ssmDialer.Stats()
	t.Logf("SSM: %d API calls for %d hosts and %d steps (%v)", st.Total(), len(hosts), len(pb.Steps), st.Calls)
}
