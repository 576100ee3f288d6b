package psmodel

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// notModelledErr is the -Command view of a construct the model refuses.
func notModelledErr(line string, lineNo, col int, width int) string {
	return "simulated host: this PowerShell is not modelled: " + strings.TrimSpace(line) + "\r\n" +
		"At line:" + itoa(lineNo) + " char:" + itoa(col) + "\r\n+ " + line + "\r\n+ " + strings.Repeat(" ", col-1) + strings.Repeat("~", width) + "\r\n" +
		"    + CategoryInfo          : NotImplemented: (:) [], NotImplementedException\r\n" +
		"    + FullyQualifiedErrorId : NotModelled\r\n \r\n"
}

func itoa(n int) string { return strconv.Itoa(n) }

const notRecognized = "is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again."

func TestEvaluate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		script string
		mode   Mode
		setup  func(h *fakeHost)
		stdout string
		stderr string
		code   uint32
	}{
		{name: "exit N gives N", script: "Write-Output 'x'; exit 3", stdout: "x\r\n", code: 3},
		{name: "-Command gives 1 when the last native command failed", script: "Write-Output hi; cmd /c exit 5", stdout: "hi\r\n", code: 1},
		{name: "-Command gives 0 when a failed native command is not last", script: "cmd /c exit 5; 'ok'", stdout: "ok\r\n"},
		{name: "the launcher passes a failing last native command's code on", script: "cmd /c exit 5", mode: ModeLauncher, code: 5},
		{name: "the launcher ignores a native failure that is not last", script: "cmd /c exit 5\nWrite-Output done", mode: ModeLauncher, stdout: "done\r\n"},
		{name: "the launcher ignores a last native command inside an if", script: "if ($true) { cmd /c exit 4 }", mode: ModeLauncher},
		{name: "-Command sees a failure inside an if", script: "if ($true) { cmd /c exit 4 }", code: 1},
		{name: "on PowerShell 2.0 the launcher cannot see the last native command", script: "cmd /c exit 5", mode: ModeLauncher,
			setup: func(h *fakeHost) { h.facts.PSVersion = "2.0" }},
		{name: "-File ends 0 after a failing native command", script: "cmd /c exit 3", mode: ModeFile},
		{name: "-File passes exit N on", script: "exit 9", mode: ModeFile, code: 9},
		{name: "exit N ends the script at once", script: "exit 2\n'never'", mode: ModeLauncher, code: 2},
		{
			name: "an unknown command shows PowerShell's error view", script: "Get-Foo -Bar 1",
			stderr: "Get-Foo : The term 'Get-Foo' " + notRecognized + "\r\nAt line:1 char:1\r\n+ Get-Foo -Bar 1\r\n+ ~~~~~~~\r\n" +
				"    + CategoryInfo          : ObjectNotFound: (Get-Foo:String) [], CommandNotFoundException\r\n" +
				"    + FullyQualifiedErrorId : CommandNotFoundException\r\n \r\n",
			code: 1,
		},
		{
			name: "an unknown command in -Command does not stop the script", script: "Get-Foo\n'after'", stdout: "after\r\n",
			stderr: "Get-Foo : The term 'Get-Foo' " + notRecognized + "\r\nAt line:1 char:1\r\n+ Get-Foo\r\n+ ~~~~~~~\r\n" +
				"    + CategoryInfo          : ObjectNotFound: (Get-Foo:String) [], CommandNotFoundException\r\n" +
				"    + FullyQualifiedErrorId : CommandNotFoundException\r\n \r\n",
		},
		{
			name: "an unknown command ends a launcher script with its message and position", script: "Get-Foo\n'after'", mode: ModeLauncher,
			stderr: "The term 'Get-Foo' " + notRecognized + "\nAt line:1 char:1\r\n+ Get-Foo\r\n+ ~~~~~~~\r\n", code: 1,
		},
		{
			name: "a missing program is the same error for its path", script: `& 'C:\nope\x.exe'`, mode: ModeLauncher,
			stderr: `The term 'C:\nope\x.exe' ` + notRecognized + "\nAt line:1 char:3\r\n+ & 'C:\\nope\\x.exe'\r\n+   ~~~~~~~~~~~~~~~\r\n", code: 1,
		},
		{
			name: "a .NET exception is a MethodInvocationException", script: "[int]::Parse('x')",
			stderr: "Exception calling \"Parse\" with \"1\" argument(s): \"Input string was not in a correct format.\"\r\nAt line:1 char:1\r\n+ [int]::Parse('x')\r\n+ ~~~~~~~~~~~~~~~~~\r\n" +
				"    + CategoryInfo          : NotSpecified: (:) [], MethodInvocationException\r\n    + FullyQualifiedErrorId : FormatException\r\n \r\n",
			code: 1,
		},
		{
			name: "dividing constants by zero fails when the script is compiled", script: "1/0",
			stderr: "Attempted to divide by zero.\r\nAt line:1 char:1\r\n+ 1/0\r\n+ ~~~\r\n" +
				"    + CategoryInfo          : NotSpecified: (:) [], ParentContainsErrorRecordException\r\n    + FullyQualifiedErrorId : RuntimeException\r\n \r\n",
			code: 1,
		},
		{
			name: "dividing by a zero variable fails when it runs", script: "$z = 0; 10 % $z", mode: ModeLauncher,
			stderr: "Attempted to divide by zero.\nAt line:1 char:9\r\n+ $z = 0; 10 % $z\r\n+         ~~~~~~~\r\n", code: 1,
		},
		{
			name: "a method on $null", script: "$x.Trim()",
			stderr: "You cannot call a method on a null-valued expression.\r\nAt line:1 char:1\r\n+ $x.Trim()\r\n+ ~~~~~~~~~\r\n" +
				"    + CategoryInfo          : InvalidOperation: (:) [], RuntimeException\r\n    + FullyQualifiedErrorId : InvokeMethodOnNull\r\n \r\n",
			code: 1,
		},
		{
			name: "Get-Content of a missing file", script: `Get-Content C:\nope.txt`,
			stderr: "Get-Content : Cannot find path 'C:\\nope.txt' because it does not exist.\r\nAt line:1 char:1\r\n+ Get-Content C:\\nope.txt\r\n+ ~~~~~~~~~~~~~~~~~~~~~~~\r\n" +
				"    + CategoryInfo          : ObjectNotFound: (C:\\nope.txt:String) [Get-Content], ItemNotFoundException\r\n" +
				"    + FullyQualifiedErrorId : PathNotFound,Microsoft.PowerShell.Commands.GetContentCommand\r\n \r\n",
			code: 1,
		},
		{
			name: "a non-terminating error does not fail a launcher script", script: `Get-Content C:\nope.txt; 'went on'`, mode: ModeLauncher,
			stdout: "went on\r\n", stderr: "Cannot find path 'C:\\nope.txt' because it does not exist.\nAt line:1 char:1\r\n+ Get-Content C:\\nope.txt; 'went on'\r\n+ ~~~~~~~~~~~~~~~~~~~~~~~\r\n",
		},
		{
			name: "Get-HotFix of a missing update with -ErrorAction Stop", script: "Get-HotFix -Id KB1234567 -ErrorAction Stop\n'never'",
			stderr: "Get-HotFix : Cannot find the requested hotfix on the 'localhost' computer. Verify the input and run the command again.\r\n" +
				"At line:1 char:1\r\n+ Get-HotFix -Id KB1234567 -ErrorAction Stop\r\n+ ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\r\n" +
				"    + CategoryInfo          : ObjectNotFound: (:) [Get-HotFix], ArgumentException\r\n" +
				"    + FullyQualifiedErrorId : GetHotFixNoEntriesFound,Microsoft.PowerShell.Commands.GetHotFixCommand\r\n \r\n",
			code: 1,
		},
		{
			name: "a missing service", script: "Get-Service nope -EA Stop", mode: ModeLauncher,
			stderr: "Cannot find any service with service name 'nope'.\nAt line:1 char:1\r\n+ Get-Service nope -EA Stop\r\n+ ~~~~~~~~~~~~~~~~~~~~~~~~~\r\n", code: 1,
		},
		{
			name:   "the monthly-patch check fails while the update is missing",
			script: "if (-not (Get-HotFix -Id KB5034439 -ErrorAction SilentlyContinue)) {\n  [Console]::Error.WriteLine(\"KB5034439 is not installed\")\n  exit 1\n}\nWrite-Output \"KB5034439 installed\"\n",
			mode:   ModeLauncher, stderr: "KB5034439 is not installed\r\n", code: 1,
		},
		{
			name:   "the monthly-patch check passes once the update is installed",
			script: "if (-not (Get-HotFix -Id KB5005030 -ErrorAction SilentlyContinue)) {\n  [Console]::Error.WriteLine(\"KB5005030 is not installed\")\n  exit 1\n}\nWrite-Output \"KB5005030 installed\"\n",
			mode:   ModeLauncher, stdout: "KB5005030 installed\r\n",
		},
		{name: "catch sees the error record", script: "try { [int]::Parse('x') } catch { \"caught: $($_.Exception.Message)\" }",
			stdout: "caught: Exception calling \"Parse\" with \"1\" argument(s): \"Input string was not in a correct format.\"\r\n"},
		{name: "catch by type", script: "try { Get-Item C:\\nope -ErrorAction Stop } catch [System.Management.Automation.ItemNotFoundException] { 'not found' } catch { 'other' }",
			stdout: "not found\r\n"},
		{name: "finally runs when the script exits", script: "try { exit 2 } finally { 'fin' }", stdout: "fin\r\n", code: 2},
		{name: "a bare throw in catch rethrows", script: "try { throw 'inner' } catch { throw }", mode: ModeLauncher,
			stderr: "inner\nAt line:1 char:7\r\n+ try { throw 'inner' } catch { throw }\r\n+       ~~~~~~~~~~~~~\r\n", code: 1},
		{name: "$ErrorActionPreference Stop makes Write-Error terminating", script: "$ErrorActionPreference = 'Stop'\nWrite-Error 'boom'\n'after'", mode: ModeLauncher,
			stderr: "boom\nAt line:1 char:1\r\n+ & $frB *>&1\r\n+ ~~~~~~~~~~~\r\n", code: 1},
		{name: "Write-Error shows the -Command text before its message", script: "Write-Error 'soft'",
			stderr: "Write-Error 'soft' : soft\r\n    + CategoryInfo          : NotSpecified: (:) [Write-Error], WriteErrorException\r\n" +
				"    + FullyQualifiedErrorId : Microsoft.PowerShell.Commands.WriteErrorException\r\n \r\n", code: 1},
		{name: "Write-Error in a function shows the function and its call", script: "function f { Write-Error 'in f' }\nf\n'after'", stdout: "after\r\n",
			stderr: "f : in f\r\nAt line:2 char:1\r\n+ f\r\n+ ~\r\n    + CategoryInfo          : NotSpecified: (:) [Write-Error], WriteErrorException\r\n" +
				"    + FullyQualifiedErrorId : Microsoft.PowerShell.Commands.WriteErrorException\r\n \r\n"},
		{name: "throw ends -Command with 1", script: "throw 'bad thing'",
			stderr: "bad thing\r\nAt line:1 char:1\r\n+ throw 'bad thing'\r\n+ ~~~~~~~~~~~~~~~~~\r\n    + CategoryInfo          : OperationStopped: (bad thing:String) [], RuntimeException\r\n" +
				"    + FullyQualifiedErrorId : bad thing\r\n \r\n", code: 1},
		{name: "Write-Host ends lines with LF under WinRS", script: "Write-Host a b; Write-Host -NoNewline c; Write-Host d", stdout: "a b\ncd\n"},
		{name: "the launcher writes Write-Host records as lines", script: "Write-Host a b; Write-Host -NoNewline c", mode: ModeLauncher, stdout: "a b\r\nc\r\n"},
		{name: "warnings go to stdout, verbose only when asked", script: "Write-Warning 'w'; Write-Verbose 'v'; Write-Verbose 'v2' -Verbose", stdout: "WARNING: w\r\nVERBOSE: v2\r\n"},
		{name: "strings expand variables, subexpressions and escapes", script: "$n = 'x'; \"a`tb $n $($n.ToUpper()) `$n ${n}y \"\"q\"\" 'it''s'\"; 'it''s'",
			stdout: "a\tb x X $n xy \"q\" 'it''s'\r\nit's\r\n"},
		{name: "here-strings", script: "$v = 2\n@\"\nline $v\n  $(1+1) done\n\"@\n@'\nraw $v\n'@",
			stdout: "line 2\n  2 done\r\nraw $v\r\n"},
		{name: "numbers", script: "5GB; 0x10; 1MB / 1KB; 7/2; 6/3; 2147483647 + 1; 0.1 + 0.2", stdout: "5368709120\r\n16\r\n1024\r\n3.5\r\n2\r\n2147483648\r\n0.3\r\n"},
		{name: "comparison operators", script: "'abc' -like 'A*'; 'ABC' -ceq 'abc'; '10' -gt 9; 9 -gt '10'; 'a,b,c' -split ','; @(1,2,3) -contains 2; 2 -in 1,2,3; 1,2,3 -gt 1",
			stdout: "True\r\nFalse\r\nFalse\r\nFalse\r\na\r\nb\r\nc\r\nTrue\r\nTrue\r\n2\r\n3\r\n"},
		{name: "-match fills $Matches, -replace takes groups", script: "if ('KB123' -match '^KB(\\d+)$') { $Matches[1] }; 'a-b' -replace '(\\w)-(\\w)', '$2-$1'",
			stdout: "123\r\nb-a\r\n"},
		{name: "logical operators and truthiness", script: "$true -and $false; -not $false; !$null; [bool]'False'; [bool]@(); $null -eq $y", stdout: "False\r\nTrue\r\nTrue\r\nTrue\r\nFalse\r\nTrue\r\n"},
		{name: "arrays", script: "$a = @(); $a += 'x'; $a += 'y'; $a.Count; (1,2,3)[-1]; (1..10)[2..4] -join ','; @(1).Count; $null.Count; \"$(1,2)\"",
			stdout: "2\r\n3\r\n3,4,5\r\n1\r\n0\r\n1 2\r\n"},
		{name: "hashtables", script: "$h = @{ a = 1; b = 'two' }; $h.a + 1; $h['b']; $h.Count; $h",
			stdout: "2\r\ntwo\r\n2\r\n\r\nName                           Value\r\n----                           -----\r\na                              1\r\nb                              two\r\n\r\n\r\n"},
		{name: "Get-Service piped to the simplified Where-Object", script: "Get-Service WinRM | Where-Object Status -eq Running",
			stdout: "\r\nStatus   Name               DisplayName\r\n------   ----               -----------\r\nRunning  WinRM              Windows Remote Management (WS-Manag...\r\n\r\n\r\n"},
		{name: "Get-HotFix's table", script: "Get-HotFix",
			stdout: "\r\nSource         Description      HotFixID      InstalledBy          InstalledOn\r\n------         -----------      --------      -----------          -----------\r\n" +
				"SIM-0001       Update           KB5005030     NT AUTHORITY\\SYSTEM  12/1/2023 12:00:00 AM\r\n\r\n\r\n"},
		{name: "pipelines select, sort and measure", script: "1..5 | ForEach-Object { $_ * 2 } | Where-Object { $_ -gt 4 } | Measure-Object -Sum | Select-Object -ExpandProperty Sum\nGet-Service | Sort-Object Name -Descending | Select-Object -First 2 -ExpandProperty Name",
			stdout: "24\r\nwuauserv\r\nWinRM\r\n"},
		{name: "pipelines stream", script: "1..2 | ForEach-Object { Write-Host \"h$_\"; $_ }", stdout: "h1\n1\r\nh2\n2\r\n"},
		{name: "functions with parameters", script: "function Get-Thing { param([string]$Name = 'x', [switch]$Loud) if ($Loud) { $Name.ToUpper() } else { $Name } }\nGet-Thing\nGet-Thing -Name abc -Loud\nGet-Thing def",
			stdout: "x\r\nABC\r\ndef\r\n"},
		{name: "recursion ends in PowerShell's call depth overflow", script: "function rec($n) { rec ($n+1) }\nrec 0", mode: ModeLauncher,
			stderr: "The script failed due to call depth overflow.\nAt line:1 char:20\r\n+ function rec($n) { rec ($n+1) }\r\n+                    ~~~~~~~~~~\r\n", code: 1},
		{name: "loops", script: "$i = 0; while ($true) { $i++; if ($i -ge 3) { break } }; $i\nfor ($j = 0; $j -lt 4; $j++) { if ($j -eq 1) { continue }; $j }\ndo { $i-- } until ($i -le 0); $i\nforeach ($x in 'a','b') { $x }",
			stdout: "3\r\n0\r\n2\r\n3\r\n0\r\na\r\nb\r\n"},
		{name: "switch", script: "switch (5) { 1 { 'one' } 5 { 'five' } default { 'other' } }; switch -wildcard ('abc') { 'a*' { 'starts' } }", stdout: "five\r\nstarts\r\n"},
		{name: "format operator", script: "'{0:N2} and {1,5}|{2:D3}' -f 3.14159, 42, 7", stdout: "3.14 and    42|007\r\n"},
		{name: "native arguments as Windows PowerShell 5.1 passes them", script: "cmd /x 'a b' '' \"c\" 5 $null",
			stdout: "cmdline=\"C:\\Windows\\system32\\cmd.exe\" /x \"a b\" c 5\r\n"},
		{name: "native output captured", script: "$o = cmd /c echo captured; \"got [$o]\"; hostname; cmd /c exit 7; \"last=$LASTEXITCODE ok=$?\"",
			stdout: "got [captured]\r\nsim-0001\r\nlast=7 ok=False\r\n"},
		{name: "pipeline input becomes a program's stdin", script: "'a','b' | cmd /c more", stdout: "a\r\nb\r\n"},
		{name: "a program's stderr merged in -Command is an error record", script: "cmd /c err boom 2>&1; 'x'", stdout: "x\r\n",
			stderr: "cmd : boom\r\nAt line:1 char:1\r\n+ cmd /c err boom 2>&1; 'x'\r\n+ ~~~~~~~~~~~~~~~~~~~~\r\n    + CategoryInfo          : NotSpecified: (boom:String) [], RemoteException\r\n    + FullyQualifiedErrorId : NativeCommandError\r\n \r\n"},
		{name: "PowerShell facts", script: "$PSVersionTable.PSVersion.ToString(); $PSVersionTable.PSVersion.Major; [Environment]::Is64BitProcess; Get-ExecutionPolicy -Scope LocalMachine; Get-ExecutionPolicy; [Environment]::MachineName",
			stdout: "5.1.17763.1\r\n5\r\nTrue\r\nRemoteSigned\r\nBypass\r\nSIM-0001\r\n"},
		{name: "$PSVersionTable.PSVersion formats as a table", script: "$PSVersionTable.PSVersion",
			stdout: "\r\nMajor Minor Build Revision\r\n----- ----- ----- --------\r\n5     1     17763 1\r\n\r\n\r\n"},
		{name: "locations", script: "Set-Location C:\\scripts; (Get-Location).Path; $pwd.Path; Set-Location ..; \"$pwd\"", stdout: "C:\\scripts\r\nC:\\scripts\r\nC:\\\r\n"},
		{name: "files round trip", script: "Set-Content C:\\scripts\\c.txt 'hello'; Add-Content C:\\scripts\\c.txt 'world'; Get-Content C:\\scripts\\c.txt; Test-Path C:\\scripts\\c.txt; Remove-Item C:\\scripts\\c.txt; Test-Path C:\\scripts\\c.txt; 'x' | Out-File C:\\scripts\\d.txt; Get-Content C:\\scripts\\d.txt -Raw",
			stdout: "hello\r\nworld\r\nTrue\r\nFalse\r\nx\r\n\r\n"},
		{name: "Test-Path with -PathType", script: "Test-Path C:\\scripts -PathType Container; Test-Path C:\\scripts -PathType Leaf; Test-Path C:\\scripts\\*.txt", stdout: "True\r\nFalse\r\nTrue\r\n"},
		{name: "drive space", script: "(Get-PSDrive -Name C).Free; [math]::Round((Get-PSDrive C).Used / 1GB, 1)", stdout: "42949672960\r\n60\r\n"},
		{name: "the registry", script: "Test-Path 'HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion'; (Get-ItemProperty 'HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion').CurrentBuild; Test-Path 'HKLM:\\SOFTWARE\\Nope'",
			stdout: "True\r\n17763\r\nFalse\r\n"},
		{name: "Start-Sleep waits on the host's clock", script: "Start-Sleep -Seconds 2; Start-Sleep -Milliseconds 500; 'slept'", stdout: "slept\r\n"},
		{
			name: "the Windows Update installer is refused to a network logon", script: "$s = New-Object -ComObject Microsoft.Update.Session\n$r = $s.CreateUpdateSearcher().Search('IsInstalled=0')\n$r.Updates.Count\n$i = $s.CreateUpdateInstaller()",
			mode: ModeLauncher, stdout: "1\r\n",
			stderr: "Exception calling \"CreateUpdateInstaller\" with \"0\" argument(s): \"Access is denied. (Exception from HRESULT: 0x80070005 (E_ACCESSDENIED))\"\nAt line:4 char:6\r\n+ $i = $s.CreateUpdateInstaller()\r\n+      ~~~~~~~~~~~~~~~~~~~~~~~~~~\r\n", code: 1,
		},
		{
			name: "the Windows Update installer works outside a network logon",
			script: "$s = New-Object -ComObject Microsoft.Update.Session\n$r = $s.CreateUpdateSearcher().Search(\"IsInstalled=0 and Type='Software'\")\n$r.Updates | ForEach-Object { $_.Title; $_.KBArticleIDs }\n" +
				"$d = $s.CreateUpdateDownloader(); $d.Updates = $r.Updates; $d.Download().ResultCode\n$i = $s.CreateUpdateInstaller(); $i.Updates = $r.Updates; $res = $i.Install()\n\"$($res.ResultCode) $($res.RebootRequired)\"\n(Get-HotFix -Id KB5034439).HotFixID",
			setup:  func(h *fakeHost) { h.facts.NetworkLogon = false },
			stdout: "Update for Windows Server 2019 Datacenter (KB5034439)\r\n5034439\r\n2\r\n2 True\r\nKB5034439\r\n",
		},
		{
			name: "a file share out of reach", script: "Test-Path \\\\srv\\share\\x.txt\nGet-Content \\\\srv\\share\\x.txt", setup: func(h *fakeHost) { h.denied = true },
			stdout: "False\r\n",
			stderr: "Get-Content : Access is denied\r\nAt line:2 char:1\r\n+ Get-Content \\\\srv\\share\\x.txt\r\n+ ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\r\n" +
				"    + CategoryInfo          : PermissionDenied: (\\\\srv\\share\\x.txt:String) [Get-Content], UnauthorizedAccessException\r\n" +
				"    + FullyQualifiedErrorId : ItemExistsUnauthorizedAccessError,Microsoft.PowerShell.Commands.GetContentCommand\r\n \r\n",
			code: 1,
		},
		{
			name: "a program on a share out of reach", script: "& \\\\srv\\share\\setup.exe /quiet", mode: ModeLauncher, setup: func(h *fakeHost) { h.denied = true },
			stderr: "Program 'setup.exe' failed to run: Access is deniedAt line:1 char:1\r\n+ & \\\\srv\\share\\setup.exe /quiet\r\n+ ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~.\nAt line:1 char:1\r\n+ & \\\\srv\\share\\setup.exe /quiet\r\n+ ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\r\n",
			code:   1,
		},
		{name: "an unknown .NET type is not modelled", script: "[Foo.Bar]::Baz()", stderr: notModelledErr("[Foo.Bar]::Baz()", 1, 1, 9), code: 1},
		{name: "an unknown method is not modelled", script: "'abc'.Frobnicate()", stderr: notModelledErr("'abc'.Frobnicate()", 1, 1, 18), code: 1},
		{name: "a parameter the cmdlet does not model is not modelled", script: "Get-Service -Nme WinRM", stderr: notModelledErr("Get-Service -Nme WinRM", 1, 1, 22), code: 1},
		{name: "a real cmdlet the model lacks is not modelled", script: "Invoke-Expression 'x'", stderr: notModelledErr("Invoke-Expression 'x'", 1, 1, 21), code: 1},
		{name: "a construct the parser lacks is not modelled", script: "class Foo {}", mode: ModeLauncher,
			stderr: "simulated host: this PowerShell is not modelled: class Foo {}\nAt line:1 char:1\r\n+ class Foo {}\r\n+ ~\r\n", code: 1},
		{name: "catch cannot hide what is not modelled", script: "try { [Foo]::Bar() } catch { 'caught' }", mode: ModeLauncher,
			stderr: "simulated host: this PowerShell is not modelled: try { [Foo]::Bar() } catch { 'caught' }\nAt line:1 char:7\r\n+ try { [Foo]::Bar() } catch { 'caught' }\r\n+       ~~~~~\r\n", code: 1},
		{name: "an endless loop ends at the model's limit", script: "while (1) {}", mode: ModeLauncher,
			stderr: "simulated host: the script ran beyond the model's limits (more than 100000 statements)\r\n", code: 1},
		{name: "an unclosed brace is PowerShell's parse error", script: "if ($x) {",
			stderr: "At line:1 char:9\r\n+ if ($x) {\r\n+         ~\r\nMissing closing '}' in statement block or type definition.\r\n" +
				"    + CategoryInfo          : ParserError: (:) [], ParentContainsErrorRecordException\r\n    + FullyQualifiedErrorId : MissingEndCurlyBrace\r\n \r\n", code: 1},
		{name: "a parse error in the launcher comes from ScriptBlock.Create", script: "$a = 'x", mode: ModeLauncher,
			stderr: "Exception calling \"Create\" with \"1\" argument(s): \"At line:1 char:6\r\n+ $a = 'x\r\n+      ~~\r\nThe string is missing the terminator: '.\"\r\n", code: 1},
		{name: "&& is not a statement separator in 5.1", script: "cmd /c exit 0 && 'x'", mode: ModeLauncher,
			stderr: "Exception calling \"Create\" with \"1\" argument(s): \"At line:1 char:15\r\n+ cmd /c exit 0 && 'x'\r\n+               ~~\r\nThe token '&&' is not a valid statement separator in this version.\"\r\n", code: 1},
		{name: "script blocks and dot-sourcing", script: "& { param($a) \"block $a\" } 5; $sb = { \"sb $args\" }; & $sb 1 2; . { $dotted = 'yes' }; $dotted",
			stdout: "block 5\r\nsb 1 2\r\nyes\r\n"},
		{name: "custom objects", script: "$p = [PSCustomObject]@{ Name = 'n1'; Size = 10 }; $p.Name; $p | Select-Object Name",
			stdout: "n1\r\n\r\nName\r\n----\r\nn1\r\n\r\n\r\n"},
		{name: "strict mode refuses unset variables", script: "Set-StrictMode -Version Latest; $nope", mode: ModeLauncher,
			stderr: "The variable '$nope' cannot be retrieved because it has not been set.\nAt line:1 char:33\r\n+ Set-StrictMode -Version Latest; $nope\r\n+                                 ~~~~~\r\n", code: 1},
		{name: "strict mode refuses missing properties", script: "Set-StrictMode -Version 2.0; $o = [PSCustomObject]@{ A = 1 }; $o.A; $o.B", mode: ModeLauncher, stdout: "1\r\n",
			stderr: "The property 'B' cannot be found on this object. Verify that the property exists.\nAt line:1 char:69\r\n+ ... -StrictMode -Version 2.0; $o = [PSCustomObject]@{ A = 1 }; $o.A; $o.B\r\n+ " + strings.Repeat(" ", 69) + "~~~~\r\n", code: 1},
		{name: "environment variables", script: "$env:FOO = 'bar'; $env:FOO; $env:COMPUTERNAME; [Environment]::GetEnvironmentVariable('FOO')", stdout: "bar\r\nSIM-0001\r\nbar\r\n"},
		{name: "[Console] writes past formatting", script: "[Console]::Out.WriteLine('direct'); [Console]::WriteLine('x{0}', 1); [Console]::Error.WriteLine('e')", stdout: "direct\r\nx1\r\n", stderr: "e\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newFakeHost()
			if tt.setup != nil {
				tt.setup(h)
			}
			out, errOut, code := runOn(h, tt.script, tt.mode)
			if diff := cmp.Diff([]any{tt.stdout, tt.stderr, tt.code}, []any{out, errOut, code}); diff != "" {
				t.Errorf("%q (-want +got):\n%s", tt.script, diff)
			}
		})
	}
}

