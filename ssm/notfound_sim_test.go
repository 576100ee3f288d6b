package ssm_test

import (
	"testing"

	"github.com/fleetrun/fleetrun/sim"
	"github.com/fleetrun/fleetrun/ssm"
	"github.com/fleetrun/fleetrun/transport"
)

// Through the agent a missing program fails as it does over WinRM: the
// session classifies it not_found, naming the program, and the result
// keeps the exit code.
func TestMissingProgramsAreNotFoundThroughTheAgent(t *testing.T) {
	t.Parallel()
	_, hosts := startFleet(t, 3, "", sim.FleetOptions{})
	d := newDialer(t, options(t))
	var targets []transport.Target
	for _, h := range hosts {
		targets = append(targets, target(t, h))
	}
	cmds := []transport.Command{
		{Kind: transport.KindArgv, Argv: []string{`C:\tools\no-such-tool.exe`}},
		{Kind: transport.KindCmd, Line: "nosuchtool --version"},
		{Kind: transport.KindPowerShell, Script: "Install-Foo -Name x"},
	}
	res, errs := runAll(t, d, targets, func(i int) transport.Command { return cmds[i] })
	want := []struct {
		exit uint32
		msg  string
	}{
		{1, `exit code 1: the program "C:\\tools\\no-such-tool.exe" was not found on the host (Process.Start: the system cannot find the file specified)`},
		{9009, `exit code 9009: cmd.exe found no command or program named "nosuchtool" on the host`},
		{1, `exit code 1: PowerShell found no command named "Install-Foo" on the host`},
	}
	var s ssm.Session // ClassifyExit reads nothing of the session
	for i, w := range want {
		if errs[i] != nil || res[i].ExitCode != w.exit {
			t.Errorf("%s step: exit %d, %v; want exit %d", cmds[i].Kind, res[i].ExitCode, errs[i], w.exit)
			continue
		}
		te := s.ClassifyExit(cmds[i], res[i])
		if te == nil || te.Class != transport.ClassNotFound || te.Message != w.msg || te.Hint == "" {
			t.Errorf("%s step: classified %+v; want not_found: %s", cmds[i].Kind, te, w.msg)
		}
	}
}
