package preflight_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/fleetrun/fleetrun/internal/fleettest"
	"github.com/fleetrun/fleetrun/internal/pscheck"
	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/preflight"
	"github.com/fleetrun/fleetrun/sim"
	"github.com/fleetrun/fleetrun/transport"
	"github.com/fleetrun/fleetrun/winrm"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const scenario = `
defaults:
  profile: "2019"
groups:
  - name: old
    count: 2
    profile: 2008r2
    preflight:
      powershell_version: "5.1.14409.1005"
  - name: new
    count: 2
  - name: down
    count: 1
    faults: {refused: true}
  - name: badpw
    count: 1
    password: not-the-fleet-password
  - name: small-disk
    count: 1
    preflight:
      disk_free_bytes: 1073741824
      execution_policy_32: Restricted
  - name: renamed
    count: 1
    https: true
    tls_name: web-99.corp.example
`

// startFleet starts a simulated fleet and returns its hosts as fleetrun's
// inventory sees them.
func startFleet(t *testing.T, scenarioText string, n int) ([]*inventory.Host, *sim.Fleet) {
	t.Helper()
	f := fleettest.Start(t, n, scenarioText, sim.FleetOptions{})
	return f.Hosts, f.Fleet
}

func target(ctx context.Context, h *inventory.Host) (transport.Target, error) {
	tg, err := fleettest.Target(ctx, h)
	tg.ConnectTimeout = 5 * time.Second
	return tg, err
}

type verdict struct {
	Host   string
	Passed bool
	Failed string // first failed check
	Class  transport.Class
}

func verdicts(results []*preflight.HostResult) []verdict {
	var out []verdict
	for _, r := range results {
		v := verdict{Host: r.Host.Name, Passed: r.Passed()}
		if f := r.FirstFailure(); f != nil {
			v.Failed, v.Class = f.Name, f.Class
		}
		out = append(out, v)
	}
	return out
}

