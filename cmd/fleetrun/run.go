package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/report"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/transport"
)

// targetFunc resolves a host's connection settings and password.
func targetFunc(e *env) func(ctx context.Context, h *inventory.Host) (transport.Target, error) {
	return func(ctx context.Context, h *inventory.Host) (transport.Target, error) {
		return runner.TargetOf(ctx, h, e.lookupEnv)
	}
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// defaultJournal names the journal when --journal is not given: next to
// the report, else in the current folder.
func defaultJournal(o *applyOptions, pb *playbook.Playbook, now time.Time) string {
	if o.resume != "" {
		return o.resume
	}
	if o.reportFile != "" {
		return strings.TrimSuffix(o.reportFile, filepath.Ext(o.reportFile)) + ".journal"
	}
	name := unsafeFileChars.ReplaceAllString(pb.Name, "-")
	return fmt.Sprintf("%s-%s.journal", name, now.UTC().Format("20060102T150405Z"))
}

// exitStatus maps a run's outcome to the command's exit status.
func exitStatus(res *runner.Result) error {
	switch res.Status {
	case runner.StatusOK:
		return nil
	case runner.StatusAborted:
		return &exitError{code: exitAborted}
	}
	return &exitError{code: exitFailures}
}

// writeReports writes the files the run asked for. Every file is attempted
// even when one fails; the errors are returned together.
func writeReports(o *applyOptions, res *runner.Result) error {
	doc := report.NewDocument(res)
	var errs []string
	if o.reportFile != "" {
		if err := report.WriteFile(o.reportFile, func(w io.Writer) error { return report.WriteJSON(w, doc) }); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if o.junitFile != "" {
		if err := report.WriteFile(o.junitFile, func(w io.Writer) error { return report.WriteJUnit(w, res) }); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if o.htmlFile != "" {
		if err := writeHTML(o.htmlFile, doc); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return nil
}
