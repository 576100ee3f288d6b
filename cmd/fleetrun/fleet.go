package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/spf13/pflag"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/inventory/ec2"
	"github.com/fleetrun/fleetrun/launcher"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/sim"
	"github.com/fleetrun/fleetrun/ssm"
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

// renderer returns the transports' pure rendering of remote commands, for
// plans: for WinRM exactly what goes into WinRS's Command and Arguments,
// for SSM the document and the script it runs; and the command line an argv
// step's program receives.
func renderer() runner.Renderer {
	return func(h *inventory.Host, c transport.Command) (runner.Rendering, error) {
		if h.Transport == "ssm" {
			p, err := launcher.Build(c)
			if err != nil {
				return runner.Rendering{}, err
			}
			doc := h.SSM.Document
			if doc == "" {
				doc = ssm.DefaultDocument
			}
			rd := runner.Rendering{RemoteCommand: []string{doc, launcher.SSMScript(p.B64)}, CommandLine: p.CommandLine}
			if c.RunAs == transport.RunAsSystem {
				rd.Note = "run_as: system changes nothing over SSM: the SSM agent runs every step as SYSTEM already"
			}
			return rd, nil
		}
		rc, cl, note, err := winrm.PlanStep(c)
		return runner.Rendering{RemoteCommand: rc, CommandLine: cl, Note: note}, err
	}
}

// muxDialer reaches each host by its inventory transport.
type muxDialer struct {
	transportOf map[string]string // host name → winrm or ssm
	winrm       transport.Dialer
	ssm         *ssm.Dialer // nil when no host uses SSM
}

func (m *muxDialer) Dial(ctx context.Context, t transport.Target) (transport.Session, error) {
	if m.transportOf[t.Name] == "ssm" {
		return m.ssm.Dial(ctx, t)
	}
	return m.winrm.Dial(ctx, t)
}

// DefaultOutputCap is how many bytes of each step's stdout and stderr a
// run keeps in memory for its reports (the first quarter and the last three
// quarters); --log-dir gets every byte.
const DefaultOutputCap = 64 << 10

// newDialer returns the dialer for hosts and a function that releases it.
// outputCap bounds the output each step keeps in memory.
func newDialer(e *env, hosts []*inventory.Host, outputCap int) (transport.Dialer, func() error) {
	m := &muxDialer{transportOf: map[string]string{}, winrm: winrm.NewDialer(winrm.Options{OutputCap: outputCap})}
	simulatedOnly := true
	for _, h := range hosts {
		m.transportOf[h.Name] = h.Transport
		if h.Transport == "ssm" && !h.Simulated {
			simulatedOnly = false
		}
	}
	for _, h := range hosts {
		if h.Transport != "ssm" {
			continue
		}
		opts := ssm.Options{LookupEnv: e.lookupEnv, OutputCap: outputCap}
		if simulatedOnly {
			// A simulated fleet's SSM endpoint checks no signatures; it
			// must not send the operator's real AWS credentials anywhere.
			opts.Credentials = credentials.NewStaticCredentialsProvider("SIMULATED", "SIMULATED", "")
		}
		m.ssm = ssm.NewDialer(opts)
		break
	}
	return m, func() error {
		if m.ssm != nil {
			return m.ssm.Close()
		}
		return nil
	}
}
