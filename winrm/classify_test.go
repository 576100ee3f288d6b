package winrm

import (
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/transport"
)

// The errors ClassifyExit gives, word for word.
var (
	wusaDenied = &transport.Error{Class: transport.ClassRemoteDenied,
		Message: "wusa.exe exited with 5 (ERROR_ACCESS_DENIED): Windows refuses to install updates with wusa from a WinRM/WinRS session, which is a network logon (Microsoft KB 2773898)",
		Hint: `add run_as: system to the step, so that fleetrun runs it as a scheduled task as SYSTEM on the host; or extract the package with ` +
			`wusa.exe PACKAGE.msu /extract:C:\patches\x and install the .cab with dism.exe /online /add-package /PackagePath:C:\patches\x\PACKAGE.cab /quiet /norestart, which works remotely`}
	wuaDenied = &transport.Error{Class: transport.ClassRemoteDenied,
		Message: "the Windows Update Agent refused the step with E_ACCESSDENIED (0x80070005): its downloader and installer cannot be used by a remote caller (MSDN, Using WUA From a Remote Computer)",
		Hint:    "add run_as: system to the step, so that fleetrun runs it as a scheduled task as SYSTEM on the host (what PSWindowsUpdate's Invoke-WUJob does)"}
)

// secondHop is the error for a share access is denied to.
func secondHop(share string) *transport.Error {
	return &transport.Error{Class: transport.ClassRemoteDenied,
		Message: "access to " + share + " was denied: a WinRM session has no credentials to use on another machine (the second hop)",
		Hint: "copy what the step needs onto the host first; or run the step with run_as: system, where the host's computer account reaches shares that grant it access; " +
			"or delegate credentials to the host (CredSSP, or Kerberos delegation in a domain)"}
}

// memoryCap is the error for a step out of memory under a cap of mb.
func memoryCap(code uint32, mb string) *transport.Error {
	return &transport.Error{Class: transport.ClassMemoryCap,
		Message: "the step ran out of memory (exit code " + strconv.FormatUint(uint64(code), 10) + ") under the host's WinRS limit of " + mb + " MB per shell (MaxMemoryPerShellMB)",
		Hint: "WinRM caps every remote shell at MaxMemoryPerShellMB = " + mb + " MB. Remove the cap in an elevated prompt on the host, " +
			`from cmd.exe: winrm set winrm/config/winrs @{MaxMemoryPerShellMB="0"} ; from PowerShell: winrm set winrm/config/winrs '@{MaxMemoryPerShellMB="0"}' ` +
			"(or give a number of MB instead of 0, or run fleetrun preflight --fix-memory-cap MB). " +
			"On WMF 3.0 hosts a raised cap only takes effect with hotfix KB2842230. A step with run_as: system runs outside the shell and its cap."}
}

func argvStep(argv ...string) transport.Command {
	return transport.Command{Kind: transport.KindArgv, Argv: argv}
}

func cmdStep(line string) transport.Command {
	return transport.Command{Kind: transport.KindCmd, Line: line}
}

func psStep(script string) transport.Command {
	return transport.Command{Kind: transport.KindPowerShell, Script: script}
}

func asSystem(c transport.Command) transport.Command {
	c.RunAs = transport.RunAsSystem
	return c
}

const (
	wusaScript = "$p = Start-Process -FilePath wusa.exe -ArgumentList 'C:\\p\\kb.msu', '/quiet', '/norestart' -Wait -PassThru\nexit $p.ExitCode\n"
	wuaScript  = "$s = New-Object -ComObject Microsoft.Update.Session\n$u = $s.CreateUpdateSearcher().Search('IsInstalled=0').Updates\n" +
		"$i = $s.CreateUpdateInstaller()\n$i.Updates = $u\n$i.Install()\n"
	wuaStderr      = "Exception calling \"Install\" with \"0\" argument(s): \"Exception from HRESULT: 0x80070005 (E_ACCESSDENIED)\"\r\n"
	notFoundStderr = "Install-Foo : The term 'Install-Foo' is not recognized as the name of a cmdlet, function, script file, or operable program. " +
		"Check the spelling of the name, or if a path was included, verify that the path is correct and try again.\r\n"
	jvmStderr = "Error occurred during initialization of VM\r\nCould not reserve enough space for object heap\r\n"
)

