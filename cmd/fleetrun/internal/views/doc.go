// Package views renders what fleetrun's commands print beside the reports:
// the inventory command's host table and JSON, the pre-flight table and
// its report model, validate's warnings, and fleetrun run's results
// grouped by identical output with compressed host names. Commands parse
// and check their flags, do the work, and hand the results here; nothing
// here reads flags, opens connections or decides an exit status.
package views
