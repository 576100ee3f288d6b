// Package fleettest starts simulated fleets for tests outside the sim
// package and hands back their hosts as fleetrun's inventory reads them, so
// every integration test meets the simulator the way a user does: through
// the inventory file `fleetrun sim --write-inventory` writes.
package fleettest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/sim"
	"github.com/fleetrun/fleetrun/transport"
)

// Fleet is a running simulated fleet and its inventory.
type Fleet struct {
	*sim.Fleet
	// Inventory is the path of the fleet's inventory file.
	Inventory string
	// Hosts are the inventory's hosts, in fleet order.
	Hosts []*inventory.Host
}

// Start starts n simulated hosts configured by scenario (YAML, may be
// empty) with opts (Hosts, Scenario and Dir are set here), and closes them
// when the test ends.
func Start(t testing.TB, n int, scenario string, opts sim.FleetOptions) *Fleet {
	t.Helper()
	if scenario != "" {
		sc, err := sim.ParseScenario("scenario.yaml", []byte(scenario))
		if err != nil {
			t.Fatal(err)
		}
		opts.Scenario = sc
	}
	opts.Hosts = n
	opts.Dir = t.TempDir()
	f, err := sim.StartFleet(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	path := filepath.Join(opts.Dir, "fleet.yaml")
	if err := f.WriteInventory(path); err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return &Fleet{Fleet: f, Inventory: path, Hosts: inv.Hosts}
}

// Target resolves a simulated host's target; the fleet's password comes
// from its password file, so no environment is needed.
func Target(ctx context.Context, h *inventory.Host) (transport.Target, error) {
	return runner.TargetOf(ctx, h, func(string) (string, bool) { return "", false })
}
