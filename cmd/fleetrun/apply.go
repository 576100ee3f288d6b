package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetrun/fleetrun/cmd/fleetrun/internal/views"
	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/report"
	"github.com/fleetrun/fleetrun/route"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/transport"
)

type applyOptions struct {
	invFiles   []string
	limit      string
	forks      int
	reportFile string
	junitFile  string
	logDir     string
	htmlFile   string
	extras     []string
	dryRun     bool
	output     string
	noProgress bool
	timeout    time.Duration
	preflight  bool
	journal    string
	resume     string
	restart    bool
	force      bool
	disc       discoveryFlags
	outputCap  int
	// noStepRuns sends every step alone instead of grouping a host's
	// consecutive steps into step runs.
	noStepRuns bool
	// adhoc marks a fleetrun run: no journal unless --journal is given,
	// and the text output groups hosts by result.
	adhoc bool
}

func newApplyCmd(e *env) *cobra.Command {
	o := &applyOptions{}
	cmd := &cobra.Command{
		Use:   "apply PLAYBOOK -i INVENTORY... [flags]",
		Short: "Run a playbook on the selected hosts",
		Long: `Apply runs the playbook's steps, in order, on every selected host, at most
--forks hosts at once, batch after batch, within the failure budget, and
reports a result for every host.

With --dry-run nothing is contacted: the plan (hosts by batch, each step and
exactly what would be sent) is printed instead; for file steps it says what
would move (each copied file's source, size, SHA-256 and destination, a
download's URL and hash, a fetch's pattern and local folder).

Copy sources are read and hashed once, before any host starts: a missing
source, or one whose SHA-256 differs from the sha256 the playbook pins,
stops the run with exit status 1.`,
		Example: "  fleetrun apply examples/monthly-patch.yaml -i examples/sim-inventory.yaml --forks 100 --report out.json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runApply(cmd, e, o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.invFiles, "inventory", "i", nil, "inventory `FILE` (repeatable; lists merge)")
	stringOnce(f, &o.limit, "limit", "only hosts matching `SELECTOR` (e.g. 'role=web', 'web-0*', '@db')")
	f.IntVar(&o.forks, "forks", 0, "hosts running at once (default: the playbook's forks, else 50)")
	f.StringVar(&o.reportFile, "report", "", "write the JSON report to `FILE` (mode 0600)")
	f.StringVar(&o.junitFile, "junit", "", "write a JUnit XML report to `FILE`")
	f.StringVar(&o.logDir, "log-dir", "", "write one log per host with full output to `DIR`")
	f.StringVar(&o.htmlFile, "html", "", "write a self-contained HTML report to `FILE`")
	f.StringArrayVarP(&o.extras, "extra-var", "e", nil, "template variable `KEY=VALUE` (repeatable; highest precedence)")
	f.BoolVar(&o.dryRun, "dry-run", false, "print the plan without contacting any host")
	f.StringVarP(&o.output, "output", "o", "text", "output format on stdout: text or json")
	f.BoolVar(&o.noProgress, "no-progress", false, "plain lines instead of the live progress display")
	f.DurationVar(&o.timeout, "timeout", 0, "stop the whole run after `DURATION` (e.g. 2h)")
	f.BoolVar(&o.preflight, "preflight", false, "run the pre-flight checks first and leave out failing hosts (as playbook preflight: true)")
	f.StringVar(&o.journal, "journal", "", "record progress in `FILE` (default: next to --report, else <playbook>-<time>.journal in $XDG_STATE_HOME/fleetrun)")
	f.StringVar(&o.resume, "resume", "", "resume the rollout recorded in `JOURNAL`: run only unfinished hosts, from their first unfinished step")
	f.BoolVar(&o.restart, "restart-failed-hosts", false, "with --resume, run unfinished hosts from their first step")
	o.disc.register(f)
	f.IntVar(&o.outputCap, "output-cap", DefaultOutputCap, "keep at most `BYTES` of each step's stdout and stderr in reports (head and tail; --log-dir keeps everything)")
	f.BoolVar(&o.force, "force", false, "with --resume, accept a journal written for a different version of the playbook")
	f.BoolVar(&o.noStepRuns, "no-step-runs", false, "send every step to its host alone (one command each) instead of a host's consecutive steps in one launch")
	return cmd
}

func runApply(cmd *cobra.Command, e *env, o *applyOptions, pbFile string) error {
	if err := checkOutput(o.output); err != nil {
		return invalid(err)
	}
	if err := checkApplyFlags(o, cmd.Flags().Changed("forks")); err != nil {
		return invalid(err)
	}
	extra, err := parseExtraVars(o.extras)
	if err != nil {
		return invalid(err)
	}
	if err := checkOutputs(o); err != nil {
		return invalid(err)
	}
	pb, err := playbook.Load(pbFile)
	if err != nil {
		return invalid(formatInputError(err))
	}
	if o.forks > 0 {
		pb.Forks = o.forks
	}
	if !o.dryRun && o.resume == "" {
		// Before a simulated fleet starts; a resumed run's journal is
		// checked against the journal it resumes, in executeRun.
		journal, err := journalFor(e, o, pb, time.Now())
		if err != nil {
			return invalid(err)
		}
		if err := checkJournalPath(journal, pb, nil); err != nil {
			return invalid(err)
		}
		// The run writes the journal checked here: the default is worked
		// out (and the state folder tidied) once.
		o.journal = journal
	}
	ctx := cmd.Context()
	hosts, stop, err := fleetHosts(e, o.invFiles, o.disc, pb, o.limit)
	if err != nil {
		return err
	}
	defer stop()
	if len(hosts) == 0 {
		return invalid(fmt.Errorf("no hosts selected (playbook hosts: %s, --limit %q); check with fleetrun inventory", pb.Hosts, o.limit))
	}
	if o.dryRun {
		render := route.Renderer()
		if o.noStepRuns {
			render = aloneRenderer(render)
		}
		plan, err := runner.Plan(pb, hosts, extra, render)
		if err != nil {
			return invalid(formatInputError(err))
		}
		now := time.Now()
		plan.Started, plan.Finished = now, now
		doc := report.NewDocument(plan)
		if o.reportFile != "" {
			if err := report.WriteFile(o.reportFile, func(w io.Writer) error { return report.WriteJSON(w, doc) }); err != nil {
				return invalid(err)
			}
		}
		if o.output == "json" {
			return report.WriteJSON(e.stdout, doc)
		}
		return views.PlanText(e.stdout, plan)
	}
	return executeRun(ctx, e, o, pb, hosts, extra)
}

// checkApplyFlags checks the flags that need no file, before anything is
// read: the same checks whether the run is real or --dry-run.
func checkApplyFlags(o *applyOptions, forksGiven bool) error {
	if forksGiven && o.forks < 1 {
		return fmt.Errorf("--forks %d: must be at least 1 (leave it out for the playbook's forks, else 50)", o.forks)
	}
	if o.outputCap < 1024 {
		return fmt.Errorf("--output-cap %d: keep at least 1024 bytes of each stream", o.outputCap)
	}
	if (o.restart || o.force) && o.resume == "" {
		return fmt.Errorf("--restart-failed-hosts and --force only apply with --resume JOURNAL")
	}
	return nil
}

// aloneRenderer is render with step runs turned off, for --no-step-runs:
// the plan then shows every step sent alone.
func aloneRenderer(render runner.Renderer) runner.Renderer {
	return func(h *inventory.Host, cmd transport.Command) (runner.Rendering, error) {
		rd, err := render(h, cmd)
		rd.StepRuns = false
		return rd, err
	}
}
