package views

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/report"
)

// HostsJSON writes the hosts as {"hosts": [...]}, the inventory command's
// --output json.
func HostsJSON(w io.Writer, hosts []*inventory.Host) error {
	if hosts == nil {
		hosts = []*inventory.Host{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(map[string]any{"hosts": hosts})
}

// HostsTable writes the hosts as a table, one row each, then their count.
func HostsTable(w io.Writer, hosts []*inventory.Host) error {
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

// sortedKeys are m's keys in order.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