func TestClassifyExit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		cmd   transport.Command
		res   transport.Result
		capMB int
		want  *transport.Error
	}{
		{"wusa exiting 5 as an argv step is refused to a remote caller",
			argvStep(`C:\Windows\System32\wusa.exe`, `C:\p\kb.msu`, "/quiet", "/norestart"), transport.Result{ExitCode: 5}, 0, wusaDenied},
		{"wusa by its bare name", argvStep("wusa", `C:\p\kb.msu`, "/quiet"), transport.Result{ExitCode: 5}, 0, wusaDenied},
		{"wusa exiting 5 in a cmd line", cmdStep(`wusa.exe C:\p\kb.msu /quiet /norestart`), transport.Result{ExitCode: 5}, 0, wusaDenied},
		{"wusa quoted with its path in a cmd line", cmdStep(`"%SystemRoot%\System32\wusa.exe" C:\p\kb.msu /quiet`), transport.Result{ExitCode: 5}, 0, wusaDenied},
		{"wusa exiting 5 inside a script", psStep(wusaScript), transport.Result{ExitCode: 5}, 0, wusaDenied},
		{"wusa called with & inside a script", psStep("& wusa C:\\p\\kb.msu /quiet /norestart\nexit $LASTEXITCODE"), transport.Result{ExitCode: 5}, 0, wusaDenied},
		{"wusa's refusal comes before a memory signature", argvStep("wusa.exe", `C:\p\kb.msu`), transport.Result{ExitCode: 5, Stderr: jvmStderr}, 150, wusaDenied},
		{"wusa exiting 5 as SYSTEM is not a remote refusal",
			asSystem(argvStep(`C:\Windows\System32\wusa.exe`, `C:\p\kb.msu`, "/quiet")), transport.Result{ExitCode: 5}, 0, nil},
		{"a cmd line of wusa as SYSTEM", asSystem(cmdStep(`wusa.exe C:\p\kb.msu /quiet`)), transport.Result{ExitCode: 5}, 0, nil},
		{"a script running wusa as SYSTEM", asSystem(psStep(wusaScript)), transport.Result{ExitCode: 5}, 0, nil},
		{"wusa exiting otherwise", argvStep("wusa.exe", `C:\p\kb.msu`), transport.Result{ExitCode: 2359302}, 0, nil},
		{"another program exiting 5", argvStep(`C:\tools\setup.exe`, "/quiet"), transport.Result{ExitCode: 5}, 0, nil},
		{"a program in a folder named wusa exiting 5", argvStep(`C:\wusa\setup.exe`), transport.Result{ExitCode: 5}, 0, nil},
		{"a program whose name ends in wusa exiting 5", argvStep(`C:\tools\notwusa.exe`), transport.Result{ExitCode: 5}, 0, nil},
		{"a cmd line of another program exiting 5", cmdStep(`msiexec /i C:\p\wusage.msi /qn`), transport.Result{ExitCode: 5}, 0, nil},

		{"the Update Agent's installer refused with 0x80070005", psStep(wuaScript), transport.Result{ExitCode: 1, Stderr: wuaStderr}, 0, wuaDenied},
		{"the installer alone", psStep("(New-Object -ComObject 'Microsoft.Update.Session').CreateUpdateInstaller().Install()"),
			transport.Result{ExitCode: 1, Stderr: wuaStderr}, 0, wuaDenied},
		{"PSWindowsUpdate refused with 0x80070005", psStep("Install-WindowsUpdate -AcceptAll -IgnoreReboot"),
			transport.Result{ExitCode: 1, Stderr: "Install-WindowsUpdate : Exception from HRESULT: 0x80070005 (E_ACCESSDENIED)\r\n"}, 0, wuaDenied},
		{"the Update Agent as SYSTEM", asSystem(psStep(wuaScript)), transport.Result{ExitCode: 1, Stderr: wuaStderr}, 0, nil},
		{"the Update Agent failing otherwise", psStep(wuaScript),
			transport.Result{ExitCode: 1, Stderr: "Exception from HRESULT: 0x80240024\r\n"}, 0, nil},
		{"0x80070005 from something else", psStep(`Remove-Item C:\Windows\System32\x.dll`),
			transport.Result{ExitCode: 1, Stderr: "Exception from HRESULT: 0x80070005 (E_ACCESSDENIED)\r\n"}, 0, nil},

		{"a share on another machine in a cmd line", cmdStep(`copy \\fs01\patches\kb.msu C:\p\`),
			transport.Result{ExitCode: 1, Stderr: "Access is denied.\r\n        0 file(s) copied.\r\n"}, 0, secondHop(`\\fs01\patches\kb.msu`)},
		{"a share in a script, with a dotted name and a hidden share", psStep(`Copy-Item -Path '\\fs01.corp.example\patches$\kb.msu' -Destination C:\p`),
			transport.Result{ExitCode: 1, Stderr: "Copy-Item : Access is denied\r\n"}, 0, secondHop(`\\fs01.corp.example\patches$\kb.msu`)},
		{"net use of a share", argvStep(`C:\Windows\System32\net.exe`, "use", "Z:", `\\fs01\patches`),
			transport.Result{ExitCode: 2, Stdout: "System error 5 has occurred.\r\n\r\nAccess is denied.\r\n"}, 0, secondHop(`\\fs01\patches`)},
		{"a share named only in the error", psStep("Copy-Item -Path $env:PATCH_SRC -Destination C:\\p"),
			transport.Result{ExitCode: 1, Stderr: "Copy-Item : Access is denied: \\\\fs01\\patches\\kb.msu\r\n"}, 0, secondHop(`\\fs01\patches\kb.msu`)},
		{"a share refused in .NET's words", psStep(`[IO.File]::Copy('\\fs01\patches\kb.msu', 'C:\p\kb.msu')`),
			transport.Result{ExitCode: 1, Stderr: "Exception calling \"Copy\" with \"2\" argument(s): \"Access to the path '\\\\fs01\\patches\\kb.msu' is denied.\"\r\n"},
			0, secondHop(`\\fs01\patches\kb.msu`)},
		{"a share as SYSTEM", asSystem(cmdStep(`copy \\fs01\patches\kb.msu C:\p\`)), transport.Result{ExitCode: 1, Stderr: "Access is denied.\r\n"}, 0, nil},
		{"access denied on the host itself", cmdStep(`del C:\Windows\System32\drivers\etc\hosts`), transport.Result{ExitCode: 1, Stderr: "Access is denied.\r\n"}, 0, nil},
		{"a share that is not found", cmdStep(`copy \\fs01\patches\kb.msu C:\p\`),
			transport.Result{ExitCode: 1, Stderr: "The network path was not found.\r\n"}, 0, nil},

		{"a command PowerShell does not know", psStep("Install-Foo -Name x"), transport.Result{ExitCode: 1, Stderr: notFoundStderr}, 0,
			&transport.Error{Class: transport.ClassNotFound,
				Message: `exit code 1: PowerShell found no command named "Install-Foo" on the host`,
				Hint: "check the spelling of Install-Foo, that the package providing it is installed on the host, and that its folder is on the PATH of the account the step runs as (or give its full path); " +
					"for a cmdlet, that the module providing it is installed (Get-Module -ListAvailable)"}},
		{"a JVM out of memory under a cap", argvStep("java", "-Xmx512m", "-jar", `C:\app\tool.jar`), transport.Result{ExitCode: 1, Stderr: jvmStderr}, 150,
			memoryCap(1, "150")},
		{"the paging file on stdout under a cap", cmdStep(`C:\tools\big.exe`),
			transport.Result{ExitCode: 1455, Stdout: "The paging file is too small for this operation to complete.\r\n"}, 1024, memoryCap(1455, "1024")},
		{"out of memory without a known cap", argvStep("java", "-jar", `C:\app\tool.jar`), transport.Result{ExitCode: 1, Stderr: jvmStderr}, 0, nil},
		{"out of memory with an unreadable cap", argvStep("java", "-jar", `C:\app\tool.jar`), transport.Result{ExitCode: 1, Stderr: jvmStderr}, -1, nil},
		{"an ordinary failure", argvStep(`C:\tools\setup.exe`), transport.Result{ExitCode: 1, Stderr: "file not found\r\n"}, 150, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := ClassifyExit(tc.cmd, tc.res, tc.capMB)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ClassifyExit (-want +got):\n%s", diff)
			}
			var wantDenied *transport.Error
			if tc.want != nil && tc.want.Class == transport.ClassRemoteDenied {
				wantDenied = tc.want
			}
			if diff := cmp.Diff(wantDenied, RemoteDenied(tc.cmd, tc.res)); diff != "" {
				t.Errorf("RemoteDenied (-want +got):\n%s", diff)
			}
		})
	}
}

// A session knows its host's cap once it read the configuration; a step
// run as SYSTEM runs outside the shell and its cap.
func TestSessionClassifyExitAppliesTheCapToShellStepsOnly(t *testing.T) {
	t.Parallel()
	s := &Session{cfgRead: true, cfg: Config{Winrs: WinrsConfig{MaxMemoryPerShellMB: 150}}}
	s.memCapMB.Store(150)
	java := argvStep("java", "-jar", `C:\app\tool.jar`)
	res := transport.Result{ExitCode: 1, Stderr: jvmStderr}
	if diff := cmp.Diff(memoryCap(1, "150"), s.ClassifyExit(java, res)); diff != "" {
		t.Errorf("shell step (-want +got):\n%s", diff)
	}
	if got := s.ClassifyExit(asSystem(java), res); got != nil {
		t.Errorf("step as SYSTEM: %v, want nil", got)
	}
	if got := (&Session{}).ClassifyExit(java, res); got != nil {
		t.Errorf("cap not read: %v, want nil", got)
	}
}
