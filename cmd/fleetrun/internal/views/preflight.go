package views

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fleetrun/fleetrun/preflight"
	"github.com/fleetrun/fleetrun/report"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/transport"
)

// ReasonNotChecked is why a host the stopped checks never reached is
// skipped.
const ReasonNotChecked = "the run was interrupted before this host was checked"

// NotChecked reports whether r is a host whose checks never started.
func NotChecked(r *preflight.HostResult) bool {
	return len(r.Checks) == 1 && r.Checks[0].Class == transport.ClassInterrupted && r.Checks[0].Detail == preflight.NotChecked
}

// PreflightReport presents the checks in the report's shape: one host per
// host, one step (kind "check") per check.
func PreflightReport(results []*preflight.HostResult, started, finished time.Time) *runner.Result {
	res := &runner.Result{Playbook: "preflight", Status: runner.StatusOK, Started: started, Finished: finished, MaxFail: -1, Batches: 1}
	for _, r := range results {
		hr := &runner.HostResult{Name: r.Host.Name, Address: r.Host.Address, Status: runner.StatusOK, Transport: r.Host.Transport, Simulated: r.Host.Simulated}
		if NotChecked(r) {
			hr.Status, hr.Reason = runner.StatusSkipped, ReasonNotChecked
			hr.Steps = []*runner.StepResult{{Name: preflight.CheckReach, Kind: "check", Status: runner.StatusSkipped, Reason: ReasonNotChecked, Expected: []uint32{}}}
			res.Hosts = append(res.Hosts, hr)
			continue
		}
		for i, c := range r.Checks {
			sr := &runner.StepResult{Index: i, Name: c.Name, Kind: "check", Status: runner.StatusOK, Attempts: 1, Started: c.Started, Finished: c.Finished, Stdout: c.Detail, Expected: []uint32{}}
			switch c.Status {
			case preflight.Fail:
				sr.Status = runner.StatusFailed
				sr.Err = &transport.Error{Class: c.Class, Message: c.Detail, Hint: c.Fix}
			case preflight.Skipped:
				sr.Status, sr.Reason, sr.Attempts = runner.StatusSkipped, c.Detail, 0
			case preflight.Warn:
				sr.Outcome = "warn"
				if c.Fix != "" {
					sr.Stderr = "warning: " + c.Fix
				}
			}
			hr.Steps = append(hr.Steps, sr)
		}
		if f := r.FirstFailure(); f != nil {
			hr.Status, hr.Reason = runner.StatusFailed, f.Name+": "+f.Detail
			if f.Name == preflight.CheckReach || f.Name == preflight.CheckTLS || f.Name == preflight.CheckAuth {
				hr.Status = runner.StatusUnreachable
			}
			res.Status = runner.StatusFailed
		}
		res.Hosts = append(res.Hosts, hr)
	}
	return res
}

// PreflightTable writes the checks as a table, one row per host, then
// the problems grouped by finding.
func PreflightTable(w io.Writer, results []*preflight.HostResult) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tREACHABLE\tAUTH\tOS\tPOWERSHELL\tMEMORY CAP\tSHELLS CAP\tVERDICT")
	passed := 0
	for _, r := range results {
		reach, auth := checkCell(r, preflight.CheckReach), checkCell(r, preflight.CheckAuth)
		osText, ps, mem, shells := "-", "-", "-", "-"
		if o := r.Facts.OS; o != nil {
			osText = strings.TrimPrefix(o.Caption, "Microsoft ")
		}
		if p := r.Facts.PowerShell; p != nil {
			ps = p.Version
		}
		if c := r.Facts.Config; c != nil {
			mem = mbText(c.Winrs.MaxMemoryPerShellMB)
			shells = fmt.Sprint(c.Winrs.MaxShellsPerUser)
		}
		verdict := "PASS"
		if NotChecked(r) {
			verdict = "not checked (interrupted)"
		} else if f := r.FirstFailure(); f != nil {
			verdict = "FAIL: " + f.Name
		} else if r.Passed() {
			passed++
		}
		name := r.Host.Name
		if r.Host.Simulated {
			name += " [simulated]"
		}
		p := report.Printable // the host's name and what the host says about itself
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p(name), reach, auth, p(osText), p(ps), mem, shells, verdict)
	}
	_ = tw.Flush() // stdout; a write error has nowhere better to go
	fmt.Fprintf(w, "\n%d of %d host(s) passed\n", passed, len(results))
	// Problems, grouped: the same finding on 300 hosts is listed once.
	type finding struct{ label, check, detail, fix string }
	hostsOf := map[finding][]string{}
	var order []finding
	for _, r := range results {
		if NotChecked(r) {
			continue
		}
		for _, c := range r.Checks {
			if c.Status != preflight.Fail && c.Status != preflight.Warn {
				continue
			}
			label := "FAIL"
			if c.Status == preflight.Warn {
				label = "warn"
			}
			f := finding{label, c.Name, c.Detail, c.Fix}
			if _, seen := hostsOf[f]; !seen {
				order = append(order, f)
			}
			hostsOf[f] = append(hostsOf[f], r.Host.Name)
		}
		for _, ch := range r.Changes {
			fmt.Fprintf(w, "\nchanged %s: %s\n", report.Printable(r.Host.Name), report.Printable(ch))
		}
	}
	for _, f := range order {
		fmt.Fprintf(w, "\n%s %s: %s: %s\n", f.label, report.Printable(hostNames(hostsOf[f])), f.check, report.Printable(f.detail))
		if f.fix != "" {
			fmt.Fprintf(w, "  fix: %s\n", report.Printable(f.fix))
		}
	}
}

func hostNames(names []string) string {
	const show = 5
	if len(names) <= show {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:show], ", "), len(names)-show)
}

func checkCell(r *preflight.HostResult, name string) string {
	for _, c := range r.Checks {
		if c.Name == name {
			switch c.Status {
			case preflight.Pass:
				return "yes"
			case preflight.Fail:
				return "NO (" + string(c.Class) + ")"
			case preflight.Skipped:
				return "-"
			}
			return string(c.Status)
		}
	}
	return "-"
}

func mbText(mb int64) string {
	switch {
	case mb == 0:
		return "unlimited"
	case mb < 0:
		return "?"
	}
	return fmt.Sprintf("%d MB", mb)
}
