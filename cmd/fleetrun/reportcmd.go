package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/fleetrun/fleetrun/report"
	htmlreport "github.com/fleetrun/fleetrun/report/html"
)

func newReportCmd(e *env) *cobra.Command {
	var htmlOut string
	cmd := &cobra.Command{
		Use:   "report REPORT.json [--html FILE]",
		Short: "Render a saved JSON report (also from older fleetrun versions)",
		Long: `Report reads a JSON report written by fleetrun apply --report (or preflight
--report) and renders it: --html writes one self-contained HTML page with the
fleet timeline, the failures and every host's steps; without --html a short
summary is printed.`,
		Example: "  fleetrun report out.json --html out.html",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return invalid(err)
			}
			doc, err := htmlreport.ReadJSON(f)
			_ = f.Close() // read-only; everything needed was read
			if err != nil {
				return invalid(fmt.Errorf("%s: %w", args[0], err))
			}
			if htmlOut != "" {
				if err := report.WriteFile(htmlOut, func(w io.Writer) error {
					return htmlreport.Render(w, doc, htmlreport.Options{Source: filepath.Base(args[0])})
				}); err != nil {
					return invalid(err)
				}
				fmt.Fprintf(e.stdout, "wrote %s\n", htmlOut)
				return nil
			}
			s := doc.Summary
			fmt.Fprintf(e.stdout, "%s: %s, %d hosts: %d ok, %d failed, %d unreachable, %d skipped\n",
				doc.Playbook, doc.Status, s.Hosts, s.OK, s.Failed, s.Unreachable, s.Skipped)
			return nil
		},
	}
	cmd.Flags().StringVar(&htmlOut, "html", "", "write a self-contained HTML report to `FILE`")
	return cmd
}

// writeHTML writes the HTML report of a finished run.
func writeHTML(path string, doc *report.Document) error {
	return report.WriteFile(path, func(w io.Writer) error { return htmlreport.Render(w, doc, htmlreport.Options{}) })
}
