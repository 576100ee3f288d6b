package sim

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/masterzen/winrm"

	"github.com/fleetrun/fleetrun/sim/internal/cmdexe"
)

// runLauncherScript runs a script the way fleetrun's powershell steps
// reach a host: a script payload of the launcher.
func runLauncherScript(t *testing.T, c *winrm.Client, script string) (stdout, stderr string, code int) {
	t.Helper()
	command, _ := launcherCommand(t, scriptPayload(script), false)
	return runMZ(t, c, command)
}

// runPSCommand runs a one-line script as powershell -Command "..."
// through cmd.exe, which the script must not need quoting from: no
// double quotes, no %.
func runPSCommand(t *testing.T, c *winrm.Client, script string) (stdout, stderr string, code int) {
	t.Helper()
	if strings.ContainsAny(script, "\"%\r\n") {
		t.Fatalf("%q cannot travel in a -Command line as written", script)
	}
	return runMZ(t, c, `powershell -NoProfile -NonInteractive -Command "`+script+`"`)
}

// commandView is the console's error view -Command shows: the message
// (after "Command : " for a command's error), the position, the category
// and the error ID.
func commandView(prefix, msg, line string, col, width int, category, fqid string) string {
	pos := "At line:1 char:" + itoa(col) + "\r\n+ " + line + "\r\n+ " + strings.Repeat(" ", col-1) + strings.Repeat("~", width) + "\r\n"
	if prefix != "" {
		msg = prefix + " : " + msg
	}
	return msg + "\r\n" + pos + "    + CategoryInfo          : " + category + "\r\n    + FullyQualifiedErrorId : " + fqid + "\r\n \r\n"
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

const notRecognized = "is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again."

// TestWrongScriptsNeverExitZero runs scripts that are wrong through
// fleetrun's launcher and through powershell -Command: every one fails
// with a non-zero exit code and Windows PowerShell's message on stderr,
// or, for what the model does not know, says so.
func TestWrongScriptsNeverExitZero(t *testing.T) {
	t.Parallel()
	sc := mustScenario(t, `
defaults:
  powershell_progress: false
`)
	f := startFleet(t, FleetOptions{Hosts: 1, Scenario: sc})
	c := mzClient(t, f, f.Hosts()[0], ntlmSealed, "PT60S")
	// For each script: the launcher's stderr (message, "\n", position)
	// and exit code, and what -Command writes and exits with.
	tests := []struct {
		name        string
		script      string
		launcherErr string
		launcherRC  int
		commandErr  string
	}{
		{
			name: "an unknown command", script: "Get-Foo",
			launcherErr: "The term 'Get-Foo' " + notRecognized + "\nAt line:1 char:1\r\n+ Get-Foo\r\n+ ~~~~~~~\r\n", launcherRC: 1,
			commandErr: commandView("Get-Foo", "The term 'Get-Foo' "+notRecognized, "Get-Foo", 1, 7, "ObjectNotFound: (Get-Foo:String) [], CommandNotFoundException", "CommandNotFoundException"),
		},
		{
			name: "a typo in a cmdlet's name", script: "Get-Servce WinRM",
			launcherErr: "The term 'Get-Servce' " + notRecognized + "\nAt line:1 char:1\r\n+ Get-Servce WinRM\r\n+ ~~~~~~~~~~\r\n", launcherRC: 1,
			commandErr: commandView("Get-Servce", "The term 'Get-Servce' "+notRecognized, "Get-Servce WinRM", 1, 10, "ObjectNotFound: (Get-Servce:String) [], CommandNotFoundException", "CommandNotFoundException"),
		},
		{
			name: "a program that is not there", script: `& 'C:\nope\x.exe'`,
			launcherErr: `The term 'C:\nope\x.exe' ` + notRecognized + "\nAt line:1 char:3\r\n+ & 'C:\\nope\\x.exe'\r\n+   ~~~~~~~~~~~~~~~\r\n", launcherRC: 1,
			commandErr: commandView(`C:\nope\x.exe`, `The term 'C:\nope\x.exe' `+notRecognized, `& 'C:\nope\x.exe'`, 3, 15, `ObjectNotFound: (C:\nope\x.exe:String) [], CommandNotFoundException`, "CommandNotFoundException"),
		},
		{
			name: "a missing file with -ErrorAction Stop", script: `Get-Content C:\nope.txt -ErrorAction Stop`,
			launcherErr: "Cannot find path 'C:\\nope.txt' because it does not exist.\nAt line:1 char:1\r\n+ Get-Content C:\\nope.txt -ErrorAction Stop\r\n+ " + strings.Repeat("~", 41) + "\r\n", launcherRC: 1,
			commandErr: commandView("Get-Content", `Cannot find path 'C:\nope.txt' because it does not exist.`, `Get-Content C:\nope.txt -ErrorAction Stop`, 1, 41,
				`ObjectNotFound: (C:\nope.txt:String) [Get-Content], ItemNotFoundException`, "PathNotFound,Microsoft.PowerShell.Commands.GetContentCommand"),
		},
		{
			name: "a missing file read with .NET", script: `[IO.File]::ReadAllText('C:\nope.txt')`,
			launcherErr: "Exception calling \"ReadAllText\" with \"1\" argument(s): \"Could not find file 'C:\\nope.txt'.\"\nAt line:1 char:1\r\n+ [IO.File]::ReadAllText('C:\\nope.txt')\r\n+ ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\r\n", launcherRC: 1,
			commandErr: commandView("", `Exception calling "ReadAllText" with "1" argument(s): "Could not find file 'C:\nope.txt'."`, `[IO.File]::ReadAllText('C:\nope.txt')`, 1, 37,
				"NotSpecified: (:) [], MethodInvocationException", "FileNotFoundException"),
		},
		{
			name: "a number that does not parse", script: "[int]::Parse('x')",
			launcherErr: "Exception calling \"Parse\" with \"1\" argument(s): \"Input string was not in a correct format.\"\nAt line:1 char:1\r\n+ [int]::Parse('x')\r\n+ ~~~~~~~~~~~~~~~~~\r\n", launcherRC: 1,
			commandErr: commandView("", `Exception calling "Parse" with "1" argument(s): "Input string was not in a correct format."`, "[int]::Parse('x')", 1, 17,
				"NotSpecified: (:) [], MethodInvocationException", "FormatException"),
		},
		{
			name: "a division by zero", script: "1/0",
			launcherErr: "Attempted to divide by zero.\nAt line:1 char:1\r\n+ 1/0\r\n+ ~~~\r\n", launcherRC: 1,
			commandErr: commandView("", "Attempted to divide by zero.", "1/0", 1, 3, "NotSpecified: (:) [], ParentContainsErrorRecordException", "RuntimeException"),
		},
		{
			name: "a method on $null", script: "$x = $null; $x.Trim()",
			launcherErr: "You cannot call a method on a null-valued expression.\nAt line:1 char:13\r\n+ $x = $null; $x.Trim()\r\n+             ~~~~~~~~~\r\n", launcherRC: 1,
			commandErr: commandView("", "You cannot call a method on a null-valued expression.", "$x = $null; $x.Trim()", 13, 9, "InvalidOperation: (:) [], RuntimeException", "InvokeMethodOnNull"),
		},
		{
			name: "an index into $null", script: "$a = $null; $a[0]",
			launcherErr: "Cannot index into a null array.\nAt line:1 char:13\r\n+ $a = $null; $a[0]\r\n+             ~~~~~\r\n", launcherRC: 1,
			commandErr: commandView("", "Cannot index into a null array.", "$a = $null; $a[0]", 13, 5, "InvalidOperation: (:) [], RuntimeException", "NullArray"),
		},
		{
			name: "a property set on $null", script: "$x = $null; $x.Name = 'a'",
			launcherErr: "The property 'Name' cannot be found on this object. Verify that the property exists and can be set.\nAt line:1 char:13\r\n+ $x = $null; $x.Name = 'a'\r\n+             ~~~~~~~\r\n", launcherRC: 1,
			commandErr: commandView("", "The property 'Name' cannot be found on this object. Verify that the property exists and can be set.", "$x = $null; $x.Name = 'a'", 13, 7, "InvalidOperation: (:) [], RuntimeException", "PropertyNotFound"),
		},
		{
			name: "a cast that fails", script: "[int]'abc'",
			launcherErr: "Cannot convert value \"abc\" to type \"System.Int32\". Error: \"Input string was not in a correct format.\"\nAt line:1 char:1\r\n+ [int]'abc'\r\n+ ~~~~~~~~~~\r\n", launcherRC: 1,
			commandErr: commandView("", `Cannot convert value "abc" to type "System.Int32". Error: "Input string was not in a correct format."`, "[int]'abc'", 1, 10, "InvalidArgument: (:) [], PSInvalidCastException", "InvalidCastFromStringToInteger"),
		},
		{
			name: "a comparison that cannot convert", script: "5 -lt 'x'",
			launcherErr: "Could not compare \"5\" to \"x\". Error: \"Cannot convert value \"x\" to type \"System.Int32\". Error: \"Input string was not in a correct format.\"\"\nAt line:1 char:1\r\n+ 5 -lt 'x'\r\n+ ~~~~~~~~~\r\n", launcherRC: 1,
			commandErr: commandView("", `Could not compare "5" to "x". Error: "Cannot convert value "x" to type "System.Int32". Error: "Input string was not in a correct format.""`, "5 -lt 'x'", 1, 9, "InvalidOperation: (:) [], RuntimeException", "ComparisonFailure"),
		},
		{
			name: "a missing update with -ErrorAction Stop", script: "Get-HotFix -Id KB1234567 -ErrorAction Stop",
			launcherErr: "Cannot find the requested hotfix on the 'localhost' computer. Verify the input and run the command again.\nAt line:1 char:1\r\n+ Get-HotFix -Id KB1234567 -ErrorAction Stop\r\n+ ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\r\n", launcherRC: 1,
			commandErr: commandView("Get-HotFix", "Cannot find the requested hotfix on the 'localhost' computer. Verify the input and run the command again.", "Get-HotFix -Id KB1234567 -ErrorAction Stop", 1, 42,
				"ObjectNotFound: (:) [Get-HotFix], ArgumentException", "GetHotFixNoEntriesFound,Microsoft.PowerShell.Commands.GetHotFixCommand"),
		},
		{
			name: "a missing service with -ErrorAction Stop", script: "Get-Service W3SVC -ErrorAction Stop",
			launcherErr: "Cannot find any service with service name 'W3SVC'.\nAt line:1 char:1\r\n+ Get-Service W3SVC -ErrorAction Stop\r\n+ ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\r\n", launcherRC: 1,
			commandErr: commandView("Get-Service", "Cannot find any service with service name 'W3SVC'.", "Get-Service W3SVC -ErrorAction Stop", 1, 35,
				"ObjectNotFound: (W3SVC:String) [Get-Service], ServiceCommandException", "NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.GetServiceCommand"),
		},
		{
			name: "restarting a service that is not there", script: "Restart-Service W3SVC -ErrorAction Stop",
			launcherErr: "Cannot find any service with service name 'W3SVC'.\nAt line:1 char:1\r\n+ Restart-Service W3SVC -ErrorAction Stop\r\n+ ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\r\n", launcherRC: 1,
			commandErr: commandView("Restart-Service", "Cannot find any service with service name 'W3SVC'.", "Restart-Service W3SVC -ErrorAction Stop", 1, 39,
				"ObjectNotFound: (W3SVC:String) [Restart-Service], ServiceCommandException", "NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.RestartServiceCommand"),
		},
		{
			name: "a folder that is not there", script: `Set-Location C:\nope -ErrorAction Stop`,
			launcherErr: "Cannot find path 'C:\\nope' because it does not exist.\nAt line:1 char:1\r\n+ Set-Location C:\\nope -ErrorAction Stop\r\n+ ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\r\n", launcherRC: 1,
			commandErr: commandView("Set-Location", `Cannot find path 'C:\nope' because it does not exist.`, `Set-Location C:\nope -ErrorAction Stop`, 1, 38,
				`ObjectNotFound: (C:\nope:String) [Set-Location], ItemNotFoundException`, "PathNotFound,Microsoft.PowerShell.Commands.SetLocationCommand"),
		},
		{
			name: "an unknown .NET type", script: "[Foo.Bar]::Baz()",
			launcherErr: "simulated host: this PowerShell is not modelled: [Foo.Bar]::Baz()\nAt line:1 char:1\r\n+ [Foo.Bar]::Baz()\r\n+ ~~~~~~~~~\r\n", launcherRC: 1,
			commandErr: commandView("", "simulated host: this PowerShell is not modelled: [Foo.Bar]::Baz()", "[Foo.Bar]::Baz()", 1, 9, "NotImplemented: (:) [], NotImplementedException", "NotModelled"),
		},
		{
			name: "a method the model does not know", script: "'abc'.Normalize()",
			launcherErr: "simulated host: this PowerShell is not modelled: 'abc'.Normalize()\nAt line:1 char:1\r\n+ 'abc'.Normalize()\r\n+ ~~~~~~~~~~~~~~~~~\r\n", launcherRC: 1,
			commandErr: commandView("", "simulated host: this PowerShell is not modelled: 'abc'.Normalize()", "'abc'.Normalize()", 1, 17, "NotImplemented: (:) [], NotImplementedException", "NotModelled"),
		},
		{
			name: "a cmdlet parameter the model does not know", script: "Get-Service -Nme WinRM",
			launcherErr: "simulated host: this PowerShell is not modelled: Get-Service -Nme WinRM\nAt line:1 char:1\r\n+ Get-Service -Nme WinRM\r\n+ ~~~~~~~~~~~~~~~~~~~~~~\r\n", launcherRC: 1,
			commandErr: commandView("", "simulated host: this PowerShell is not modelled: Get-Service -Nme WinRM", "Get-Service -Nme WinRM", 1, 22, "NotImplemented: (:) [], NotImplementedException", "NotModelled"),
		},
		{
			name: "a cmdlet the model does not have", script: "Invoke-WebRequest http://fileserver/x.msu",
			launcherErr: "simulated host: this PowerShell is not modelled: Invoke-WebRequest http://fileserver/x.msu\nAt line:1 char:1\r\n+ Invoke-WebRequest http://fileserver/x.msu\r\n+ ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\r\n", launcherRC: 1,
			commandErr: commandView("", "simulated host: this PowerShell is not modelled: Invoke-WebRequest http://fileserver/x.msu", "Invoke-WebRequest http://fileserver/x.msu", 1, 41, "NotImplemented: (:) [], NotImplementedException", "NotModelled"),
		},
		{
			name: "a COM object the model does not have", script: "New-Object -ComObject WScript.Shell",
			launcherErr: "simulated host: this PowerShell is not modelled: New-Object -ComObject WScript.Shell\nAt line:1 char:1\r\n+ New-Object -ComObject WScript.Shell\r\n+ ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\r\n", launcherRC: 1,
			commandErr: commandView("", "simulated host: this PowerShell is not modelled: New-Object -ComObject WScript.Shell", "New-Object -ComObject WScript.Shell", 1, 35, "NotImplemented: (:) [], NotImplementedException", "NotModelled"),
		},
		{
			name: "an unclosed brace", script: "if ($true) {",
			launcherErr: "Exception calling \"Create\" with \"1\" argument(s): \"At line:1 char:12\r\n+ if ($true) {\r\n+            ~\r\nMissing closing '}' in statement block or type definition.\"\r\n", launcherRC: 1,
			commandErr: "At line:1 char:12\r\n+ if ($true) {\r\n+            ~\r\nMissing closing '}' in statement block or type definition.\r\n" +
				"    + CategoryInfo          : ParserError: (:) [], ParentContainsErrorRecordException\r\n    + FullyQualifiedErrorId : MissingEndCurlyBrace\r\n \r\n",
		},
		{
			name: "an unterminated string", script: "Write-Output 'abc",
			launcherErr: "Exception calling \"Create\" with \"1\" argument(s): \"At line:1 char:14\r\n+ Write-Output 'abc\r\n+              ~~~~\r\nThe string is missing the terminator: '.\"\r\n", launcherRC: 1,
			commandErr: "At line:1 char:14\r\n+ Write-Output 'abc\r\n+              ~~~~\r\nThe string is missing the terminator: '.\r\n" +
				"    + CategoryInfo          : ParserError: (:) [], ParentContainsErrorRecordException\r\n    + FullyQualifiedErrorId : TerminatorExpectedAtEndOfString\r\n \r\n",
		},
		{
			name: "the Windows Update installer from a WinRS shell", script: "$s = New-Object -ComObject Microsoft.Update.Session; $s.CreateUpdateInstaller()",
			launcherErr: "Exception calling \"CreateUpdateInstaller\" with \"0\" argument(s): \"Access is denied. (Exception from HRESULT: 0x80070005 (E_ACCESSDENIED))\"\nAt line:1 char:54\r\n+ ... bject -ComObject Microsoft.Update.Session; $s.CreateUpdateInstaller()\r\n+                                                " + strings.Repeat("~", 26) + "\r\n", launcherRC: 1,
			commandErr: "Exception calling \"CreateUpdateInstaller\" with \"0\" argument(s): \"Access is denied. (Exception from HRESULT: 0x80070005 (E_ACCESSDENIED))\"\r\nAt line:1 char:54\r\n+ ... bject -ComObject Microsoft.Update.Session; $s.CreateUpdateInstaller()\r\n+                                                " + strings.Repeat("~", 26) + "\r\n" +
				"    + CategoryInfo          : NotSpecified: (:) [], MethodInvocationException\r\n    + FullyQualifiedErrorId : UnauthorizedAccessException\r\n \r\n",
		},
		{
			name: "the Windows Update downloader from a WinRS shell", script: "(New-Object -ComObject Microsoft.Update.Session).CreateUpdateDownloader()",
			launcherErr: "Exception calling \"CreateUpdateDownloader\" with \"0\" argument(s): \"Access is denied. (Exception from HRESULT: 0x80070005 (E_ACCESSDENIED))\"\nAt line:1 char:1\r\n+ (New-Object -ComObject Microsoft.Update.Session).CreateUpdateDownload ...\r\n+ ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\r\n", launcherRC: 1,
			commandErr: "Exception calling \"CreateUpdateDownloader\" with \"0\" argument(s): \"Access is denied. (Exception from HRESULT: 0x80070005 (E_ACCESSDENIED))\"\r\nAt line:1 char:1\r\n+ (New-Object -ComObject Microsoft.Update.Session).CreateUpdateDownload ...\r\n+ ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\r\n" +
				"    + CategoryInfo          : NotSpecified: (:) [], MethodInvocationException\r\n    + FullyQualifiedErrorId : UnauthorizedAccessException\r\n \r\n",
		},
		{
			name: "a file share without delegation", script: `Get-Content \\fileserver\patches\list.txt -ErrorAction Stop`,
			launcherErr: "Access is denied\nAt line:1 char:1\r\n+ Get-Content \\\\fileserver\\patches\\list.txt -ErrorAction Stop\r\n+ ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\r\n", launcherRC: 1,
			commandErr: commandView("Get-Content", "Access is denied", `Get-Content \\fileserver\patches\list.txt -ErrorAction Stop`, 1, 59,
				`PermissionDenied: (\\fileserver\patches\list.txt:String) [Get-Content], UnauthorizedAccessException`, "ItemExistsUnauthorizedAccessError,Microsoft.PowerShell.Commands.GetContentCommand"),
		},
		{
			name: "a program on a file share without delegation", script: `& \\fileserver\patches\setup.exe /quiet`,
			launcherErr: "Program 'setup.exe' failed to run: Access is deniedAt line:1 char:1\r\n+ & \\\\fileserver\\patches\\setup.exe /quiet\r\n+ ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~.\nAt line:1 char:1\r\n+ & \\\\fileserver\\patches\\setup.exe /quiet\r\n+ ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\r\n", launcherRC: 1,
			commandErr: "Program 'setup.exe' failed to run: Access is deniedAt line:1 char:1\r\n+ & \\\\fileserver\\patches\\setup.exe /quiet\r\n+ ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~.\r\nAt line:1 char:1\r\n+ & \\\\fileserver\\patches\\setup.exe /quiet\r\n+ ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\r\n" +
				"    + CategoryInfo          : ResourceUnavailable: (:) [], ApplicationFailedException\r\n    + FullyQualifiedErrorId : NativeCommandFailed\r\n \r\n",
		},
		{
			name: "throw", script: "throw 'deployment failed'",
			launcherErr: "deployment failed\nAt line:1 char:1\r\n+ throw 'deployment failed'\r\n+ ~~~~~~~~~~~~~~~~~~~~~~~~~\r\n", launcherRC: 1,
			commandErr: commandView("", "deployment failed", "throw 'deployment failed'", 1, 25, "OperationStopped: (deployment failed:String) [], RuntimeException", "deployment failed"),
		},
		{
			name: "Write-Error with $ErrorActionPreference Stop", script: "$ErrorActionPreference = 'Stop'; Write-Error 'bad state'; 'never'",
			launcherErr: "bad state\nAt line:1 char:1\r\n+ & $frB *>&1\r\n+ ~~~~~~~~~~~\r\n", launcherRC: 1,
			commandErr: "$ErrorActionPreference = 'Stop'; Write-Error 'bad state'; 'never' : bad state\r\n    + CategoryInfo          : NotSpecified: (:) [Write-Error], WriteErrorException\r\n" +
				"    + FullyQualifiedErrorId : Microsoft.PowerShell.Commands.WriteErrorException\r\n \r\n",
		},
		{
			name: "a failing native command at the end", script: "cmd /c exit 3", launcherRC: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, code := runLauncherScript(t, c, tt.script)
			if code == 0 {
				t.Errorf("launcher: %q exited 0", tt.script)
			}
			if diff := cmp.Diff([]any{tt.launcherErr, tt.launcherRC}, []any{errOut, code}); diff != "" {
				t.Errorf("launcher: %q (-want +got):\n%s", tt.script, diff)
			}
			_, errOut, code = runPSCommand(t, c, tt.script)
			if code == 0 {
				t.Errorf("-Command: %q exited 0", tt.script)
			}
			if diff := cmp.Diff([]any{tt.commandErr, 1}, []any{errOut, code}); diff != "" {
				t.Errorf("-Command: %q (-want +got):\n%s", tt.script, diff)
			}
		})
	}
}

