# fleetrun-launcher v1
# fleetrun's PowerShell launcher, commented source. The wire form is this
# text without its comment lines and indentation (the first line stays: it is
# the marker the simulator looks for), because the launcher travels as
# base64 of UTF-16 on a cmd.exe command line of at most 8191 characters,
# together with the step: every character saved here leaves room for a
# larger step before it has to go over stdin. Hence the terse names.
#
# The text never varies with the step. The step is data: base64 of a UTF-8
# JSON document in the single $fleetrunPayload statement (docs/design.md,
# "The launcher contract"); an empty literal means the client sends that
# base64 text on stdin, ending it with End="true".
#
# The text parses under Windows PowerShell 2.0 (stock 2008 R2) too, so argv
# and cmd steps run there; script steps get the full behaviour described
# below from PowerShell 3.0 on (*>&1 and the parser's AST). The payload is
# read with .NET's JavaScriptSerializer (System.Web.Extensions, .NET 3.5 or
# later) because ConvertFrom-Json refuses documents over 2 MB before
# PowerShell 6 and does not exist in 2.0.
#
# Names: the launcher's own variables start with $fr and its functions with
# fr; the user's script runs in a child scope and could read them, so they
# are chosen to be unlikely in user code.
$ProgressPreference = 'SilentlyContinue'
$fleetrunPayload = ''
# frP holds objects that are neither strings nor stream records, so that
# consecutive ones are formatted together as one table (see frF).
$frP = New-Object Collections.ArrayList
$frO = [Console]::Out
function frF {
    # Formats and writes the waiting objects now. Out-String formats
    # synchronously; the host's implicit Out-Default holds table output back
    # for up to 300 ms and loses it when the script exits or fails in that
    # time (PowerShell issues 4594, 13985).
    if ($frP.Count) {
        $frO.Write(($frP | Out-String))
        $frP.Clear()
    }
}
function frE($r) {
    # Writes an error record to stderr as plain text. Without this, the
    # console host started with -EncodedCommand and a redirected stderr
    # would write it as CLIXML. A native program's stderr line, which
    # PowerShell wraps in an error record once stderr is redirected, is
    # written back as the bare line; other errors get their message and
    # their position in the script.
    frF
    $t = "$r"
    if ($r.FullyQualifiedErrorId -notlike 'NativeCommandError*' -and $r.InvocationInfo) {
        $t += "`n" + $r.InvocationInfo.PositionMessage
    }
    [Console]::Error.WriteLine($t)
}
try {
    if (!$fleetrunPayload) {
        # WINRS_CONSOLEMODE_STDIN=FALSE makes stdin a pipe, so this reads
        # everything the client sent up to End="true".
        $fleetrunPayload = [Console]::In.ReadToEnd()
    }
    Add-Type -AssemblyName System.Web.Extensions
    $frJ = New-Object Web.Script.Serialization.JavaScriptSerializer
    $frJ.MaxJsonLength = [int]::MaxValue
    $frS = $frJ.DeserializeObject([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($fleetrunPayload.Trim())))
    if ($frS.v -ne 1) {
        throw 'bad fleetrun payload version'
    }
    # The environment is set on this process so that a started program and
    # the script alike inherit it, with names spelled as given (.NET
    # Framework's ProcessStartInfo.EnvironmentVariables lower-cases them).
    # GetEnumerator rather than .Keys: PowerShell would read a variable
    # named Keys instead of the property.
    foreach ($frK in $frS.env.GetEnumerator()) {
        [Environment]::SetEnvironmentVariable($frK.Key, [string]$frK.Value)
    }
    $frD = [string]$frS.workdir
    if ($frD) {
        # Set-Location fails with a clear message when the folder is
        # missing (-EA Stop, -ErrorAction: its error is otherwise
        # non-terminating and the step would run elsewhere);
        # CurrentDirectory is what Process.Start and .NET use.
        Set-Location -LiteralPath $frD -EA Stop
        [Environment]::CurrentDirectory = $frD
    }
    if ($frS.kind -eq 'argv') {
        # The command line was built by fleetrun with the C runtime's
        # quoting rules. Process.Start with UseShellExecute false joins
        # FileName and Arguments as "FileName" Arguments, so giving it the
        # text after the quoted program name and its space reproduces the
        # command line exactly; neither cmd.exe nor PowerShell's
        # native-argument passing sees it. Nothing is redirected: the program
        # writes straight into WinRS's pipes, byte for byte, and inherits
        # the working directory set above.
        $frI = New-Object Diagnostics.ProcessStartInfo $frS.file
        $frI.UseShellExecute = $false
        $frL = [string]$frS.command_line
        if ($frL.Length -gt $frI.FileName.Length + 3) {
            $frI.Arguments = $frL.Substring($frI.FileName.Length + 3)
        }
        $frX = [Diagnostics.Process]::Start($frI)
        $frX.WaitForExit()
        # Process.ExitCode is an Int32: a code such as 0xC0000005 is
        # already the negative value that makes Windows report the same
        # DWORD.
        exit $frX.ExitCode
    }
    # A script step. It becomes a script block invoked with & in a child
    # scope, so what it defines stays out of the launcher, and (unlike a
    # .ps1 file) `exit N` in it ends powershell.exe with N. Outcomes:
    #  - exit N: exit is a flow-control exception that catch and trap do
    #    not intercept; it unwinds through the finally below, which writes
    #    waiting output, and powershell.exe exits with N.
    #  - a terminating error (throw, -ErrorAction Stop, a parse error in the
    #    script, a .NET exception): the outer catch writes it to stderr as
    #    plain text and exits 1.
    #  - the script runs to its end: see the end of this file.
    # Because the script runs inside try, PowerShell propagates its
    # statement-terminating errors (an exception from a .NET method, 1/0, a
    # cmdlet's ThrowTerminatingError) to that catch instead of going on with
    # the next statement (ExecutionContext's
    # PropagateExceptionsToEnclosingStatementBlock): such an error ends the
    # step with exit code 1. Non-terminating errors (Write-Error, a cmdlet
    # failing on one item) are written and the script goes on, as usual.
    # All of the script's streams are merged (*>&1) and written here,
    # errors to stderr and the rest to stdout, so that no error, warning or
    # information record reaches the console host, which would serialise it
    # as CLIXML. Progress records cannot be redirected; $ProgressPreference
    # above keeps them from being produced. The do/while(0) loop catches a
    # break or continue the script uses outside a loop, which would
    # otherwise unwind out of the launcher.
    #
    # PowerShell 2.0 can neither parse *>&1 nor redirect streams other than
    # errors, so the redirection is chosen at run time: there, warnings and
    # verbose records still reach the host, and since 2.0 has no AST a last
    # native command's code is not found (end such scripts with
    # exit $LASTEXITCODE).
    $global:LASTEXITCODE = 0
    $frB = [ScriptBlock]::Create($frS.script)
    $frR = '*>&1'
    if ($PSVersionTable.PSVersion.Major -lt 3) {
        $frR = '2>&1'
    }
    do {
        try {
            & ([ScriptBlock]::Create('& $frB ' + $frR)) | ForEach-Object {
                if ($null -eq $_) {
                    # A script may output $null; there is nothing to write,
                    # and $_.GetType() below would throw.
                } elseif ($_ -is [Management.Automation.ErrorRecord]) {
                    frE $_
                } elseif ($_ -is [Management.Automation.InformationalRecord]) {
                    # Warning, verbose and debug records, prefixed as the
                    # console shows them ("WARNING: ...").
                    frF
                    $frO.WriteLine(($_.GetType().Name -replace 'Record').ToUpper() + ': ' + $_.Message)
                } elseif ($_ -is [string] -or "$($_.GetType())" -like '*.InformationRecord') {
                    # Strings, including native programs' stdout lines, and
                    # Write-Host (PowerShell 5) or Write-Information
                    # records, matched by name because PowerShell 3 and 4
                    # lack the type.
                    frF
                    $frO.WriteLine("$_")
                } else {
                    [void]$frP.Add($_)
                }
            }
        } finally {
            frF
        }
    } while (0)
} catch {
    frE $_
    exit 1
}
# The script ended normally: its exit code is the last native program's
# $LASTEXITCODE when its last top-level statement runs a native program,
# else 0. A statement runs a native program when one element of its
# pipeline names an application (msiexec, robocopy, C:\setup.exe, through
# an alias too) or computes the command (& $exe), which can only be a
# program or a script block. PowerShell's own -Command rule (0 or 1 from
# $?) would flatten 3010 to 1, and $? is unreliable here anyway: Windows
# PowerShell sets it to false whenever a redirected native program writes
# to stderr, even when that program exits 0.
$frN = 0
$frA = $frB.Ast.EndBlock.Statements
if ($frA.Count -and $frA[-1] -is [Management.Automation.Language.PipelineAst]) {
    foreach ($frC in $frA[-1].PipelineElements) {
        if ($frC -is [Management.Automation.Language.CommandAst]) {
            $frM = $frC.GetCommandName()
            if ($frM) {
                # -EA 0: -ErrorAction SilentlyContinue.
                $frM = @(Get-Command $frM -EA 0)[0]
                if ($frM.CommandType -eq 'Alias') {
                    $frM = $frM.ResolvedCommand
                }
                $frN = $frN -or $frM.CommandType -eq 'Application'
            } else {
                $frN = 1
            }
        }
    }
}
if ($frN -and $LASTEXITCODE -is [int]) {
    exit $LASTEXITCODE
}
exit 0
