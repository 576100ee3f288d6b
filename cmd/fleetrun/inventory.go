package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/fleetrun/fleetrun/cmd/fleetrun/internal/views"
)

func newInventoryCmd(e *env) *cobra.Command {
	var invFiles []string
	var limit, output string
	var disc discoveryFlags
	cmd := &cobra.Command{
		Use:     "inventory -i INVENTORY... [--limit SELECTOR] [--output text|json]",
		Short:   "List the hosts an inventory (and --limit) selects",
		Example: "  fleetrun inventory -i examples/inventory.yaml --limit 'role=web' --output json",
		Args:    cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return invalid(err)
			}
			inv, err := loadInventory(invFiles)
			if err != nil {
				return invalid(formatInputError(err))
			}
			inv, stop, err := materialize(e, inv, disc)
			if err != nil {
				return err
			}
			defer stop()
			hosts, err := selectHosts(inv, nil, limit)
			if err != nil {
				return invalid(err)
			}
			if output == "json" {
				return views.HostsJSON(e.stdout, hosts)
			}
			return views.HostsTable(e.stdout, hosts)
		},
	}
	cmd.Flags().StringArrayVarP(&invFiles, "inventory", "i", nil, "inventory `FILE` (repeatable; lists merge)")
	stringOnce(cmd.Flags(), &limit, "limit", "only hosts matching `SELECTOR` (e.g. 'role=web,!web-9*', '@db')")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	disc.register(cmd.Flags())
	return cmd
}

func checkOutput(o string) error {
	if o != "text" && o != "json" {
		return fmt.Errorf("--output %q: expected text or json", o)
	}
	return nil
}
