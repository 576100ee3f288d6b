package views

import (
	"fmt"
	"io"

	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/report"
)

// Warnings writes what is valid in pb but likely wrong (a host value
// unquoted in a cmd: line), one "warning: file:line:col: path: message"
// line each. Warnings do not change the exit status.
func Warnings(w io.Writer, pb *playbook.Playbook) {
	for _, warn := range pb.Warnings() {
		fmt.Fprintln(w, "warning:", report.Printable(warn.Error()))
	}
}
