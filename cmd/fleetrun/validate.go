package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/runner"
)

func newValidateCmd(e *env) *cobra.Command {
	var invFiles, extras []string
	var disc discoveryFlags
	cmd := &cobra.Command{
		Use:   "validate PLAYBOOK [-i INVENTORY]... [-e KEY=VALUE]...",
		Short: "Check a playbook (and, with -i, its templates for every selected host)",
		Long: `Validate parses a playbook strictly and reports every problem as
file:line:col: key.path: message. With -i it also selects the hosts and
expands every step's templates for each of them, so a variable missing for
some hosts is found now rather than half-way through a rollout.`,
		Example: "  fleetrun validate examples/monthly-patch.yaml -i examples/inventory.yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			extra, err := parseExtraVars(extras)
			if err != nil {
				return invalid(err)
			}
			pb, err := playbook.Load(args[0])
			if err != nil {
				return invalid(formatInputError(err))
			}
			msg := fmt.Sprintf("ok: %s: playbook %q, %d step(s)", args[0], pb.Name, len(pb.Steps))
			if len(invFiles) > 0 {
				inv, err := loadInventory(invFiles)
				if err != nil {
					return invalid(formatInputError(err))
				}
				// Templates are checked against the hosts as they will be:
				// discovered ones and a declared simulated fleet included.
				inv, stop, err := materialize(cmd.Context(), e, inv, disc)
				if err != nil {
					return err
				}
				defer stop()
				hosts, err := selectHosts(inv, pb, "")
				if err != nil {
					return invalid(err)
				}
				if _, err := runner.Plan(pb, hosts, extra, renderer()); err != nil {
					return invalid(formatInputError(err))
				}
				msg += fmt.Sprintf(", %d host(s) selected", len(hosts))
			}
			fmt.Fprintln(e.stdout, msg)
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&invFiles, "inventory", "i", nil, "inventory `FILE` (repeatable; lists merge)")
	cmd.Flags().StringArrayVarP(&extras, "extra-var", "e", nil, "template variable `KEY=VALUE` (repeatable; highest precedence)")
	disc.register(cmd.Flags())
	return cmd
}
