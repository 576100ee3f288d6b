package launcher_test

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/launcher"
	"github.com/fleetrun/fleetrun/transport"
)

func TestNotFoundNamesTheMissingProgram(t *testing.T) {
	t.Parallel()
	argv := func(a ...string) transport.Command { return transport.Command{Kind: transport.KindArgv, Argv: a} }
	line := func(l string) transport.Command { return transport.Command{Kind: transport.KindCmd, Line: l} }
	ps := func(s string) transport.Command { return transport.Command{Kind: transport.KindPowerShell, Script: s} }
	const startFailed = "Exception calling \"Start\" with \"1\" argument(s): \"The system cannot find the file specified\"\r\n"
	const nameHint = "check the spelling of %s, that the package providing it is installed on the host, and that its folder is on the PATH of the account the step runs as (or give its full path)"
	tests := []struct {
		name string
		cmd  transport.Command
		res  transport.Result
		want *transport.Error
	}{
		{"an argv step's file", argv(`C:\tools\x y.exe`, "a"), transport.Result{ExitCode: 1, Stderr: startFailed},
			&transport.Error{Class: transport.ClassNotFound,
				Message: `exit code 1: the program "C:\\tools\\x y.exe" was not found on the host (Process.Start: the system cannot find the file specified)`,
				Hint:    `check that C:\tools\x y.exe exists on the host (the path and its spelling) and that the package providing it is installed there`}},
		{"an argv step's folder", argv(`C:\nope\x.exe`),
			transport.Result{ExitCode: 1, Stderr: "Exception calling \"Start\" with \"1\" argument(s): \"The system cannot find the path specified\"\r\n"},
			&transport.Error{Class: transport.ClassNotFound,
				Message: `exit code 1: the program "C:\\nope\\x.exe" was not found on the host (Process.Start: the system cannot find the file specified)`,
				Hint:    `check that C:\nope\x.exe exists on the host (the path and its spelling) and that the package providing it is installed there`}},
		{"a bare name on no PATH folder", argv("7z", "x"), transport.Result{ExitCode: 1, Stderr: startFailed},
			&transport.Error{Class: transport.ClassNotFound,
				Message: `exit code 1: the program "7z" was not found on the host (Process.Start: the system cannot find the file specified)`,
				Hint:    fmt.Sprintf(nameHint, "7z")}},
		{"a cmd line's first word", line(`"C:\Program Files\App\x.exe" /q`),
			transport.Result{ExitCode: 9009, Stderr: "'\"C:\\Program Files\\App\\x.exe\"' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n"},
			&transport.Error{Class: transport.ClassNotFound,
				Message: `exit code 9009: cmd.exe found no command or program named "C:\\Program Files\\App\\x.exe" on the host`,
				Hint:    `check that C:\Program Files\App\x.exe exists on the host (the path and its spelling) and that the package providing it is installed there`}},
		{"a localized cmd.exe (the code says it)", line(`@robocopy2 C:\a C:\b`),
			transport.Result{ExitCode: 9009, Stderr: "'robocopy2' は、内部コマンドまたは外部コマンド、\r\n操作可能なプログラムまたはバッチ ファイルとして認識されていません。\r\n"},
			&transport.Error{Class: transport.ClassNotFound,
				Message: `exit code 9009: cmd.exe found no command or program named "robocopy2" on the host`,
				Hint:    fmt.Sprintf(nameHint, "robocopy2")}},
		{"a PowerShell command", ps("Install-Foo -Name x"),
			transport.Result{ExitCode: 1, Stderr: "The term 'Install-Foo' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling.\r\n"},
			&transport.Error{Class: transport.ClassNotFound,
				Message: `exit code 1: PowerShell found no command named "Install-Foo" on the host`,
				Hint:    fmt.Sprintf(nameHint, "Install-Foo") + "; for a cmdlet, that the module providing it is installed (Get-Module -ListAvailable)"}},
		{"a program that ran and failed", argv(`C:\tools\setup.exe`), transport.Result{ExitCode: 1, Stderr: "file not found\r\n"}, nil},
		{"a cmd line ending 1", line("type C:\\nope.txt"), transport.Result{ExitCode: 1, Stderr: "The system cannot find the file specified.\r\n"}, nil},
		{"9009 from an argv program", argv(`C:\tools\exitcode.exe`, "9009"), transport.Result{ExitCode: 9009}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, launcher.NotFound(tc.cmd, tc.res)); diff != "" {
				t.Errorf("NotFound (-want +got):\n%s", diff)
			}
		})
	}
}
