package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/inventory/ec2"
	"github.com/fleetrun/fleetrun/route"
	"github.com/fleetrun/fleetrun/sim"
	"github.com/fleetrun/fleetrun/transport"
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
// what was started; it is never nil when err is nil. A stop request during
// discovery or the fleet's start ends it with exit status 3.
func materialize(e *env, inv *inventory.Inventory, d discoveryFlags) (*inventory.Inventory, func(), error) {
	ctx := e.stop.Soft()
	stop := func() {}
	if len(d.regions) > 0 || d.profile != "" {
		if len(inv.EC2) == 0 {
			inv.EC2 = append(inv.EC2, inventory.NewEC2Spec(d.regions, d.profile))
		}
		for _, spec := range inv.EC2 {
			spec.Override(d.regions, d.profile)
		}
	}
	// Discovery and starting a simulated fleet only prepare: the first stop
	// request abandons them (ctx is the stopper's Soft context).
	if len(inv.EC2) > 0 {
		err := ec2.Resolve(ctx, inv, ec2.Options{
			LookupEnv: e.lookupEnv,
			Problem:   func(p string) { fmt.Fprintln(e.stderr, "fleetrun: ec2:", p) },
		})
		if e.stop.Requested() {
			return nil, nil, e.stop.interrupted("EC2 discovery")
		}
		if err != nil {
			return nil, nil, invalid(formatInputError(err))
		}
	}
	if s := inv.Simulated; s != nil {
		hosts, closeFleet, err := startSimulated(ctx, e, s)
		if e.stop.Requested() {
			if err == nil {
				closeFleet()
			}
			return nil, nil, e.stop.interrupted("the start of the simulated fleet")
		}
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
	viaSSM := s.Transport == "ssm"
	fleet, err := sim.StartFleet(ctx, sim.FleetOptions{Hosts: s.Hosts, Profile: s.Profile, Scenario: sc, HTTPS: s.HTTPS, Dir: dir, Log: e.stderr, SSM: viaSSM, SSMTransport: viaSSM})
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

// DefaultOutputCap is how many bytes of each step's stdout and stderr a
// run keeps in memory for its reports (the first quarter and the last three
// quarters); --log-dir gets every byte.
const DefaultOutputCap = 64 << 10

// newDialer returns the dialer for hosts (each reached by its inventory
// transport, see package route) and a function that releases it.
// outputCap bounds the output each step keeps in memory.
func newDialer(e *env, hosts []*inventory.Host, outputCap int) (transport.Dialer, func() error) {
	d := route.NewDialer(hosts, route.Options{OutputCap: outputCap, LookupEnv: e.lookupEnv})
	return d, d.Close
}
