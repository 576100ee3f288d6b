package ssm_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"go.uber.org/goleak"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/sim"
	"github.com/fleetrun/fleetrun/ssm"
	"github.com/fleetrun/fleetrun/transport"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startFleet starts a simulated fleet that also serves the SSM API and
// returns it with its hosts as the inventory reads them.
func startFleet(t testing.TB, n int, scenario string, opts sim.FleetOptions) (*sim.Fleet, []*inventory.Host) {
	t.Helper()
	if scenario != "" {
		sc, err := sim.ParseScenario("scenario.yaml", []byte(scenario))
		if err != nil {
			t.Fatal(err)
		}
		opts.Scenario = sc
	}
	dir := t.TempDir()
	opts.Hosts, opts.SSM, opts.Dir = n, true, dir
	f, err := sim.StartFleet(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("close fleet: %v", err)
		}
	})
	path := filepath.Join(dir, "fleet.yaml")
	if err := f.WriteInventory(path); err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return f, inv.Hosts
}

// options points the transport at nothing in particular: endpoints come
// from the hosts' ssm settings (the simulated inventory names the fleet's
// endpoint); credentials are static, shared AWS files empty, polling fast.
func options(t testing.TB) ssm.Options {
	t.Helper()
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return ssm.Options{
		Credentials:            credentials.NewStaticCredentialsProvider("AKIDSIMULATED", "simulated", ""),
		SharedConfigFiles:      []string{empty},
		SharedCredentialsFiles: []string{empty},
		PollInterval:           10 * time.Millisecond,
		MaxPollInterval:        50 * time.Millisecond,
		BatchWindow:            20 * time.Millisecond,
		RetryBackoff:           func(int) time.Duration { return time.Millisecond },
	}
}

// newDialer returns a Dialer the test closes.
func newDialer(t testing.TB, opts ssm.Options) *ssm.Dialer {
	t.Helper()
	d := ssm.NewDialer(opts)
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("close dialer: %v", err)
		}
	})
	return d
}

// dial opens a session with h through d; failing to is fatal.
func dial(t testing.TB, d *ssm.Dialer, h *inventory.Host) transport.Session {
	t.Helper()
	s, err := d.Dial(context.Background(), target(t, h))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// target is what the command line hands the transport for a host.
func target(t testing.TB, h *inventory.Host) transport.Target {
	t.Helper()
	tg, err := runner.TargetOf(t.Context(), h, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	tg.ConnectTimeout = 2 * time.Second
	return tg
}
