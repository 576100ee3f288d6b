package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetrun/fleetrun/cmd/fleetrun/internal/views"
	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/preflight"
	"github.com/fleetrun/fleetrun/report"
	"github.com/fleetrun/fleetrun/route"
	"github.com/fleetrun/fleetrun/runner"
)

type preflightOptions struct {
	invFiles   []string
	limit      string
	forks      int
	reportFile string
	output     string
	fixMemCap  int
	playbook   string
	req        playbook.Requires
	disc       discoveryFlags
}

func newPreflightCmd(e *env) *cobra.Command {
	o := &preflightOptions{}
	cmd := &cobra.Command{
		Use:   "preflight -i INVENTORY... [--limit SELECTOR] [--forks N] [--report FILE.json] [--output text|json] [--fix-memory-cap MB]",
		Short: "Check every host before a rollout: reachability, TLS, auth, WinRM quotas, OS, PowerShell, disk, admin token, Task Scheduler",
		Long: `Preflight checks each selected host, in parallel: DNS and TCP reachability,
the TLS certificate (for HTTPS), the authentication mechanisms the host offers
and whether ours works, its WinRM quotas (MaxMemoryPerShellMB and friends), its
operating system, its PowerShell (version, bitness, the execution policy of
both the 64-bit and the 32-bit PowerShell), free disk space, whether the login
is a full administrator's (UAC filters a local administrator's token over the
network unless LocalAccountTokenFilterPolicy is 1) and whether the Task
Scheduler runs (it fails a host only when the --playbook runs steps as SYSTEM)
— and gives a verdict against the requirements (a playbook's requires:, or the
--min-* flags), with the exact fix for each failed one.

--fix-memory-cap MB raises MaxMemoryPerShellMB to MB on hosts whose cap is
lower (never lowering one), then checks them again.`,
		Example: "  fleetrun preflight -i examples/inventory.yaml --playbook examples/monthly-patch.yaml --fix-memory-cap 1024",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPreflight(cmd.Context(), e, o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.invFiles, "inventory", "i", nil, "inventory `FILE` (repeatable; lists merge)")
	stringOnce(f, &o.limit, "limit", "only hosts matching `SELECTOR`")
	f.IntVar(&o.forks, "forks", 50, "hosts checked at once")
	f.StringVar(&o.reportFile, "report", "", "write the results as a JSON report (each check a step) to `FILE`")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	f.IntVar(&o.fixMemCap, "fix-memory-cap", 0, "raise MaxMemoryPerShellMB to `MB` where it is lower, then re-check")
	f.StringVar(&o.playbook, "playbook", "", "take the requirements (requires:) and host selection from `PLAYBOOK`")
	f.IntVar(&o.req.MemoryPerShellMB, "min-memory-per-shell-mb", 0, "require MaxMemoryPerShellMB of at least `MB` (0 on a host = unlimited)")
	f.IntVar(&o.req.ShellsPerUser, "min-shells-per-user", 0, "require MaxShellsPerUser of at least `N`")
	f.Float64Var(&o.req.DiskFreeGB, "min-disk-free-gb", 0, "require `GB` free on the system drive")
	f.StringVar(&o.req.PowerShell, "min-powershell", "", "require PowerShell `VERSION` or later (e.g. 5.1)")
	o.disc.register(f)
	return cmd
}

func runPreflight(ctx context.Context, e *env, o *preflightOptions) error {
	if err := checkOutput(o.output); err != nil {
		return invalid(err)
	}
	if o.fixMemCap < 0 || o.forks < 1 {
		return invalid(fmt.Errorf("--fix-memory-cap and --forks must be positive"))
	}
	if o.reportFile != "" {
		if err := checkOutputFile(o.reportFile); err != nil {
			return invalid(fmt.Errorf("--report %s: %w", o.reportFile, err))
		}
	}
	if o.req.PowerShell != "" {
		if _, err := playbook.ParseVersion(o.req.PowerShell); err != nil {
			return invalid(fmt.Errorf("--min-powershell: %w", err))
		}
	}
	var pb *playbook.Playbook
	if o.playbook != "" {
		var err error
		if pb, err = playbook.Load(o.playbook); err != nil {
			return invalid(formatInputError(err))
		}
		mergeRequires(&o.req, pb.Requires)
	}
	hosts, stop, err := fleetHosts(e, o.invFiles, o.disc, pb, o.limit) //nolint:contextcheck // discovery runs under the stopper's Soft context, derived from ctx
	if err != nil {
		return err
	}
	defer stop()
	if len(hosts) == 0 {
		return invalid(fmt.Errorf("no hosts selected; check with fleetrun inventory"))
	}
	started := time.Now()
	dialer := route.NewDialer(hosts, route.Options{LookupEnv: e.lookupEnv})
	defer func() { _ = dialer.Close() }() //nolint:contextcheck // Close bounds its own cleanup (cancelling queued SSM commands) after the checks ended
	// The first stop request checks no further host; the second (ending
	// ctx) cancels the checks that run.
	opts := preflight.Options{Forks: o.forks, Target: targetFunc(e), Dialer: dialer, WinRM: dialer.WinRMOptions(), Requirements: o.req, FixMemoryCap: o.fixMemCap, NeedTaskScheduler: preflight.NeedsTaskScheduler(pb), Stop: e.stop.Stopping()}
	results := preflight.Run(ctx, hosts, opts)
	res := views.PreflightReport(results, started, time.Now())
	if e.stop.Requested() {
		res.Status, res.StopReason = runner.StatusAborted, "interrupted"
	}
	if o.reportFile != "" {
		doc := report.NewDocument(res)
		if err := report.WriteFile(o.reportFile, func(w io.Writer) error { return report.WriteJSON(w, doc) }); err != nil {
			return invalid(err)
		}
	}
	if o.output == "json" {
		if err := report.WriteJSON(e.stdout, report.NewDocument(res)); err != nil {
			return err
		}
	} else {
		views.PreflightTable(e.stdout, results)
	}
	return exitStatus(res)
}

// mergeRequires takes a playbook's requirements where the flags set none.
func mergeRequires(dst *playbook.Requires, pb playbook.Requires) {
	dst.MemoryPerShellMB = max(dst.MemoryPerShellMB, pb.MemoryPerShellMB)
	dst.ShellsPerUser = max(dst.ShellsPerUser, pb.ShellsPerUser)
	dst.DiskFreeGB = max(dst.DiskFreeGB, pb.DiskFreeGB)
	if dst.PowerShell == "" {
		dst.PowerShell = pb.PowerShell
	}
}

// applyPreflight runs the checks before a rollout and returns the hosts
// that failed, each with the failed check, for the runner to report them
// skipped (runner.Options.Skip); the hosts themselves are left as they are.
func applyPreflight(ctx context.Context, e *env, pb *playbook.Playbook, hosts []*inventory.Host, forks int) map[string]string {
	fmt.Fprintf(e.stderr, "fleetrun: pre-flight checks on %d host(s)\n", len(hosts))
	dialer := route.NewDialer(hosts, route.Options{LookupEnv: e.lookupEnv})
	defer func() { _ = dialer.Close() }() //nolint:contextcheck // Close bounds its own cleanup (cancelling queued SSM commands) after the checks ended
	results := preflight.Run(ctx, hosts, preflight.Options{Forks: forks, Target: targetFunc(e), Dialer: dialer, WinRM: dialer.WinRMOptions(), Requirements: pb.Requires, NeedTaskScheduler: preflight.NeedsTaskScheduler(pb), Stop: e.stop.Stopping()})
	failed, unchecked := map[string]string{}, 0
	for _, r := range results {
		if views.NotChecked(r) {
			unchecked++ // the stopped run starts no host; the runner says so
			continue
		}
		if f := r.FirstFailure(); f != nil {
			why := fmt.Sprintf("pre-flight check %q failed: %s", f.Name, f.Detail)
			if f.Fix != "" {
				why += " (fix: " + f.Fix + ")"
			}
			failed[r.Host.Name] = why
		}
	}
	if unchecked > 0 {
		fmt.Fprintf(e.stderr, "fleetrun: pre-flight: interrupted; %d of %d host(s) checked, %d passed\n", len(hosts)-unchecked, len(hosts), len(hosts)-unchecked-len(failed))
		return failed
	}
	fmt.Fprintf(e.stderr, "fleetrun: pre-flight: %d of %d host(s) passed\n", len(hosts)-len(failed), len(hosts))
	return failed
}
