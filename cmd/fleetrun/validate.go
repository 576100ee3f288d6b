package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/fleetrun/fleetrun/internal/strictyaml"
	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/route"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/sim"
)

func newValidateCmd(e *env) *cobra.Command {
	var invFiles, extras []string
	var disc discoveryFlags
	cmd := &cobra.Command{
		Use:   "validate FILE [-i INVENTORY]... [-e KEY=VALUE]...",
		Short: "Check a playbook (and, with -i, its templates for every selected host), an inventory or a scenario",
		Long: `Validate parses a playbook strictly and reports every problem as
file:line:col: key.path: message. With -i it also selects the hosts and
expands every step's templates for each of them, so a variable missing for
some hosts is found now rather than half-way through a rollout.

Given alone, FILE may also be an inventory or a simulated-fleet scenario:
it is valid as whichever kind it parses as, and otherwise the problems
shown are those of the kind it comes closest to.`,
		Example: "  fleetrun validate examples/monthly-patch.yaml -i examples/inventory.yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			extra, err := parseExtraVars(extras)
			if err != nil {
				return invalid(err)
			}
			if len(invFiles) == 0 {
				msg, err := validateFile(args[0])
				if err != nil {
					return invalid(formatInputError(err))
				}
				fmt.Fprintln(e.stdout, msg)
				return nil
			}
			pb, err := playbook.Load(args[0])
			if err != nil {
				return invalid(formatInputError(err))
			}
			inv, err := loadInventory(invFiles)
			if err != nil {
				return invalid(formatInputError(err))
			}
			// Templates are checked against the hosts as they will be:
			// discovered ones and a declared simulated fleet included.
			inv, stop, err := materialize(e, inv, disc)
			if err != nil {
				return err
			}
			defer stop()
			hosts, err := selectHosts(inv, pb, "")
			if err != nil {
				return invalid(err)
			}
			if _, err := runner.Plan(pb, hosts, extra, route.Renderer()); err != nil {
				return invalid(formatInputError(err))
			}
			if err := checkPasswords(cmd.Context(), hosts, e.lookupEnv); err != nil {
				return invalid(err)
			}
			msg := fmt.Sprintf("ok: %s: playbook %q, %d step(s), %d host(s) selected", args[0], pb.Name, len(pb.Steps), len(hosts))
			fmt.Fprintln(e.stdout, msg)
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&invFiles, "inventory", "i", nil, "inventory `FILE` (repeatable; lists merge)")
	cmd.Flags().StringArrayVarP(&extras, "extra-var", "e", nil, "template variable `KEY=VALUE` (repeatable; highest precedence)")
	disc.register(cmd.Flags())
	return cmd
}

// validateFile checks a file given without an inventory. Besides
// playbooks, a repository's fleetrun files are inventories and
// simulated-fleet scenarios, and "validate everything" should not need to
// know which is which: the file is valid as whichever kind parses. When
// none does, the problems reported are those of the kind with the fewest
// (a playbook's on a tie), which is the kind the file was meant to be.
func validateFile(path string) (string, error) {
	pb, perr := playbook.Load(path)
	if perr == nil {
		return fmt.Sprintf("ok: %s: playbook %q, %d step(s)", path, pb.Name, len(pb.Steps)), nil
	}
	inv, ierr := inventory.Load(path)
	if ierr == nil {
		msg := fmt.Sprintf("ok: %s: inventory, %d host(s)", path, len(inv.Hosts))
		if n := len(inv.EC2); n > 0 {
			msg += fmt.Sprintf(", %d EC2 discovery section(s)", n)
		}
		if inv.Simulated != nil {
			msg += fmt.Sprintf(", a simulated fleet of %d host(s)", inv.Simulated.Hosts)
		}
		return msg, nil
	}
	sc, serr := sim.LoadScenario(path)
	if serr == nil {
		return fmt.Sprintf("ok: %s: simulated-fleet scenario, %d group(s), %d host(s)", path, len(sc.Groups), sc.Hosts), nil
	}
	best := perr
	for _, err := range []error{ierr, serr} {
		if problemCount(err) < problemCount(best) {
			best = err
		}
	}
	return "", best
}

// checkPasswords reads every selected host's password as apply will, so
// that an unset password_env or a password file apply refuses is reported
// now, in apply's words: once per password source, with how many more
// hosts share it. Passwords fetched from a service (EC2) are left to
// apply: validate contacts nothing.
func checkPasswords(ctx context.Context, hosts []*inventory.Host, lookupEnv func(string) (string, bool)) error {
	var order []string
	first := map[string]error{}
	others := map[string]int{}
	for _, h := range hosts {
		if h.PasswordFunc != nil || h.Unusable != "" {
			continue
		}
		_, err := h.Password(ctx, lookupEnv)
		if err == nil {
			continue
		}
		src := "env " + h.PasswordEnv + "\x00file " + h.PasswordFile
		if _, dup := first[src]; dup {
			others[src]++
			continue
		}
		first[src] = err
		order = append(order, src)
	}
	errs := make([]error, 0, len(order))
	for _, src := range order {
		if n := others[src]; n > 0 {
			errs = append(errs, fmt.Errorf("%w (and %d other host(s) with the same password source)", first[src], n))
			continue
		}
		errs = append(errs, first[src])
	}
	return errors.Join(errs...)
}

// problemCount is how many problems an input error lists.
func problemCount(err error) int {
	if es := strictyaml.AsErrors(err); es != nil {
		return len(es)
	}
	return 1
}
