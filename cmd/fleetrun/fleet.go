package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/inventory/ec2"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/sim"
	"github.com/fleetrun/fleetrun/transport"
	"github.com/fleetrun/fleetrun/winrm"
)

// discoveryFlags override or create an inventory's ec2: section.
type discoveryFlags struct {
	regions []string
	profile string
}

func (d *discoveryFlags) register(fs *pflag.FlagSet) {
	fs.StringSliceVar(&d.regions, "ec2-region", nil, "discover EC2 hosts in `REGION` (repeatable or comma-separated; overrides the inventory's ec2 regions)")
	fs.StringVar(&d.profile, "ec2-profile", "", "AWS shared-config `PROFILE` for EC2 discovery (overrides the inventory's)")
}

// materialize turns an inventory into concrete hosts: it runs EC2
// discovery and starts a declared simulated fleet in-process. stop releases
// what was started; it is never nil when err is nil.
func materialize(ctx context.Context, e *env, inv *inventory.Inventory, d discoveryFlags) (*inventory.Inventory, func(), error) {
	stop := func() {}
	if len(d.regions) > 0 || d.profile != "" {
		if len(inv.EC2) == 0 {
			inv.EC2 = append(inv.EC2, inventory.NewEC2Spec(d.regions, d.profile))
		}
		for _, spec := range inv.EC2 {
			spec.Override(d.regions, d.profile)
		}
	}
	if len(inv.EC2) > 0 {
		err := ec2.Resolve(ctx, inv, ec2.Options{
			LookupEnv: e.lookupEnv,
			Problem:   func(p string) { fmt.Fprintln(e.stderr, "fleetrun: ec2:", p) },
		})
		if err != nil {
			return nil, nil, invalid(formatInputError(err))
		}
	}
	if s := inv.Simulated; s != nil {
		hosts, closeFleet, err := startSimulated(ctx, e, s)
		if err != nil {
			return nil, nil, err
		}
		out := *inv
		out.Hosts = append(append([]*inventory.Host(nil), inv.Hosts...), hosts...)
		inv, stop = &out, closeFleet
	}
	return inv, stop, nil
}

// startSimulated starts the simulated fleet an inventory declares and
// returns its hosts, read back through the inventory the fleet writes (so a
// simulated host is configured exactly as a user's static one would be).
func startSimulated(ctx context.Context, e *env, s *inventory.Simulated) ([]*inventory.Host, func(), error) {
	var sc *sim.Scenario
	if s.Scenario != "" {
		var err error
		if sc, err = sim.LoadScenario(s.Scenario); err != nil {
			return nil, nil, invalid(formatInputError(err))
		}
	}
	dir, err := os.MkdirTemp("", "fleetrun-sim-")
	if err != nil {
		return nil, nil, err
	}
	fleet, err := sim.StartFleet(ctx, sim.FleetOptions{Hosts: s.Hosts, Profile: s.Profile, Scenario: sc, HTTPS: s.HTTPS, Dir: dir, Log: e.stderr})
	if err != nil {
		_ = os.RemoveAll(dir) // nothing was started; the error matters more
		return nil, nil, fmt.Errorf("%s: starting the simulated fleet: %w", s.File, err)
	}
	stop := func() {
		_ = fleet.Close()     // shutting down; a close error changes nothing for the user
		_ = os.RemoveAll(dir) // temporary files of the simulated fleet
	}
	invFile := filepath.Join(dir, "simulated-fleet.yaml")
	if err := fleet.WriteInventory(invFile); err != nil {
		stop()
		return nil, nil, err
	}
	simInv, err := inventory.Load(invFile)
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("reading the simulated fleet's inventory: %w", err)
	}
	for _, h := range simInv.Hosts {
		h.Simulated = true
		h.Source = "simulated (" + s.File + ")"
	}
	fmt.Fprintf(e.stderr, "SIMULATED FLEET: started %d simulated Windows hosts on loopback (declared in %s); no real host is contacted\n", len(simInv.Hosts), s.File)
	return simInv.Hosts, stop, nil
}

// renderer returns the transport's pure rendering of remote commands, for
// plans: exactly what goes into WinRS's Command and Arguments, and the
// command line an argv step's program receives.
func renderer() runner.Renderer {
	return func(c transport.Command) ([]string, string, error) {
		r, err := winrm.Render(c, winrm.RenderOptions{})
		return r.RemoteCommand, r.CommandLine, err
	}
}

// newDialer returns the transport that reaches hosts and a function that
// releases it.
func newDialer() (transport.Dialer, func()) {
	return winrm.NewDialer(winrm.Options{}), func() {}
}
