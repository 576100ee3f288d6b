package preflight_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/internal/fleettest"
	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/preflight"
	"github.com/fleetrun/fleetrun/route"
	"github.com/fleetrun/fleetrun/sim"
	"github.com/fleetrun/fleetrun/ssm"
	"github.com/fleetrun/fleetrun/transport"
)

// ssmOptions are SSM transport options for a simulated endpoint: fixed
// credentials, no shared files, quick polls.
func ssmOptions(t *testing.T) *ssm.Options {
	t.Helper()
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return &ssm.Options{
		Credentials:       credentials.NewStaticCredentialsProvider("AKIDSIMULATED", "simulated", ""),
		SharedConfigFiles: []string{empty}, SharedCredentialsFiles: []string{empty},
		PollInterval: 10 * time.Millisecond, MaxPollInterval: 50 * time.Millisecond, BatchWindow: 20 * time.Millisecond,
		RetryBackoff: func(int) time.Duration { return time.Millisecond },
	}
}

type checkView struct {
	Name   string
	Status preflight.Status
	Class  transport.Class
	Detail string
}

// TestPreflightOfAnSSMFleetGoesThroughSSMOnly: the simulated SSM hosts
// also listen for WinRM, so checks that spoke WinRM to them passed; now
// pre-flight of hosts with transport: ssm opens no WinRM connection (the
// hosts count none), learns reachability from the agent's ping status and
// time, runs its PowerShell facts as an SSM command, and skips TLS,
// authentication and the WinRM quotas with a word.
func TestPreflightOfAnSSMFleetGoesThroughSSMOnly(t *testing.T) {
	t.Parallel()
	f := fleettest.Start(t, 2, `
defaults:
  profile: "2019"
host_settings:
  sim-0001:
    preflight: {disk_free_bytes: 1073741824, execution_policy_32: Restricted}
  sim-0002: {faults: {refused: true}}
`, sim.FleetOptions{SSM: true, SSMTransport: true})
	d := route.NewDialer(f.Hosts, route.Options{SSM: ssmOptions(t)})
	t.Cleanup(func() { _ = d.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	results := preflight.Run(ctx, f.Hosts, preflight.Options{Target: target, Dialer: d,
		Requirements: playbook.Requires{MemoryPerShellMB: 1024, DiskFreeGB: 2}})

	for _, hs := range f.Stats().Hosts {
		if hs.Connections != 0 || len(hs.Requests) != 0 || hs.ShellsOpened != 0 {
			t.Errorf("%s: WinRM connections %d, requests %v, shells %d; want none", hs.Name, hs.Connections, hs.Requests, hs.ShellsOpened)
		}
	}
	if calls := f.SSMStats().Calls; calls["DescribeInstanceInformation"] == 0 || calls["SendCommand"] != 1 {
		t.Errorf("SSM calls = %v; want the agents listed and one command (the reachable host's PowerShell check)", calls)
	}

	reach := regexp.MustCompile(`^AWS Systems Manager agent of i-[0-9a-f]{17} Online, last ping \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(\d+s before the check\), agent 3\.3\.0\.0$`)
	var got [][]checkView
	for _, r := range results {
		var cs []checkView
		for _, c := range r.Checks {
			if c.Name == preflight.CheckReach && reach.MatchString(c.Detail) {
				c.Detail = "<agent online>"
			}
			cs = append(cs, checkView{c.Name, c.Status, c.Class, c.Detail})
		}
		got = append(got, cs)
	}
	quota := "not checked over SSM: WinRM quotas (MaxMemoryPerShellMB, MaxShellsPerUser, ...) do not limit SSM commands"
	notReached := "SSM agent not reachable"
	want := [][]checkView{
		{
			{"reachability", preflight.Pass, "", "<agent online>"},
			{"tls", preflight.Skipped, "", "not used over SSM: no connection is made to the host; its agent reaches AWS over HTTPS"},
			{"authentication", preflight.Skipped, "", "not used over SSM: AWS credentials and IAM authorise the commands"},
			{"winrm limits", preflight.Skipped, "", quota},
			{"operating system", preflight.Pass, "", "Microsoft Windows Server 2019 10.0.17763 (as the SSM agent reports it)"},
			{"powershell", preflight.Warn, "", "PowerShell 5.1.17763.1, 64-bit session; ExecutionPolicy 64-bit RemoteSigned, 32-bit Restricted; C: 1.0 GB free of 100.0 GB"},
			{"admin token", preflight.Pass, "", "the SSM agent runs commands with a full administrator's token (SYSTEM)"},
			{"task scheduler", preflight.Pass, "", "the Task Scheduler service (Schedule) is running"},
			{"requirements: memory per shell", preflight.Skipped, "", quota},
			{"requirements: disk free", preflight.Fail, transport.ClassInternal, "C: has 1.0 GB free; the playbook needs 2.0 GB"},
		},
		{
			{"reachability", preflight.Fail, transport.ClassConnectTimeout, "<filled below>"},
			{"tls", preflight.Skipped, "", notReached},
			{"authentication", preflight.Skipped, "", notReached},
			{"winrm limits", preflight.Skipped, "", notReached},
			{"operating system", preflight.Skipped, "", notReached},
			{"powershell", preflight.Skipped, "", notReached},
			{"admin token", preflight.Skipped, "", notReached},
			{"task scheduler", preflight.Skipped, "", notReached},
			{"requirements", preflight.Skipped, "", notReached},
		},
	}
	if len(got) == 2 && len(got[1]) > 0 {
		want[1][0].Detail = got[1][0].Detail // the agent's last ping time varies
		if !regexp.MustCompile(`^sim-0002: SSM agent of i-[0-9a-f]{17} ConnectionLost since `).MatchString(got[1][0].Detail) {
			t.Errorf("unreachable host's detail = %q", got[1][0].Detail)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}
}
