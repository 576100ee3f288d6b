package main

import (
	"context"
	"fmt"
	"time"

	"github.com/fleetrun/fleetrun/cmd/fleetrun/internal/views"
	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/report"
	"github.com/fleetrun/fleetrun/runner"
)

// executeRun applies pb to hosts for real: sinks, journal, interrupts,
// reports and the exit status.
func executeRun(ctx context.Context, e *env, o *applyOptions, pb *playbook.Playbook, hosts []*inventory.Host, extra map[string]string) error {
	var resume *runner.Resume
	if o.resume != "" {
		prog, err := runner.ReadJournal(o.resume)
		if err != nil {
			return invalid(err)
		}
		if err := prog.Check(pb, o.force); err != nil {
			return invalid(err)
		}
		resume = &runner.Resume{Progress: prog, RestartFailedHosts: o.restart}
	}
	now := time.Now()
	// An ad-hoc run (fleetrun run) has nothing to resume: it keeps a
	// journal only when --journal asks for one.
	journalPath := ""
	if !o.adhoc || o.journal != "" {
		var err error
		if journalPath, err = journalFor(e, o, pb, now); err != nil {
			return invalid(err)
		}
		if err := checkJournalPath(journalPath, pb, resume); err != nil {
			return invalid(err)
		}
	}
	// Copy sources are read and hashed once, before any host is contacted
	// (pre-flight checks included): a missing or changed source is an
	// input error.
	sources, err := runner.OpenSources(pb, hosts, extra, 0, 0)
	if err != nil {
		return invalid(formatInputError(err))
	}
	defer func() { _ = sources.Close() }() // read-only files
	abortReason := ""
	var skip map[string]string // hosts the runner must not contact, with the reason
	if pb.Preflight || o.preflight {
		forks := pb.Forks
		if o.forks > 0 {
			forks = o.forks
		}
		skip = applyPreflight(ctx, e, pb, hosts, forks)
		if budget := runner.Budget(pb.MaxFail, len(hosts)); budget >= 0 && len(skip) > budget {
			abortReason = fmt.Sprintf("pre-flight checks failed on %d host(s), more than max_fail allows (%d)", len(skip), budget)
			for _, h := range hosts {
				if _, failed := skip[h.Name]; !failed && h.Unusable == "" {
					skip[h.Name] = "not started: " + abortReason
				}
			}
		}
	}
	simulated := false
	for _, h := range hosts {
		simulated = simulated || h.Simulated
	}
	var journal *runner.Journal
	switch {
	case journalPath == "":
	case resume != nil:
		journal, err = runner.ResumeJournal(journalPath, pb, now, resume.Progress)
	default:
		journal, err = runner.OpenJournal(journalPath, pb, now)
	}
	if err != nil {
		return invalid(err)
	}
	closeJournal := func() error {
		if journal == nil {
			return nil
		}
		return journal.Close()
	}
	terminal := e.isTerminal && !o.noProgress && o.output == "text"
	console := report.NewConsole(e.stderr, report.ConsoleOptions{
		Terminal:  terminal,
		NoColor:   noColor(e),
		Simulated: simulated,
	})
	var sinks []runner.Sink
	if journal != nil {
		sinks = append(sinks, journal)
	}
	sinks = append(sinks, console)
	var logs *report.LogDir
	if o.logDir != "" {
		if logs, err = report.NewLogDir(o.logDir); err != nil {
			_ = closeJournal() // the log dir error is the one to report
			return invalid(err)
		}
		sinks = append(sinks, logs)
	}
	// ctx ends at the second stop request; the first closes Stopping.
	dialer, closeDialer := newDialer(e, hosts, o.outputCap) //nolint:contextcheck // Close bounds its own cleanup (cancelling queued SSM commands) after the run ended
	opts := runner.Options{
		Forks: o.forks, Dialer: dialer, Target: targetFunc(e), Extra: extra, Sinks: sinks,
		RunTimeout: o.timeout, Stop: e.stop.Stopping(), Resume: resume, Skip: skip, Sources: sources,
		NoStepRuns: o.noStepRuns,
	}
	if logs != nil {
		opts.Output = logs
	}
	res, runErr := runner.Run(ctx, pb, hosts, opts)
	var closeErrs []error
	closeErrs = append(closeErrs, closeDialer())
	closeErrs = append(closeErrs, console.Close())
	if logs != nil {
		closeErrs = append(closeErrs, logs.Close())
	}
	closeErrs = append(closeErrs, closeJournal())
	if runErr != nil {
		return invalid(formatInputError(runErr))
	}
	if abortReason != "" {
		res.Status, res.StopReason = runner.StatusAborted, abortReason
	}
	reportErr := writeReports(o, res)
	for _, err := range closeErrs {
		if err != nil {
			fmt.Fprintln(e.stderr, "fleetrun:", err)
		}
	}
	if o.output == "json" {
		if err := report.WriteJSON(e.stdout, report.NewDocument(res)); err != nil {
			return err
		}
	} else if o.adhoc {
		if err := views.RunText(e.stdout, res, views.RunOptions{Simulated: simulated, Color: terminal && !noColor(e)}); err != nil {
			return err
		}
	} else if err := report.WriteSummary(e.stdout, res, report.SummaryOptions{Simulated: simulated, Color: terminal && !noColor(e)}); err != nil {
		return err
	}
	if journalPath != "" {
		fmt.Fprintln(e.stderr, "fleetrun: journal:", journalPath)
	}
	if res.Status != runner.StatusOK && !o.adhoc {
		fmt.Fprintln(e.stderr, "fleetrun: to finish the rollout:", resumeCommand(o, pb.File, journalPath))
	}
	return runExitStatus(e, res, reportErr)
}

// runExitStatus is the exit status of a finished run whose reports may
// have failed to be written (reportErr). The failure is printed beside the
// run's own outcome, never instead of it: a run that failed or stopped
// early keeps its status (2 or 3); a run that succeeded exits 1, since a
// report the caller asked for is missing.
func runExitStatus(e *env, res *runner.Result, reportErr error) error {
	status := exitStatus(res)
	if reportErr == nil {
		return status
	}
	fmt.Fprintf(e.stderr, "fleetrun: the run finished (%s) but a report was not written:\n%v\n", res.Status, reportErr)
	if status == nil {
		return &exitError{code: exitInvalid}
	}
	return status
}

func noColor(e *env) bool {
	_, set := e.lookupEnv("NO_COLOR")
	return set
}
