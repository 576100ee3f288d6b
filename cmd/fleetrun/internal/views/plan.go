package views

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/fleetrun/fleetrun/report"
	"github.com/fleetrun/fleetrun/runner"
)

// Bounds of what a plan shows of one step.
const (
	// planArgs is how many argv elements a step lists.
	planArgs = 50
	// planScriptLines is how many lines of a script a step shows.
	planScriptLines = 20
	// planLineChars is how many characters of one script line it shows.
	planLineChars = 200
	// planFiles is how many files of a copy it lists.
	planFiles = 10
)

// PlanText writes a dry run's plan: the batches, each host, and per
// step what the host's program receives, decoded — an argv step's
// arguments one by one («» mark where each starts and ends; they are not
// part of it) and the command line the program receives, a cmd step's line
// as cmd.exe parses it, a powershell step's script after template
// expansion (the first lines, tabs as four spaces) — then how it travels
// (sends:, the transport's remote command, clipped). When the failure
// budget bounds how many hosts run at once, the second line says so. Text
// from inventories, hosts and playbooks goes through report.Printable.
func PlanText(w io.Writer, plan *runner.Result) error {
	fmt.Fprintf(w, "plan for playbook %q: %d host(s) in %d batch(es), forks %d", plan.Playbook, len(plan.Hosts), plan.Batches, plan.Forks)
	if plan.MaxFail >= 0 {
		fmt.Fprintf(w, ", failure budget %d", plan.MaxFail)
	}
	fmt.Fprintln(w)
	if note := report.ConcurrencyNote(plan.Concurrency, plan.MaxFail); note != "" {
		fmt.Fprintln(w, note)
	}
	batch := -1
	for _, h := range plan.Hosts {
		if h.Batch != batch {
			batch = h.Batch
			fmt.Fprintf(w, "%s:\n", report.BatchLabel(batch, plan.Batches))
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
			fmt.Fprintf(w, "    %d. %s [%s]\n", i+1, p(s.Name), kind)
			planDecoded(w, s)
			if s.Note != "" {
				fmt.Fprintf(w, "       %s\n", p(s.Note))
			}
			// A copy of a folder lists its files (the note gives the
			// total); the plan shows the first few.
			if len(s.Files) > 1 {
				for j, f := range s.Files {
					if j == planFiles {
						fmt.Fprintf(w, "       ... and %d more files\n", len(s.Files)-planFiles)
						break
					}
					fmt.Fprintf(w, "       %s (%s, sha256 %s) to %s\n", p(f.Local), report.FormatBytes(f.Size), f.SHA256, p(f.Path))
				}
			}
			if len(s.RemoteCommand) > 0 {
				// The SSM document's name comes from the inventory, and its
				// script spans lines.
				fmt.Fprintf(w, "       sends: %s\n", clipText(p(strings.Join(s.RemoteCommand, " ")), 120))
			}
		}
	}
	return nil
}

// planDecoded writes what a step's program receives.
func planDecoded(w io.Writer, s *runner.StepResult) {
	p := report.Printable // arguments, lines and scripts hold host and inventory values
	for i, a := range s.Argv {
		if i == planArgs {
			fmt.Fprintf(w, "       … %d more arguments\n", len(s.Argv)-planArgs)
			break
		}
		fmt.Fprintf(w, "       argv[%d] «%s»\n", i, p(a))
	}
	if s.CmdLine != "" {
		fmt.Fprintf(w, "       cmd.exe parses: %s\n", p(s.CmdLine))
	}
	if s.CommandLine != "" {
		fmt.Fprintf(w, "       command line: %s\n", p(s.CommandLine))
	}
	if s.Script == "" {
		return
	}
	lines := strings.Split(strings.TrimRight(s.Script, "\r\n"), "\n")
	fmt.Fprintf(w, "       script (%s):\n", plural(len(lines), "line"))
	for i, l := range lines {
		if i == planScriptLines {
			fmt.Fprintf(w, "         … %s\n", plural(len(lines)-planScriptLines, "more line"))
			break
		}
		l = strings.ReplaceAll(strings.TrimSuffix(l, "\r"), "\t", "    ")
		if n := utf8.RuneCountInString(l); n > planLineChars {
			l = string([]rune(l)[:planLineChars]) + fmt.Sprintf(" … %s", plural(n-planLineChars, "more character"))
		}
		fmt.Fprintf(w, "         %s\n", p(l))
	}
}

// plural is "1 line" or "3 lines".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// clipText cuts s to n bytes with "..." at the end, never inside a
// character.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
