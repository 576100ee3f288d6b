# fleetrun-ssm v1
# fleetrun's AWS Systems Manager shim, commented source. It is what an ssm
# step sends as the `commands` of AWS-RunPowerShellScript; the wire form is
# this text without comment lines and indentation (the first line stays: it
# is the marker the simulator looks for). The SSM agent writes it to
# _script.ps1 and runs it with powershell.exe -f.
#
# Why a shim and not the launcher itself: the SSM agent treats exit code
# 3010 as "reboot the instance, then run the script again" (its
# RebootExitCode on Windows), and a step's `exit 3010` cannot be intercepted
# inside the process that runs it (exit is a flow-control exception that
# catch and trap do not see). So the launcher runs exactly as over WinRM,
# as a child powershell.exe with -EncodedCommand, and this shim passes its
# exit code on, except that 3010 leaves as the stand-in 790498242
# (0x2F1E0BC2), which fleetrun turns back into 3010. A child that itself
# exits 790498242 is therefore reported as 3010.
#
# The launcher is the stdin variant (an empty payload literal): its text is
# the same for every step, and the payload is written to its stdin, so no
# step is limited by the length of a command line. Nothing else is
# redirected: the launcher and the program it starts write straight into
# the agent's stdout and stderr, byte for byte. The agent kills only this
# process on a timeout or a cancellation, not its children (as it would kill
# only the launcher if the launcher were sent directly).
#
# The text parses under Windows PowerShell 2.0 too.
$fleetrunPayload = ''
$frI = New-Object Diagnostics.ProcessStartInfo ($env:SystemRoot + '\System32\WindowsPowerShell\v1.0\powershell.exe')
$frI.UseShellExecute = $false
$frI.RedirectStandardInput = $true
# fleetrunLauncher is replaced by the encoded stdin-variant launcher.
$frI.Arguments = '-NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand fleetrunLauncher'
$frX = [Diagnostics.Process]::Start($frI)
$frX.StandardInput.Write($fleetrunPayload)
$frX.StandardInput.Close()
$frX.WaitForExit()
# Process.ExitCode is an Int32: NTSTATUS codes are already the negative
# values that make Windows report the same DWORD.
$frC = $frX.ExitCode
if ($frC -eq 3010) {
    $frC = 790498242
}
exit $frC