// TestScriptsThatSucceed runs correct scripts, among them every
// PowerShell text of examples/, through fleetrun's launcher and checks
// their exact output.
func TestScriptsThatSucceed(t *testing.T) {
	t.Parallel()
	sc := mustScenario(t, `
defaults:
  installed_kbs: [KB5034439]
  files:
    'C:\scripts\servers.txt': "web-01\r\nweb-02\r\n"
host_settings:
  sim-0002:
    profile: 2008r2
`)
	f := startFleet(t, FleetOptions{Hosts: 2, Scenario: sc})
	h := f.Hosts()[0]
	c := mzClient(t, f, h, ntlmSealed, "PT60S")
	const rebootPending = `Test-Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending'`
	tests := []struct {
		name   string
		script string
		before func()
		stdout string
		stderr string
		code   int
	}{
		{
			name:   "examples/preflight-check.yaml: PowerShell facts",
			script: "$PSVersionTable.PSVersion.ToString()\n[Environment]::Is64BitProcess\nGet-ExecutionPolicy -Scope LocalMachine\n",
			stdout: "5.1.17763.1\r\nTrue\r\nRemoteSigned\r\n",
		},
		{
			name:   "examples/monthly-patch.yaml: verify patch",
			script: "if (-not (Get-HotFix -Id KB5034439 -ErrorAction SilentlyContinue)) {\n  [Console]::Error.WriteLine(\"KB5034439 is not installed\")\n  exit 1\n}\nWrite-Output \"KB5034439 installed\"\n",
			stdout: "KB5034439 installed\r\n",
		},
		{
			name:   "examples/monthly-patch.yaml: the reboot's test_command passes with no restart pending",
			script: "$cbs = 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\RebootPending'\nif (Test-Path $cbs) { exit 1 }\n",
		},
		{
			name:   "examples/monthly-patch.yaml: the reboot's test_command fails while a restart is pending",
			before: func() { h.machine.install("KB5035845", h.clock.Now()) },
			script: "$cbs = 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\RebootPending'\nif (Test-Path $cbs) { exit 1 }\n",
			code:   1,
		},
		{name: "RebootPending exists while the restart is pending", script: rebootPending, stdout: "True\r\n"},
		{name: "RebootPending is gone after the restart", before: h.machine.restarted, script: rebootPending, stdout: "False\r\n"},
		{name: "the launcher's process runs with -ExecutionPolicy Bypass", script: "Get-ExecutionPolicy", stdout: "Bypass\r\n"},
		{
			name:   "the WinRM service is running",
			script: "Get-Service WinRM | Where-Object Status -eq Running",
			stdout: "\r\nStatus   Name               DisplayName\r\n------   ----               -----------\r\nRunning  WinRM              Windows Remote Management (WS-Manag...\r\n\r\n\r\n",
		},
		{
			name:   "here-strings",
			script: "$kb = 'KB5034439'\n$t = @\"\nHost: $env:COMPUTERNAME\nUpdate: $kb ($((Get-HotFix -Id $kb).Description))\n\"@\n$t\n@'\nliteral $kb\n'@",
			stdout: "Host: SIM-0001\nUpdate: KB5034439 (Update)\r\nliteral $kb\r\n",
		},
		{
			name:   "loops and functions",
			script: "function Test-Server([string]$Name) {\n  return $Name -like 'web-*'\n}\n$n = 0\nforeach ($s in Get-Content C:\\scripts\\servers.txt) {\n  if (Test-Server $s) { $n++; \"ok $s\" }\n}\nfor ($i = 3; $i -gt 0; $i--) { Write-Output $i }\n\"$n servers\"",
			stdout: "ok web-01\r\nok web-02\r\n3\r\n2\r\n1\r\n2 servers\r\n",
		},
		{
			name:   "programs and their exit codes",
			script: "$name = hostname\nwhoami\n& C:\\tools\\exitcode.exe 7\n\"$name exit=$LASTEXITCODE\"",
			stdout: "sim-0001\\fleetrun\r\nsim-0001 exit=7\r\n",
		},
		{
			name:   "try, catch and finally",
			script: "try {\n  Get-Item C:\\nope -ErrorAction Stop\n} catch {\n  \"caught: $($_.Exception.Message)\"\n} finally {\n  'cleanup'\n}",
			stdout: "caught: Cannot find path 'C:\\nope' because it does not exist.\r\ncleanup\r\n",
		},
		{
			name:   "disk space for a check",
			script: "$free = (Get-PSDrive -Name C).Free\nif ($free -lt 5GB) { throw 'low disk' }\n'{0:N1} GB free' -f ($free / 1GB)",
			stdout: "40.0 GB free\r\n",
		},
		{
			name:   "Windows Update finds the updates it offers",
			script: "$s = New-Object -ComObject Microsoft.Update.Session\n$r = $s.CreateUpdateSearcher().Search('IsInstalled=0')\n$r.Updates.Count",
			stdout: "0\r\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.before != nil {
				tt.before()
			}
			out, errOut, code := runLauncherScript(t, c, tt.script)
			if diff := cmp.Diff([]any{tt.stdout, tt.stderr, tt.code}, []any{out, errOut, code}); diff != "" {
				t.Errorf("%q (-want +got):\n%s", tt.script, diff)
			}
		})
	}
	// PowerShell 2.0 (stock 2008 R2) reports its own version.
	c2 := mzClient(t, f, f.Hosts()[1], ntlmSealed, "PT60S")
	if out, errOut, code := runLauncherScript(t, c2, "$PSVersionTable.PSVersion.ToString()"); out != "2.0\r\n" || errOut != "" || code != 0 {
		t.Errorf("2008 R2: %q %q exit %d", out, errOut, code)
	}
}

