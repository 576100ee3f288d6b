package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/fleetrun/fleetrun/sim"
)

func newSimCmd(e *env) *cobra.Command {
	o := sim.ServeOptions{}
	cmd := &cobra.Command{
		Use:   "sim --hosts N [--profile P] [--scenario FILE] [--write-inventory FILE] [--listen ADDR] [--stats ADDR]",
		Short: "Serve a simulated fleet of Windows hosts on loopback (a test double, not Windows)",
		Long: `Sim starts N simulated Windows hosts that speak the real WS-Man/WinRS protocol
(Basic, NTLM with message encryption, HTTPS), with the WinRM quotas and faults
of the chosen Windows version, and a small model of cmd.exe, PowerShell and
common programs. It writes an inventory for the fleet once every host listens,
prints "ready: N hosts", and serves until interrupted. Every host is
simulated: use it for demos, tests and benchmarks.`,
		Example: "  fleetrun sim --hosts 100 --profile 2008r2 --write-inventory /tmp/fleet.yaml --stats 127.0.0.1:9900",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Hosts < 0 || o.Hosts > sim.MaxHosts {
				return invalid(fmt.Errorf("--hosts %d: must be between 1 and %d", o.Hosts, sim.MaxHosts))
			}
			if o.SSMTransport {
				o.SSM = true
			}
			// The fleet serves until the first stop request.
			if err := sim.Serve(e.stop.Soft(), o, e.stdout); err != nil { //nolint:contextcheck // the stopper's context derives from the command's
				return invalid(err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Hosts, "hosts", 0, "number of simulated hosts (default: the scenario's, else 10)")
	f.StringVar(&o.Profile, "profile", "2019", "Windows profile: 2008r2, 2012r2, 2016, 2019 or 2022")
	f.StringVar(&o.ScenarioFile, "scenario", "", "scenario `FILE` configuring hosts, faults and script answers")
	f.StringVar(&o.WriteInventory, "write-inventory", "", "write the fleet's inventory to `FILE` (and its password next to it, mode 0600)")
	f.StringVar(&o.Listen, "listen", "127.0.0.1:0", "loopback `ADDR`: port 0 gives each host a free port (below the ephemeral range), a fixed port gives each host its own address")
	f.StringVar(&o.Stats, "stats", "", "serve per-host counters as JSON at http://`ADDR`/stats")
	f.BoolVar(&o.HTTPS, "https", false, "serve HTTPS (a CA file is written next to the inventory)")
	f.DurationVar(&o.Latency, "latency", 0, "add `DURATION` to every WS-Man operation (models a real host's handling time)")
	f.DurationVar(&o.ProcessStart, "process-start", 0, "add `DURATION` to every process start")
	f.BoolVar(&o.SSM, "ssm", false, "also serve the AWS Systems Manager API for the fleet (its endpoint is printed)")
	f.Float64Var(&o.SSMRate, "ssm-rate", 0, "throttle the SSM API to `N` requests per second (0: no limit)")
	f.BoolVar(&o.SSMTransport, "ssm-transport", false, "write the inventory with transport: ssm (implies --ssm)")
	f.StringVar(&o.KerberosKeytabs, "kerberos-keytabs", "", "accept Kerberos on every host with a keytab `DIR`/<host name>.keytab (key of HTTP/<host name>)")
	return cmd
}
