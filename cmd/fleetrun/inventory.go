package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/report"
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
				return writeHostsJSON(e.stdout, hosts)
			}
			return writeHostsTable(e.stdout, hosts)
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

func writeHostsJSON(w io.Writer, hosts []*inventory.Host) error {
	if hosts == nil {
		hosts = []*inventory.Host{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(map[string]any{"hosts": hosts})
}

func writeHostsTable(w io.Writer, hosts []*inventory.Host) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tADDRESS\tPORT\tSCHEME\tAUTH\tGROUPS\tTAGS\tSOURCE")
	// Every cell comes from an inventory or from EC2 tags, which anyone
	// allowed to tag an instance writes: report.Printable escapes what a
	// terminal would act on (and tabs and line breaks, which would break
	// the table).
	p := report.Printable
	for _, h := range hosts {
		var tags []string
		for _, k := range sortedKeys(h.Tags) {
			tags = append(tags, p(k)+"="+p(h.Tags[k]))
		}
		src := h.Source
		if h.Simulated {
			src = "simulated"
		}
		if h.Unusable != "" {
			src += " (unusable: " + h.Unusable + ")"
		}
		groups := make([]string, len(h.Groups))
		for i, g := range h.Groups {
			groups[i] = p(g)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", p(h.Name), p(h.Address), h.Port, h.Scheme(), p(h.Auth),
			dash(strings.Join(groups, ",")), dash(strings.Join(tags, ",")), p(src))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d host(s)\n", len(hosts))
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