// TestWindowsUpdateInstallsOutsideANetworkLogon installs the offered
// updates with the Windows Update Agent from a process that is no
// network logon (a scheduled task's), as PSWindowsUpdate's Invoke-WUJob
// does; the machine then has the update and a pending restart.
func TestWindowsUpdateInstallsOutsideANetworkLogon(t *testing.T) {
	t.Parallel()
	sc := mustScenario(t, `
defaults:
  available_updates: [KB5034439]
`)
	f := startFleet(t, FleetOptions{Hosts: 1, Scenario: sc})
	h := f.Hosts()[0]
	script := "$s = New-Object -ComObject Microsoft.Update.Session\n$r = $s.CreateUpdateSearcher().Search('IsInstalled=0')\n" +
		"$r.Updates | ForEach-Object { $_.Title }\n$d = $s.CreateUpdateDownloader(); $d.Updates = $r.Updates; [void]$d.Download()\n" +
		"$i = $s.CreateUpdateInstaller(); $i.Updates = $r.Updates; $res = $i.Install()\n\"result $($res.ResultCode) reboot $($res.RebootRequired)\""
	out, errOut, code := h.runTaskScript(t, script)
	want := "Update for Windows Server 2019 Datacenter (KB5034439)\r\nresult 2 reboot True\r\n"
	if out != want || errOut != "" || code != 0 {
		t.Errorf("got %q %q exit %d, want %q", out, errOut, code, want)
	}
	if _, ok := h.machine.Hotfix("KB5034439"); !ok || !h.machine.RebootPending() {
		t.Errorf("after the install: installed %v, restart pending %v", ok, h.machine.RebootPending())
	}
}

