package main

import (
	"context"
	"fmt"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/runner"
)

// materialize turns an inventory into concrete hosts: it starts a declared
// simulated fleet and runs discovery. stop releases what was started.
func materialize(_ context.Context, _ *env, inv *inventory.Inventory) (*inventory.Inventory, func(), error) {
	if inv.Simulated != nil {
		return nil, nil, invalid(fmt.Errorf("%s: simulated fleets are not available in this build", inv.Simulated.File))
	}
	return inv, func() {}, nil
}

// renderer returns the transport's pure rendering of remote commands, for
// plans.
func renderer() runner.Renderer { return nil }
