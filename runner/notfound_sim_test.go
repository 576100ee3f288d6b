package runner_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/transport"
	"github.com/fleetrun/fleetrun/winrm"
)

// notFoundPlaybook names a program the host lacks in each kind of step;
// every step goes on after failing, so one host shows all three.
const notFoundPlaybook = `
name: missing
steps:
  - name: argv
    command: ['C:\tools\no-such-tool.exe', '--version']
    continue_on_error: true
  - name: bare argv
    command: [nosuchtool]
    continue_on_error: true
  - name: line
    cmd: nosuchtool --version & echo after
    continue_on_error: true
  - name: script
    powershell: Install-Foo -Name x
    continue_on_error: true
`

// A program that does not exist ends its step with class not_found and a
// hint naming it, whichever way the step runs it; the step keeps the exit
// code the host gave. The failures were all allowed (continue_on_error),
// so the host is ok and counts them as ignored.
func TestMissingProgramsAreNotFoundOnASimulatedHost(t *testing.T) {
	t.Parallel()
	hosts, _ := simFleet(t, 1, "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := runner.Run(ctx, mustPlaybook(t, notFoundPlaybook), hosts, runner.Options{
		Dialer: winrm.NewDialer(winrm.Options{}), Target: simTarget, CloseTimeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	pathHint := func(p string) string {
		return "check that " + p + " exists on the host (the path and its spelling) and that the package providing it is installed there"
	}
	nameHint := func(p string) string {
		return "check the spelling of " + p + ", that the package providing it is installed on the host, and that its folder is on the PATH " +
			"of the account the step runs as (or give its full path)"
	}
	type step struct {
		Name string
		Exit uint32
		Err  transport.Error
	}
	want := []step{
		{"argv", 1, transport.Error{Class: transport.ClassNotFound,
			Message: `exit code 1: the program "C:\\tools\\no-such-tool.exe" was not found on the host (Process.Start: the system cannot find the file specified)`,
			Hint:    pathHint(`C:\tools\no-such-tool.exe`)}},
		{"bare argv", 1, transport.Error{Class: transport.ClassNotFound,
			Message: `exit code 1: the program "nosuchtool" was not found on the host (Process.Start: the system cannot find the file specified)`,
			Hint:    nameHint("nosuchtool")}},
		{"line", 9009, transport.Error{Class: transport.ClassNotFound,
			Message: `exit code 9009: cmd.exe found no command or program named "nosuchtool" on the host`,
			Hint:    nameHint("nosuchtool")}},
		{"script", 1, transport.Error{Class: transport.ClassNotFound,
			Message: `exit code 1: PowerShell found no command named "Install-Foo" on the host`,
			Hint:    nameHint("Install-Foo") + "; for a cmdlet, that the module providing it is installed (Get-Module -ListAvailable)"}},
	}
	h := res.Hosts[0]
	var got []step
	for _, s := range h.Steps {
		g := step{Name: s.Name}
		if s.Status != runner.StatusFailed || s.ExitCode == nil || s.Err == nil {
			t.Errorf("step %q: status %s, exit %v, error %v; want failed with an exit code and an error", s.Name, s.Status, s.ExitCode, s.Err)
			continue
		}
		g.Exit = *s.ExitCode
		g.Err = transport.Error{Class: s.Err.Class, Message: s.Err.Message, Hint: s.Err.Hint}
		got = append(got, g)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if h.Status != runner.StatusOK || h.IgnoredFailures() != 4 || res.Status != runner.StatusOK {
		t.Errorf("host %s with %d ignored failures, run %s; want the host ok with 4 ignored failures, the run ok", h.Status, h.IgnoredFailures(), res.Status)
	}
}