func TestStartSleepUsesTheHostsClock(t *testing.T) {
	t.Parallel()
	h := newFakeHost()
	runOn(h, "Start-Sleep -Seconds 2; Start-Sleep -Milliseconds 500; Start-Sleep 1", ModeCommand)
	if h.slept != 3500*time.Millisecond {
		t.Errorf("slept %v, want 3.5s", h.slept)
	}
}

func TestSerializedErrorsGoToTheCallback(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	var got []string
	code := Run(context.Background(), newFakeHost(), "Write-Warning 'w'; throw 'x'", Options{Stdout: &out, Stderr: &errOut,
		Serialize: func(stream, line string) { got = append(got, stream+"|"+line) }})
	want := []string{"warning|w", "Error|x\r\n", "Error|At line:1 char:20\r\n", "Error|+ Write-Warning 'w'; throw 'x'\r\n", "Error|+                    ~~~~~~~~~\r\n",
		"Error|    + CategoryInfo          : OperationStopped: (x:String) [], RuntimeException\r\n", "Error|    + FullyQualifiedErrorId : x\r\n", "Error| \r\n"}
	if diff := cmp.Diff(want, got); diff != "" || code != 1 || errOut.Len() != 0 {
		t.Errorf("exit %d, stderr %q, records (-want +got):\n%s", code, errOut.String(), diff)
	}
}

func TestStoppedScriptEndsWithControlC(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	if code := Run(ctx, newFakeHost(), "while ($true) { $i++ }", Options{Stdout: &out, Stderr: &out}); code != ExitStopped {
		t.Errorf("exit %#x, want %#x", code, ExitStopped)
	}
}

func TestFileScriptsTakeTheirArguments(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	code := Run(context.Background(), newFakeHost(), "param($Name, [int]$Count = 2)\n\"$Name x$Count\"; $args.Count\nWrite-Error 'e'",
		Options{Mode: ModeFile, Stdout: &out, Stderr: &errOut, ScriptName: `C:\scripts\deploy.ps1`, Args: []string{"web", "3"}})
	wantErr := "C:\\scripts\\deploy.ps1 : e\r\n    + CategoryInfo          : NotSpecified: (:) [Write-Error], WriteErrorException\r\n" +
		"    + FullyQualifiedErrorId : Microsoft.PowerShell.Commands.WriteErrorException\r\n \r\n"
	if diff := cmp.Diff([]any{"web x3\r\n0\r\n", wantErr, uint32(0)}, []any{out.String(), errOut.String(), code}); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