func TestPreflightVerdictsAndMemoryCapFix(t *testing.T) {
	t.Parallel()
	hosts, fleet := startFleet(t, scenario, 8)
	req := preflight.Requirements{MemoryPerShellMB: 1024, DiskFreeGB: 5, PowerShell: "5.1"}
	ctx := context.Background()
	results := preflight.Run(ctx, hosts, preflight.Options{Target: target, Requirements: req, Forks: 4})
	want := []verdict{
		{"sim-0001", false, "requirements: memory per shell", transport.ClassMemoryCap},
		{"sim-0002", false, "requirements: memory per shell", transport.ClassMemoryCap},
		{"sim-0003", true, "", ""},
		{"sim-0004", true, "", ""},
		{"sim-0005", false, preflight.CheckReach, transport.ClassRefused},
		{"sim-0006", false, preflight.CheckAuth, transport.ClassAuth},
		{"sim-0007", false, "requirements: disk free", transport.ClassInternal},
		{"sim-0008", false, preflight.CheckTLS, transport.ClassTLS},
	}
	if diff := cmp.Diff(want, verdicts(results)); diff != "" {
		t.Fatalf("verdicts (-want +got):\n%s", diff)
	}
	old := results[0]
	f := old.FirstFailure()
	if !strings.Contains(f.Detail, "MaxMemoryPerShellMB is 150; the playbook needs 1024") {
		t.Errorf("detail %q", f.Detail)
	}
	wantFix := `from an elevated cmd.exe: winrm set winrm/config/winrs @{MaxMemoryPerShellMB="1024"} — from PowerShell: winrm set winrm/config/winrs '@{MaxMemoryPerShellMB="1024"}'`
	if !strings.HasPrefix(f.Fix, wantFix) {
		t.Errorf("fix %q\nwant prefix %q", f.Fix, wantFix)
	}
	if c := old.Facts.Config; c == nil || c.Winrs.MaxMemoryPerShellMB != 150 || c.Winrs.MaxShellsPerUser != 5 {
		t.Errorf("2008 R2 config %+v", c)
	}
	if o := old.Facts.OS; o == nil || !strings.Contains(o.Caption, "2008 R2") {
		t.Errorf("2008 R2 OS %+v", o)
	}
	if ps := results[6].Facts.PowerShell; ps == nil || ps.ExecutionPolicy32 != "Restricted" {
		t.Errorf("powershell facts %+v", ps)
	}
	if w := checkNamed(results[6], preflight.CheckPowerShell); w.Status != preflight.Warn || !strings.Contains(w.Fix, `SysWOW64\WindowsPowerShell\v1.0\powershell.exe -Command "Set-ExecutionPolicy RemoteSigned -Force"`) {
		t.Errorf("32-bit policy warning: %+v", w)
	}
	if c := checkNamed(results[7], preflight.CheckTLS); c.Detail != "the certificate is for web-99.corp.example, not 127.0.0.1: connect by a name the certificate lists, or reissue it with this name" {
		t.Errorf("TLS detail %q", c.Detail)
	}
	if a := checkNamed(results[5], preflight.CheckAuth); !strings.HasPrefix(a.Detail, `offers Negotiate; ntlm login as "fleetrun" failed: `) {
		t.Errorf("auth detail %q", a.Detail)
	}

	// The memory-hungry program fails on a 2008 R2 host before the fix...
	java := transport.Command{Kind: transport.KindArgv, Argv: []string{"java", "-Xmx512m", "-jar", `C:\tools\app.jar`}}
	if code := runOn(t, hosts[0], java); code != 1 {
		t.Fatalf("java before the fix exited %d, want 1", code)
	}
	// ...--fix-memory-cap raises the cap, and the host passes on re-check...
	fixed := preflight.Run(ctx, hosts[:4], preflight.Options{Target: target, Requirements: req, FixMemoryCap: 1024})
	want = []verdict{{"sim-0001", true, "", ""}, {"sim-0002", true, "", ""}, {"sim-0003", true, "", ""}, {"sim-0004", true, "", ""}}
	if diff := cmp.Diff(want, verdicts(fixed)); diff != "" {
		t.Fatalf("after --fix-memory-cap (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"MaxMemoryPerShellMB 150 -> 1024"}, fixed[0].Changes); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	if len(fixed[2].Changes) != 0 {
		t.Errorf("a 2019 host with 1024 MB was changed: %v", fixed[2].Changes)
	}
	// ...and the same program now succeeds.
	if code := runOn(t, hosts[0], java); code != 0 {
		t.Errorf("java after the fix exited %d, want 0", code)
	}
	if q := fleet.Host("sim-0001").Quotas(); q.MaxMemoryPerShellMB != 1024 {
		t.Errorf("sim host quota %d", q.MaxMemoryPerShellMB)
	}
	// A cap is never lowered.
	again := preflight.Run(ctx, hosts[2:3], preflight.Options{Target: target, FixMemoryCap: 512})
	if len(again[0].Changes) != 0 || fleet.Host("sim-0003").Quotas().MaxMemoryPerShellMB != 1024 {
		t.Errorf("cap lowered: %v", again[0].Changes)
	}
}

func checkNamed(r *preflight.HostResult, name string) preflight.Check {
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	return preflight.Check{}
}

func runOn(t *testing.T, h *inventory.Host, cmd transport.Command) uint32 {
	t.Helper()
	tg, err := target(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := winrm.Open(ctx, tg, winrm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close(ctx) }()
	res, err := s.Run(ctx, cmd)
	if err != nil {
		t.Fatal(err)
	}
	return res.ExitCode
}

func TestParseWinrsListing(t *testing.T) {
	t.Parallel()
	out := "Winrs\r\n    AllowRemoteShellAccess = true\r\n    IdleTimeout = 180000\r\n    MaxConcurrentUsers = 5\r\n    MaxShellRunTime = 2147483647\r\n    MaxProcessesPerShell = 15\r\n    MaxMemoryPerShellMB = 150 [Source=\"GPO\"]\r\n    MaxShellsPerUser = 5\r\n\r\n"
	cfg, err := preflight.ParseWinrsListing(out)
	if err != nil {
		t.Fatal(err)
	}
	want := winrm.WinrsConfig{AllowRemoteShellAccess: true, IdleTimeoutMS: 180000, MaxConcurrentUsers: 5, MaxShellRunTimeMS: 2147483647, MaxProcessesPerShell: 15, MaxMemoryPerShellMB: 150, MaxShellsPerUser: 5}
	if diff := cmp.Diff(want, cfg.Winrs); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := preflight.ParseWinrsListing("Access is denied.\r\n"); err == nil {
		t.Error("garbage parsed")
	}
}

// TestScriptSyntax checks the PowerShell text of the PowerShell check with
// the tree-sitter grammar, as CI does for every generated script.
func TestScriptSyntax(t *testing.T) {
	t.Parallel()
	pscheck.Clean(t, "..", pscheck.Text{Name: "preflight", Text: preflight.Script})
	if !strings.HasPrefix(preflight.Script, "# fleetrun-preflight v1\n") {
		t.Error("the script lost its marker line")
	}
}

// accountScenario: a healthy host; a local administrator whose token UAC
// filters (LocalAccountTokenFilterPolicy 0), refused by WinRM; a Remote
// Management Users member, let in without administrator rights; a host
// whose Task Scheduler is stopped; the built-in Administrator and a domain
// administrator with the policy at 0, whose tokens are not filtered.
const accountScenario = `
groups:
  - {name: healthy, count: 1}
  - {name: filtered, count: 1, account: local_admin, local_account_token_filter_policy: 0}
  - {name: rmu, count: 1, account: non_admin}
  - {name: nosched, count: 1, services: {Schedule: stopped}}
  - {name: builtin, count: 1, account: builtin_admin, local_account_token_filter_policy: 0}
  - {name: domain, count: 1, account: domain_admin, local_account_token_filter_policy: 0}
`

func TestAdminTokenAndTaskSchedulerChecks(t *testing.T) {
	t.Parallel()
	hosts, _ := startFleet(t, accountScenario, 6)
	ctx := context.Background()
	pb, err := playbook.Parse("pb.yaml", []byte("name: p\nsteps:\n  - name: install\n    command: [wusa.exe, 'C:\\patches\\KB1.msu', /quiet]\n    run_as: system\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !preflight.NeedsTaskScheduler(pb) || preflight.NeedsTaskScheduler(nil) {
		t.Fatal("NeedsTaskScheduler misjudges a run_as: system playbook or none")
	}

	// Without steps that run as SYSTEM a stopped Task Scheduler warns.
	results := preflight.Run(ctx, hosts, preflight.Options{Target: target, Forks: 3})
	want := []verdict{
		{"sim-0001", true, "", ""},
		{"sim-0002", false, preflight.CheckAuth, transport.ClassAuth},
		{"sim-0003", false, preflight.CheckAdmin, transport.ClassRemoteDenied},
		{"sim-0004", true, "", ""},
		{"sim-0005", true, "", ""},
		{"sim-0006", true, "", ""},
	}
	if diff := cmp.Diff(want, verdicts(results)); diff != "" {
		t.Fatalf("verdicts without run_as: system (-want +got):\n%s", diff)
	}
	auth := checkNamed(results[1], preflight.CheckAuth)
	for _, s := range []string{"password", "built-in Administrator", "UAC", winrm.TokenFilterPolicyCommand} {
		if !strings.Contains(auth.Fix, s) {
			t.Errorf("the refused login's fix lacks %q: %q", s, auth.Fix)
		}
	}
	for _, name := range []string{preflight.CheckLimits, preflight.CheckPowerShell, preflight.CheckAdmin, preflight.CheckTaskScheduler} {
		if c := checkNamed(results[1], name); c.Status != preflight.Skipped {
			t.Errorf("after the refused login, %s is %s, want skipped", name, c.Status)
		}
	}
	admin := checkNamed(results[2], preflight.CheckAdmin)
	if !strings.Contains(admin.Detail, "without administrator rights") || !strings.Contains(admin.Fix, winrm.TokenFilterPolicyCommand) || !strings.Contains(admin.Fix, "built-in Administrator") {
		t.Errorf("admin token check: %+v", admin)
	}
	sched := checkNamed(results[3], preflight.CheckTaskScheduler)
	if sched.Status != preflight.Warn || !strings.Contains(sched.Detail, "stopped") || sched.Fix != "sc config Schedule start= auto && sc start Schedule" {
		t.Errorf("stopped Task Scheduler without run_as: system: %+v", sched)
	}
	for _, i := range []int{0, 4, 5} {
		for _, name := range []string{preflight.CheckAdmin, preflight.CheckTaskScheduler} {
			if c := checkNamed(results[i], name); c.Status != preflight.Pass {
				t.Errorf("%s: %s is %s (%s), want pass", results[i].Host.Name, name, c.Status, c.Detail)
			}
		}
	}

	// With a step that runs as SYSTEM it fails the host.
	results = preflight.Run(ctx, hosts, preflight.Options{Target: target, Forks: 3, NeedTaskScheduler: preflight.NeedsTaskScheduler(pb)})
	want[3] = verdict{"sim-0004", false, preflight.CheckTaskScheduler, transport.ClassInternal}
	if diff := cmp.Diff(want, verdicts(results)); diff != "" {
		t.Fatalf("verdicts with run_as: system (-want +got):\n%s", diff)
	}
	if f := results[3].FirstFailure(); !strings.Contains(f.Detail, "run_as: system") || f.Fix != "sc config Schedule start= auto && sc start Schedule" {
		t.Errorf("stopped Task Scheduler with run_as: system: %+v", f)
	}
}

// Closing Stop checks no further host: the hosts being checked finish,
// every other one carries the NotChecked failure.
func TestStopChecksNoFurtherHost(t *testing.T) {
	t.Parallel()
	hosts, fleet := startFleet(t, "", 4)
	stop := make(chan struct{})
	var done []string
	results := preflight.Run(context.Background(), hosts, preflight.Options{Target: target, Forks: 1, Stop: stop, Done: func(r *preflight.HostResult) {
		done = append(done, r.Host.Name)
		close(stop) // after the first host; Forks 1 started no other
	}})
	if diff := cmp.Diff([]string{"sim-0001"}, done); diff != "" {
		t.Errorf("hosts checked (-want +got):\n%s", diff)
	}
	if !results[0].Passed() {
		t.Errorf("sim-0001 did not pass: %+v", results[0].Checks)
	}
	for _, r := range results[1:] {
		want := []preflight.Check{{Name: preflight.CheckReach, Status: preflight.Fail, Class: transport.ClassInterrupted, Detail: preflight.NotChecked}}
		if diff := cmp.Diff(want, r.Checks); diff != "" {
			t.Errorf("%s (-want +got):\n%s", r.Host.Name, diff)
		}
	}
	if got := fleet.Stats().Totals.ShellsOpened; got != 1 {
		t.Errorf("the fleet saw %d shells opened, want 1 (one host checked)", got)
	}
}