func TestPowerShellStatsCountInterpretedScripts(t *testing.T) {
	t.Parallel()
	sc := mustScenario(t, `
defaults:
  rules:
    - match: Invoke-Answered
      stdout: "answered\r\n"
`)
	f := startFleet(t, FleetOptions{Hosts: 1, Scenario: sc})
	h := f.Hosts()[0]
	c := mzClient(t, f, h, ntlmSealed, "PT60S")
	runLauncherScript(t, c, "Invoke-Answered")
	runLauncherScript(t, c, "'modelled'")
	st := h.Stats().Programs
	if st["script-rule"] != 1 || st["script-interpreted"] != 1 || st["script-default"] != 0 {
		t.Errorf("script-rule %d, script-interpreted %d, script-default %d", st["script-rule"], st["script-interpreted"], st["script-default"])
	}
}

// runTaskScript runs a script as a scheduled task's powershell.exe -File
// does: outside WinRS, as SYSTEM.
func (h *Host) runTaskScript(t *testing.T, script string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ps := &procState{host: h, logon: logonTask, user: "SYSTEM", console: newConsole(65001)}
	ctx = context.WithValue(ctx, procKey{}, ps)
	var out, errOut bytes.Buffer
	r := &psRun{h: h, ps: ps, ctx: ctx, stdout: &out, stderr: &errOut, env: cmdexe.NewEnv(h.baseEnv("SYSTEM"), `C:\Windows\system32`), mode: psFile}
	r.enc = h.encodeHost
	code = int(r.run(script))
	return out.String(), errOut.String(), code
}

