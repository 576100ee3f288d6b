// Command fleetrun runs ordered steps on many Windows hosts at once over
// WinRM, from a YAML playbook, and reports a result for every host.
//
// This package only wires things together: flags, building values, one call
// per command, and mapping errors to exit statuses.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fleetrun/fleetrun/report"
)

// Exit statuses, as the design's command-line contract defines them.
const (
	exitOK       = 0
	exitInvalid  = 1 // invalid input or internal error
	exitFailures = 2 // the run finished and at least one host failed
	exitAborted  = 3 // the run stopped early (budget spent, interrupted)
)

// exitError carries an exit status; a nil err means "nothing more to print".
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// env is what commands need from the process, so tests can supply fakes.
type env struct {
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)
	// stop owns stop requests (signals); execute makes one when nil.
	stop       *stopper
	isTerminal bool
}

func main() {
	tuneGC(os.Args[1:], os.LookupEnv)
	os.Exit(run(os.Args[1:]))
}

// run executes one command line and returns the exit status.
func run(args []string) int {
	stderr := &lostOutput{w: os.Stderr}
	// The signals' owner is installed before any work starts, for every
	// command.
	stop := newStopper(context.Background(), stderr)
	unwatch := watchSignals(stop)
	defer unwatch()
	e := &env{
		stdout:     &lostOutput{w: os.Stdout},
		stderr:     stderr,
		lookupEnv:  os.LookupEnv,
		stop:       stop,
		isTerminal: isTerminal(os.Stdout),
	}
	return execute(context.Background(), e, args)
}

func execute(ctx context.Context, e *env, args []string) int {
	if e.stop == nil {
		e.stop = newStopper(ctx, e.stderr)
	}
	defer e.stop.release()
	root := newRootCmd(e) //nolint:contextcheck // commands get ctx through ExecuteContext and cmd.Context()
	root.SetArgs(args)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	// Commands run under the stopper's hard context: it ends at the second
	// stop request (cancelling running steps).
	err := root.ExecuteContext(e.stop.Hard()) //nolint:contextcheck // the stopper's contexts derive from ctx
	if err == nil {
		return exitOK
	}
	var xe *exitError
	if errors.As(err, &xe) {
		if xe.err != nil {
			fmt.Fprintln(e.stderr, "fleetrun:", printableLines(xe.err.Error()))
		}
		return xe.code
	}
	fmt.Fprintln(e.stderr, "fleetrun:", printableLines(err.Error()))
	return exitInvalid
}

// printableLines passes each line of text for the terminal through
// report.Printable: errors carry host names, tags and messages from
// inventories, EC2 and hosts, and a problem list spans several lines.
func printableLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = report.Printable(l)
	}
	return strings.Join(lines, "\n")
}

func newRootCmd(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "fleetrun",
		Short: "Run ordered steps on many Windows hosts at once over WinRM",
		Long: `fleetrun runs ordered steps (PowerShell scripts, cmd.exe lines, exact argument
arrays) on many Windows hosts at once over WinRM, from a YAML playbook, against
a static or EC2-discovered inventory, and reports a result for every host.

Exit status: 0 all succeeded; 1 invalid input or internal error; 2 the run
finished and at least one host failed or was unreachable; 3 the run stopped
early (failure budget spent, or interrupted).`,
		Example: `  fleetrun apply examples/monthly-patch.yaml -i examples/sim-inventory.yaml
  fleetrun run -i examples/sim-inventory.yaml -- hostname`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.CompletionOptions.HiddenDefaultCmd = true
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: exitInvalid, err: fmt.Errorf("%w (see %s --help)", err, c.CommandPath())}
	})
	root.AddCommand(
		newApplyCmd(e),
		newRunCmd(e),
		newValidateCmd(e),
		newInventoryCmd(e),
		newVersionCmd(e),
		newSimCmd(e),
		newReportCmd(e),
		newPreflightCmd(e),
		newCompletionCmd(),
	)
	registerCompletions(root)
	return root
}
