package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"time"
)

// ServeOptions are the settings of `fleetrun sim`.
type ServeOptions struct {
	// Hosts is the fleet size (--hosts); 0 takes the scenario's.
	Hosts int
	// Profile is the default Windows profile (--profile).
	Profile string
	// ScenarioFile is the scenario to load (--scenario); empty for none.
	ScenarioFile string
	// WriteInventory is where to write the fleet's inventory
	// (--write-inventory); empty writes none.
	WriteInventory string
	// Listen is where hosts listen (--listen), see FleetOptions.Listen.
	Listen string
	// Stats is the address of the GET /stats server (--stats); empty for
	// none.
	Stats string
	// HTTPS serves every host over HTTPS (--https).
	HTTPS bool
	// Latency is added to every WS-Man operation (--latency) and
	// ProcessStart to every process start (--process-start).
	Latency      time.Duration
	ProcessStart time.Duration
	// Log receives the simulated hosts' event lines; nil sends them to
	// the stdout writer given to Serve.
	Log io.Writer
	// SSM also serves the AWS Systems Manager API for the fleet (--ssm),
	// limited to SSMRate requests per second (--ssm-rate, 0 for no limit);
	// SSMTransport makes the written inventory choose transport: ssm
	// (--ssm-transport).
	SSM          bool
	SSMRate      float64
	SSMTransport bool
	// KerberosKeytabs is a folder of <host name>.keytab files
	// (--kerberos-keytabs), see FleetOptions.KerberosKeytabs.
	KerberosKeytabs string
}

// Serve runs `fleetrun sim`: it starts the fleet, writes the inventory
// once every host listens, prints exactly one line "ready: N hosts" to
// stdout, and serves until ctx ends (the CLI cancels it on SIGINT or
// SIGTERM). Later lines on stdout are labelled as simulated.
func Serve(ctx context.Context, opts ServeOptions, stdout io.Writer) error {
	var sc *Scenario
	if opts.ScenarioFile != "" {
		var err error
		if sc, err = LoadScenario(opts.ScenarioFile); err != nil {
			return err
		}
	}
	logw := opts.Log
	if logw == nil {
		logw = stdout
	}
	fleet, err := StartFleet(ctx, FleetOptions{
		Hosts: opts.Hosts, Profile: opts.Profile, Scenario: sc, Listen: opts.Listen, HTTPS: opts.HTTPS,
		Latency: opts.Latency, ProcessStart: opts.ProcessStart, Log: logw,
		Dir: inventoryDir(opts.WriteInventory),
		SSM: opts.SSM || opts.SSMTransport, SSMRate: opts.SSMRate, SSMTransport: opts.SSMTransport,
		KerberosKeytabs: opts.KerberosKeytabs,
	})
	if err != nil {
		return err
	}
	defer func() {
		_ = fleet.Close() // shutting down; nothing useful to do with an error
	}()
	var statsSrv *http.Server
	var statsAddr string
	statsDone := make(chan error, 1)
	if opts.Stats != "" {
		ln, err := net.Listen("tcp", opts.Stats)
		if err != nil {
			return fmt.Errorf("stats server: %w", err)
		}
		statsAddr = ln.Addr().String()
		statsSrv = &http.Server{Handler: fleet.StatsHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { statsDone <- statsSrv.Serve(ln) }()
		defer func() {
			_ = statsSrv.Close() // shutting down
			if statsDone == nil {
				return
			}
			if err := <-statsDone; err != nil && !errors.Is(err, http.ErrServerClosed) {
				_, _ = fmt.Fprintf(logw, "simulated fleet: stats server: %v\n", err) // shutting down; report only
			}
		}()
	}
	if opts.WriteInventory != "" {
		if err := fleet.WriteInventory(opts.WriteInventory); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprintf(stdout, "ready: %d hosts\n", len(fleet.Hosts())); err != nil {
		return fmt.Errorf("write ready line: %w", err)
	}
	hosts := fleet.Hosts()
	first, last := hosts[0], hosts[len(hosts)-1]
	_, _ = fmt.Fprintf(stdout, "simulated fleet: %s (%s) .. %s (%s), user %s\n", first.Name(), first.URL(), last.Name(), last.URL(), fleet.User()) // informational lines; the ready line was checked
	if opts.WriteInventory != "" {
		_, _ = fmt.Fprintf(stdout, "simulated fleet: inventory written to %s\n", opts.WriteInventory) // informational lines; the ready line was checked
	}
	if ep := fleet.SSMEndpoint(); ep != "" {
		_, _ = fmt.Fprintf(stdout, "simulated fleet: SSM endpoint at %s (region %s; also serves the S3 output paths)\n", ep, fleet.SSMRegion()) // informational
	}
	if ca := fleet.CAFile(); ca != "" {
		_, _ = fmt.Fprintf(stdout, "simulated fleet: CA certificate in %s\n", ca) // informational
	}
	if statsSrv != nil {
		_, _ = fmt.Fprintf(stdout, "simulated fleet: stats at http://%s/stats\n", statsAddr) // informational lines; the ready line was checked
	}
	select {
	case <-ctx.Done():
	case err := <-statsDone:
		statsDone = nil
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("stats server: %w", err)
		}
	}
	return nil
}

// inventoryDir is where the CA file goes: next to the inventory, or a
// temporary directory when none is written.
func inventoryDir(inventory string) string {
	if inventory == "" {
		return ""
	}
	return filepath.Dir(inventory)
}