// TestEncodedCommandErrorsTravelAsCLIXML: Windows PowerShell 5.1 started
// with -EncodedCommand and redirected streams writes its progress and
// error records to stderr as CLIXML.
func TestEncodedCommandErrorsTravelAsCLIXML(t *testing.T) {
	t.Parallel()
	f := startFleet(t, FleetOptions{Hosts: 1})
	c := mzClient(t, f, f.Hosts()[0], ntlmSealed, "PT60S")
	out, errOut, code := runMZ(t, c, "powershell -NoProfile -EncodedCommand "+encodeCommand("Write-Output 'before'; Write-Warning 'careful'; throw 'bad'"))
	want := "#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">" +
		`<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T><T>System.Object</T></TN><MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing modules for first use.</AV><AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC><T>Completed</T><SR>-1</SR><SD> </SD></PR></MS></Obj>` +
		`<S S="warning">careful_x000D__x000A_</S>` +
		`<S S="Error">bad_x000D__x000A_</S><S S="Error">At line:1 char:49_x000D__x000A_</S>` +
		`<S S="Error">+ Write-Output 'before'; Write-Warning 'careful'; throw 'bad'_x000D__x000A_</S>` +
		`<S S="Error">+ ` + strings.Repeat(" ", 48) + `~~~~~~~~~~~_x000D__x000A_</S>` +
		`<S S="Error">    + CategoryInfo          : OperationStopped: (bad:String) [], RuntimeException_x000D__x000A_</S>` +
		`<S S="Error">    + FullyQualifiedErrorId : bad_x000D__x000A_</S><S S="Error"> _x000D__x000A_</S></Objs>`
	if diff := cmp.Diff([]any{"before\r\n", want, 1}, []any{out, errOut, code}); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
