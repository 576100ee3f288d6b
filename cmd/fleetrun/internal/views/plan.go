package views

import (
	"fmt"
	"io"
	"strings"

	"github.com/fleetrun/fleetrun/report"
	"github.com/fleetrun/fleetrun/runner"
)

// PlanText writes a dry run's plan: the batches, each host, and per
// step what the host receives.
func PlanText(w io.Writer, plan *runner.Result) error {
	fmt.Fprintf(w, "plan for playbook %q: %d host(s) in %d batch(es), forks %d", plan.Playbook, len(plan.Hosts), plan.Batches, plan.Forks)
	if plan.MaxFail >= 0 {
		fmt.Fprintf(w, ", failure budget %d", plan.MaxFail)
	}
	fmt.Fprintln(w)
	batch := -1
	for _, h := range plan.Hosts {
		if h.Batch != batch {
			batch = h.Batch
			fmt.Fprintf(w, "batch %d of %d:\n", batch+1, plan.Batches)
		}
		sim := ""
		if h.Simulated {
			sim = " [simulated]"
		}
		p := report.Printable // names, addresses and reasons come from inventories, EC2 and hosts
		fmt.Fprintf(w, "  %s (%s)%s", p(h.Name), p(h.Address), sim)
		if h.Status == runner.StatusSkipped {
			fmt.Fprintf(w, " skipped: %s", p(h.Reason))
		}
		fmt.Fprintln(w)
		for i, s := range h.Steps {
			kind := string(s.Kind)
			if s.RunAs != "" {
				kind += ", run_as " + s.RunAs
			}
			fmt.Fprintf(w, "    %d. %s [%s]", i+1, p(s.Name), kind)
			if s.CommandLine != "" {
				fmt.Fprintf(w, ": %s", p(s.CommandLine))
			}
			fmt.Fprintln(w)
			if s.Note != "" {
				fmt.Fprintf(w, "       %s\n", p(s.Note))
			}
			// A copy of a folder lists its files (the note gives the
			// total); the plan shows the first few.
			const showFiles = 10
			if len(s.Files) > 1 {
				for j, f := range s.Files {
					if j == showFiles {
						fmt.Fprintf(w, "       ... and %d more files\n", len(s.Files)-showFiles)
						break
					}
					fmt.Fprintf(w, "       %s (%s, sha256 %s) to %s\n", p(f.Local), report.FormatBytes(f.Size), f.SHA256, p(f.Path))
				}
			}
			if len(s.RemoteCommand) > 0 {
				fmt.Fprintf(w, "       sends: %s\n", clipText(strings.Join(s.RemoteCommand, " "), 120))
			}
		}
	}
	return nil
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
